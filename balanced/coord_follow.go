package balanced

import (
	"context"
	"errors"
	"fmt"

	"github.com/zkbalance/zkbalance/internal/zkformat"
	"github.com/zkbalance/zkbalance/zkwatch"
)

// Follow mode (Config.Coordination CoordinationFollow).
//
// The group's mode znode, /consumers/<group>/coordination (persistent,
// {"version":1,"mode":"zookeeper"|"kafka"}; absent: zookeeper), decides
// whether the member runs zookeeper mode or kafka mode; `zkbalance
// coordination --apply` writes it. The member watches it and, when it
// names another mode, ends the current mode cleanly and starts the other,
// in the same ZooKeeper session and with the same Kafka clients:
//
//   - leaving zookeeper mode: every handler is cancelled with ErrRevoked
//     and waited for (RevokeTimeout), the marks are committed, the owner
//     znodes released and the /ids znode deleted, so that the members still
//     in zookeeper mode rebalance without this one;
//   - leaving kafka mode: the same revoke, then LeaveGroup, so that the
//     members still in the Kafka group rebalance without this one.
//
// In the new mode a partition is claimed (its owner znode created) before
// it starts, and a claim waits, with ClaimBackoff, while an old holder
// still holds it. Both modes claim the same owner znodes through the same
// layout-aware claim (claimOne: "<p>" in the Scala layout; in the pykafka
// layout "<leader>-<p>" plus its owners/b'<t>' mirror, held while another
// leader's name holds the partition), so whatever order the members see the
// toggle in, a partition is processed only by the member holding its owner
// znode: never by two at once.
//
// Visibility: each follow member keeps an ephemeral
// /consumers/<group>/followers/<member-id> holding {"version":1,"mode":...}
// with the mode it is in, written before it enters that mode (in
// zookeeper mode before its /ids znode), and in kafka mode, once joined,
// also "kafka_member_id": the id the group coordinator gave it, so that a
// member of the Kafka group without a follower znode naming its id (a
// Java KafkaConsumer) is known not to follow a switch back. A registered /ids member without
// one cannot follow (a Scala or pykafka consumer, a zkbalance member not
// in follow mode): `zkbalance coordination` names it and refuses to
// toggle. Legacy members never read /followers or /coordination.
//
// Offsets, Scala layout: kept in both stores in both modes
// (newFollowOffsets): the start offset is the higher of the two, read after
// the owner znode is held, and commits go to ZooKeeper (fenced by the owner
// znode) and to Kafka (in kafka mode fenced by the generation too), so a
// switch in either direction neither loses nor replays.
//
// Offsets, pykafka layout: in Kafka only, as pykafka keeps them
// (newFollowKafkaOffsets): the start offset is read from Kafka after the
// owner znode is held; zookeeper-mode commits carry generation -1 as
// pykafka's do (fenced by a check of the owner znode), kafka-mode commits
// the generation (and the same check). Because the coordinator refuses
// generation -1 commits while its group has members, the switch waits at
// the border between the modes (follow_wait.go): into kafka mode only once
// no member is registered in /ids, into zookeeper mode only once the Kafka
// group is empty.
//
// A mode znode that cannot be parsed is reported (Hooks.OnError) and
// ignored: the member stays in the mode it is in (zookeeper at start).
//
// {"version":1,"mode":"kafka","zookeeper":"detached"} makes the member
// drop ZooKeeper altogether (coord_detach.go).

// errModeSwitch is the cause a mode's context is cancelled with when the
// mode znode names another mode.
var errModeSwitch = errors.New("balanced: the group's coordination mode changed")

// leaveCause is the cause the handlers are cancelled with when a mode
// ends because ctx is done: ErrRevoked for a switch of follow mode,
// ErrClosed otherwise.
func leaveCause(ctx context.Context) error {
	if errors.Is(context.Cause(ctx), errModeSwitch) {
		return ErrRevoked
	}
	return ErrClosed
}

// runFollow is Run in follow mode.
func (c *Consumer) runFollow(ctx context.Context, h Handler) error {
	sess, ok, err := c.connect(ctx)
	if !ok {
		return err
	}
	defer c.sess.Store(nil)
	defer c.closeKafka()
	for {
		err := c.followSession(ctx, sess, h)
		sess.Close()
		if ctx.Err() != nil {
			c.log.Info("left the group")
			return nil
		}
		if errors.Is(err, errDetached) {
			return c.runDetached(ctx, h)
		}
		if err != nil {
			return err
		}
		if sess = c.renewSession(ctx); sess == nil {
			return nil // ctx done while reconnecting: nothing is held
		}
	}
}

// followSession runs the modes the mode znode names, one after the other,
// within one ZooKeeper session. It returns nil when ctx is done (after a
// clean leave) or the session is lost (the handlers stopped), or a fatal
// error.
func (c *Consumer) followSession(ctx context.Context, sess *zkwatch.Conn, h Handler) error {
	wctx, wcancel := context.WithCancel(ctx)
	defer wcancel()
	snaps := sess.WatchData(wctx, zkformat.CoordinationPath(c.cfg.Group))
	mode := CoordinationZooKeeper
	select {
	case <-ctx.Done():
		return nil
	case snap, ok := <-snaps:
		if !ok {
			return nil // session gone (or ctx done)
		}
		mode, _ = c.modeFrom(ctx, snap, mode)
		if detachedIn(snap) {
			return errDetached
		}
	}
	for {
		if err := c.announce(ctx, sess, mode, ""); err != nil {
			if ctx.Err() != nil || errors.Is(err, zkwatch.ErrSessionExpired) || errors.Is(err, zkwatch.ErrClosed) {
				return nil
			}
			return err
		}
		c.log.Info("follow: entering coordination mode", "mode", mode)
		mctx, mcancel := context.WithCancelCause(ctx)
		var next Coordination
		watchDone := make(chan struct{})
		go func() { // owned by this iteration: ends with mctx or the session
			defer close(watchDone)
			for {
				select {
				case <-mctx.Done():
					return
				case snap, ok := <-snaps:
					if !ok {
						return // the session is gone: the mode sees it too
					}
					if detachedIn(snap) {
						c.detach.request() // kafka mode drops ZooKeeper
					}
					if m, changed := c.modeFrom(mctx, snap, mode); changed {
						c.log.Debug("follow: the mode znode names another mode; leaving", "from", mode, "to", m)
						next = m
						mcancel(errModeSwitch)
						return
					}
				}
			}
		}()
		var err error
		switch mode {
		case CoordinationKafka:
			announced := ""
			joined := func(sess *zkwatch.Conn, id string) {
				if id == announced || c.zkDetached() {
					return
				}
				if err := c.announce(mctx, sess, mode, id); err != nil {
					c.log.Warn("follow: cannot write our kafka member id to the follower znode", "err", err)
					c.reportError(mctx, err)
					return
				}
				announced = id
			}
			proceed := true
			if c.cfg.Offsets == OffsetsKafka { // pykafka layout: see follow_wait.go
				proceed, err = atBorder(mctx, func() error { return c.waitNoRegistrations(mctx, sess) })
			}
			if proceed {
				err = c.kafkaMode(mctx, sess, h, joined, func(*zkwatch.Conn) *zkwatch.Conn { return nil })
			}
		default:
			proceed := true
			if c.cfg.Offsets == OffsetsKafka {
				proceed, err = atBorder(mctx, func() error { return c.waitKafkaGroupEmpty(mctx) })
			}
			if proceed {
				err = c.followZooKeeper(mctx, sess, h)
			}
		}
		switched := errors.Is(context.Cause(mctx), errModeSwitch)
		mcancel(nil)
		<-watchDone
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, errSessionLost):
			return nil
		case err != nil:
			return err
		case !switched:
			return nil // the session ended
		}
		c.log.Info("follow: coordination mode changed", "from", mode, "to", next)
		mode = next
	}
}

// followZooKeeper is zookeeper mode within follow mode: runSession until
// ctx is done (then leaveZooKeeperMode, nil) or the session is lost
// (errSessionLost).
func (c *Consumer) followZooKeeper(ctx context.Context, sess *zkwatch.Conn, h Handler) error {
	err := c.runSession(ctx, sess, h)
	if ctx.Err() != nil {
		c.leaveZooKeeperMode(ctx, sess)
		return nil
	}
	if err != nil {
		return err
	}
	return errSessionLost
}

// modeFrom reads the mode a snapshot of the mode znode names: absent is
// zookeeper; an unparsable value is reported and keeps cur. changed
// reports whether it differs from cur.
func (c *Consumer) modeFrom(ctx context.Context, snap zkwatch.Snapshot, cur Coordination) (Coordination, bool) {
	if snap.Err != nil {
		c.log.Warn("follow: cannot read the mode znode; staying in the current mode", "mode", cur, "err", snap.Err)
		c.reportError(ctx, fmt.Errorf("balanced: read %s: %w", snap.Path, snap.Err))
		return cur, false
	}
	m, err := modeOf(snap.Exists, snap.Data)
	if err != nil {
		c.log.Warn("follow: malformed mode znode; staying in the current mode", "mode", cur, "err", err)
		c.reportError(ctx, fmt.Errorf("balanced: %s: %w", snap.Path, err))
		return cur, false
	}
	return m, m != cur
}

// modeOf is the mode a mode znode names (pure): zookeeper when absent.
func modeOf(exists bool, data []byte) (Coordination, error) {
	if !exists {
		return CoordinationZooKeeper, nil
	}
	s, err := zkformat.ParseCoordination(data)
	if err != nil {
		return "", err
	}
	return Coordination(s.Mode), nil
}

// announce writes our follower znode, /consumers/<g>/followers/<id>
// (ephemeral), with the mode we are entering and, in kafka mode once
// joined, the member id the group coordinator gave us (so that tools can
// tell followers from other members of the Kafka group). A write cut off
// by a dropped connection is tried again (retryDropped).
func (c *Consumer) announce(ctx context.Context, sess *zkwatch.Conn, mode Coordination, kafkaMemberID string) error {
	return c.retryDropped(ctx, "announcing follower", func() error { return c.announceOnce(ctx, sess, mode, kafkaMemberID) })
}

func (c *Consumer) announceOnce(ctx context.Context, sess *zkwatch.Conn, mode Coordination, kafkaMemberID string) error {
	if err := sess.EnsurePath(ctx, "/consumers", nil); err != nil {
		return fmt.Errorf("balanced: announce follower: %w", err)
	}
	if err := sess.EnsurePath(ctx, zkformat.FollowersPath(c.cfg.Group), c.cfg.ACL); err != nil {
		return fmt.Errorf("balanced: announce follower: %w", err)
	}
	p := zkformat.FollowerPath(c.cfg.Group, c.memberID)
	data := zkformat.EncodeFollower(string(mode), kafkaMemberID)
	_, err := sess.Create(ctx, p, data, zkwatch.FlagEphemeral, c.cfg.ACL)
	if errors.Is(err, zkwatch.ErrNodeExists) {
		_, st, gerr := sess.Get(ctx, p)
		if gerr != nil {
			return fmt.Errorf("balanced: announce follower: %w", gerr)
		}
		if st.EphemeralOwner != sess.SessionID() {
			return fmt.Errorf("balanced: announce follower: %s is held by another session: is another member using id %q?", p, c.memberID)
		}
		_, err = sess.Set(ctx, p, data, st.Version)
	}
	if err != nil {
		return fmt.Errorf("balanced: announce follower: %w", err)
	}
	return nil
}
