// Package balancedtest tests a balanced.Handler without ZooKeeper or Kafka,
// as sarama's mocks package does for sarama consumers: NewPartition makes a
// fake owned partition over a slice of messages, whose Claim is a real
// *balanced.Claim. A test calls
//
//	p := balancedtest.NewPartition(tp, msgs)
//	err := handler.Consume(p.Context(), p.Claim())
//
// and then inspects what the handler marked (Marked) and committed with
// Claim.Commit (Commits). By default the partition is revoked once the
// handler asks for a message after the last one, so a handler that loops
// until its context ends returns; Cancel ends it at any other moment, with
// the cause of a revoke (balanced.ErrRevoked), a session loss
// (balanced.ErrSessionExpired) or a shutdown (balanced.ErrClosed).
package balancedtest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/zkbalance/zkbalance/balanced"
	"github.com/zkbalance/zkbalance/internal/balancedhook"
)

// source is the claim source balanced's Claim constructor takes (see
// internal/balancedhook); an alias, so that the function types match.
type source = interface {
	Next(ctx context.Context) (*balanced.Message, error)
	Messages() <-chan *balanced.Message
	HighWaterMark() int64
	Commit(ctx context.Context) error
}

// newClaim is balanced's unexported Claim constructor.
var newClaim = balancedhook.NewClaim.(func(balanced.TopicPartition, int64, *atomic.Int64, source) *balanced.Claim)

// Partition is a fake owned partition: its Claim delivers the partition's
// messages in order and records marks and commits. Its methods are safe for
// concurrent use, also while the handler runs.
type Partition struct {
	tp     balanced.TopicPartition
	ctx    context.Context
	cancel context.CancelCauseFunc
	marked atomic.Int64
	claim  *balanced.Claim

	mu        sync.Mutex
	msgs      []*balanced.Message
	next      int           // index of the next message to deliver
	wake      chan struct{} // closed (and replaced) by Add
	drained   error         // what a Next after the last message ends with; nil waits
	commits   []int64
	committed int64 // last committed next offset; -1 none
	commitErr error

	fwdOnce sync.Once
	fwd     chan *balanced.Message
}

// NewPartition returns a fake partition tp holding msgs, delivered in the
// order given (as they are: Topic, Partition and Offset are not rewritten).
// The claim's InitialOffset is the first message's offset (0 without
// messages), its HighWaterMark the last one's + 1. Nothing is marked or
// committed yet: Marked is -1.
func NewPartition(tp balanced.TopicPartition, msgs []*balanced.Message) *Partition {
	ctx, cancel := context.WithCancelCause(context.Background())
	p := &Partition{
		tp: tp, ctx: ctx, cancel: cancel,
		msgs:      slices.Clone(msgs),
		wake:      make(chan struct{}),
		drained:   balanced.ErrRevoked,
		committed: -1,
	}
	p.marked.Store(-1)
	var initial int64
	if len(msgs) > 0 {
		initial = msgs[0].Offset
	}
	p.claim = newClaim(tp, initial, &p.marked, (*fakeSource)(p))
	return p
}

// Messages makes one message of tp per value, at offsets 0, 1, 2, ...
func Messages(tp balanced.TopicPartition, values ...string) []*balanced.Message {
	out := make([]*balanced.Message, len(values))
	for i, v := range values {
		out[i] = &balanced.Message{Topic: tp.Topic, Partition: tp.Partition, Offset: int64(i), Value: []byte(v)}
	}
	return out
}

// Claim is the partition's claim, to pass to Handler.Consume.
func (p *Partition) Claim() *balanced.Claim { return p.claim }

// Context is the partition's context, to pass to Handler.Consume: it ends
// when the partition is revoked, lost or closed (Cancel, or the end of the
// messages; see EndWhenDrained). context.Cause tells which.
func (p *Partition) Context() context.Context { return p.ctx }

// Cancel ends the partition now, as the consumer does on a revoke
// (balanced.ErrRevoked), a lost session (balanced.ErrSessionExpired) or a
// shutdown (balanced.ErrClosed): Context is cancelled with cause, and
// Claim.Next fails with it. After a session loss Claim.Commit fails with
// balanced.ErrNotOwner, as the consumer's does.
func (p *Partition) Cancel(cause error) { p.cancel(cause) }

// EndWhenDrained sets what happens when the handler asks for a message
// after the last one: the partition's context is cancelled with cause
// (balanced.ErrRevoked unless set otherwise), or with
// balanced.ErrFetchStopped Claim.Next returns that error and the context
// stays live (the consumer restarts such a handler). With nil, Next waits
// for Add or Cancel, as on an idle partition.
func (p *Partition) EndWhenDrained(cause error) {
	p.mu.Lock()
	p.drained = cause
	p.mu.Unlock()
	p.wakeUp()
}

// Add appends messages to the partition, for a handler that is waiting on
// Claim.Next (see EndWhenDrained(nil)).
func (p *Partition) Add(msgs ...*balanced.Message) {
	p.mu.Lock()
	p.msgs = append(p.msgs, msgs...)
	p.mu.Unlock()
	p.wakeUp()
}

// FailCommits makes Claim.Commit fail with an error wrapping err (for
// example balanced.ErrNotOwner, a commit fenced because the partition moved
// to another member) and commit nothing; nil makes commits succeed again.
func (p *Partition) FailCommits(err error) {
	p.mu.Lock()
	p.commitErr = err
	p.mu.Unlock()
}

// Marked is the next offset to commit as the handler marked it (the last
// marked message's offset + 1), or -1 if nothing was marked. This is what
// the consumer commits on revoke and close.
func (p *Partition) Marked() int64 { return p.marked.Load() }

// Commits lists the offsets that Claim.Commit committed, in order. A Commit
// with nothing new marked commits nothing and adds nothing.
func (p *Partition) Commits() []int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.commits)
}

// Delivered is how many messages Claim.Next (or Claim.Messages) has handed
// to the handler.
func (p *Partition) Delivered() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.next
}

func (p *Partition) wakeUp() {
	p.mu.Lock()
	close(p.wake)
	p.wake = make(chan struct{})
	p.mu.Unlock()
}

// fakeSource is the Partition as the Claim's source.
type fakeSource Partition

// Next implements Claim.Next.
func (s *fakeSource) Next(ctx context.Context) (*balanced.Message, error) {
	p := (*Partition)(s)
	for {
		if p.ctx.Err() != nil {
			return nil, context.Cause(p.ctx)
		}
		if ctx.Err() != nil {
			return nil, context.Cause(ctx)
		}
		p.mu.Lock()
		if p.next < len(p.msgs) {
			m := p.msgs[p.next]
			p.next++
			p.mu.Unlock()
			return m, nil
		}
		drained, wake := p.drained, p.wake
		p.mu.Unlock()
		switch {
		case errors.Is(drained, balanced.ErrFetchStopped):
			return nil, drained
		case drained != nil:
			p.cancel(drained)
			return nil, context.Cause(p.ctx)
		}
		select {
		case <-wake:
		case <-ctx.Done():
		case <-p.ctx.Done():
		}
	}
}

// Messages implements Claim.Messages: a goroutine forwards Next until it
// fails, then closes the channel.
func (s *fakeSource) Messages() <-chan *balanced.Message {
	p := (*Partition)(s)
	p.fwdOnce.Do(func() {
		p.fwd = make(chan *balanced.Message)
		go func() { // ends when the partition ends (drained, cancelled) or fetching stops
			defer close(p.fwd)
			for {
				m, err := s.Next(p.ctx)
				if err != nil {
					return
				}
				select {
				case p.fwd <- m:
				case <-p.ctx.Done():
					return
				}
			}
		}()
	})
	return p.fwd
}

// HighWaterMark implements Claim.HighWaterMark: the last message's offset
// + 1, 0 without messages.
func (s *fakeSource) HighWaterMark() int64 {
	p := (*Partition)(s)
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.msgs) == 0 {
		return 0
	}
	return p.msgs[len(p.msgs)-1].Offset + 1
}

// Commit implements Claim.Commit.
func (s *fakeSource) Commit(ctx context.Context) error {
	p := (*Partition)(s)
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	if cause := context.Cause(p.ctx); errors.Is(cause, balanced.ErrSessionExpired) {
		return fmt.Errorf("balancedtest: commit %s/%d: %w: %w", p.tp.Topic, p.tp.Partition, balanced.ErrNotOwner, cause)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.commitErr != nil {
		return fmt.Errorf("balancedtest: commit %s/%d: %w", p.tp.Topic, p.tp.Partition, p.commitErr)
	}
	m := p.marked.Load()
	if m < 0 || m <= p.committed {
		return nil
	}
	p.commits = append(p.commits, m)
	p.committed = m
	return nil
}
