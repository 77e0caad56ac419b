package balanced

import (
	"context"
	"fmt"

	"github.com/IBM/sarama"

	"github.com/zkbalance/zkbalance/internal/kafkacoord"
	"github.com/zkbalance/zkbalance/partition"
)

// Request versions of the Kafka offset store. OffsetCommit v2 is the first
// version without the v1 per-partition timestamp and with a retention time
// (-1: the broker's offsets.retention.minutes); with generation -1 and an
// empty member id it is what pykafka (v1) and the Scala consumer with
// offsets.storage=kafka send for a group that Kafka does not coordinate.
// OffsetFetch v1 is the first version that reads __consumer_offsets (v0 reads
// ZooKeeper). Brokers from 0.9 through 4.x accept both; they need a client
// whose Config.Version is at least sarama.V0_9_0_0.
const (
	kafkaOffsetCommitVersion = 2
	kafkaOffsetFetchVersion  = 1
)

// newKafkaOffsets returns the offsetStore that keeps group's offsets in Kafka
// (__consumer_offsets), as pykafka and the Scala consumer with
// offsets.storage=kafka do: OffsetFetch (v1) and OffsetCommit (v2,
// generation -1, empty member id, retention -1, empty metadata) sent straight
// to the group coordinator client.Coordinator(group). Requests that fail
// because the coordinator moved, is not available yet, is still loading
// offsets, or because of a network error are retried a few times with a
// short backoff after refreshing the coordinator.
//
// Fetch needs no ownership and ignores the fence. A stored offset of -1 is
// "no offset" (ok false); any other negative value is an error wrapping
// ErrBadOffset.
//
// Commit first verifies ownership with fence.Check — a ZooKeeper read — and
// then sends the OffsetCommit. The two are not atomic (Kafka cannot check a
// ZooKeeper znode): a member that loses the partition between the check and
// the broker's append (its session expiring during the request, say) can
// still land that one commit after the new owner has started. The offset it
// lands is one this member really processed up to, so the window costs at
// most redelivery (at-least-once), never a skipped message. A failed check
// returns an error wrapping ErrNotOwner and sends nothing. Per-partition
// error codes of the response are returned as errors (sarama.KError,
// wrapped).
//
// The client is shared: Close does not close it, and the store may be used
// concurrently. The client's Config.Version must be at least
// sarama.V0_9_0_0.
func newKafkaOffsets(client sarama.Client, group string) offsetStore {
	return &kafkaOffsetStore{client: client, group: group}
}

type kafkaOffsetStore struct {
	client sarama.Client
	group  string
}

// Fetch implements offsetStore.
func (s *kafkaOffsetStore) Fetch(ctx context.Context, _ fence, tp partition.TopicPartition) (int64, bool, error) {
	var off int64
	err := kafkacoord.Do(ctx, s.client, s.group, nil, func(b *sarama.Broker) error {
		req := &sarama.OffsetFetchRequest{Version: kafkaOffsetFetchVersion, ConsumerGroup: s.group}
		req.AddPartition(tp.Topic, tp.Partition)
		resp, err := kafkacoord.Call(ctx, func() (*sarama.OffsetFetchResponse, error) { return b.FetchOffset(req) })
		if err != nil {
			return err
		}
		block := resp.GetBlock(tp.Topic, tp.Partition)
		if block == nil {
			// v2+ report group-level errors without partition blocks
			if gerr := resp.GroupError(); gerr != sarama.ErrNoError {
				return gerr
			}
			return sarama.ErrIncompleteResponse
		}
		if block.Err != sarama.ErrNoError {
			return block.Err
		}
		off = block.Offset
		return nil
	})
	if err != nil {
		return 0, false, fmt.Errorf("balanced: fetch offset of group %s %s/%d from kafka: %w", s.group, tp.Topic, tp.Partition, err)
	}
	switch {
	case off == -1:
		return 0, false, nil
	case off < 0:
		return 0, false, fmt.Errorf("%w: kafka holds the offset %d for group %s %s/%d", ErrBadOffset, off, s.group, tp.Topic, tp.Partition)
	}
	return off, true, nil
}

// Commit implements offsetStore.
func (s *kafkaOffsetStore) Commit(ctx context.Context, f fence, tp partition.TopicPartition, offset int64) error {
	if offset < 0 {
		return fmt.Errorf("%w: refusing to commit the negative offset %d for group %s %s/%d to kafka", ErrBadOffset, offset, s.group, tp.Topic, tp.Partition)
	}
	err := kafkacoord.Do(ctx, s.client, s.group, f.Check, func(b *sarama.Broker) error {
		return commitOffset(ctx, b, s.group, sarama.GroupGenerationUndefined, "", tp, offset)
	})
	if err != nil {
		return fmt.Errorf("balanced: commit offset %d of group %s %s/%d to kafka: %w", offset, s.group, tp.Topic, tp.Partition, err)
	}
	return nil
}

// commitOffset sends b one OffsetCommit (kafkaOffsetCommitVersion,
// retention -1, empty metadata) of offset for tp in group, as generation gen
// and member memberID (GroupGenerationUndefined and "" outside a Kafka-run
// group), and returns the partition's error from the response
// (ErrIncompleteResponse when it is missing).
func commitOffset(ctx context.Context, b *sarama.Broker, group string, gen int32, memberID string, tp partition.TopicPartition, offset int64) error {
	req := &sarama.OffsetCommitRequest{
		Version:                 kafkaOffsetCommitVersion,
		ConsumerGroup:           group,
		ConsumerGroupGeneration: gen,
		ConsumerID:              memberID,
		RetentionTime:           -1,
	}
	req.AddBlock(tp.Topic, tp.Partition, offset, 0, "")
	resp, err := kafkacoord.Call(ctx, func() (*sarama.OffsetCommitResponse, error) { return b.CommitOffset(req) })
	if err != nil {
		return err
	}
	kerr, ok := resp.Errors[tp.Topic][tp.Partition]
	if !ok {
		return sarama.ErrIncompleteResponse
	}
	if kerr != sarama.ErrNoError {
		return kerr
	}
	return nil
}

// Close implements offsetStore. It does not close the shared client.
func (s *kafkaOffsetStore) Close() error { return nil }
