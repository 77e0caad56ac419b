package bench

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"
)

// Counter counts messages and times the first and the Want-th, for the
// throughput measurements: in the test process and in the CPU part's
// consumer processes (test/bench/consumer).
type Counter struct {
	want        int64
	n           atomic.Int64
	first, last atomic.Int64 // unix nanos
	done        chan struct{}
}

// NewCounter is a Counter for want messages.
func NewCounter(want int) *Counter { return &Counter{want: int64(want), done: make(chan struct{})} }

// Add counts a message; it reports whether it was the want-th.
func (c *Counter) Add() bool {
	now := time.Now().UnixNano()
	c.first.CompareAndSwap(0, now)
	if c.n.Add(1) == c.want {
		c.last.Store(now)
		close(c.done)
		return true
	}
	return false
}

// Done is closed once the want-th message was counted.
func (c *Counter) Done() <-chan struct{} { return c.done }

// Wait waits for the want-th message, or fails when ctx ends.
func (c *Counter) Wait(ctx context.Context) error {
	select {
	case <-c.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("consumed %d of %d: %w", c.n.Load(), c.want, context.Cause(ctx))
	}
}

// Seconds is the time from the first message to the want-th (0 before).
func (c *Counter) Seconds() float64 {
	return time.Duration(c.last.Load() - c.first.Load()).Seconds()
}

// Rate is messages per second from the first to the want-th (0 before).
func (c *Counter) Rate() float64 {
	secs := c.Seconds()
	if secs <= 0 {
		return 0
	}
	return float64(c.want) / secs
}
