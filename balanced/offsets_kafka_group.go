package balanced

import (
	"context"
	"fmt"

	"github.com/IBM/sarama"

	"github.com/zkbalance/zkbalance/internal/kafkacoord"
	"github.com/zkbalance/zkbalance/partition"
)

// newKafkaGroupOffsets returns the offsetStore of kafka mode
// (Config.Coordination CoordinationKafka): offsets in Kafka, read like
// newKafkaOffsets, but committed as a member of the Kafka group: OffsetCommit
// v2 with the fence's generation id and member id, which the coordinator
// refuses (ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID, REBALANCE_IN_PROGRESS of a
// rebalance we are not in) once that generation is over for us: then
// nothing is written and Commit returns an error wrapping ErrNotOwner (and
// the sarama.KError). A commit made while a rebalance is only preparing
// (after our heartbeat saw REBALANCE_IN_PROGRESS, before we rejoined) still
// carries the current generation and is accepted: that is the final commit
// of an eager revoke.
//
// When the fence holds an owner znode (Conn set), Commit first checks it
// with a ZooKeeper read, as newKafkaOffsets does: a member whose ZooKeeper
// session is gone does not commit either. Without one (no ZooKeeper) the
// generation alone fences.
func newKafkaGroupOffsets(client sarama.Client, group string) offsetStore {
	return &kafkaGroupOffsetStore{kafkaOffsetStore: newKafkaOffsetStore(client, group)}
}

type kafkaGroupOffsetStore struct {
	*kafkaOffsetStore // Fetch, Close
}

// Commit implements offsetStore.
func (s *kafkaGroupOffsetStore) Commit(ctx context.Context, f fence, tp partition.TopicPartition, offset int64) error {
	if offset < 0 {
		return fmt.Errorf("%w: refusing to commit the negative offset %d for group %s %s/%d to kafka", ErrBadOffset, offset, s.group, tp.Topic, tp.Partition)
	}
	if f.Gen == nil {
		return fmt.Errorf("%w: %s/%d: no kafka generation", ErrNotOwner, tp.Topic, tp.Partition)
	}
	var before func(context.Context) error
	if f.Conn != nil {
		before = f.Check
	}
	err := kafkacoord.Do(ctx, s.client, s.group, before, func(b *sarama.Broker) error {
		return s.commitOffset(ctx, b, f.Gen.id, f.Gen.memberID, tp, offset)
	})
	if fencedByGeneration(err) {
		return fmt.Errorf("balanced: commit offset %d of group %s %s/%d (generation %d): %w: %w", offset, s.group, tp.Topic, tp.Partition, f.Gen.id, ErrNotOwner, err)
	}
	if err != nil {
		return fmt.Errorf("balanced: commit offset %d of group %s %s/%d to kafka: %w", offset, s.group, tp.Topic, tp.Partition, err)
	}
	return nil
}
