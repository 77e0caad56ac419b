package zkwatch

import (
	"context"
	"slices"
	"sync"
	"time"
)

// Signal is one coalesced burst of triggers.
type Signal struct {
	// Reasons are the distinct trigger reasons, in order of first arrival.
	Reasons []string
	// Count is how many triggers the signal stands for.
	Count int
	// First and Last are when the first and last trigger arrived.
	First, Last time.Time
}

// Coalescer turns bursts of triggers into single signals: a signal is
// emitted once no trigger has arrived for the quiet period, or when the
// first trigger of the burst is maxWait old, whichever comes first. A signal
// not yet read when the next one is due is merged into it, so a reader
// never falls behind. Trigger never blocks.
//
// Run drives it; its caller owns that goroutine.
type Coalescer struct {
	mu   sync.Mutex
	b    burst
	wake chan struct{}
	out  chan Signal
}

// NewCoalescer returns a Coalescer with the given quiet period (default
// 50ms when <= 0) and upper bound (default 10 x quiet when < quiet).
func NewCoalescer(quiet, maxWait time.Duration) *Coalescer {
	if quiet <= 0 {
		quiet = 50 * time.Millisecond
	}
	if maxWait < quiet {
		maxWait = 10 * quiet
	}
	return &Coalescer{
		b:    burst{quiet: quiet, max: maxWait},
		wake: make(chan struct{}, 1),
		out:  make(chan Signal, 1),
	}
}

// Trigger records one trigger with a reason (e.g. "ids changed").
func (c *Coalescer) Trigger(reason string) {
	c.mu.Lock()
	c.b.add(time.Now(), reason)
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// C delivers the signals.
func (c *Coalescer) C() <-chan Signal { return c.out }

// Run emits signals until ctx is done.
func (c *Coalescer) Run(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		c.mu.Lock()
		due, ok := c.b.due()
		c.mu.Unlock()
		var tc <-chan time.Time
		if ok {
			timer.Reset(time.Until(due))
			tc = timer.C
		}
		select {
		case <-ctx.Done():
			return
		case <-c.wake:
			timer.Stop()
		case <-tc:
			c.mu.Lock()
			sig, ready := c.b.take(time.Now())
			c.mu.Unlock()
			if ready {
				c.emit(sig)
			}
		}
	}
}

func (c *Coalescer) emit(sig Signal) {
	select {
	case old := <-c.out: // unread: merge
		sig = merge(old, sig)
	default:
	}
	c.out <- sig
}

func merge(a, b Signal) Signal {
	out := Signal{Reasons: slices.Clone(a.Reasons), Count: a.Count + b.Count, First: a.First, Last: b.Last}
	for _, r := range b.Reasons {
		if !slices.Contains(out.Reasons, r) {
			out.Reasons = append(out.Reasons, r)
		}
	}
	return out
}

// burst is the pure state of one pending burst.
type burst struct {
	quiet, max  time.Duration
	first, last time.Time
	reasons     []string
	count       int
}

func (b *burst) add(now time.Time, reason string) {
	if b.count == 0 {
		b.first = now
	}
	b.last = now
	b.count++
	if !slices.Contains(b.reasons, reason) {
		b.reasons = append(b.reasons, reason)
	}
}

// due is when the pending burst should be emitted; false when none is pending.
func (b *burst) due() (time.Time, bool) {
	if b.count == 0 {
		return time.Time{}, false
	}
	d := b.last.Add(b.quiet)
	if capAt := b.first.Add(b.max); capAt.Before(d) {
		d = capAt
	}
	return d, true
}

// take returns the burst as a signal and resets, if it is due at now.
func (b *burst) take(now time.Time) (Signal, bool) {
	d, ok := b.due()
	if !ok || now.Before(d) {
		return Signal{}, false
	}
	s := Signal{Reasons: b.reasons, Count: b.count, First: b.first, Last: b.last}
	*b = burst{quiet: b.quiet, max: b.max}
	return s, true
}
