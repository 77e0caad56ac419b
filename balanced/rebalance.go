package balanced

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/zkbalance/zkbalance/internal/ctxsleep"
	"github.com/zkbalance/zkbalance/internal/zkformat"
	"github.com/zkbalance/zkbalance/partition"
	"github.com/zkbalance/zkbalance/zkwatch"
)

// rebalance computes the assignment from the current group state, revokes
// what moved away and claims what moved here. It runs on its own goroutine
// while the session loop waits; ctx is cancelled when a newer trigger
// supersedes it. It never waits on fetching or on a handler beyond
// RevokeTimeout; claims wait (with backoff) only for other members.
//
// It takes what the session watches w saw last instead of reading it again
// (see readView), and tells w the group's topics (and what was read of
// them: their registrations' zxids, the leaders in the pykafka layout) as
// soon as they are read, so that their watches are armed before any claim
// waits.
func (c *Consumer) rebalance(ctx context.Context, sess *zkwatch.Conn, h Handler, w *watches) (res rebalanceResult) {
	defer func() { c.noteRebalance(ctx, res.err) }()
	start := time.Now()
	kn := w.latest(ctx)
	kn.registrations = w.registrations()
	v, err := c.readView(ctx, sess, kn, w.takePrefetched())
	if err != nil {
		if ctx.Err() == nil && errors.Is(err, errNotRegistered) {
			if rerr := c.register(ctx, sess); rerr != nil {
				return rebalanceResult{err: rerr}
			}
		}
		return rebalanceResult{err: err}
	}
	read := topicsRead{zxids: v.topicZxids}
	if c.cfg.Layout == LayoutPykafka {
		read.leaders = v.input.Topics
	}
	w.addTopics(v.topics, read)
	asg, err := c.assignor.Assign(v.input)
	if err != nil {
		return rebalanceResult{topics: v.topics, err: err}
	}
	self := c.selfOwnerID()
	// Only our own partitions matter here (a map of every partition's
	// owner cost each member 4096 entries per rebalance at 4096 partitions).
	next := map[TopicPartition]string{}
	mine := map[TopicPartition]bool{}
	for _, tp := range asg.Partitions(self) {
		next[tp], mine[tp] = self, true
	}
	c.noteView(v, len(mine))
	resumed := c.resumeSuspended(ctx, sess, mine, h)
	c.dropDead(ctx)
	have := c.workersSnapshot()
	prev := make(map[TopicPartition]string, len(have))
	for tp := range have {
		prev[tp] = self
	}
	added, revokedTPs := partition.Diff(prev, next, self)
	viewTook := time.Since(start)
	// Revokes and claims run at once: a claim first reads its owner znode
	// (and mostly waits for another member's release), which need not wait
	// for our own releases. OnRevoked still comes before OnAssigned.
	var revokeTook time.Duration
	revokeDone := make(chan struct{})
	go func() { // waited for below
		defer close(revokeDone)
		if len(revokedTPs) > 0 {
			revoked := make([]*worker, len(revokedTPs))
			for i, tp := range revokedTPs {
				revoked[i] = have[tp]
			}
			tps := c.revokeAll(ctx, revoked, ErrRevoked, true, ownerChecks{stats: v.ownerStats, at: start})
			if hook := c.cfg.Hooks.OnRevoked; hook != nil {
				c.hook(func() { hook(ctx, tps) })
			}
		}
		revokeTook = time.Since(start) - viewTook
	}()
	claimed := c.claimAll(ctx, sess, added, v.input.Topics, h, nil)
	claimTook := time.Since(start) - viewTook
	// A claim that failed (not one the rebalance gave up: the connection
	// closed under it, say) leaves its partition unowned; nothing else
	// may trigger another rebalance (a reconnect in the same session does
	// not), so this one ends with an error and is retried after backoff.
	failedClaims := len(added) - len(claimed)
	<-revokeDone
	claimed = append(claimed, resumed...)
	slices.SortFunc(claimed, partition.CompareTopicPartitions)
	if hook := c.cfg.Hooks.OnAssigned; hook != nil && len(claimed) > 0 {
		c.hook(func() { hook(ctx, claimed) })
	}
	if ctx.Err() != nil {
		return rebalanceResult{topics: v.topics, err: ctx.Err()}
	}
	if failedClaims > 0 {
		return rebalanceResult{topics: v.topics, err: fmt.Errorf("%w: %d of %d claims failed; retrying", errClaimsFailed, failedClaims, len(added))}
	}
	took := time.Since(start)
	c.metrics.rebalances.Inc()
	c.metrics.rebalanceDuration.Observe(took.Seconds())
	c.log.Info("rebalanced", "members", len(v.input.Members), "owned", len(mine),
		"added", len(claimed), "revoked", len(revokedTPs), "took", took.Round(time.Microsecond),
		"view", viewTook.Round(time.Microsecond), "revoke", revokeTook.Round(time.Microsecond),
		"claim", claimTook.Round(time.Microsecond))
	return rebalanceResult{topics: v.topics}
}

// selfOwnerID is our owner id in the assignor's output: the thread id
// "<member>-0" for the Scala assignors (one stream), the member id otherwise.
func (c *Consumer) selfOwnerID() string {
	if strings.HasPrefix(c.cfg.Assignor, "scala-") {
		return partition.ThreadID(c.memberID, 0)
	}
	return c.memberID
}

func (c *Consumer) workersSnapshot() map[TopicPartition]*worker {
	_ = c.stateLock.Lock(context.Background())
	defer c.stateLock.Unlock()
	out := make(map[TopicPartition]*worker, len(c.workers))
	for tp, w := range c.workers {
		out[tp] = w
	}
	return out
}

func (c *Consumer) setWorker(tp TopicPartition, w *worker) {
	_ = c.stateLock.Lock(context.Background())
	defer c.stateLock.Unlock()
	if w == nil {
		delete(c.workers, tp)
		c.metrics.forgetPartition(tp)
	} else {
		c.workers[tp] = w
		c.metrics.initTopic(tp.Topic) // topics matched by TopicPattern
	}
	c.metrics.owned.Set(float64(len(c.workers)))
}

// resumeSuspended restarts the handlers of partitions that were suspended
// while disconnected, are still assigned to us, and whose owner znodes our
// session still holds.
func (c *Consumer) resumeSuspended(ctx context.Context, sess *zkwatch.Conn, mine map[TopicPartition]bool, h Handler) []TopicPartition {
	var out []TopicPartition
	for tp, w := range c.workersSnapshot() {
		if !w.suspended || !mine[tp] || w.claim.Session != sess.SessionID() {
			continue
		}
		select {
		case <-w.done:
		default:
			continue // its handler has not returned yet: dropDead waits for it
		}
		ok, st, err := sess.Exists(ctx, w.claim.Path)
		if err != nil || !ok || st.EphemeralOwner != sess.SessionID() || st.Version != w.claim.Version {
			continue
		}
		c.startWorker(ctx, sess, tp, w.claim, h, c.fetch.current(), nil)
		out = append(out, tp)
	}
	return out
}

// dropDead removes workers that stopped without a revoke (suspended while
// disconnected, or fenced), releasing their owner znodes if still ours and
// committing nothing.
func (c *Consumer) dropDead(ctx context.Context) {
	var dead []*worker
	for _, w := range c.workersSnapshot() {
		if w.suspended || w.ctx.Err() != nil {
			dead = append(dead, w)
		}
	}
	if len(dead) > 0 {
		c.revokeAll(ctx, dead, ErrRevoked, false, ownerChecks{})
	}
}

// revokeAll stops the workers' handlers (waiting at most RevokeTimeout),
// commits what they marked (if commit) and deletes their owner znodes. It works in
// phases over all workers at once — wait, commit, release — so that the
// ZooKeeper writes of one phase share log syncs instead of queueing one by
// one behind each other's reads. The release's ownership checks (reads)
// run beside the first two phases, so that only the deletes follow the
// commits; known has owner znodes' stats the caller read already (the
// view's), which spare those reads. Checks older than checkFreshFor when
// the deletes are due (a handler slow to return) are made again.
func (c *Consumer) revokeAll(ctx context.Context, ws []*worker, cause error, commit bool, known ownerChecks) []TopicPartition {
	for _, w := range ws {
		w.stop(cause)
	}
	c.forgetWorkers(ws) // the partitions are being handed over: no lag of ours any more
	parallel := func(fn func(w *worker)) {
		var wg sync.WaitGroup
		for _, w := range ws {
			wg.Add(1)
			go func() { defer wg.Done(); fn(w) }()
		}
		wg.Wait()
	}
	// Revokes finish even if the rebalance is superseded: the checks may
	// take as long as the handlers and the commits together.
	cctx, ccancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.RevokeTimeout+15*time.Second)
	defer ccancel()
	bySession := map[*zkwatch.Conn][]*worker{}
	for _, w := range ws {
		bySession[w.fence.Conn] = append(bySession[w.fence.Conn], w)
	}
	checks := map[*zkwatch.Conn]chan *partition.Releases{}
	for conn, group := range bySession {
		if conn == nil || c.zkDetached() {
			continue // no owner znodes (kafka mode without ZooKeeper, or released when detaching)
		}
		claims := make([]partition.Claim, len(group))
		for i, w := range group {
			claims[i] = w.claim
		}
		ch := make(chan *partition.Releases, 1)
		checks[conn] = ch
		go func() { ch <- partition.CheckReleases(cctx, conn, claims, known.stats) }() // waited for below
	}
	t0 := time.Now()
	checkedAt := t0
	if known.stats != nil && known.at.Before(t0) {
		checkedAt = known.at
	}
	parallel(func(w *worker) {
		if !w.wait(c.cfg.RevokeTimeout) {
			c.log.Warn("handler did not return within RevokeTimeout; releasing the partition anyway",
				"topic", w.tp.Topic, "partition", w.tp.Partition, "timeout", c.cfg.RevokeTimeout)
			c.partitionFailed(ctx, "consume", w.tp, fmt.Errorf("handler did not return within RevokeTimeout %s; the partition is released anyway", c.cfg.RevokeTimeout))
		}
	})
	t1 := time.Now()
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	parallel(func(w *worker) {
		if err := c.finish(rctx, w, commit); err != nil {
			c.log.Warn("final commit failed; the next owner resumes from the last commit",
				"topic", w.tp.Topic, "partition", w.tp.Partition, "err", err)
			c.partitionFailed(rctx, "commit", w.tp, err)
		}
	})
	t2 := time.Now()
	var checkWait time.Duration
	for conn, ch := range checks {
		group := bySession[conn]
		t := time.Now()
		rel := <-ch
		checkWait += time.Since(t)
		if c.zkDetached() {
			continue // released when detaching
		}
		if time.Since(checkedAt) > checkFreshFor {
			rel = partition.CheckReleases(rctx, conn, rel.Claims(), nil)
		}
		for i, err := range releaseRetrying(rctx, conn, rel) {
			if err != nil {
				c.log.Warn("release failed", "topic", group[i].tp.Topic, "partition", group[i].tp.Partition, "err", err)
				c.partitionFailed(rctx, "release", group[i].tp, err)
			}
		}
	}
	c.log.Debug("revoked", "count", len(ws), "wait", t1.Sub(t0), "commit", t2.Sub(t1), "release", time.Since(t2), "of which check", checkWait)
	tps := make([]TopicPartition, len(ws))
	for i, w := range ws {
		c.setWorker(w.tp, nil)
		tps[i] = w.tp
	}
	slices.SortFunc(tps, partition.CompareTopicPartitions)
	return tps
}

// releaseRetrying deletes rel's owner znodes and checks and deletes again,
// after a short backoff, those whose release failed because the
// connection closed under it (a ZooKeeper server restarting or a leader
// change): the session lives on elsewhere, and an owner znode left behind
// would hold the partition from its next owner until the session ends.
// Other errors (not ours any more, NOAUTH) are returned at once; so is
// every error when ctx ends. One error (or nil) per claim, in rel's order.
func releaseRetrying(ctx context.Context, conn *zkwatch.Conn, rel *partition.Releases) []error {
	errs := rel.Delete(ctx)
	claims := rel.Claims()
	backoff := 100 * time.Millisecond
	for attempt := 0; attempt < 6 && ctx.Err() == nil; attempt++ {
		var again []int
		for i, err := range errs {
			if retryableRelease(err) {
				again = append(again, i)
			}
		}
		if len(again) == 0 {
			break
		}
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return errs
		}
		backoff *= 2
		retry := make([]partition.Claim, len(again))
		for j, i := range again {
			retry[j] = claims[i]
		}
		for j, err := range partition.CheckReleases(ctx, conn, retry, nil).Delete(ctx) {
			errs[again[j]] = err
		}
	}
	return errs
}

// retryableRelease: the connection failed under the release, not the
// release itself.
func retryableRelease(err error) bool {
	return errors.Is(err, zkwatch.ErrConnectionClosed) || errors.Is(err, zkwatch.ErrNoServer)
}

// ownerChecks are owner znodes' stats read before a revoke (path -> stat)
// and when they were read (at the latest).
type ownerChecks struct {
	stats map[string]*zkwatch.Stat
	at    time.Time
}

// checkFreshFor is how old a release's ownership check may be when the
// deletes are due: it narrows the time in which a znode deleted by a third
// party and re-created by another member could be taken for ours (see
// partition.CheckReleases).
const checkFreshFor = time.Second

// claimAll claims the partitions in parallel and starts a worker for each as
// soon as it is claimed. It returns what was claimed, sorted. kgen is the
// Kafka generation the partitions were assigned in (kafka mode), else nil.
// Without a session (sess nil: kafka mode without ZooKeeper) the claim
// step is absent and the workers start at once.
func (c *Consumer) claimAll(ctx context.Context, sess *zkwatch.Conn, tps []TopicPartition, topics partition.Topics, h Handler, kgen *kafkaGeneration) []TopicPartition {
	if len(tps) == 0 {
		return nil
	}
	wave := c.fetch.forNew() // fresh connections, opened as the partitions start
	// Every claim is in flight at once (no bound): most wait for another
	// member's release, and a bound would hold the rest of them (and
	// their reads) back behind the slowest. Their creates go out merged
	// (zkwatch.Conn.CreateThenGet); those of many partitions at once
	// (claimBatched) in one call, without a goroutine each.
	var (
		mu      sync.Mutex
		claimed []TopicPartition
		wg      sync.WaitGroup
	)
	var cf claimFuncs
	cf.start = func(tp TopicPartition, cl partition.Claim) {
		c.startWorker(ctx, sess, tp, cl, h, wave, kgen)
		mu.Lock()
		claimed = append(claimed, tp)
		mu.Unlock()
	}
	cf.claim = func(tp TopicPartition, missing bool) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl, err := c.claimOne(ctx, sess, tp, topics[tp.Topic][tp.Partition], missing)
			if err != nil {
				c.claimFailed(ctx, tp, err)
				return
			}
			cf.start(tp, cl)
		}()
	}
	c.claimBatched(ctx, sess, tps, topics, cf)
	wg.Wait()
	slices.SortFunc(claimed, partition.CompareTopicPartitions)
	return claimed
}

// claimFailed reports a claim that failed, unless ctx ended (the rebalance
// was given up).
func (c *Consumer) claimFailed(ctx context.Context, tp TopicPartition, err error) {
	if ctx.Err() == nil {
		c.log.Warn("claim failed", "topic", tp.Topic, "partition", tp.Partition, "err", err)
		c.partitionFailed(ctx, "claim", tp, err)
	}
}

// noteClaimWait counts a claim that found its partition held by another
// member (holder) and tells the session loop that a claim waits.
func (c *Consumer) noteClaimWait(path string, attempt int, holder []byte) {
	c.metrics.claimRetries.Inc()
	select {
	case c.claimWaits <- struct{}{}:
	default:
	}
	c.log.Info("partition still owned by another member; retrying", "path", path, "holder", string(holder), "attempt", attempt+1)
}

// claimer is the Claimer of the member's claims in sess.
func (c *Consumer) claimer(sess *zkwatch.Conn) partition.Claimer {
	return partition.Claimer{Conn: sess, Backoff: c.cfg.ClaimBackoff, ACL: c.cfg.ACL, OnRetry: c.noteClaimWait}
}

// claimOne creates our owner znode for tp, waiting (with backoff) while
// another member holds it; missing says it was just read missing
// (ownersMissing). In the pykafka layout the znode's name carries the
// leader, so an owner under another leader's name also counts as held.
func (c *Consumer) claimOne(ctx context.Context, sess *zkwatch.Conn, tp TopicPartition, leader int32, missing bool) (partition.Claim, error) {
	cl := c.claimer(sess)
	cl.Missing = missing
	cl.ReadAfter = offsetZnode(c.store, tp)
	value := []byte(ownerValue(c.cfg.Layout, c.memberID))
	path := ownerPath(c.cfg.Layout, c.cfg.Group, tp, leader)
	if c.cfg.Layout != LayoutPykafka {
		return cl.Claim(ctx, path, value)
	}
	mirrors := ownerMirrors(c.cfg.Layout, c.cfg.Group, tp, leader)
	for attempt := 0; ; attempt++ {
		holder, err := c.otherPykafkaOwner(ctx, sess, tp, leader)
		if err == nil && holder == "" {
			got, cerr := cl.Claim(ctx, path, value, mirrors...)
			if cerr != nil {
				return got, cerr
			}
			// Not ":=": an error of this second read is the one logged below.
			if holder, err = c.otherPykafkaOwner(ctx, sess, tp, leader); err == nil && holder == "" {
				return got, nil
			}
			// Another owner appeared (both created at once), or ctx ended before
			// we could tell: give ours back, even if ctx is done, then retry.
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			_ = partition.Release(rctx, sess, got)
			cancel()
		}
		if err != nil && ctx.Err() == nil {
			c.log.Warn("reading owners failed", "topic", tp.Topic, "partition", tp.Partition, "err", err)
			c.partitionFailed(ctx, "claim", tp, err)
		}
		if cl.OnRetry != nil && holder != "" {
			cl.OnRetry(holder, attempt, nil)
		}
		if !ctxsleep.Sleep(ctx, c.cfg.ClaimBackoff.Delay(attempt, 0.5)) {
			return partition.Claim{}, errors.Join(partition.ErrOwned, context.Cause(ctx))
		}
	}
}

// otherPykafkaOwner returns the path of an owner znode "<l>-<p>" for tp's
// partition under another leader l than ours, in either owners directory
// (Python 2's owners/<t> or Python 3's owners/b'<t>'), or "".
// Both directories are listed at once (one round trip).
func (c *Consumer) otherPykafkaOwner(ctx context.Context, sess *zkwatch.Conn, tp TopicPartition, leader int32) (string, error) {
	dirs := []string{ownersPath(c.cfg.Group, tp.Topic), py3OwnersPath(c.cfg.Group, tp.Topic)}
	lists := make([][]string, len(dirs))
	errs := make([]error, len(dirs))
	var wg sync.WaitGroup
	for i, dir := range dirs {
		wg.Go(func() { lists[i], _, errs[i] = sess.Children(ctx, dir) })
	}
	wg.Wait()
	for i, dir := range dirs {
		names, err := lists[i], errs[i]
		if errors.Is(err, zkwatch.ErrNoNode) {
			continue
		}
		if err != nil {
			return "", err
		}
		for _, n := range names {
			o, ok := zkformat.ParseOwnerName(n)
			if ok && o.Partition == tp.Partition && n != fmt.Sprintf("%d-%d", leader, tp.Partition) {
				return dir + "/" + n, nil
			}
		}
	}
	return "", nil
}

// startWorker starts tp's worker, fetching in wave; kgen is the
// Kafka generation in kafka mode, else nil.
//
// A fresh claim's After (the offset read behind its create) goes to the
// fence, for the first offset fetch only; the worker keeps the claim
// without it, so that a resumed worker reads its offset again.
func (c *Consumer) startWorker(ctx context.Context, sess *zkwatch.Conn, tp TopicPartition, cl partition.Claim, h Handler, wave fetchWave, kgen *kafkaGeneration) {
	after := cl.After
	cl.After = nil
	w := newWorker(ctx, tp, cl, fence{Conn: sess, OwnerPath: cl.Path, OwnerVersion: cl.Version, Gen: kgen, Claimed: after}, wave)
	c.setWorker(tp, w)
	go c.runWorker(w, h) // owned via c.workers: every worker is waited for by revoke, loss or shutdown
}

// loseAll stops every handler at once, committing nothing: the session is
// gone (or unreachable too long). With keepClaims the workers stay in the
// map, suspended, so the next rebalance in the same session can release or
// resume their owner znodes.
func (c *Consumer) loseAll(ctx context.Context, cause error, keepClaims bool) {
	ws := c.workersSnapshot()
	if len(ws) == 0 {
		return
	}
	var tps []TopicPartition
	lost := make([]*worker, 0, len(ws))
	for _, w := range ws {
		w.stop(cause)
		lost = append(lost, w)
	}
	c.forgetWorkers(lost) // lost (or suspended): no lag of ours any more
	for tp, w := range ws {
		_ = c.finish(ctx, w, false)
		if !w.suspended { // a suspended one was reported lost already
			tps = append(tps, tp)
		}
	}
	deadline := time.Now().Add(c.cfg.RevokeTimeout) // one bound for all, not one each
	for tp, w := range ws {
		if !w.wait(time.Until(deadline)) {
			c.log.Warn("lost partition's handler did not return within RevokeTimeout", "topic", tp.Topic, "partition", tp.Partition)
		}
		if keepClaims {
			_ = c.stateLock.Lock(context.Background())
			w.suspended = true
			c.stateLock.Unlock()
		} else {
			c.setWorker(tp, nil)
		}
	}
	if len(tps) == 0 {
		return
	}
	slices.SortFunc(tps, partition.CompareTopicPartitions)
	c.log.Warn("partitions lost", "count", len(tps), "cause", cause)
	if hook := c.cfg.Hooks.OnLost; hook != nil {
		c.hook(func() { hook(ctx, tps) })
	}
}

// shutdown leaves the group cleanly: handlers stopped, offsets committed,
// owner znodes and our registration deleted, session closed.
func (c *Consumer) shutdown(sess *zkwatch.Conn) {
	c.leaveZooKeeperMode(context.Background(), sess)
	sess.Close()
	c.log.Info("left the group")
}

// leaveZooKeeperMode stops every handler (ErrClosed, or ErrRevoked on a
// switch of follow mode: see leaveCause), commits, releases the owner
// znodes and deletes our /ids znode, so that the zookeeper-mode members
// rebalance without us. It does not close sess. ctx is Run's (or the
// mode's), done or not.
func (c *Consumer) leaveZooKeeperMode(ctx context.Context, sess *zkwatch.Conn) {
	cause := leaveCause(ctx)
	if cause == ErrRevoked && c.cfg.Coordination == CoordinationFollow {
		c.warmMembership() // kafka mode comes next: connect to the coordinator while we revoke
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.RevokeTimeout+30*time.Second)
	defer cancel()
	c.dropDead(ctx)
	var ws []*worker
	for _, w := range c.workersSnapshot() {
		ws = append(ws, w)
	}
	if len(ws) > 0 {
		tps := c.revokeAll(ctx, ws, cause, true, ownerChecks{})
		if hook := c.cfg.Hooks.OnRevoked; hook != nil {
			c.hook(func() { hook(ctx, tps) })
		}
	}
	p := idPath(c.cfg.Group, c.memberID)
	if _, st, err := sess.Get(ctx, p); err == nil && st.EphemeralOwner == sess.SessionID() {
		if err := sess.Delete(ctx, p, st.Version); err != nil {
			c.log.Warn("deregister failed", "err", err)
			c.reportError(ctx, fmt.Errorf("balanced: deregister %s: %w", p, err))
		}
	}
}
