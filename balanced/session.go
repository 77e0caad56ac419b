package balanced

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/zkbalance/zkbalance/internal/ctxsleep"
	"github.com/zkbalance/zkbalance/partition"
	"github.com/zkbalance/zkbalance/zkwatch"
)

// rebalanceResult is what a finished (or superseded) rebalance reports.
type rebalanceResult struct {
	topics []string // topics whose partition counts the group depends on
	err    error
}

// runSession is the member's life within one ZooKeeper session: register,
// watch, rebalance on every coalesced trigger, commit periodically. It
// returns nil when the session is lost (the caller opens a new one), ctx's
// error when ctx is done (the caller shuts down), or a fatal error.
//
// The decisions are the scheduler's; runSession turns what happens into
// scheduler events and performs the actions it returns (sessionLoop.do).
func (c *Consumer) runSession(ctx context.Context, sess *zkwatch.Conn, h Handler) error {
	sctx, scancel := context.WithCancel(ctx)
	co := zkwatch.NewCoalescer(c.cfg.RebalanceDelay, 20*c.cfg.RebalanceDelay)
	// Sticky: re-reading the owners after changes waits for them to calm
	// down (see schedState.ownersDirty).
	ownersCo := zkwatch.NewCoalescer(10*c.cfg.RebalanceDelay, 50*c.cfg.RebalanceDelay)
	ownersChanged := make(chan struct{}, 1) // sticky: an owners directory changed
	notifyOwners := func() {
		select {
		case ownersChanged <- struct{}{}:
		default:
		}
	}
	w := newWatches(sctx, sess, c.cfg.Group, policyFor(c.cfg), co.Trigger, notifyOwners)
	var wg sync.WaitGroup // the coalescers and the commit loop
	defer func() {        // every goroutine of the session ends with it
		scancel()
		wg.Wait()
		w.wait()
	}()

	if c.cfg.Assignor == partition.Sticky {
		// The tree's events stand for the owners directories' watches,
		// which are set only without a tree, or when it fails.
		tree := c.watchOwnersTree(sctx, sess, notifyOwners, w.ownersByDirs) // before any owner is read
		if tree == nil {
			w.ownersByDirs()
		}
		c.setTree(tree)
		defer func() { c.setTree(nil); tree.close() }()
	}
	if err := c.register(sctx, sess); err != nil {
		if ctx.Err() != nil || errors.Is(err, zkwatch.ErrSessionExpired) {
			return nil
		}
		return err
	}
	if tree := c.treeFor(sess); tree != nil {
		wg.Go(func() { tree.warm(sctx, c.cfg.Topics) }) // ahead of the reads our registration sets off
	}
	if err := c.awaitKafka(sctx); err != nil { // started beside the registration (connectBeside)
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	events := sess.Subscribe(sctx)
	wg.Add(3)
	go func() { defer wg.Done(); ownersCo.Run(sctx) }()
	go func() { defer wg.Done(); co.Run(sctx) }()
	go func() { defer wg.Done(); c.commitLoop(sctx, func() { co.Trigger("commit fenced") }) }()
	w.prefetched = c.prefetchTopics(sctx, sess) // while the watches are armed
	w.armSession()

	limit := c.silenceLimit(sess)
	silence := newSilenceWatch(sess, limit)
	defer silence.stop()
	l := &sessionLoop{c: c, ctx: sctx, sess: sess, h: h, watches: w, ownersCo: ownersCo,
		results: make(chan rebalanceResult, 1), silenceLimit: limit}
	s := newScheduler()
	l.do(s.handle(event{kind: evStart}))
	for {
		var ev event
		select {
		case <-sctx.Done():
			l.do(s.handle(event{kind: evClose}))
			return ctx.Err()
		case <-sess.Done():
			l.do(s.handle(event{kind: evSessionExpired}))
			return nil
		case r := <-l.results:
			ev = event{kind: evRebalanceDone, result: r}
		case sig := <-co.C():
			ev = event{kind: evTrigger, reasons: sig.Reasons}
		case <-ownersChanged:
			ev = event{kind: evOwnersChanged}
		case sig := <-ownersCo.C():
			ev = event{kind: evOwnersQuiet, reasons: sig.Reasons}
		case <-c.claimWaits:
			ev = event{kind: evClaimWaits}
		case <-l.retry:
			l.retry = nil
			ev = event{kind: evRetryDue}
		case <-silence.C():
			v, silent := silence.check(s.suspended)
			switch v {
			case silenceStop:
				l.silent = silent
				ev = event{kind: evSilent}
			case silenceResume:
				ev = event{kind: evAnswering}
			default:
				continue
			}
		case se, ok := <-events:
			switch {
			case !ok:
				events = nil // the session's end follows (sess.Done or sctx.Done)
			case se.State == zkwatch.StateDisconnected:
				// The session may well live on: the handlers go on until
				// ZooKeeper has been silent for the limit (silence.go).
				c.log.Info("disconnected from ZooKeeper; handlers go on unless it stays silent",
					"silent", time.Since(sess.LastAnswer()).Round(time.Millisecond), "limit", limit)
			case se.State == zkwatch.StateHasSession:
				silence.lookNow()
			}
			continue
		}
		l.do(s.handle(ev))
	}
}

// sessionLoop performs the scheduler's actions for one session: it owns
// the running rebalance (its cancel func and result channel) and the grace
// and retry timers. Only the session loop's goroutine uses it.
type sessionLoop struct {
	c        *Consumer
	ctx      context.Context // the session's
	sess     *zkwatch.Conn
	h        Handler
	watches  *watches
	ownersCo *zkwatch.Coalescer

	results      chan rebalanceResult // the running rebalance's (buffered: 1)
	rcancel      context.CancelFunc   // cancels the running (or last) rebalance
	retry        <-chan time.Time     // nil when not armed
	silenceLimit time.Duration        // see silence.go
	silent       time.Duration        // how long ZooKeeper was silent at the last evSilent
}

// do performs acts in order.
func (l *sessionLoop) do(acts []action) {
	c := l.c
	for _, a := range acts {
		switch a.kind {
		case actStartRebalance:
			drain(c.claimWaits) // a signal of an earlier rebalance
			l.rcancel = c.startRebalance(l.ctx, l.sess, l.h, l.watches, l.results)
		case actSupersede:
			c.log.Info("rebalance superseded by a newer trigger", "reasons", a.reasons)
			c.metrics.superseded.Inc()
			l.rcancel()
		case actReleaseRebalance:
			l.rcancel()
		case actStopRebalance:
			l.rcancel()
			if r := <-l.results; r.topics != nil {
				l.watches.syncTopics(r.topics)
			}
		case actSyncWatches:
			l.watches.syncTopics(a.topics)
		case actTriggerOwners:
			for _, r := range a.reasons {
				l.ownersCo.Trigger(r)
			}
		case actOwnersSettled:
			c.log.Debug("owners changed; rebalancing", "reasons", a.reasons)
		case actArmRetry:
			c.log.Warn("rebalance failed; retrying", "err", a.err, "in", a.delay)
			l.retry = time.After(a.delay)
		case actCancelHandlers:
			if a.keepClaims {
				c.log.Warn("ZooKeeper silent too long; stopping handlers until it answers in the same session",
					"silent", l.silent.Round(time.Millisecond), "limit", l.silenceLimit)
			}
			c.cancelAll(ErrSessionExpired)
		case actLoseHandlers:
			c.loseAll(l.ctx, ErrSessionExpired, a.keepClaims)
		case actResumed:
			c.log.Info("ZooKeeper answers again in the same session; resuming")
		default:
			c.log.Error("session loop: unknown action (a bug)", "action", a)
		}
	}
}

// register creates our ephemeral /consumers/<g>/ids/<member> znode. One left
// by our own session counts as ours; one held by another session (a member
// with the same id, or our previous session not yet expired) is waited for.
//
// A request cut off by a dropped connection (the session may still be
// alive: go-zookeeper reconnects) is retried with the claim backoff until
// ctx ends or the session does.
func (c *Consumer) register(ctx context.Context, sess *zkwatch.Conn) error {
	return c.retryDropped(ctx, "registering", func() error { return c.registerOnce(ctx, sess) })
}

// retryDropped runs op, an idempotent ZooKeeper write, again while it
// fails only because the connection dropped under it (the session may
// still be alive: go-zookeeper reconnects), with the claim backoff between
// tries, until ctx ends. The session's end shows as op's error.
func (c *Consumer) retryDropped(ctx context.Context, what string, op func() error) error {
	for attempt := 0; ; attempt++ {
		err := op()
		if err == nil || !connectionDropped(err) {
			return err
		}
		c.log.Warn(what+" cut off by a dropped ZooKeeper connection; retrying", "err", err)
		c.reportError(ctx, err)
		if !ctxsleep.Sleep(ctx, c.cfg.ClaimBackoff.Delay(attempt, 0.5)) {
			return ctx.Err()
		}
	}
}

// connectionDropped reports a request that failed because the connection
// went away (not the session): the same request may succeed once
// go-zookeeper has reconnected.
func connectionDropped(err error) bool {
	return errors.Is(err, zkwatch.ErrConnectionClosed) || errors.Is(err, zkwatch.ErrNoServer)
}

func (c *Consumer) registerOnce(ctx context.Context, sess *zkwatch.Conn) error {
	p := idPath(c.cfg.Group, c.memberID)
	data := registration(c.cfg.Layout, c.cfg.Topics, c.cfg.TopicPattern)
	deadline := time.Now().Add(2 * c.cfg.SessionTimeout)
	ensured := false
	for attempt := 0; ; attempt++ {
		// The create comes first: the group's directories exist but for
		// the first member ever, and each check would cost a round trip
		// on every join's critical path.
		_, err := sess.Create(ctx, p, data, zkwatch.FlagEphemeral, c.cfg.ACL)
		if err == nil {
			c.log.Info("registered", "path", p)
			return nil
		}
		if errors.Is(err, zkwatch.ErrNoNode) && !ensured {
			ensured = true
			if err := c.ensureGroupDirs(ctx, sess); err != nil {
				return fmt.Errorf("balanced: register: %w", err)
			}
			continue
		}
		if !errors.Is(err, zkwatch.ErrNodeExists) {
			return fmt.Errorf("balanced: register: %w", err)
		}
		_, st, gerr := sess.Get(ctx, p)
		if gerr == nil && st.EphemeralOwner == sess.SessionID() {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("balanced: register: %s is held by another session: is another member using id %q?", p, c.memberID)
		}
		if !ctxsleep.Sleep(ctx, c.cfg.ClaimBackoff.Delay(attempt, 0.5)) {
			return ctx.Err()
		}
	}
}

// ensureGroupDirs creates /consumers and the group's ids directory where
// missing. /consumers is shared by every group: world:anyone ALL, as Kafka
// leaves it; the group's own znodes get Config.ACL.
func (c *Consumer) ensureGroupDirs(ctx context.Context, sess *zkwatch.Conn) error {
	if err := sess.EnsurePath(ctx, "/consumers", nil); err != nil {
		return err
	}
	return sess.EnsurePath(ctx, idsPath(c.cfg.Group), c.cfg.ACL)
}

// commitLoop commits marked offsets every CommitInterval. A fenced commit
// stops that partition's handler at once and calls fenced (which triggers
// a rebalance, or in kafka mode ends the generation).
//
// It also runs the lag loop (lag.go) until ctx is done, and publishes the
// per-partition series after every round of commits.
func (c *Consumer) commitLoop(ctx context.Context, fenced func()) {
	lagDone := make(chan struct{})
	go func() { defer close(lagDone); c.lagLoop(ctx) }() // owned by commitLoop, which waits for it
	defer func() { <-lagDone }()
	t := time.NewTicker(c.cfg.CommitInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := c.stateLock.Lock(ctx); err != nil {
			return
		}
		ws := make([]*worker, 0, len(c.workers))
		for _, w := range c.workers {
			ws = append(ws, w)
		}
		c.stateLock.Unlock()
		for _, w := range ws {
			err := c.commit(ctx, w)
			switch {
			case err == nil, ctx.Err() != nil:
			case errors.Is(err, ErrNotOwner):
				c.log.Warn("commit fenced: partition no longer ours; stopping its handler", "topic", w.tp.Topic, "partition", w.tp.Partition, "err", err)
				w.stop(ErrRevoked)
				fenced()
			default:
				c.log.Warn("commit failed", "topic", w.tp.Topic, "partition", w.tp.Partition, "err", err)
			}
			if ctx.Err() == nil {
				c.partitionFailed(ctx, "commit", w.tp, err)
			}
		}
		c.publishPartitions()
	}
}

// startRebalance runs one rebalance on its own goroutine, reporting on
// results; the session loop always receives that result before it returns.
func (c *Consumer) startRebalance(ctx context.Context, sess *zkwatch.Conn, h Handler, w *watches, results chan<- rebalanceResult) context.CancelFunc {
	rctx, cancel := context.WithCancel(ctx)
	go func() { results <- c.rebalance(rctx, sess, h, w) }()
	return cancel
}

// cancelAll cancels every handler's context at once (no waiting, no commit
// decisions): the first step of losing the session.
func (c *Consumer) cancelAll(cause error) {
	for _, w := range c.workersSnapshot() {
		w.stop(cause)
	}
}

// silenceLimit is how long ZooKeeper may be silent before the handlers
// stop, for sess (see silence.go).
func (c *Consumer) silenceLimit(sess *zkwatch.Conn) time.Duration {
	return silenceLimit(c.cfg.LostAfterDisconnect, c.cfg.SessionTimeout, sess.NegotiatedTimeout())
}

// drain empties a signal channel without blocking.
func drain(ch chan struct{}) {
	select {
	case <-ch:
	default:
	}
}
