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
//
// Concurrent requests to the same coordinator are merged into one request
// of many partitions (see coalescer): the reads and the final commits of a
// rebalance's partitions, made in parallel, take one or two round trips
// instead of queueing one behind the other.
func newKafkaOffsets(client sarama.Client, group string) offsetStore {
	return newKafkaOffsetStore(client, group)
}

func newKafkaOffsetStore(client sarama.Client, group string) *kafkaOffsetStore {
	return &kafkaOffsetStore{client: client, group: group,
		commits: &coalescer[commitKey, int64, error]{}, fetches: &coalescer[*sarama.Broker, struct{}, fetchResult]{}}
}

type kafkaOffsetStore struct {
	client  sarama.Client
	group   string
	commits *coalescer[commitKey, int64, error]
	fetches *coalescer[*sarama.Broker, struct{}, fetchResult]
}

// commitKey is what commits merged into one OffsetCommit share: the
// coordinator they go to and the generation and member they carry.
type commitKey struct {
	b        *sarama.Broker
	gen      int32
	memberID string
}

// fetchResult is one partition's answer to an OffsetFetch.
type fetchResult struct {
	off int64
	err error
}

// Fetch implements offsetStore.
func (s *kafkaOffsetStore) Fetch(ctx context.Context, _ fence, tp partition.TopicPartition) (int64, bool, error) {
	var off int64
	err := kafkacoord.Do(ctx, s.client, s.group, nil, func(b *sarama.Broker) error {
		r, err := s.fetches.do(ctx, b, tp, struct{}{}, sarama.ErrIncompleteResponse, func(tps map[TopicPartition]struct{}) (map[TopicPartition]fetchResult, error) {
			return fetchOffsets(b, s.group, tps)
		})
		if err != nil {
			return err
		}
		off = r.off
		return r.err
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
		return s.commitOffset(ctx, b, sarama.GroupGenerationUndefined, "", tp, offset)
	})
	if err != nil {
		return fmt.Errorf("balanced: commit offset %d of group %s %s/%d to kafka: %w", offset, s.group, tp.Topic, tp.Partition, err)
	}
	return nil
}

// commitOffset commits offset for tp in the store's group to the
// coordinator b, as generation gen and member memberID
// (GroupGenerationUndefined and "" outside a Kafka-run group), merged with
// concurrent commits of the same key (commitKey), and returns the
// partition's error from the response (ErrIncompleteResponse when it is
// missing).
func (s *kafkaOffsetStore) commitOffset(ctx context.Context, b *sarama.Broker, gen int32, memberID string, tp partition.TopicPartition, offset int64) error {
	kerr, err := s.commits.do(ctx, commitKey{b: b, gen: gen, memberID: memberID}, tp, offset, sarama.ErrIncompleteResponse,
		func(offsets map[TopicPartition]int64) (map[TopicPartition]error, error) {
			return commitOffsets(b, s.group, gen, memberID, offsets)
		})
	if err != nil {
		return err
	}
	return kerr
}

// commitOffsets sends b one OffsetCommit (kafkaOffsetCommitVersion,
// retention -1, empty metadata) of offsets in group, as generation gen and
// member memberID, and returns each partition's error from the response
// (ErrNoError ones as nil; partitions missing from it are missing).
func commitOffsets(b *sarama.Broker, group string, gen int32, memberID string, offsets map[TopicPartition]int64) (map[TopicPartition]error, error) {
	req := &sarama.OffsetCommitRequest{
		Version:                 kafkaOffsetCommitVersion,
		ConsumerGroup:           group,
		ConsumerGroupGeneration: gen,
		ConsumerID:              memberID,
		RetentionTime:           -1,
	}
	for tp, off := range offsets {
		req.AddBlock(tp.Topic, tp.Partition, off, 0, "")
	}
	resp, err := b.CommitOffset(req)
	if err != nil {
		return nil, err
	}
	out := make(map[TopicPartition]error, len(offsets))
	for tp := range offsets {
		kerr, ok := resp.Errors[tp.Topic][tp.Partition]
		switch {
		case !ok:
		case kerr != sarama.ErrNoError:
			out[tp] = kerr
		default:
			out[tp] = nil
		}
	}
	return out, nil
}

// fetchOffsets sends b one OffsetFetch (kafkaOffsetFetchVersion) of the
// partitions tps of group and returns each one's offset or error (a
// missing block is ErrIncompleteResponse, or the group's error when the
// response has one).
func fetchOffsets(b *sarama.Broker, group string, tps map[TopicPartition]struct{}) (map[TopicPartition]fetchResult, error) {
	req := &sarama.OffsetFetchRequest{Version: kafkaOffsetFetchVersion, ConsumerGroup: group}
	for tp := range tps {
		req.AddPartition(tp.Topic, tp.Partition)
	}
	resp, err := b.FetchOffset(req)
	if err != nil {
		return nil, err
	}
	out := make(map[TopicPartition]fetchResult, len(tps))
	for tp := range tps {
		block := resp.GetBlock(tp.Topic, tp.Partition)
		switch {
		case block == nil && resp.GroupError() != sarama.ErrNoError:
			// v2+ report group-level errors without partition blocks
			out[tp] = fetchResult{err: resp.GroupError()}
		case block == nil:
			out[tp] = fetchResult{err: sarama.ErrIncompleteResponse}
		case block.Err != sarama.ErrNoError:
			out[tp] = fetchResult{err: block.Err}
		default:
			out[tp] = fetchResult{off: block.Offset}
		}
	}
	return out, nil
}

// Close implements offsetStore. It does not close the shared client.
func (s *kafkaOffsetStore) Close() error { return nil }
