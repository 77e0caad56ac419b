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
func (c *Consumer) runSession(ctx context.Context, sess *zkwatch.Conn, h Handler) error {
	sctx, scancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait() // every goroutine below is owned by this session
	defer scancel()

	if err := c.register(sctx, sess); err != nil {
		if ctx.Err() != nil || errors.Is(err, zkwatch.ErrSessionExpired) {
			return nil
		}
		return err
	}
	co := zkwatch.NewCoalescer(c.cfg.RebalanceDelay, 20*c.cfg.RebalanceDelay)
	events := sess.Subscribe(sctx)
	ownersChanged := make(chan struct{}, 1) // sticky: an owners directory changed
	// Sticky: re-reading the owners after changes waits for them to calm
	// down (see ownersDirty below).
	ownersCo := zkwatch.NewCoalescer(10*c.cfg.RebalanceDelay, 50*c.cfg.RebalanceDelay)
	var watchThen func(ch <-chan zkwatch.Snapshot, armed *sync.WaitGroup, filter func(zkwatch.Snapshot) bool, fire func())
	// watch triggers a rebalance on every snapshot of ch. With armed set,
	// the first snapshot (the state when the watch was set) only marks
	// armed done: the first rebalance starts after every session watch is
	// set, so it reads at least that state and needs no trigger for it.
	//
	// With a filter (and no armed), a snapshot triggers only if the filter
	// says so; the filter runs on the watch's goroutine only.
	watch := func(ch <-chan zkwatch.Snapshot, reason string, armed *sync.WaitGroup, filter func(zkwatch.Snapshot) bool) {
		watchThen(ch, armed, filter, func() { co.Trigger(reason) })
	}
	watchThen = func(ch <-chan zkwatch.Snapshot, armed *sync.WaitGroup, filter func(zkwatch.Snapshot) bool, fire func()) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			first := true
			for snap := range ch {
				if first {
					first = false
					if armed != nil {
						armed.Done()
						continue
					}
				}
				if filter != nil && !filter(snap) {
					continue
				}
				fire()
			}
			if first && armed != nil {
				armed.Done()
			}
		}()
	}
	wg.Add(3)
	go func() { defer wg.Done(); ownersCo.Run(sctx) }()
	go func() { defer wg.Done(); co.Run(sctx) }()
	go func() { defer wg.Done(); c.commitLoop(sctx, co) }()
	var armed sync.WaitGroup
	armed.Add(3)
	watch(sess.WatchChildren(sctx, idsPath(c.cfg.Group)), "members changed", &armed, nil)
	watch(sess.WatchChildren(sctx, zkwatch.BrokerIDsPath), "brokers changed", &armed, nil)
	watch(sess.WatchChildren(sctx, zkwatch.BrokerTopicsPath), "topics changed", &armed, nil)
	armed.Wait()
	type topicWatch struct {
		ctx    context.Context
		cancel context.CancelFunc
		parts  map[int32]bool // partitions whose state (leader) is watched
	}
	topicWatches := map[string]*topicWatch{}
	var twMu sync.Mutex // the rebalance goroutine adds watches too (addTopicWatches)
	// addTopicWatches is called by a rebalance as soon as it knows the
	// topics, before it claims: a claim may wait on an owner change that
	// only these watches report. read has what the rebalance read: a watch
	// whose first snapshot shows the same does not trigger another
	// rebalance (it would supersede the one that armed it, a member's first
	// one in particular).
	addTopicWatches := func(topics []string, read topicsRead) {
		twMu.Lock()
		defer twMu.Unlock()
		for _, t := range topics {
			tw, ok := topicWatches[t]
			if !ok {
				tctx, tcancel := context.WithCancel(sctx)
				tw = &topicWatch{ctx: tctx, cancel: tcancel, parts: map[int32]bool{}}
				topicWatches[t] = tw
				zxid, known := read.zxids[t]
				watch(sess.WatchData(tctx, zkwatch.TopicPath(t)), "partitions of "+t+" changed", nil,
					firstUnless(func(s zkwatch.Snapshot) bool {
						return known && s.Exists && s.Stat != nil && s.Stat.Mzxid == zxid
					}))
				if c.cfg.Assignor == partition.Sticky {
					// The sticky input includes the current owners, which
					// members read at different moments while partitions
					// move, so they may disagree — and one may wait forever
					// to claim a partition its holder means to keep. Owner
					// changes therefore make every member read the owners
					// again once it is idle (see ownersChanged below).
					watchThen(sess.WatchChildren(tctx, ownersPath(c.cfg.Group, t)), nil, nil, func() {
						select {
						case ownersChanged <- struct{}{}:
						default:
						}
					})
				}
			}
			// In the pykafka layout the assignment depends on the partitions'
			// leaders: members that read leaders at different moments would
			// disagree and one could wait forever for a partition another
			// keeps. A leader change (not any ISR change) triggers a rebalance.
			for p, leader := range read.leaders[t] {
				if tw.parts[p] {
					continue
				}
				tw.parts[p] = true
				watch(sess.WatchData(tw.ctx, zkwatch.PartitionStatePath(t, p)),
					fmt.Sprintf("leader of %s/%d changed", t, p), nil, leaderChanged(leader))
			}
		}
	}
	syncTopicWatches := func(topics []string) {
		addTopicWatches(topics, topicsRead{})
		twMu.Lock()
		defer twMu.Unlock()
		want := map[string]bool{}
		for _, t := range topics {
			want[t] = true
		}
		for t, tw := range topicWatches {
			if !want[t] {
				tw.cancel()
				delete(topicWatches, t)
			}
		}
	}

	var (
		pending    = true // the first rebalance needs no trigger
		suspended  bool
		running    bool
		results    = make(chan rebalanceResult, 1)
		rcancel    context.CancelFunc
		grace      <-chan time.Time
		graceTimer *time.Timer
		retry      <-chan time.Time
		retries    int
		// Sticky groups: owner changes do not supersede a running
		// rebalance (each member's claims and releases would restart
		// everyone's), unless it waits for a partition another member
		// holds (claimWaiting): the holder may be keeping it on newer
		// owners than this member read. Otherwise they are remembered
		// (ownersDirty) and, like changes seen while idle, answered by
		// another rebalance once the owners have been quiet for
		// 10 x RebalanceDelay (at most 50 x after the first change). Every
		// member thus reads the owners again after the last change, so all
		// compute with the same input and agree, without a storm of reads
		// while partitions are still moving.
		ownersDirty, claimWaiting bool
	)
	supersede := func(reasons any) {
		c.log.Info("rebalance superseded by a newer trigger", "reasons", reasons)
		c.metrics.superseded.Inc()
		rcancel()
	}
	stopRebalance := func() {
		if running {
			rcancel()
			r := <-results
			running = false
			if r.topics != nil {
				syncTopicWatches(r.topics)
			}
		}
	}
	defer func() {
		if graceTimer != nil {
			graceTimer.Stop()
		}
	}()
	// suspend stops every handler while the session may be gone: nothing is
	// committed; the claims stay and are resumed or released by the next
	// rebalance once the same session is back.
	suspend := func() {
		if graceTimer != nil {
			graceTimer.Stop()
		}
		graceTimer, grace = nil, nil
		if suspended {
			return
		}
		c.log.Warn("disconnected from ZooKeeper; stopping handlers until the session is back",
			"after", c.cfg.LostAfterDisconnect)
		c.cancelAll(ErrSessionExpired) // first, before anything that may wait
		stopRebalance()
		c.loseAll(sctx, ErrSessionExpired, true)
		suspended = true
	}
	for {
		if pending && !suspended && !running {
			pending, running = false, true
			ownersDirty, claimWaiting = false, false
			drain(c.claimWaits) // a signal of an earlier rebalance
			rcancel = c.startRebalance(sctx, sess, h, addTopicWatches, results)
		}
		select {
		case <-sctx.Done():
			stopRebalance()
			return ctx.Err()
		case <-sess.Done():
			c.cancelAll(ErrSessionExpired)
			stopRebalance()
			c.loseAll(sctx, ErrSessionExpired, false)
			return nil
		case r := <-results:
			running = false
			rcancel()
			if ownersDirty && !pending { // a pending rebalance reads them anyway
				ownersCo.Trigger("owners changed during the rebalance")
			}
			if r.topics != nil {
				syncTopicWatches(r.topics)
			}
			if r.err != nil && !errors.Is(r.err, context.Canceled) {
				retries++
				d := partition.Backoff{Initial: 200 * time.Millisecond, Max: 5 * time.Second, Multiplier: 2}.Delay(retries-1, 0.5)
				c.log.Warn("rebalance failed; retrying", "err", r.err, "in", d)
				retry = time.After(d)
			} else if r.err == nil {
				retries = 0
			}
		case sig := <-co.C():
			pending = true
			if running {
				supersede(sig.Reasons)
			}
		case <-ownersChanged:
			switch {
			case running && claimWaiting && !ownersDirty:
				ownersDirty = true
				pending = true
				supersede("owners changed while a claim waits")
			case running:
				ownersDirty = true
			default:
				ownersCo.Trigger("owners changed")
			}
		case sig := <-ownersCo.C():
			if running {
				ownersDirty = true
			} else {
				c.log.Debug("owners changed; rebalancing", "reasons", sig.Reasons)
				pending = true
			}
		case <-c.claimWaits:
			if running && !claimWaiting {
				claimWaiting = true
				if ownersDirty {
					pending = true
					supersede("a claim waits and the owners changed")
				}
			}
		case <-retry:
			retry, pending = nil, true
		case ev, ok := <-events:
			if !ok {
				continue
			}
			switch ev.State {
			case zkwatch.StateDisconnected:
				if graceTimer == nil && !suspended {
					graceTimer = time.NewTimer(c.cfg.LostAfterDisconnect)
					grace = graceTimer.C
				}
				if c.cfg.LostAfterDisconnect == 0 {
					suspend()
				}
			case zkwatch.StateHasSession:
				if graceTimer != nil {
					graceTimer.Stop()
					graceTimer, grace = nil, nil
				}
				if suspended {
					c.log.Info("reconnected in the same session; resuming")
					suspended, pending = false, true
				}
			}
		case <-grace:
			suspend()
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
	for attempt := 0; ; attempt++ {
		err := c.registerOnce(ctx, sess)
		if err == nil || !connectionDropped(err) {
			return err
		}
		c.log.Warn("registering cut off by a dropped ZooKeeper connection; retrying", "err", err)
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
	// /consumers is shared by every group: world:anyone ALL, as Kafka
	// leaves it; the group's own znodes get Config.ACL.
	if err := sess.EnsurePath(ctx, "/consumers", nil); err != nil {
		return fmt.Errorf("balanced: register: %w", err)
	}
	if err := sess.EnsurePath(ctx, idsPath(c.cfg.Group), c.cfg.ACL); err != nil {
		return fmt.Errorf("balanced: register: %w", err)
	}
	deadline := time.Now().Add(2 * c.cfg.SessionTimeout)
	for attempt := 0; ; attempt++ {
		_, err := sess.Create(ctx, p, data, zkwatch.FlagEphemeral, c.cfg.ACL)
		if err == nil {
			c.log.Info("registered", "path", p)
			return nil
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

// commitLoop commits marked offsets every CommitInterval. A fenced commit
// stops that partition's handler at once and triggers a rebalance.
func (c *Consumer) commitLoop(ctx context.Context, co *zkwatch.Coalescer) {
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
			if hwm, m := w.hwm.Load(), w.marked.Load(); hwm > 0 && m >= 0 {
				c.metrics.lag.WithLabelValues(w.tp.Topic, fmt.Sprint(w.tp.Partition)).Set(float64(max(hwm-m, 0)))
			}
			switch {
			case err == nil, ctx.Err() != nil:
			case errors.Is(err, ErrNotOwner):
				c.log.Warn("commit fenced: partition no longer ours; stopping its handler", "topic", w.tp.Topic, "partition", w.tp.Partition, "err", err)
				w.cancel(ErrRevoked)
				co.Trigger("commit fenced")
			default:
				c.log.Warn("commit failed", "topic", w.tp.Topic, "partition", w.tp.Partition, "err", err)
			}
			if ctx.Err() == nil {
				c.partitionFailed(ctx, "commit", w.tp, err)
			}
		}
	}
}

// startRebalance runs one rebalance on its own goroutine, reporting on
// results; the session loop always receives that result before it returns.
func (c *Consumer) startRebalance(ctx context.Context, sess *zkwatch.Conn, h Handler, onTopics func([]string, topicsRead), results chan<- rebalanceResult) context.CancelFunc {
	rctx, cancel := context.WithCancel(ctx)
	go func() { results <- c.rebalance(rctx, sess, h, onTopics) }()
	return cancel
}

// cancelAll cancels every handler's context at once (no waiting, no commit
// decisions): the first step of losing the session.
func (c *Consumer) cancelAll(cause error) {
	for _, w := range c.workersSnapshot() {
		w.cancel(cause)
	}
}

// topicsRead is what a rebalance read of its topics, for the watches it
// arms: the modification zxid of each topic's registration and, in the
// pykafka layout, each partition's leader (-1 unknown).
type topicsRead struct {
	zxids   map[string]int64
	leaders map[string]map[int32]int32
}

// firstUnless is a watch filter: the first snapshot triggers unless same
// says the rebalance read that state already; later ones always trigger.
func firstUnless(same func(zkwatch.Snapshot) bool) func(zkwatch.Snapshot) bool {
	first := true
	return func(s zkwatch.Snapshot) bool {
		if first {
			first = false
			return !same(s)
		}
		return true
	}
}

// leaderChanged is a partition-state watch filter: it triggers when the
// leader differs from the last one seen (initially the one the rebalance
// read); ISR-only changes do not trigger. A missing or malformed state
// counts as leader -1, as in readView.
func leaderChanged(read int32) func(zkwatch.Snapshot) bool {
	last := read
	return func(s zkwatch.Snapshot) bool {
		leader := int32(-1)
		if s.Exists {
			if st, err := zkwatch.ParsePartitionState(s.Path, s.Data); err == nil {
				leader = st.Leader
			}
		}
		changed := leader != last
		last = leader
		return changed
	}
}

// drain empties a signal channel without blocking.
func drain(ch chan struct{}) {
	select {
	case <-ch:
	default:
	}
}
