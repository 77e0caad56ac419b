package balanced

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"

	"github.com/zkbalance/zkbalance/internal/ctxsleep"
	"github.com/zkbalance/zkbalance/partition"
)

// worker runs the handler of one owned partition. Its goroutine (run) owns
// the partition consumer; the rebalance owns the worker.
type worker struct {
	tp       TopicPartition
	gen      *fetchGen // the sarama client it fetches through; the worker holds a reference
	claim    partition.Claim
	fence    fence
	ctx      context.Context
	cancel   context.CancelCauseFunc
	done     chan struct{} // closed when run has returned
	marked   atomic.Int64  // next offset to commit; -1 before any mark
	hwm      atomic.Int64
	first    atomic.Int64 // offset of the first message fetched; -1 before (counts processed messages when nothing was committed before)
	fetching atomic.Bool  // a partition consumer is running

	// For the lag and commit series (lag.go).
	start         atomic.Int64 // offset the worker started from (committed, or the symbolic InitialOffset); noOffset before it is read
	startResolved atomic.Int64 // a symbolic start resolved by ListOffsets; noOffset before
	listedEnd     atomic.Int64 // log end from the last ListOffsets; noOffset before
	lastCommit    atomic.Int64 // unix nanoseconds of the last successful commit; 0 none

	commitMu  sync.Mutex
	committed int64 // last committed (or fetched) next offset; -1 none
	released  bool  // no commit may happen any more
	suspended bool  // stopped while disconnected; the claim may still be ours
}

func newWorker(parent context.Context, tp TopicPartition, cl partition.Claim, f fence, gen *fetchGen) *worker {
	ctx, cancel := context.WithCancelCause(context.WithoutCancel(parent))
	w := &worker{tp: tp, gen: gen, claim: cl, fence: f, ctx: ctx, cancel: cancel, done: make(chan struct{}), committed: -1}
	w.marked.Store(-1)
	w.first.Store(-1)
	w.start.Store(noOffset)
	w.startResolved.Store(noOffset)
	w.listedEnd.Store(noOffset)
	return w
}

// log is the consumer's logger with the partition's attributes. It is made
// for each line, not kept: a logger With attributes costs about 0.3 KiB, for
// every owned partition, and a worker logs rarely.
func (w *worker) log(c *Consumer) *slog.Logger {
	return c.log.With("topic", w.tp.Topic, "partition", w.tp.Partition)
}

// run fetches the partition and runs the handler until the worker's context
// is cancelled. A handler that returns early is restarted from the last mark.
func (c *Consumer) runWorker(w *worker, h Handler) {
	defer close(w.done)
	defer func() { w.gen.release() }()
	t0 := time.Now()
	off, ok := c.startOffset(w)
	if !ok {
		return
	}
	tOffset := time.Since(t0)
	w.start.Store(off)
	c.kickLag() // the lag is known from now on
	for w.ctx.Err() == nil {
		if !c.waitClosed(w.ctx, w.tp) {
			return
		}
		pc, err := c.consumePartition(w.ctx, w.gen, w.tp, off)
		if w.ctx.Err() != nil {
			return
		}
		if errors.Is(err, sarama.ErrOffsetOutOfRange) {
			w.log(c).Warn("stored offset out of range, resetting to the initial offset", "offset", off, "initial", c.cfg.InitialOffset)
			c.partitionFailed(w.ctx, "fetch", w.tp, fmt.Errorf("offset %d: %w; reset to %d", off, err, c.cfg.InitialOffset))
			off = c.cfg.InitialOffset
			w.startResolved.Store(noOffset)
			w.start.Store(off)
			// The stored offset no longer counts: the next mark, though
			// lower, is committed over it.
			w.commitMu.Lock()
			w.committed = -1
			w.commitMu.Unlock()
			continue
		}
		if err != nil {
			w.log(c).Warn("cannot fetch partition, retrying", "offset", off, "err", err)
			c.partitionFailed(w.ctx, "fetch", w.tp, err)
			if !ctxsleep.Sleep(w.ctx, c.cfg.HandlerRestartDelay) {
				return
			}
			if w.gen.failed() {
				old := w.gen
				w.gen = c.fetch.current()
				old.release()
			}
			continue
		}
		w.fetching.Store(true)
		if c.log.Enabled(w.ctx, slog.LevelDebug) {
			w.log(c).Debug("fetching", "offset", off, "read offset", tOffset, "since start", time.Since(t0))
		}
		off = c.runHandler(w, h, w.gen, pc, off)
		w.fetching.Store(false)
	}
}

// runHandler runs one handler call over pc and returns the offset to resume
// from should the handler be restarted.
//
// The handler reads pc directly (Claim.Next), or through a forwarding
// goroutine started only if it asks for Claim.Messages. pc is closed in the
// background as soon as the call's context ends — at a revoke, before the
// handler has returned — so fetching is cancelled, never waited on: a revoke
// does not wait for the broker's in-flight fetch or a slow handler.
func (c *Consumer) runHandler(w *worker, h Handler, gen *fetchGen, pc sarama.PartitionConsumer, off int64) int64 {
	runCtx, runCancel := context.WithCancel(w.ctx)
	closed := c.markClosing(w.tp) // a later fetch of w.tp waits for this one's close
	c.bg.Add(1)
	context.AfterFunc(runCtx, func() { // its goroutine is owned by the consumer's bg group
		defer c.bg.Done()
		c.drainClose(w.tp, gen, pc, closed)
	})
	src := &fetchSource{ctx: runCtx, pc: pc, c: c, w: w}
	claim := newClaim(w.tp, off, &w.marked, src)
	err := h.Consume(w.ctx, claim)
	runCancel()
	src.wait()
	if w.ctx.Err() != nil {
		return off
	}
	if err != nil {
		c.metrics.handlerErrors.WithLabelValues(w.tp.Topic).Inc()
	}
	w.log(c).Warn("handler returned while the partition is owned; restarting it from the last mark",
		"err", err, "after", c.cfg.HandlerRestartDelay)
	c.partitionFailed(w.ctx, "consume", w.tp, err)
	ctxsleep.Sleep(w.ctx, c.cfg.HandlerRestartDelay)
	if m := w.marked.Load(); m >= 0 {
		return m
	}
	return off
}

// fetchSource is one handler call's view of a partition consumer, and the
// claimSource of its Claim.
type fetchSource struct {
	ctx context.Context // ends at revoke, loss, close, or when the handler returns
	pc  sarama.PartitionConsumer
	c   *Consumer
	w   *worker

	once    sync.Once
	msgs    chan *Message // set once Messages was asked for
	fwdDone chan struct{}
}

// Next returns the next message of pc. It fails with the cause of ctx or
// s.ctx once either is done, or ErrFetchStopped once pc has stopped. It logs
// fetch errors while it waits.
func (s *fetchSource) Next(ctx context.Context) (*Message, error) {
	// Fast path, no blocking select: a message is usually waiting while a
	// partition is being caught up.
	if s.ctx.Err() != nil {
		return nil, context.Cause(s.ctx)
	}
	if ctx.Err() != nil {
		return nil, context.Cause(ctx)
	}
	select {
	case sm, ok := <-s.pc.Messages():
		return s.got(sm, ok)
	default:
	}
	errs := s.pc.Errors()
	for {
		select {
		case <-s.ctx.Done():
			return nil, context.Cause(s.ctx)
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		case err, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			s.w.log(s.c).Warn("fetch error", "err", err)
			s.c.partitionFailed(ctx, "fetch", s.w.tp, err)
		case sm, ok := <-s.pc.Messages():
			return s.got(sm, ok)
		}
	}
}

// got turns a receive from pc.Messages into next's result.
func (s *fetchSource) got(sm *sarama.ConsumerMessage, ok bool) (*Message, error) {
	if s.ctx.Err() != nil {
		// A message the background close would have drained: the
		// partition is no longer this call's.
		return nil, context.Cause(s.ctx)
	}
	if !ok {
		return nil, ErrFetchStopped
	}
	s.w.hwm.Store(s.pc.HighWaterMarkOffset())
	s.w.first.CompareAndSwap(-1, sm.Offset)
	return toMessage(sm), nil
}

// Messages starts (once) the goroutine that copies messages to a channel
// for handlers that range over Claim.Messages.
func (s *fetchSource) Messages() <-chan *Message {
	s.once.Do(func() {
		s.msgs = make(chan *Message)
		s.fwdDone = make(chan struct{})
		go func() { // owned by runHandler, which waits for it (wait)
			defer close(s.fwdDone)
			defer close(s.msgs)
			for {
				m, err := s.Next(s.ctx)
				if err != nil {
					return
				}
				select {
				case s.msgs <- m:
				case <-s.ctx.Done():
					return
				}
			}
		}()
	})
	return s.msgs
}

// HighWaterMark is the log end offset last seen by fetching.
func (s *fetchSource) HighWaterMark() int64 { return s.w.hwm.Load() }

// Commit is Claim.Commit.
func (s *fetchSource) Commit(ctx context.Context) error {
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	return s.c.commitClaim(ctx, s.w)
}

// wait waits for the forwarding goroutine, if one was started; s.ctx must be
// done.
func (s *fetchSource) wait() {
	s.once.Do(func() { // no forwarder may start from now on
		s.msgs = make(chan *Message)
		close(s.msgs)
	})
	if s.fwdDone != nil {
		<-s.fwdDone
	}
}

func toMessage(sm *sarama.ConsumerMessage) *Message {
	m := &Message{Topic: sm.Topic, Partition: sm.Partition, Offset: sm.Offset, Key: sm.Key, Value: sm.Value, Timestamp: sm.Timestamp}
	if len(sm.Headers) > 0 {
		m.Headers = make([]Header, len(sm.Headers))
		for i, h := range sm.Headers {
			m.Headers[i] = Header{Key: h.Key, Value: h.Value}
		}
	}
	return m
}

// consumePartition starts fetching tp, but gives up waiting when ctx ends:
// sarama's ConsumePartition can block for a whole fetch cycle (up to
// Consumer.MaxWaitTime) while the broker consumer admits new partitions, and
// a revoke must not wait for that. A start that completes after ctx ended is
// closed in the background.
func (c *Consumer) consumePartition(ctx context.Context, gen *fetchGen, tp TopicPartition, off int64) (sarama.PartitionConsumer, error) {
	fetcher, err := gen.get(ctx)
	if err != nil {
		return nil, err
	}
	type result struct {
		pc  sarama.PartitionConsumer
		err error
	}
	ch := make(chan result, 1)
	gen.acquire() // for the partition consumer, released once it is closed
	c.bg.Add(1)
	go func() { // owned by the consumer's bg group
		defer c.bg.Done()
		pc, err := fetcher.ConsumePartition(tp.Topic, tp.Partition, off)
		if err != nil {
			gen.release()
		}
		ch <- result{pc, err}
	}()
	select {
	case r := <-ch:
		return r.pc, r.err
	case <-ctx.Done():
		done := c.markClosing(tp)
		c.bg.Add(1)
		go func() { // owned by the consumer's bg group
			defer c.bg.Done()
			if r := <-ch; r.err == nil {
				c.drainClose(tp, gen, r.pc, done)
			} else {
				c.closing.CompareAndDelete(tp, done)
				close(done)
			}
		}()
		return nil, context.Cause(ctx)
	}
}

// markClosing records that tp has a partition consumer that is open or
// being closed; later fetches of tp wait for the returned channel, closed
// once that consumer is closed and drained (sarama allows one consumer per
// partition).
func (c *Consumer) markClosing(tp TopicPartition) chan struct{} {
	done := make(chan struct{})
	c.closing.Store(tp, done)
	return done
}

// drainClose closes pc, drains its channels, then closes done and releases
// pc's reference to its generation.
func (c *Consumer) drainClose(tp TopicPartition, gen *fetchGen, pc sarama.PartitionConsumer, done chan struct{}) {
	defer gen.release()
	defer close(done)
	pc.AsyncClose()
	m, e := pc.Messages(), pc.Errors()
	for m != nil || e != nil {
		select {
		case _, ok := <-m:
			if !ok {
				m = nil
			}
		case _, ok := <-e:
			if !ok {
				e = nil
			}
		}
	}
	c.closing.CompareAndDelete(tp, done)
}

// waitClosed waits until an earlier fetch of tp has fully closed.
func (c *Consumer) waitClosed(ctx context.Context, tp TopicPartition) bool {
	v, ok := c.closing.Load(tp)
	if !ok {
		return true
	}
	select {
	case <-v.(chan struct{}):
		return true
	case <-ctx.Done():
		return false
	}
}

// startOffset reads the committed offset, retrying transient errors until
// the worker's context ends; false means it ended.
func (c *Consumer) startOffset(w *worker) (int64, bool) {
	for {
		off, ok, err := c.store.Fetch(w.ctx, w.fence, w.tp)
		switch {
		case err == nil && ok:
			w.commitMu.Lock()
			w.committed = off
			w.commitMu.Unlock()
			return off, true
		case err == nil:
			return c.cfg.InitialOffset, true
		case errors.Is(err, ErrBadOffset):
			w.log(c).Warn("stored offset is malformed; starting from the initial offset", "err", err, "initial", c.cfg.InitialOffset)
			c.partitionFailed(w.ctx, "offset", w.tp, err)
			return c.cfg.InitialOffset, true
		case w.ctx.Err() != nil:
			return 0, false
		default:
			w.log(c).Warn("cannot read the stored offset, retrying", "err", err)
			c.partitionFailed(w.ctx, "offset", w.tp, err)
			if !ctxsleep.Sleep(w.ctx, c.cfg.HandlerRestartDelay) {
				return 0, false
			}
		}
	}
}

// commit writes the marked offset if it moved. It does nothing once the
// worker is released: a partition handed over is never committed to again.
func (c *Consumer) commit(ctx context.Context, w *worker) error {
	w.commitMu.Lock()
	defer w.commitMu.Unlock()
	return c.commitLocked(ctx, w)
}

func (c *Consumer) commitLocked(ctx context.Context, w *worker) error {
	m := w.marked.Load()
	if w.released || m < 0 || m <= w.committed {
		return nil
	}
	t0 := time.Now()
	err := c.store.Commit(ctx, w.fence, w.tp, m)
	c.metrics.commitDuration.Observe(time.Since(t0).Seconds())
	if err != nil {
		c.metrics.commitErrors.Inc()
		return err
	}
	w.lastCommit.Store(time.Now().UnixNano())
	base := w.committed
	if base < 0 {
		base = w.first.Load()
	}
	if base >= 0 && m > base {
		c.metrics.processed.WithLabelValues(w.tp.Topic).Add(float64(m - base))
	}
	w.committed = m
	c.metrics.commits.Inc()
	return nil
}

// commitClaim is Claim.Commit: commit, except that a worker already lost
// (its context cancelled with ErrSessionExpired or ErrGenerationLost) or
// released fails with ErrNotOwner instead of quietly writing nothing.
func (c *Consumer) commitClaim(ctx context.Context, w *worker) error {
	if cause := context.Cause(w.ctx); errors.Is(cause, ErrSessionExpired) || errors.Is(cause, ErrGenerationLost) {
		return fmt.Errorf("balanced: commit %s/%d: %w: %w", w.tp.Topic, w.tp.Partition, ErrNotOwner, cause)
	}
	w.commitMu.Lock()
	defer w.commitMu.Unlock()
	if w.released {
		return fmt.Errorf("balanced: commit %s/%d: %w: the partition was released", w.tp.Topic, w.tp.Partition, ErrNotOwner)
	}
	return c.commitLocked(ctx, w)
}

// finish makes the final commit (unless lost) and forbids any later one.
func (c *Consumer) finish(ctx context.Context, w *worker, commit bool) error {
	w.commitMu.Lock()
	defer w.commitMu.Unlock()
	var err error
	if commit {
		err = c.commitLocked(ctx, w)
	}
	w.released = true
	return err
}

// wait waits up to d for the worker's goroutine to return.
func (w *worker) wait(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-w.done:
		return true
	case <-t.C:
		return false
	}
}
