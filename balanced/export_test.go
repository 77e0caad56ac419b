package balanced

import (
	"context"

	"github.com/IBM/sarama"

	"github.com/zkbalance/zkbalance/zkwatch"
)

// OpenFetchGens reports how many waves of broker connections c fetches
// through (tests).
func OpenFetchGens(c *Consumer) int {
	if c.fetch == nil {
		return 0
	}
	return c.fetch.openGens()
}

// OwnerReads reports c's sticky owner reads so far: whole owners
// directories, and single owner znodes read from its owners tree.
func OwnerReads(c *Consumer) (whole, single int64) {
	return c.ownerReads.whole.Load(), c.ownerReads.single.Load()
}

// WithoutTreeWatch makes c behave as with a ZooKeeper before 3.6: no
// owners tree, a children watch per owners directory (call before Run).
func WithoutTreeWatch(c *Consumer) { c.noTreeWatch.Store(true) }

// OffsetRequests reports the ListOffsets requests c's partition starts
// sent (batched, see offsets_batch.go).
func OffsetRequests(c *Consumer) int64 {
	if c.fetch == nil {
		return 0
	}
	return c.fetch.offsetRequests.Load()
}

// Fetching lists the owned partitions whose fetching has started, sorted
// (tests; test/bench reaches it through internal/balancedhook).
func (c *Consumer) Fetching() []TopicPartition { return c.fetching() }

// The offset stores, for the store tests (users choose one with
// Config.Offsets).
type (
	OffsetStore = offsetStore
	Fence       = fence
)

func NewZooKeeperOffsets(group string) OffsetStore { return newZooKeeperOffsets(group, nil) }

func NewZooKeeperOffsetsWithACL(group string, acl []zkwatch.ACL) OffsetStore {
	return newZooKeeperOffsets(group, acl)
}

func NewKafkaOffsets(client sarama.Client, group string) OffsetStore {
	return newKafkaOffsets(client, group)
}

func NewDualOffsets(zkStore, kafkaStore OffsetStore) OffsetStore {
	return newDualOffsets(zkStore, kafkaStore)
}

// KafkaGeneration is c's current Kafka group generation and member id in
// kafka mode; ok false between generations (tests).
func KafkaGeneration(c *Consumer) (id int32, member string, ok bool) { return c.kafkaGeneration() }

// CommitAsGeneration commits offset for tp through the kafka-mode store as
// member of generation (no owner znode in the fence): the generation fence
// alone (tests).
func CommitAsGeneration(ctx context.Context, client sarama.Client, group string, generation int32, member string, tp TopicPartition, offset int64) error {
	return newKafkaGroupOffsets(client, group).Commit(ctx, fence{Gen: &kafkaGeneration{id: generation, memberID: member}}, tp, offset)
}
