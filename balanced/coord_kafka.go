package balanced

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/zkbalance/zkbalance/partition"
	"github.com/zkbalance/zkbalance/zkwatch"
)

// Kafka mode (Config.Coordination CoordinationKafka).
//
// The member joins the Kafka group named Config.Group through the group
// coordinator (kafkaMember: JoinGroup, SyncGroup, Heartbeat, LeaveGroup;
// protocol type "consumer", one eager assignor), so Java KafkaConsumers
// with the same assignor can share the group. It does not use sarama's
// ConsumerGroup, which reads every assigned partition's committed offset
// and starts its partition consumer when the generation begins, before
// the handler is called: the offset would be read before this member holds
// the partition's owner znode, and could predate the previous owner's
// last commit. Instead each generation runs like this (runGeneration):
//
//  1. Join and sync; the leader computes the plan with sarama's
//     implementation of the assignor (planAssignments).
//  2. A heartbeat goroutine starts (every HeartbeatInterval).
//  3. For every assigned partition, in parallel: claim its owner znode in
//     ZooKeeper (the same layout code and ClaimBackoff as zookeeper mode;
//     a claim waits while another member still holds it), then start the
//     worker, which reads the committed offset from Kafka only now, then
//     fetches and calls the Handler. Without ZooKeeper (Config.ZooKeeper
//     empty: Kafka 4 in KRaft mode) the claim step is absent and the
//     workers start at once.
//  4. The generation ends when a heartbeat answers REBALANCE_IN_PROGRESS
//     (eager revoke: every handler's context is cancelled with
//     ErrRevoked, waited for at most RevokeTimeout, the marks committed
//     with the generation — the coordinator still accepts them while the
//     rebalance prepares — and the owner znodes released; then rejoin),
//     when the generation is lost (UNKNOWN_MEMBER_ID or ILLEGAL_GENERATION
//     on a heartbeat or commit, or no heartbeat through for
//     KafkaSessionTimeout: handlers cancelled with ErrGenerationLost,
//     nothing committed, OnLost, owner znodes released after the handlers
//     stopped; then rejoin), when the ZooKeeper session is lost or no
//     ZooKeeper server has answered for LostAfterDisconnect (ErrSessionExpired,
//     nothing committed, OnLost; a new session, then rejoin), or at close
//     (ErrClosed, commit, release, LeaveGroup).
//
// Heartbeats go on while a generation's handlers are revoked, so a slow
// revoke does not make the coordinator drop the member; RebalanceTimeout
// (default RevokeTimeout + 20s) bounds how long the others wait for it.
//
// Invariant kept while ZooKeeper is used: a partition is processed only by
// the member holding its owner znode; the znode is created before the
// worker starts and deleted after the handler returned (or RevokeTimeout
// passed) and the final commit was made.
//
// Without ZooKeeper that invariant does not apply: what keeps two members
// apart is the eager protocol alone (every member stops its handlers before
// it rejoins, and the coordinator completes the rebalance only when all
// have rejoined or been dropped) and the generation fence on commits. A
// handler that outlives RevokeTimeout, or a member dropped after
// KafkaSessionTimeout without noticing, can still process a message the
// new owner processes too, as with the Java client; its commits are
// refused. Meant for groups with no ZooKeeper members left (Kafka 4).

// genEnd is why a generation ended for this member.
type genEnd int

const (
	endClosed      genEnd = iota + 1 // Run's context is done or Close was called
	endRebalance                     // a heartbeat saw REBALANCE_IN_PROGRESS
	endLost                          // the coordinator dropped us from the generation
	endSessionLost                   // the ZooKeeper session is gone or disconnected too long
)

func (e genEnd) String() string {
	switch e {
	case endClosed:
		return "closed"
	case endRebalance:
		return "rebalance"
	case endLost:
		return "generation lost"
	case endSessionLost:
		return "zookeeper session lost"
	}
	return fmt.Sprintf("genEnd(%d)", int(e))
}

// runKafka is Run in kafka mode.
func (c *Consumer) runKafka(ctx context.Context, h Handler) error {
	// sess is nil without ZooKeeper (Config.ZooKeeper empty): no claims,
	// and no session to lose.
	sess, ok, err := c.connect(ctx)
	if !ok {
		return err
	}
	defer c.sess.Store(nil)
	defer c.closeKafka()
	cur := sess
	defer func() {
		if cur != nil {
			cur.Close()
		}
	}()
	err = c.kafkaMode(ctx, sess, h, nil, func(old *zkwatch.Conn) *zkwatch.Conn {
		old.Close()
		cur = c.renewSession(ctx) // nil: ctx is done
		return cur
	})
	if errors.Is(err, errSessionLost) {
		return nil // ctx ended while reconnecting
	}
	return err
}

// errSessionLost: kafkaMode had no ZooKeeper session to go on with.
var errSessionLost = errors.New("balanced: zookeeper session lost")

// kafkaMode runs kafka mode with sess (and the Kafka client setupKafka
// made) until ctx is done: then it leaves cleanly (handlers stopped,
// offsets committed, owner znodes released, LeaveGroup) and returns nil. It
// does not close sess. When the ZooKeeper session is lost it stops the
// handlers (ErrSessionExpired) and asks newSession (given the lost one) for
// the next; a nil answer makes it leave the Kafka group and return
// errSessionLost. Other errors are fatal. joined, if not nil, is called
// with the member id after every join, before the generation starts.
func (c *Consumer) kafkaMode(ctx context.Context, sess *zkwatch.Conn, h Handler, joined func(sess *zkwatch.Conn, memberID string), newSession func(old *zkwatch.Conn) *zkwatch.Conn) error {
	strategy, err := kafkaStrategy(c.cfg.KafkaStrategy)
	if err != nil {
		return fmt.Errorf("%w: KafkaStrategy: %w", ErrInvalidConfig, err)
	}
	mc := membershipConfig(c.cfg.Sarama, c.cfg.RebalanceTimeout)
	client := c.takeWarmMembership(ctx) // follow mode: made while the revoke ran
	if client == nil {
		if client, err = c.newKafkaClientWith(ctx, c.addrs, mc, false); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("balanced: kafka client for the group coordinator: %w", err)
		}
	}
	defer func() { _ = client.Close() }()
	m := &kafkaMember{client: client, group: c.cfg.Group, topics: slices.Clone(c.cfg.Topics), version: mc.Version,
		strategy: strategy, session: c.cfg.KafkaSessionTimeout, rebal: c.cfg.RebalanceTimeout,
		log: c.log, heldGen: -1}

	for first := true; ; first = false {
		if c.zkDetached() {
			sess = nil // dropped (coord_detach.go): claim nothing from now on
		}
		if first && c.cfg.Coordination == CoordinationFollow && sess != nil {
			c.waitFollowersLeaving(ctx, sess, CoordinationZooKeeper) // join together: see follow_join.go
		}
		g, err := m.join(ctx, func(err error) { c.reportError(ctx, err) })
		if err != nil {
			c.shutdownKafka(ctx, m, func() {})
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if joined != nil {
			joined(sess, g.memberID)
		}
		end, stopHB := c.runGeneration(ctx, sess, m, g, h)
		c.log.Info("kafka generation ended", "generation", g.id, "why", end)
		switch end {
		case endClosed:
			c.shutdownKafka(ctx, m, stopHB)
			return nil
		case endRebalance:
			c.revokeEverything(ctx, ErrRevoked)
		case endLost:
			c.loseEverything(ctx, ErrGenerationLost, true)
			m.forgetHeld()
		case endSessionLost:
			c.loseEverything(ctx, ErrSessionExpired, false)
			if sess = newSession(sess); sess == nil {
				stopHB()
				c.shutdownKafka(ctx, m, func() {})
				return errSessionLost
			}
		}
		stopHB()
	}
}

// runGeneration runs one generation until it ends (see genEnd). The
// heartbeats go on after it returns, while the caller stops the handlers,
// until the caller calls stopHB.
func (c *Consumer) runGeneration(ctx context.Context, sess *zkwatch.Conn, m *kafkaMember, g *kafkaGeneration, h Handler) (genEnd, func()) {
	c.kgen.Store(g)
	defer c.kgen.Store(nil)
	c.noteView(view{}, 0) // Health's ZooKeeper view does not apply to a Kafka generation
	c.log.Info("joined kafka group generation", "generation", g.id, "leader", g.leader, "assignor", g.protocol, "assigned", g.assigned)
	t0 := time.Now()
	// The heartbeat outlives ctx: at close the revoke still heartbeats.
	hbctx, hbcancel := context.WithCancel(context.WithoutCancel(ctx))
	verdicts := make(chan heartbeatVerdict, 1)
	var hbwg sync.WaitGroup
	hbwg.Add(1)
	go func() { defer hbwg.Done(); c.heartbeatLoop(hbctx, m, g, verdicts) }()
	stopHB := func() { hbcancel(); hbwg.Wait() }

	gctx, gcancel := context.WithCancel(ctx)
	var wg sync.WaitGroup // the commit loop and the claims
	defer func() { gcancel(); wg.Wait() }()
	fenced := make(chan struct{}, 1)
	claimed := make(chan []TopicPartition, 1)
	wg.Add(2)
	go func() {
		defer wg.Done()
		c.commitLoop(gctx, func() {
			select {
			case fenced <- struct{}{}:
			default:
			}
		})
	}()
	go func() {
		defer wg.Done()
		claimed <- c.claimAll(gctx, sess, g.assigned, c.leadersOf(gctx, sess, g.assigned), h, g)
	}()
	var sessDone, detach <-chan struct{}
	var silence *silenceWatch
	var silenceC <-chan time.Time
	if sess != nil {
		sessDone, detach = sess.Done(), c.detach.requested()
		silence = newSilenceWatch(sess, c.silenceLimit(sess))
		silenceC = silence.C()
		defer silence.stop()
	}
	wantDetach, claimsDone := false, false
	for {
		if wantDetach && claimsDone {
			// Follow mode: drop ZooKeeper, keep the generation (coord_detach.go).
			wantDetach = false
			sessDone, silenceC = nil, nil
			c.dropZooKeeper(ctx, sess)
		}
		select {
		case <-ctx.Done():
			return endClosed, stopHB
		case <-detach:
			detach, wantDetach = nil, true
		case <-sessDone:
			return endSessionLost, stopHB
		case v := <-verdicts:
			if v == hbRebalance {
				return endRebalance, stopHB
			}
			return endLost, stopHB
		case <-fenced:
			return endLost, stopHB
		case tps := <-claimed:
			claimsDone = true
			drain(c.claimWaits) // zookeeper mode's signal; unused here
			if hook := c.cfg.Hooks.OnAssigned; hook != nil && len(tps) > 0 {
				c.hook(func() { hook(gctx, tps) })
			}
			c.metrics.rebalances.Inc()
			c.noteRebalance(gctx, nil)
			c.log.Info("kafka generation started", "generation", g.id, "owned", len(tps), "claims took", time.Since(t0))
		case <-silenceC:
			// A generation stopped for silence is over: its claims are
			// released with a new session (silence.go).
			if v, silent := silence.check(false); v == silenceStop {
				c.log.Warn("ZooKeeper silent too long; stopping the handlers", "silent", silent.Round(time.Millisecond), "limit", silence.limit)
				return endSessionLost, stopHB
			}
		}
	}
}

// leadersOf maps the partitions to their leaders' broker ids (the pykafka
// layout names owner znodes by them: "<leader>-<p>", as in zookeeper mode):
// from the Kafka client's metadata, or, when it does not know, from the
// partition's state znode in ZooKeeper (sess, if not nil); -1 in the Scala
// layout or when neither knows.
func (c *Consumer) leadersOf(ctx context.Context, sess *zkwatch.Conn, tps []TopicPartition) partition.Topics {
	out := partition.Topics{}
	for _, tp := range tps {
		if out[tp.Topic] == nil {
			out[tp.Topic] = map[int32]int32{}
		}
		out[tp.Topic][tp.Partition] = -1
		if c.cfg.Layout != LayoutPykafka {
			continue
		}
		if b, err := c.client.Leader(tp.Topic, tp.Partition); err == nil {
			out[tp.Topic][tp.Partition] = b.ID()
		} else if sess != nil {
			if st, zerr := sess.ReadPartitionState(ctx, tp.Topic, tp.Partition); zerr == nil {
				out[tp.Topic][tp.Partition] = st.Leader
			} else {
				c.log.Warn("leader unknown", "topic", tp.Topic, "partition", tp.Partition, "kafka", err, "zookeeper", zerr)
			}
		}
	}
	return out
}

// heartbeatLoop heartbeats g until ctx ends. It reports the first verdict
// that ends the generation on out (once), then goes on heartbeating after
// hbRebalance (the member stays in the group while it revokes) and stops
// after hbLost.
func (c *Consumer) heartbeatLoop(ctx context.Context, m *kafkaMember, g *kafkaGeneration, out chan<- heartbeatVerdict) {
	lastOK := time.Now()
	start := lastOK
	reported := false
	t := time.NewTimer(heartbeatPace(0, c.cfg.HeartbeatInterval))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		hctx, cancel := context.WithTimeout(ctx, c.cfg.KafkaSessionTimeout)
		err := m.heartbeat(hctx, g)
		cancel()
		if ctx.Err() != nil {
			return
		}
		v := heartbeatAnswer(err)
		if v == hbOK {
			lastOK = time.Now()
		}
		end, next := afterHeartbeat(v, time.Since(lastOK), c.cfg.HeartbeatInterval, c.cfg.KafkaSessionTimeout)
		if v == hbRetry {
			c.log.Warn("heartbeat failed; retrying", "generation", g.id, "err", err)
			m.refresh(ctx)
		}
		if end != 0 && !reported {
			reported = true
			out <- end
		}
		if end == hbLost {
			c.log.Warn("kafka group generation lost", "generation", g.id, "err", err)
			return
		}
		t.Reset(min(next, heartbeatPace(time.Since(start), c.cfg.HeartbeatInterval)))
	}
}

// A generation that has just formed is the likeliest to be superseded:
// members that start (or switch mode) together reach the coordinator
// within moments of each other, and the coordinator forms a generation of
// those that arrived (at once with the brokers'
// group.initial.rebalance.delay.ms 0). A latecomer that arrives after the
// generation's SyncGroups waits in its JoinGroup until every member of it
// has heard of the rebalance, from a heartbeat; meanwhile the earlier ones
// hold all the partitions. So for settleWindow after a join the heartbeats
// go every settleHeartbeat (HeartbeatInterval if shorter), not every
// HeartbeatInterval (3 s): a latecomer waits ~0.1 s instead of up to 3 s.
const (
	settleWindow    = 2 * time.Second
	settleHeartbeat = 100 * time.Millisecond
)

// heartbeatPace is the heartbeat interval sinceJoin after the generation
// was joined: settleHeartbeat (or interval if shorter) within
// settleWindow, interval after.
func heartbeatPace(sinceJoin, interval time.Duration) time.Duration {
	if sinceJoin < settleWindow {
		return min(interval, settleHeartbeat)
	}
	return interval
}

// afterHeartbeat decides from a heartbeat's verdict and the time since the
// last one that got through whether the generation ends (hbRebalance,
// hbLost; 0: it goes on) and when to send the next heartbeat. A heartbeat
// that does not get through is retried sooner; once none got through for
// the session timeout the coordinator has dropped us: lost.
func afterHeartbeat(v heartbeatVerdict, sinceOK, interval, session time.Duration) (end heartbeatVerdict, next time.Duration) {
	switch v {
	case hbRebalance, hbLost:
		return v, interval
	case hbRetry:
		if sinceOK >= session {
			return hbLost, interval
		}
		return 0, min(interval, 500*time.Millisecond)
	}
	return 0, interval
}

// revokeEverything stops every worker (cause), commits what was marked,
// releases the owner znodes, and calls OnRevoked.
func (c *Consumer) revokeEverything(ctx context.Context, cause error) {
	var ws []*worker
	for _, w := range c.workersSnapshot() {
		ws = append(ws, w)
	}
	if len(ws) == 0 {
		return
	}
	tps := c.revokeAll(ctx, ws, cause, true, ownerChecks{})
	if hook := c.cfg.Hooks.OnRevoked; hook != nil {
		c.hook(func() { hook(ctx, tps) })
	}
}

// loseEverything stops every worker (cause) without committing and calls
// OnLost; with release it then deletes the owner znodes (the ZooKeeper
// session is still ours: only the generation was lost).
func (c *Consumer) loseEverything(ctx context.Context, cause error, release bool) {
	ws := c.workersSnapshot()
	c.cancelAll(cause)
	c.loseAll(ctx, cause, false)
	if !release {
		return
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	bySession := map[*zkwatch.Conn][]partition.Claim{}
	for _, w := range ws {
		if w.fence.Conn != nil && !c.zkDetached() {
			bySession[w.fence.Conn] = append(bySession[w.fence.Conn], w.claim)
		}
	}
	for conn, claims := range bySession {
		for i, err := range partition.ReleaseAll(rctx, conn, claims) {
			if err != nil {
				c.log.Warn("release failed", "path", claims[i].Path, "err", err)
				c.reportError(rctx, fmt.Errorf("balanced: release %s: %w", claims[i].Path, err))
			}
		}
	}
}

// shutdownKafka leaves cleanly: handlers stopped (ErrClosed, or ErrRevoked
// on a switch of follow mode: see leaveCause), offsets committed, owner
// znodes released, heartbeats stopped, LeaveGroup sent. ctx is Run's (or
// the mode's), done or not.
func (c *Consumer) shutdownKafka(ctx context.Context, m *kafkaMember, stopHB func()) {
	cause := leaveCause(ctx)
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.RevokeTimeout+30*time.Second)
	defer cancel()
	c.revokeEverything(ctx, cause)
	stopHB()
	if err := m.leave(ctx); err != nil {
		c.log.Warn("leaving the kafka group failed; the coordinator drops us after the session timeout", "err", err)
		c.reportError(ctx, fmt.Errorf("balanced: leave kafka group %s: %w", c.cfg.Group, err))
	}
	c.log.Info("left the kafka group")
}
