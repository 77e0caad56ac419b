package balanced

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zkbalance/zkbalance/internal/zkformat"
	"github.com/zkbalance/zkbalance/partition"
	"github.com/zkbalance/zkbalance/zkwatch"
)

// Detaching from ZooKeeper (follow mode, after the group moved to Kafka).
//
// When the mode znode says {"version":1,"mode":"kafka","zookeeper":
// "detached"} (`zkbalance coordination --detach-zookeeper --apply`), a
// follow member in kafka mode drops ZooKeeper without leaving the Kafka
// group (dropZooKeeper, called by runGeneration once the generation's
// claims are done, so that no partition is left unclaimed):
//
//  1. the offset store reads and commits Kafka only from now on, fenced by
//     the generation alone (detachGate.detach); reads and commits
//     already under way finish first;
//  2. each worker's mark is committed (to Kafka), so that Kafka holds at
//     least what ZooKeeper held;
//  3. the owner znodes the workers hold are released, the follower znode
//     deleted and the ZooKeeper session closed.
//
// The handlers go on without a pause and the Kafka generation is not
// disturbed; later generations claim nothing (kafkaMode runs without a
// session), Health reports ZooKeeperDetached, and the member never dials
// ZooKeeper again until Run returns. A follow member in zookeeper mode
// that sees the value (only a forced write makes it possible) switches to
// kafka mode first; one that starts, or gets a new session, and finds
// the value runs detached at once (runDetached), without claiming.
//
// Why this is safe only once every member is coordinated by Kafka (which
// `coordination --detach-zookeeper` checks): without the owner znodes,
// what keeps two members apart is Kafka's eager protocol (every member
// stops its handlers before it rejoins; a generation starts only once all
// have rejoined or been dropped) and the generation fence on commits, as
// for kafka mode without ZooKeeper. A member that took partitions by
// ZooKeeper's assignment would not be bound by either.

// zkDetach is the request to detach, made by the mode znode's watch, and
// whether the member has.
type zkDetach struct {
	mu   sync.Mutex
	req  chan struct{} // closed once requested; made on first use
	done atomic.Bool   // ZooKeeper dropped (read by Health from any goroutine)
}

// requested is closed once the mode znode said detached.
func (d *zkDetach) requested() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.req == nil {
		d.req = make(chan struct{})
	}
	return d.req
}

// request asks the member to detach (once; later calls do nothing).
func (d *zkDetach) request() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.req == nil {
		d.req = make(chan struct{})
	}
	select {
	case <-d.req:
	default:
		close(d.req)
	}
}

// errDetached: the mode znode says detached when a follow session starts.
var errDetached = errors.New("balanced: the group is detached from zookeeper")

// detachedIn reports whether a snapshot of the mode znode says detached
// (pure; a value that does not parse is not detached).
func detachedIn(snap zkwatch.Snapshot) bool {
	if snap.Err != nil || !snap.Exists {
		return false
	}
	s, err := zkformat.ParseCoordination(snap.Data)
	return err == nil && s.Detached
}

// zkDetached reports whether the member has dropped ZooKeeper.
func (c *Consumer) zkDetached() bool { return c.detach.done.Load() }

// markDetached switches the offset store to Kafka only (follow mode),
// once the offset reads and commits under way are done.
func (c *Consumer) markDetached() {
	if s, ok := c.store.(detacher); ok {
		s.detach()
	}
	c.detach.done.Store(true)
}

// dropZooKeeper detaches a member in kafka mode from ZooKeeper while its
// generation runs (see above). It closes sess.
func (c *Consumer) dropZooKeeper(ctx context.Context, sess *zkwatch.Conn) {
	start := time.Now()
	c.markDetached()
	ws := c.workersSnapshot()
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	var claims []partition.Claim
	for _, w := range ws {
		if err := c.commit(rctx, w); err != nil {
			c.log.Warn("detach: committing to kafka failed; the generation's end will tell", "topic", w.tp.Topic, "partition", w.tp.Partition, "err", err)
		}
		if w.fence.Conn == sess {
			claims = append(claims, w.claim)
		}
	}
	for i, err := range partition.ReleaseAll(rctx, sess, claims) {
		if err != nil {
			c.log.Warn("detach: release failed; closing the session removes it", "path", claims[i].Path, "err", err)
		}
	}
	p := zkformat.FollowerPath(c.cfg.Group, c.memberID)
	if err := sess.Delete(rctx, p, -1); err != nil && !errors.Is(err, zkwatch.ErrNoNode) {
		c.log.Warn("detach: deleting the follower znode failed; closing the session removes it", "path", p, "err", err)
	}
	c.sess.Store(nil)
	sess.Close()
	c.log.Info("follow: detached from zookeeper: kafka only from now on", "partitions", len(ws), "released", len(claims), "took", time.Since(start))
}

// runDetached is follow mode once the group is detached from ZooKeeper:
// kafka mode without a session.
func (c *Consumer) runDetached(ctx context.Context, h Handler) error {
	c.markDetached()
	c.sess.Store(nil)
	c.log.Info("follow: the group is detached from zookeeper: running in kafka mode without it")
	err := c.kafkaMode(ctx, nil, h, nil, func(*zkwatch.Conn) *zkwatch.Conn { return nil })
	if errors.Is(err, errSessionLost) {
		err = nil
	}
	if err == nil {
		c.log.Info("left the group")
	}
	return err
}
