// Package kafkacoord sends requests to a consumer group's Kafka
// coordinator, as the offset stores of the legacy consumers do: the
// request goes straight to client.Coordinator(group) and is retried a few
// times, with a short backoff, when the coordinator moved, is not available
// yet, is still loading offsets, or the connection failed.
//
// It is shared by the consumer library's Kafka offset store (balanced) and
// the group reader (groupstate).
package kafkacoord

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/IBM/sarama"
)

// Retries of Do on coordinator and network errors.
const (
	attempts   = 6
	backoff    = 100 * time.Millisecond
	maxBackoff = time.Second
)

// Do runs send against group's coordinator, retrying on errors Retriable
// accepts: up to 6 attempts, 100ms apart at first and doubling up to 1s.
// Before a retry it refreshes the coordinator (except when the coordinator
// is only loading offsets), and after a transport error it also closes the
// broker connection (the client reopens a cached broker on its next use),
// as sarama's own offset manager does.
//
// before, when not nil, runs before every attempt and ends Do with its
// error when it fails (an ownership check, say). When ctx ends, Do returns
// its cause (with the last error, if any).
//
// Errors are prefixed with the step that failed: "find coordinator: ..." or
// "coordinator <addr>: ...".
func Do(ctx context.Context, client sarama.Client, group string, before func(context.Context) error, send func(*sarama.Broker) error) error {
	wait := backoff
	var last error
	for attempt := 0; attempt < attempts; attempt++ {
		if attempt > 0 {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return fmt.Errorf("%w (last error: %w)", context.Cause(ctx), last)
			}
			wait = min(2*wait, maxBackoff)
		}
		if err := ctx.Err(); err != nil {
			return context.Cause(ctx)
		}
		if before != nil {
			if err := before(ctx); err != nil {
				return err
			}
		}
		b, err := Call(ctx, func() (*sarama.Broker, error) { return client.Coordinator(group) })
		if err != nil {
			last = fmt.Errorf("find coordinator: %w", err)
			if ctx.Err() != nil || !Retriable(err) {
				return last
			}
			continue
		}
		err = send(b)
		if err == nil {
			return nil
		}
		last = fmt.Errorf("coordinator %s: %w", b.Addr(), err)
		if ctx.Err() != nil || !Retriable(err) {
			return last
		}
		var kerr sarama.KError
		switch {
		case errors.As(err, &kerr) && kerr == sarama.ErrOffsetsLoadInProgress:
			// same coordinator, just wait
		case errors.As(err, &kerr):
			_, _ = Call(ctx, func() (struct{}, error) { return struct{}{}, client.RefreshCoordinator(group) })
		default:
			// The connection is suspect: close it (the client reopens a
			// cached broker on its next use) and look the coordinator up
			// again, as sarama's own offset manager does.
			_ = b.Close()
			_, _ = Call(ctx, func() (struct{}, error) { return struct{}{}, client.RefreshCoordinator(group) })
		}
	}
	return last
}

// Retriable reports whether a coordinator request that failed with err may
// succeed when retried against a (possibly new) coordinator: true for the
// Kafka errors NotCoordinator, CoordinatorNotAvailable,
// OffsetsLoadInProgress and RequestTimedOut and for network errors; false
// for other Kafka errors, a closed client, an incomplete response, an
// encoding error and a cancelled or expired context.
func Retriable(err error) bool {
	var kerr sarama.KError
	if errors.As(err, &kerr) {
		switch kerr {
		case sarama.ErrNotCoordinatorForConsumer, sarama.ErrConsumerCoordinatorNotAvailable,
			sarama.ErrOffsetsLoadInProgress, sarama.ErrRequestTimedOut:
			return true
		}
		return false // sarama.ErrUnsupportedVersion included
	}
	switch {
	case errors.Is(err, sarama.ErrClosedClient),
		errors.Is(err, sarama.ErrIncompleteResponse),
		errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return false
	}
	var pe sarama.PacketEncodingError
	if errors.As(err, &pe) {
		return false
	}
	// Network errors, ErrNotConnected, ErrOutOfBrokers, ...
	return true
}

// Call runs a blocking sarama call so that ctx can end the wait: it returns
// context.Cause(ctx) as soon as ctx is done. The call itself is not undone
// (a commit may still be applied after ctx is done); its goroutine ends
// when sarama answers or times out (Net.*Timeout).
func Call[T any](ctx context.Context, fn func() (T, error)) (T, error) {
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

// DescribeGroup asks the group's coordinator (through Do) for the group's
// description: nil, nil when the coordinator's answer does not name the
// group; the group's own error code as an error.
func DescribeGroup(ctx context.Context, client sarama.Client, group string) (*sarama.GroupDescription, error) {
	var out *sarama.GroupDescription
	err := Do(ctx, client, group, nil, func(b *sarama.Broker) error {
		out = nil
		resp, err := Call(ctx, func() (*sarama.DescribeGroupsResponse, error) {
			return b.DescribeGroups(&sarama.DescribeGroupsRequest{Groups: []string{group}})
		})
		if err != nil {
			return err
		}
		for _, g := range resp.Groups {
			if g.GroupId != group {
				continue
			}
			if g.Err != sarama.ErrNoError {
				return g.Err
			}
			out = g
		}
		return nil
	})
	return out, err
}
