package balanced

import (
	"context"
	"errors"
	"maps"
	"path"
	"slices"
	"sync"
	"time"

	"github.com/zkbalance/zkbalance/partition"
	"github.com/zkbalance/zkbalance/zkwatch"
)

// batchLookMin is the number of claims from which claimAll reads their
// owner znodes at once first (readClaimOwners). At 64 x 4096 with
// scala-range every member claims about 31 partitions in a join: with 64
// here each looked on its own, and by hand over 4 joins at a time,
// alternating, 16 cut ZooKeeper's CPU per join and leave from 0.58-0.93 s
// to 0.35-0.38 s and the join from 514-985 ms to 310-515 ms. Below 16
// (the joins at 16 x 256 that the round-trip count measures) nothing
// changed.
const batchLookMin = 16

// claimFuncs are claimAll's two ways to a partition's worker: claim claims
// one partition on a goroutine of its own (missing: its owner znode was
// just read missing), start starts the worker of one claimed already.
type claimFuncs struct {
	claim func(tp TopicPartition, missing bool)
	start func(tp TopicPartition, cl partition.Claim)
}

// claimBatched claims every partition of tps. With at least batchLookMin
// of them (not in the pykafka layout, where an owner znode's name carries
// the leader) it first reads their owner znodes at once
// (readClaimOwners): those missing are created at once, on this goroutine
// (claimMissing), and those held wait for their holders, one look a holder
// (awaitHolders). Fewer go one a goroutine (cf.claim). At 4096 partitions
// a member may claim a thousand at once, and a look each (one request a
// znode, with its watch) kept the server busy for hundreds of
// milliseconds; ZooKeeper answers a member's requests in order, so those
// looks also held back the member's own releases, which other members
// were waiting for (a member revoking 819 of 4096 released in 400-500 ms
// behind its 614 looks, in 50-100 ms without them).
func (c *Consumer) claimBatched(ctx context.Context, sess *zkwatch.Conn, tps []TopicPartition, topics partition.Topics, cf claimFuncs) {
	switch {
	case sess == nil: // kafka mode without ZooKeeper: nothing to claim
		for _, tp := range tps {
			cf.start(tp, partition.Claim{})
		}
		return
	case len(tps) < batchLookMin || c.cfg.Layout == LayoutPykafka:
		for _, tp := range tps {
			cf.claim(tp, false)
		}
		return
	}
	missing, held, noDirs := c.readClaimOwners(ctx, sess, tps, topics)
	for _, dir := range noDirs { // a new group or topic: create its owners directory once, not a claim each
		if err := sess.EnsurePath(ctx, dir, c.cfg.ACL); err != nil && ctx.Err() == nil {
			c.log.Warn("cannot create an owners directory; claiming one by one", "path", dir, "err", err)
		}
	}
	c.claimMissing(ctx, sess, missing, topics, cf)
	c.awaitHolders(ctx, sess, held, topics, cf)
}

// claimMissing creates the owner znodes of tps, just read missing, at once
// (partition.Claimer.ClaimMissing) and starts the workers of those it
// took; each of the others (another member was faster, or the connection
// failed) is claimed again on its own, looking first (cf.claim). No
// goroutine is started for a partition before its worker: claiming 4096
// partitions on a goroutine each made about 4096 goroutines more wait deep
// in the claim path, and the runtime, which starts new goroutines with
// stacks of the average size it last scanned, started the workers'
// handlers at 4 or 8 KiB, which it never shrinks to the 2 KiB an idle
// handler needs (16 MiB more at 4096 partitions).
func (c *Consumer) claimMissing(ctx context.Context, sess *zkwatch.Conn, tps []TopicPartition, topics partition.Topics, cf claimFuncs) {
	if len(tps) == 0 || ctx.Err() != nil {
		return
	}
	value := []byte(ownerValue(c.cfg.Layout, c.memberID))
	claims := make([]partition.MissingClaim, len(tps))
	for i, tp := range tps {
		claims[i] = partition.MissingClaim{Path: c.claimPath(tp, topics), ReadAfter: offsetZnode(c.store, tp)}
	}
	for i, r := range c.claimer(sess).ClaimMissing(ctx, claims, value) {
		if r.Err != nil {
			c.log.Debug("merged claim failed; claiming it on its own", "path", claims[i].Path, "err", r.Err)
			cf.claim(tps[i], false)
			continue
		}
		cf.start(tps[i], r.Claim)
	}
}

// claimPath is tp's owner znode, its leader taken from topics (read in the
// pykafka layout).
func (c *Consumer) claimPath(tp TopicPartition, topics partition.Topics) string {
	return ownerPath(c.cfg.Layout, c.cfg.Group, tp, topics[tp.Topic][tp.Partition])
}

// readClaimOwners reads the owner znodes of tps at once (GetMany: a multiRead
// request per 128) and returns those that do not exist, and those that do
// by holder (an owner znode's value; "" for a read that failed). It reads
// their directories in the same requests and returns those missing
// (noDirs): there every create would fail.
func (c *Consumer) readClaimOwners(ctx context.Context, sess *zkwatch.Conn, tps []TopicPartition, topics partition.Topics) (missing []TopicPartition, held map[string][]TopicPartition, noDirs []string) {
	paths := make([]string, len(tps), len(tps)+1)
	dirs := map[string]bool{}
	for i, tp := range tps {
		paths[i] = c.claimPath(tp, topics)
		dirs[path.Dir(paths[i])] = true
	}
	for _, dir := range slices.Sorted(maps.Keys(dirs)) {
		paths = append(paths, dir)
	}
	t0 := time.Now()
	held = map[string][]TopicPartition{}
	for i, r := range sess.GetMany(ctx, paths) {
		switch {
		case i >= len(tps):
			if errors.Is(r.Err, zkwatch.ErrNoNode) {
				noDirs = append(noDirs, paths[i])
			}
		case errors.Is(r.Err, zkwatch.ErrNoNode):
			missing = append(missing, tps[i])
		case r.Err != nil:
			held[""] = append(held[""], tps[i])
		default:
			held[string(r.Data)] = append(held[string(r.Data)], tps[i])
		}
	}
	c.log.Debug("owner znodes read before claiming", "claims", len(tps), "missing", len(missing), "holders", len(held), "directories missing", len(noDirs), "took", time.Since(t0))
	return missing, held, noDirs
}

// awaitHolders starts the claims of partitions held by other members
// (readClaimOwners' held). A member releases all it revokes in a rebalance in
// one transaction (partition.Releases.Delete), so the claims of a holder's
// partitions wait together on one look at one of them (its watch), then
// create without looking; a create that finds its znode still there (the
// holder released in parts) looks and waits as any claim. Those of an
// unknown holder, or a holder whose release does not come within the
// claim backoff's longest delay, each look on their own, and so do those
// held under our own value (a znode of ours the look takes as claimed). It
// returns once every claim has started.
func (c *Consumer) awaitHolders(ctx context.Context, sess *zkwatch.Conn, held map[string][]TopicPartition, topics partition.Topics, cf claimFuncs) {
	self := ownerValue(c.cfg.Layout, c.memberID)
	var wg sync.WaitGroup
	for holder, group := range held {
		if holder == "" || holder == self || len(group) == 1 {
			for _, tp := range group {
				cf.claim(tp, false)
			}
			continue
		}
		wg.Go(func() {
			tp := group[0]
			if c.awaitRelease(ctx, sess, c.claimPath(tp, topics)) {
				c.claimMissing(ctx, sess, group, topics, cf)
				return
			}
			for _, tp := range group {
				cf.claim(tp, false)
			}
		})
	}
	wg.Wait()
}

// awaitRelease looks at the owner znode p, held by another member, and
// waits for its deletion: true once it is gone, false when it changed
// otherwise, the look failed, ctx ended or the claim backoff's longest
// delay passed.
func (c *Consumer) awaitRelease(ctx context.Context, sess *zkwatch.Conn, p string) bool {
	holder, _, gone, err := sess.GetW(ctx, p)
	if errors.Is(err, zkwatch.ErrNoNode) {
		return true
	}
	if err != nil {
		return false
	}
	c.noteClaimWait(p, 0, holder)
	t := time.NewTimer(c.cfg.ClaimBackoff.Delay(64, 0.5)) // its longest delay (Max), without jitter
	defer t.Stop()
	select {
	case ev, ok := <-gone:
		return ok && ev.Type == zkwatch.EventNodeDeleted
	case <-t.C:
	case <-ctx.Done():
	}
	return false
}
