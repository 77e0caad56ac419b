package balanced

import (
	"context"
	"sync"
)

// coalescer merges concurrent single-partition requests of one kind
// (OffsetCommit, OffsetFetch) that go to the same place (key: the
// coordinator broker and, for commits, the generation and member id) into
// one request of many partitions.
//
// Why: the Kafka broker handles the requests of one connection one at a
// time, and an OffsetCommit waits for the offsets topic's replicas, so the
// final commits of a revoke (every owned partition at once, in parallel)
// or the start offsets of a generation's partitions queued one behind the
// other: at 16 partitions a member, a revoke's Kafka commits took 200-800
// ms and the offset reads 70-400 ms on the benchmark's cluster. Merged,
// they take one or two round trips.
//
// How: the first request of a key is sent at once, alone (a lone commit
// waits for nothing). Requests arriving while it is in flight gather in
// the next batch, sent as soon as the one in flight is answered, and so
// on. Each caller gets its partition's result, or the request's error.
// A caller whose ctx ends stops waiting; its partition stays in the batch
// (as a request already sent may still be applied: see kafkacoord.Call).
// A partition already in the gathering batch (two callers for one
// partition) is sent on its own instead.
//
// The zero value is ready to use.
type coalescer[K comparable, V any, R any] struct {
	mu    sync.Mutex
	lanes map[K]*coalesceLane[V, R]
}

// coalesceLane is one key's batch in flight (busy) and the one gathering.
type coalesceLane[V any, R any] struct {
	busy bool
	next *coalesceBatch[V, R]
}

// coalesceBatch is one merged request: its partitions and values, the
// function that sends it, and, once done is closed, the results.
type coalesceBatch[V any, R any] struct {
	items map[TopicPartition]V
	send  func(map[TopicPartition]V) (map[TopicPartition]R, error)
	res   map[TopicPartition]R
	err   error
	done  chan struct{}
}

func newCoalesceBatch[V any, R any](send func(map[TopicPartition]V) (map[TopicPartition]R, error)) *coalesceBatch[V, R] {
	return &coalesceBatch[V, R]{items: map[TopicPartition]V{}, send: send, done: make(chan struct{})}
}

// do sends tp's value v with the other requests of key, through send
// (which sends one request of the given partitions and returns each one's
// result, or an error for the whole request), and returns tp's result.
// Every send of a key must be equivalent (same broker, same generation).
// A partition missing from send's results gets the error missing.
func (c *coalescer[K, V, R]) do(ctx context.Context, key K, tp TopicPartition, v V, missing error,
	send func(map[TopicPartition]V) (map[TopicPartition]R, error)) (R, error) {
	c.mu.Lock()
	if c.lanes == nil {
		c.lanes = map[K]*coalesceLane[V, R]{}
	}
	ln := c.lanes[key]
	if ln == nil {
		ln = &coalesceLane[V, R]{}
		c.lanes[key] = ln
	}
	var b *coalesceBatch[V, R]
	switch {
	case !ln.busy:
		ln.busy = true
		b = newCoalesceBatch(send)
		b.items[tp] = v
		c.mu.Unlock()
		go c.run(key, ln, b) // ends when the lane has nothing left to send (each send ends with sarama's answer or its Net timeouts)
	default:
		if ln.next == nil {
			ln.next = newCoalesceBatch(send)
		}
		if _, dup := ln.next.items[tp]; dup {
			c.mu.Unlock()
			b = newCoalesceBatch(send)
			b.items[tp] = v
			b.res, b.err = send(b.items)
			close(b.done)
			return b.result(tp, missing)
		}
		b = ln.next
		b.items[tp] = v
		c.mu.Unlock()
	}
	select {
	case <-b.done:
		return b.result(tp, missing)
	case <-ctx.Done():
		var zero R
		return zero, context.Cause(ctx)
	}
}

// result is tp's result in a done batch.
func (b *coalesceBatch[V, R]) result(tp TopicPartition, missing error) (R, error) {
	if b.err != nil {
		var zero R
		return zero, b.err
	}
	r, ok := b.res[tp]
	if !ok {
		return r, missing
	}
	return r, nil
}

// run sends b, then every batch that gathered meanwhile, until none did.
func (c *coalescer[K, V, R]) run(key K, ln *coalesceLane[V, R], b *coalesceBatch[V, R]) {
	for b != nil {
		b.res, b.err = b.send(b.items)
		close(b.done)
		c.mu.Lock()
		b, ln.next = ln.next, nil
		if b == nil {
			ln.busy = false
			delete(c.lanes, key)
		}
		c.mu.Unlock()
	}
}
