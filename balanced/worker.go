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
// the partition's fetch; the rebalance owns the worker.
type worker struct {
	tp       TopicPartition
	wave     fetchWave // the wave its fetch starts in
	claim    partition.Claim
	fence    fence
	ctx      context.Context
	cancel   context.CancelCauseFunc
	done     chan struct{} // closed when run has returned
	marked   atomic.Int64  // next offset to commit; -1 before any mark
	hwm      atomic.Int64
	first    atomic.Int64              // offset of the first message fetched; -1 before (counts processed messages when nothing was committed before)
	fetching atomic.Bool               // the partition is being fetched
	pf       atomic.Pointer[partFetch] // the fetch of the running handler call; stop closes it

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

func newWorker(parent context.Context, tp TopicPartition, cl partition.Claim, f fence, wave fetchWave) *worker {
	ctx, cancel := context.WithCancelCause(context.WithoutCancel(parent))
	w := &worker{tp: tp, wave: wave, claim: cl, fence: f, ctx: ctx, cancel: cancel, done: make(chan struct{}), committed: -1}
	w.marked.Store(-1)
	w.first.Store(-1)
	w.start.Store(noOffset)
	w.startResolved.Store(noOffset)
	w.listedEnd.Store(noOffset)
	return w
}

// stop cancels the worker's context with cause and closes its partition's
// fetch at once, before the handler returns: a revoke does not wait for
// the broker's in-flight fetch or a slow handler.
func (w *worker) stop(cause error) {
	w.cancel(cause)
	if pf := w.pf.Load(); pf != nil {
		pf.close()
	}
}

// log is the consumer's logger with the partition's attributes. It is made
// for each line, not kept: a logger With attributes costs about 0.3 KiB, for
// every owned partition, and a worker logs rarely.
func (w *worker) log(c *Consumer) *slog.Logger {
	return c.log.With("topic", w.tp.Topic, "partition", w.tp.Partition)
}

// runWorker starts the worker: it reads the partition's offset and starts
// its fetch, then runs the handler on a goroutine of its own (handle) and
// returns.
//
// The goroutine of an idle partition waits inside the handler
// (Claim.Next), one per owned partition. Reading the offset and starting
// the fetch go deep (ZooKeeper or Kafka requests, logging) and can grow a
// goroutine's stack to 4 KiB or more, which the runtime never shrinks back
// to 2 KiB while the goroutine waits: so they happen here, and the
// handler's goroutine starts fresh. handle, runHandler and
// fetchSource.Next keep the rare paths and log calls in functions of their
// own, so that what they hold while waiting stays small (their frames and
// nothing on the heap).
func (c *Consumer) runWorker(w *worker, h Handler) {
	var pf *partFetch
	off, ok := c.firstOffset(w)
	if ok {
		pf, ok = c.startFetch(w, off)
	}
	if !ok {
		c.endWorker(w)
		return
	}
	go c.handle(w, h, pf, off) // owned via c.workers, as this goroutine was: it closes w.done
}

// handle runs the handler over pf from off until the worker's context is
// cancelled. A handler that returns early is restarted from the last mark.
func (c *Consumer) handle(w *worker, h Handler, pf *partFetch, off int64) {
	defer c.endWorker(w)
	for {
		w.fetching.Store(true)
		next, outOfRange := c.runHandler(w, h, pf, off)
		w.fetching.Store(false)
		off = next
		if outOfRange {
			off = c.resetOutOfRange(w, next)
		}
		var ok bool
		if pf, ok = c.startFetch(w, off); !ok {
			return
		}
	}
}

// startFetch starts fetching w's partition from off, retrying failures
// after Config.HandlerRestartDelay; false once the worker's context ended.
//
//go:noinline
func (c *Consumer) startFetch(w *worker, off int64) (*partFetch, bool) {
	for w.ctx.Err() == nil {
		pf, err := c.consumePartition(w, off)
		if w.ctx.Err() != nil {
			if err == nil { // stopped meanwhile: stop did not see pf
				pf.close()
			}
			break
		}
		if err == nil {
			return pf, true
		}
		if !c.fetchFailed(w, off, err) {
			break
		}
	}
	return nil, false
}

//go:noinline
func (c *Consumer) endWorker(w *worker) {
	close(w.done)
}

// firstOffset reads the offset the worker starts from; false if its
// context ended first.
//
//go:noinline
func (c *Consumer) firstOffset(w *worker) (int64, bool) {
	t0 := time.Now()
	off, ok := c.startOffset(w)
	if !ok {
		return 0, false
	}
	w.start.Store(off)
	c.kickLag() // the lag is known from now on
	if c.log.Enabled(w.ctx, slog.LevelDebug) {
		w.log(c).Debug("fetching", "offset", off, "read offset", time.Since(t0))
	}
	return off, true
}

// fetchFailed reports a failed start of fetching and waits before the
// retry; false if the worker's context ended.
//
//go:noinline
func (c *Consumer) fetchFailed(w *worker, off int64, err error) bool {
	w.log(c).Warn("cannot fetch partition, retrying", "offset", off, "err", err)
	c.partitionFailed(w.ctx, "fetch", w.tp, err)
	return ctxsleep.Sleep(w.ctx, c.cfg.HandlerRestartDelay)
}

// resetOutOfRange reports that off is out of range and returns the offset
// to restart from: Config.InitialOffset.
//
//go:noinline
func (c *Consumer) resetOutOfRange(w *worker, off int64) int64 {
	w.log(c).Warn("stored offset out of range, resetting to the initial offset", "offset", off, "initial", c.cfg.InitialOffset)
	c.partitionFailed(w.ctx, "fetch", w.tp, fmt.Errorf("offset %d: %w; reset to %d", off, sarama.ErrOffsetOutOfRange, c.cfg.InitialOffset))
	w.startResolved.Store(noOffset)
	w.start.Store(c.cfg.InitialOffset)
	// The stored offset no longer counts: the next mark, though lower, is
	// committed over it.
	w.commitMu.Lock()
	w.committed = -1
	w.commitMu.Unlock()
	return c.cfg.InitialOffset
}

// runHandler runs one handler call over pf and returns the offset to resume
// from should the handler be restarted, and whether fetching stopped because
// that offset is out of range (then the handler has returned and is
// restarted at once).
//
// The handler reads pf directly (Claim.Next), or through a forwarding
// goroutine started only if it asks for Claim.Messages. pf is closed as soon
// as the worker is stopped (worker.stop), before the handler has returned,
// and when the handler returns.
func (c *Consumer) runHandler(w *worker, h Handler, pf *partFetch, off int64) (int64, bool) {
	src := c.startHandler(w, pf)
	err := h.Consume(w.ctx, newClaim(w.tp, off, &w.marked, src))
	return c.endHandler(w, src, off, err)
}

//go:noinline
func (c *Consumer) startHandler(w *worker, pf *partFetch) *fetchSource {
	w.pf.Store(pf)
	if w.ctx.Err() != nil { // stopped before pf was stored: stop did not see it
		pf.close()
	}
	return &fetchSource{ctx: w.ctx, pf: pf, c: c, w: w}
}

//go:noinline
func (c *Consumer) endHandler(w *worker, src *fetchSource, off int64, err error) (int64, bool) {
	pf := src.pf
	w.pf.Store(nil)
	pf.close()
	src.wait()
	resume := off
	if m := w.marked.Load(); m >= 0 {
		resume = m
	}
	if w.ctx.Err() != nil {
		return off, false
	}
	if errors.Is(pf.endedWith(), sarama.ErrOffsetOutOfRange) {
		return resume, true
	}
	if err != nil {
		c.metrics.handlerErrors.WithLabelValues(w.tp.Topic).Inc()
	}
	w.log(c).Warn("handler returned while the partition is owned; restarting it from the last mark",
		"err", err, "after", c.cfg.HandlerRestartDelay)
	c.partitionFailed(w.ctx, "consume", w.tp, err)
	ctxsleep.Sleep(w.ctx, c.cfg.HandlerRestartDelay)
	return resume, false
}

// fetchSource is one handler call's view of a partition fetch, and the
// claimSource of its Claim.
type fetchSource struct {
	ctx context.Context // the worker's: ends at revoke, loss or close
	pf  *partFetch      // closed then too, and when the handler returns
	c   *Consumer
	w   *worker

	once    sync.Once
	msgs    chan *Message // set once Messages was asked for
	quit    chan struct{} // closed by wait: the forwarder stops
	fwdDone chan struct{}
}

// Next returns the next fetched message of the partition. It fails with the
// cause of ctx or s.ctx once either is done, or ErrFetchStopped once
// fetching has stopped (or the handler call is over) and every fetched
// message was taken. It logs fetch
// errors while it waits.
func (s *fetchSource) Next(ctx context.Context) (*Message, error) {
	for {
		if s.ctx.Err() != nil {
			return nil, context.Cause(s.ctx)
		}
		if ctx.Err() != nil {
			return nil, context.Cause(ctx)
		}
		m, errs, end := s.pf.take()
		if errs != nil {
			s.report(ctx, errs)
		}
		if m != nil {
			s.w.hwm.Store(s.pf.hwm.Load())
			s.w.first.CompareAndSwap(-1, m.Offset)
			return m, nil
		}
		if end != nil {
			s.pf.signal() // passed on: any other waiter sees the end too
			return nil, ErrFetchStopped
		}
		if ctx == s.ctx {
			// The worker's context ends only through worker.stop,
			// which closes pf and so signals ready.
			<-s.pf.ready
		} else {
			s.waitAlso(ctx)
		}
	}
}

//go:noinline
func (s *fetchSource) waitAlso(ctx context.Context) {
	select {
	case <-s.ctx.Done():
	case <-ctx.Done():
	case <-s.pf.ready:
	}
}

//go:noinline
func (s *fetchSource) report(ctx context.Context, errs []error) {
	for _, err := range errs {
		s.w.log(s.c).Warn("fetch error", "err", err)
		s.c.partitionFailed(ctx, "fetch", s.w.tp, err)
	}
}

// Messages starts (once) the goroutine that copies messages to a channel
// for handlers that range over Claim.Messages.
func (s *fetchSource) Messages() <-chan *Message {
	s.once.Do(func() {
		s.msgs = make(chan *Message)
		s.quit = make(chan struct{})
		s.fwdDone = make(chan struct{})
		go func() { // owned by runHandler, which stops it and waits for it (wait)
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
				case <-s.quit:
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

// wait stops the forwarding goroutine, if one was started, and waits for
// it; s.pf must be closed.
func (s *fetchSource) wait() {
	s.once.Do(func() { // no forwarder may start from now on
		s.msgs = make(chan *Message)
		close(s.msgs)
	})
	if s.fwdDone != nil {
		close(s.quit)
		<-s.fwdDone
	}
}

// consumePartition starts fetching w's partition from off in its wave. A
// symbolic off, once the fetch has listed it, is w's resolved start, which
// the lag refresh then need not list again.
func (c *Consumer) consumePartition(w *worker, off int64) (*partFetch, error) {
	return w.wave.fetcher.start(w.tp, off, w.wave.id, func(resolved int64) {
		w.startResolved.CompareAndSwap(noOffset, resolved)
	})
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
