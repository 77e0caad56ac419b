package balanced

import (
	"context"
	"time"

	"github.com/zkbalance/zkbalance/internal/ctxsleep"
	"github.com/zkbalance/zkbalance/internal/zkformat"
	"github.com/zkbalance/zkbalance/zkwatch"
)

// Joining together. When a follow-mode group switches to kafka, every
// member revokes and then joins an empty Kafka group. The coordinator
// (with group.initial.rebalance.delay.ms 0) forms a generation of
// whoever has arrived: a member whose revoke finished first gets a
// generation of its own, with every partition, and the others, arriving a
// moment later, wait in their JoinGroups until it has heard of the
// rebalance from a heartbeat, revoked what it started and rejoined. So a
// member entering kafka mode in follow mode first waits, at most
// joinTogetherMax, until no other follower's znode says zookeeper any
// more (each writes kafka just before it joins), and the members' JoinGroups
// arrive together. Measured at 16 × 256: a member that revoked 70-170 ms
// before the others formed a generation of its own, and every member
// joined ~250 ms after the first entered kafka mode instead of ~100 ms.

// joinTogetherMax bounds the wait for the other followers: a follower
// that never switches (its process stopped, its session not yet expired)
// delays the join by this much at most.
const joinTogetherMax = 2 * time.Second

// joinTogetherPoll is how often the followers' znodes are read meanwhile.
const joinTogetherPoll = 15 * time.Millisecond

// waitFollowersLeaving waits until no follower of the group other than
// us announces mode (the mode being left), at most joinTogetherMax or
// until ctx ends. A read that fails ends the wait (the join goes on).
func (c *Consumer) waitFollowersLeaving(ctx context.Context, sess *zkwatch.Conn, leaving Coordination) {
	ctx, cancel := context.WithTimeout(ctx, joinTogetherMax)
	defer cancel()
	t0 := time.Now()
	for {
		n, err := c.followersIn(ctx, sess, leaving)
		if err != nil || n == 0 {
			if d := time.Since(t0); d > joinTogetherPoll {
				c.log.Debug("follow: waited for the other followers to leave their mode", "mode", leaving, "took", d, "err", err)
			}
			return
		}
		if !ctxsleep.Sleep(ctx, joinTogetherPoll) {
			c.log.Debug("follow: followers still in the old mode; joining anyway", "mode", leaving, "count", n, "waited", time.Since(t0))
			return
		}
	}
}

// followersIn counts the group's followers other than us whose znodes
// say mode.
func (c *Consumer) followersIn(ctx context.Context, sess *zkwatch.Conn, mode Coordination) (int, error) {
	dir := zkformat.FollowersPath(c.cfg.Group)
	names, _, err := sess.Children(ctx, dir)
	if err != nil {
		return 0, err
	}
	var paths []string
	for _, n := range names {
		if n != c.memberID {
			paths = append(paths, dir+"/"+n)
		}
	}
	count := 0
	for _, r := range sess.GetMany(ctx, paths) {
		if r.Err != nil {
			continue // gone (left, or expired): not waited for
		}
		if m, _, err := zkformat.ParseFollower(r.Data); err == nil && Coordination(m) == mode {
			count++
		}
	}
	return count, nil
}
