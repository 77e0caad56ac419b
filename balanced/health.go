package balanced

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/zkbalance/zkbalance/zkwatch"
)

// Health is a snapshot of a Consumer's state, for health checks and
// readiness probes.
type Health struct {
	// Connected is true while Run holds a ZooKeeper session and is
	// connected to it: false before Run has connected, while the
	// connection is down (the handlers go on until no server has answered
	// for Config.LostAfterDisconnect) and after Run returned. Without
	// ZooKeeper (kafka mode, Config.ZooKeeper empty) it is true while the
	// member is in a Kafka group generation.
	Connected bool
	// SessionID is the ZooKeeper session Run holds, 0 when none (always
	// without ZooKeeper, and once detached).
	SessionID int64
	// ZooKeeperDetached: a follow-mode member that dropped ZooKeeper
	// because the group's mode znode said so (`zkbalance coordination
	// --detach-zookeeper`); Connected is then as without ZooKeeper.
	ZooKeeperDetached bool
	// Owned is how many partitions have their handlers running
	// (len(Owned())).
	Owned int
	// LastRebalance is when the last rebalance completed; zero before the
	// first.
	LastRebalance time.Time
	// RebalanceErr is the error of the last rebalance when it failed (it is
	// retried with backoff, and Hooks.OnError was told); nil once a
	// rebalance completes. A rebalance superseded by a newer trigger is
	// not a failure.
	RebalanceErr error
	// Members is how many members the last rebalance's view of the group
	// had (this one included); 0 before the first. Members, Partitions,
	// Assigned and MissingTopics are filled by ZooKeeper-coordinated
	// rebalances (Coordination zookeeper, and follow while it follows
	// ZooKeeper); they stay zero in Kafka coordination.
	Members int
	// Partitions is how many partitions the topics the group subscribes to
	// had at the last rebalance.
	Partitions int
	// Assigned is how many partitions the last rebalance's assignment gave
	// this member. Assigned > Owned while claims wait for another member
	// to release its partitions; Assigned == 0 with Members > Partitions
	// means the group has more members than partitions.
	Assigned int
	// MissingTopics are the topics of Config.Topics that did not exist at
	// the last rebalance, sorted; the member takes their partitions when
	// they are created (their creation triggers a rebalance).
	MissingTopics []string
}

// viewHealth is what a rebalance read, for Health.
type viewHealth struct {
	members, partitions, assigned int
	missing                       []string
}

// noteView records what a rebalance read and assigned, for Health; a zero
// view clears it (a Kafka generation, whose assignment has no such view).
func (c *Consumer) noteView(v view, assigned int) {
	vh := viewHealth{members: len(v.input.Members), assigned: assigned}
	for _, parts := range v.input.Topics {
		vh.partitions += len(parts)
	}
	for _, t := range c.cfg.Topics {
		if v.input.Topics != nil && !slices.Contains(v.topics, t) {
			vh.missing = append(vh.missing, t)
		}
	}
	slices.Sort(vh.missing)
	c.healthMu.Lock()
	c.view = vh
	c.healthMu.Unlock()
}

// Health returns the consumer's state now. It is safe to call at any time,
// from any goroutine (hooks included), before, during and after Run.
func (c *Consumer) Health() Health {
	var h Health
	if sess := c.sess.Load(); sess != nil {
		h.SessionID = sess.SessionID()
		h.Connected = sess.State() == zkwatch.StateHasSession
	} else if c.cfg.ZooKeeper == "" || c.zkDetached() {
		h.Connected = c.kgen.Load() != nil
	}
	h.ZooKeeperDetached = c.zkDetached()
	h.Owned = len(c.Owned())
	c.healthMu.Lock()
	h.LastRebalance, h.RebalanceErr = c.lastRebalance, c.rebalanceErr
	h.Members, h.Partitions, h.Assigned = c.view.members, c.view.partitions, c.view.assigned
	h.MissingTopics = slices.Clone(c.view.missing)
	c.healthMu.Unlock()
	return h
}

// noteRebalance records how a rebalance ended, for Health, and reports a
// failure to Hooks.OnError. A rebalance cancelled (superseded, or the
// session ending) is neither a success nor a failure.
func (c *Consumer) noteRebalance(ctx context.Context, err error) {
	if err != nil && (ctx.Err() != nil || errors.Is(err, context.Canceled)) {
		return
	}
	c.healthMu.Lock()
	if err == nil {
		c.lastRebalance, c.rebalanceErr = time.Now(), nil
	} else {
		c.rebalanceErr = fmt.Errorf("balanced: rebalance: %w", err)
	}
	rerr := c.rebalanceErr
	c.healthMu.Unlock()
	c.reportError(ctx, rerr)
}
