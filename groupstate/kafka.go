package groupstate

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/IBM/sarama"
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

// Retries on coordinator and network errors.
const (
	kafkaAttempts   = 6
	kafkaBackoff    = 100 * time.Millisecond
	kafkaMaxBackoff = time.Second
)

// tp names a partition.
type tp struct {
	topic     string
	partition int32
}

// call runs a blocking sarama call so that ctx can end the wait. The call
// itself is not undone; its goroutine ends when sarama answers or times out
// (Net.*Timeout).
func call[T any](ctx context.Context, fn func() (T, error)) (T, error) {
	type result struct {
		v   T
		err error
	}
	ch := make(chan result, 1)
	go func() {
		v, err := fn()
		ch <- result{v, err}
	}()
	select {
	case r := <-ch:
		return r.v, r.err
	case <-ctx.Done():
		var zero T
		return zero, context.Cause(ctx)
	}
}

// withCoordinator runs send against group's coordinator, retrying a few
// times on coordinator and transport errors.
func withCoordinator(ctx context.Context, client sarama.Client, group string, send func(*sarama.Broker) error) error {
	backoff := kafkaBackoff
	var last error
	for attempt := 0; attempt < kafkaAttempts; attempt++ {
		if attempt > 0 {
			t := time.NewTimer(backoff)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return fmt.Errorf("%w (last error: %w)", context.Cause(ctx), last)
			}
			backoff = min(2*backoff, kafkaMaxBackoff)
		}
		if err := ctx.Err(); err != nil {
			return context.Cause(ctx)
		}
		b, err := call(ctx, func() (*sarama.Broker, error) { return client.Coordinator(group) })
		if err != nil {
			last = fmt.Errorf("find coordinator of group %s: %w", group, err)
			if ctx.Err() != nil || !retriable(err) {
				return last
			}
			continue
		}
		err = send(b)
		if err == nil {
			return nil
		}
		last = fmt.Errorf("coordinator %s: %w", b.Addr(), err)
		if ctx.Err() != nil || !retriable(err) {
			return last
		}
		var kerr sarama.KError
		switch {
		case errors.As(err, &kerr) && kerr == sarama.ErrOffsetsLoadInProgress:
			// same coordinator, just wait
		case errors.As(err, &kerr):
			_, _ = call(ctx, func() (struct{}, error) { return struct{}{}, client.RefreshCoordinator(group) })
		default:
			// A suspect connection: close it (the client reopens it) and
			// look the coordinator up again.
			_ = b.Close()
			_, _ = call(ctx, func() (struct{}, error) { return struct{}{}, client.RefreshCoordinator(group) })
		}
	}
	return last
}

// retriable reports whether a request that failed with err may succeed when
// retried against a (possibly new) coordinator.
func retriable(err error) bool {
	var kerr sarama.KError
	if errors.As(err, &kerr) {
		switch kerr {
		case sarama.ErrNotCoordinatorForConsumer, sarama.ErrConsumerCoordinatorNotAvailable,
			sarama.ErrOffsetsLoadInProgress, sarama.ErrRequestTimedOut:
			return true
		}
		return false
	}
	switch {
	case errors.Is(err, sarama.ErrClosedClient), errors.Is(err, sarama.ErrIncompleteResponse),
		errors.Is(err, sarama.ErrUnsupportedVersion),
		errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return false
	}
	var pe sarama.PacketEncodingError
	return !errors.As(err, &pe)
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
	err := withCoordinator(ctx, client, group, func(b *sarama.Broker) error {
		req := &sarama.OffsetFetchRequest{Version: offsetFetchVersion, ConsumerGroup: group}
		for _, p := range parts {
			req.AddPartition(p.topic, p.partition)
		}
		resp, err := call(ctx, func() (*sarama.OffsetFetchResponse, error) { return b.FetchOffset(req) })
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
				if retriable(block.Err) {
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
	err := withCoordinator(ctx, client, group, func(b *sarama.Broker) error {
		req := &sarama.OffsetFetchRequest{Version: offsetFetchAllVersion, ConsumerGroup: group}
		resp, err := call(ctx, func() (*sarama.OffsetFetchResponse, error) { return b.FetchOffset(req) })
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
	err := withCoordinator(ctx, client, group, func(b *sarama.Broker) error {
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
		resp, err := call(ctx, func() (*sarama.OffsetCommitResponse, error) { return b.CommitOffset(req) })
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
			case retriable(kerr):
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
	end, err = call(ctx, func() (int64, error) { return client.GetOffset(p.topic, p.partition, sarama.OffsetNewest) })
	if err != nil {
		return -1, -1, fmt.Errorf("log-end offset: %w", err)
	}
	start, err = call(ctx, func() (int64, error) { return client.GetOffset(p.topic, p.partition, sarama.OffsetOldest) })
	if err != nil {
		return -1, end, fmt.Errorf("log-start offset: %w", err)
	}
	return start, end, nil
}
