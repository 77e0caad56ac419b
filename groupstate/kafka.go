package groupstate

import (
	"context"
	"fmt"

	"github.com/IBM/sarama"

	"github.com/zkbalance/zkbalance/internal/kafkacoord"
)

// Request versions, as zkbalance's Kafka offset store uses them
// (balanced/offsets_kafka.go): OffsetFetch v1 is the first that reads
// __consumer_offsets; OffsetCommit v2 with generation -1, an empty member id
// and retention -1 is what pykafka and the Scala consumer send for a group
// Kafka does not coordinate. OffsetFetch v2 (Kafka 0.10.2+) with a null
// topic list returns every committed offset of the group; Read uses it only
// to find topics the group has no znode for.
const (
	offsetFetchVersion    = 1
	offsetFetchAllVersion = 2
	offsetCommitVersion   = 2
)

// tp names a partition.
type tp struct {
	topic     string
	partition int32
}

// groupError is the group-level error code of an OffsetFetch response (v2
// and up; always nil for v1), nil for none.
func groupError(resp *sarama.OffsetFetchResponse) error {
	if kerr := resp.GroupError(); kerr != sarama.ErrNoError {
		return kerr
	}
	return nil
}

// fetchKafkaOffsets reads the group's Kafka offsets of parts with one
// OffsetFetch v1. A partition Kafka has no offset for is -1; per-partition
// error codes are returned per partition, as is an offset below -1.
func fetchKafkaOffsets(ctx context.Context, client sarama.Client, group string, parts []tp) (map[tp]int64, map[tp]error, error) {
	offs := map[tp]int64{}
	perr := map[tp]error{}
	if len(parts) == 0 {
		return offs, perr, nil
	}
	err := kafkacoord.Do(ctx, client, group, nil, func(b *sarama.Broker) error {
		req := &sarama.OffsetFetchRequest{Version: offsetFetchVersion, ConsumerGroup: group}
		for _, p := range parts {
			req.AddPartition(p.topic, p.partition)
		}
		resp, err := kafkacoord.Call(ctx, func() (*sarama.OffsetFetchResponse, error) { return b.FetchOffset(req) })
		if err != nil {
			return err
		}
		// A coordinator-level problem shows in every block (v1 has no group
		// error code): retry the whole request on those.
		clear(offs)
		clear(perr)
		for _, p := range parts {
			block := resp.GetBlock(p.topic, p.partition)
			switch {
			case block == nil:
				if gerr := groupError(resp); gerr != nil {
					return gerr
				}
				perr[p] = fmt.Errorf("kafka: no offset block in the OffsetFetch response: %w", sarama.ErrIncompleteResponse)
			case block.Err == sarama.ErrUnknownTopicOrPartition:
				// Older brokers answer so for a topic they do not know:
				// no offset.
				offs[p] = -1
			case block.Err != sarama.ErrNoError:
				if kafkacoord.Retriable(block.Err) {
					return block.Err
				}
				perr[p] = fmt.Errorf("kafka: %w", block.Err)
			case block.Offset < -1:
				perr[p] = fmt.Errorf("%w: kafka holds the offset %d", ErrBadOffset, block.Offset)
			default:
				offs[p] = block.Offset
			}
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("fetch offsets of group %s from kafka: %w", group, err)
	}
	return offs, perr, nil
}

// discoverKafkaOffsets reads every committed offset Kafka holds for the
// group (OffsetFetch v2, null topics), by topic.
func discoverKafkaOffsets(ctx context.Context, client sarama.Client, group string) (map[string]map[int32]int64, error) {
	out := map[string]map[int32]int64{}
	err := kafkacoord.Do(ctx, client, group, nil, func(b *sarama.Broker) error {
		req := &sarama.OffsetFetchRequest{Version: offsetFetchAllVersion, ConsumerGroup: group}
		resp, err := kafkacoord.Call(ctx, func() (*sarama.OffsetFetchResponse, error) { return b.FetchOffset(req) })
		if err != nil {
			return err
		}
		if err := groupError(resp); err != nil {
			return err
		}
		clear(out)
		for topic, parts := range resp.Blocks {
			for p, block := range parts {
				if block == nil || block.Err != sarama.ErrNoError || block.Offset < 0 {
					continue
				}
				if out[topic] == nil {
					out[topic] = map[int32]int64{}
				}
				out[topic][p] = block.Offset
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list the offsets of group %s in kafka: %w", group, err)
	}
	return out, nil
}

// commitKafkaOffsets writes offsets for the group with one OffsetCommit v2
// (generation -1, empty member id, retention -1, empty metadata) and returns
// the per-partition errors; a partition absent from the result was written.
func commitKafkaOffsets(ctx context.Context, client sarama.Client, group string, offsets map[tp]int64) (map[tp]error, error) {
	perr := map[tp]error{}
	if len(offsets) == 0 {
		return perr, nil
	}
	err := kafkacoord.Do(ctx, client, group, nil, func(b *sarama.Broker) error {
		req := &sarama.OffsetCommitRequest{
			Version:                 offsetCommitVersion,
			ConsumerGroup:           group,
			ConsumerGroupGeneration: sarama.GroupGenerationUndefined,
			ConsumerID:              "",
			RetentionTime:           -1,
		}
		for p, off := range offsets {
			req.AddBlock(p.topic, p.partition, off, 0, "")
		}
		resp, err := kafkacoord.Call(ctx, func() (*sarama.OffsetCommitResponse, error) { return b.CommitOffset(req) })
		if err != nil {
			return err
		}
		clear(perr)
		for p := range offsets {
			kerr, ok := resp.Errors[p.topic][p.partition]
			switch {
			case !ok:
				perr[p] = fmt.Errorf("kafka: no result for %s/%d in the OffsetCommit response: %w", p.topic, p.partition, sarama.ErrIncompleteResponse)
			case kerr == sarama.ErrNoError:
			case kafkacoord.Retriable(kerr):
				// The coordinator moved (or is loading): resend the
				// whole commit; it is idempotent.
				return kerr
			default:
				perr[p] = fmt.Errorf("kafka: %w", kerr)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("commit offsets of group %s to kafka: %w", group, err)
	}
	return perr, nil
}

// logOffsets returns the oldest available offset and the log-end offset of
// a partition.
func logOffsets(ctx context.Context, client sarama.Client, p tp) (start, end int64, err error) {
	end, err = kafkacoord.Call(ctx, func() (int64, error) { return client.GetOffset(p.topic, p.partition, sarama.OffsetNewest) })
	if err != nil {
		return -1, -1, fmt.Errorf("log-end offset: %w", err)
	}
	start, err = kafkacoord.Call(ctx, func() (int64, error) { return client.GetOffset(p.topic, p.partition, sarama.OffsetOldest) })
	if err != nil {
		return -1, end, fmt.Errorf("log-start offset: %w", err)
	}
	return start, end, nil
}
