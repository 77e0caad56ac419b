package balanced

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/zkbalance/zkbalance/partition"
	"github.com/zkbalance/zkbalance/zkwatch"
)

// errNotRegistered: our own member znode is gone (deleted by someone).
var errNotRegistered = errors.New("balanced: our member registration is missing")

// view is what a rebalance reads from ZooKeeper: the group's members and
// subscriptions, the partitions (and leaders) of their topics, and, for the
// sticky assignor, the current owners.
type view struct {
	input  partition.Input
	topics []string // sorted topics any member subscribes to that exist
	// topicZxids are the modification zxids of the topics' registrations read.
	topicZxids map[string]int64
}

// readView reads the group's state. Malformed member registrations and
// topic registrations are logged and skipped (every zkbalance member skips
// the same ones, so they still agree); a missing self registration is an
// error (the caller re-registers).
func (c *Consumer) readView(ctx context.Context, sess *zkwatch.Conn) (view, error) {
	ids, _, err := sess.Children(ctx, idsPath(c.cfg.Group))
	if err != nil {
		return view{}, fmt.Errorf("read members: %w", err)
	}
	slices.Sort(ids)
	// Registrations already read are taken from the cache; the others are
	// read concurrently: the requests pipeline on the one connection
	// instead of paying a round trip each.
	subs := map[string]subscription{}
	var unread []string
	for _, id := range ids {
		if s, ok := c.regs[id]; ok {
			subs[id] = s
		} else {
			unread = append(unread, id)
		}
	}
	paths := make([]string, len(unread))
	for i, id := range unread {
		paths[i] = idPath(c.cfg.Group, id)
	}
	regs := sess.GetMany(ctx, paths)
	for i, id := range unread {
		p := paths[i]
		data, err := regs[i].Data, regs[i].Err
		if errors.Is(err, zkwatch.ErrNoNode) {
			continue // left meanwhile; its leave triggers another rebalance
		}
		if err != nil {
			return view{}, fmt.Errorf("read member: %w", err)
		}
		s, err := parseRegistration(p, data)
		if err != nil {
			// Not cached: read again next time, in case it is rewritten.
			c.log.Warn("skipping member with a malformed registration", "err", err)
			c.reportError(ctx, fmt.Errorf("balanced: skipping member %s: %w", id, err))
			continue
		}
		subs[id] = s
	}
	c.regs = subs
	needTopicList := false
	for _, s := range subs {
		needTopicList = needTopicList || s.static == nil
	}
	if _, ok := subs[c.memberID]; !ok {
		return view{}, fmt.Errorf("%w: %s is missing", errNotRegistered, idPath(c.cfg.Group, c.memberID))
	}
	var existing []string
	if needTopicList {
		if existing, err = sess.ReadTopicNames(ctx); err != nil {
			return view{}, fmt.Errorf("read topics: %w", err)
		}
	}
	in := partition.Input{Topics: partition.Topics{}}
	wanted := map[string]bool{}
	for _, id := range ids {
		s, ok := subs[id]
		if !ok {
			continue
		}
		ts := s.topics(existing)
		in.Members = append(in.Members, partition.Member{ID: id, Subscription: ts})
		for t := range ts {
			wanted[t] = true
		}
	}
	v := view{topicZxids: map[string]int64{}}
	for _, t := range slices.Sorted(maps.Keys(wanted)) {
		data, st, err := sess.Get(ctx, zkwatch.TopicPath(t))
		var topic zkwatch.Topic
		if err == nil {
			v.topicZxids[t] = st.Mzxid
			topic, err = zkwatch.ParseTopic(zkwatch.TopicPath(t), data)
		}
		if errors.Is(err, zkwatch.ErrNoNode) {
			c.log.Debug("subscribed topic does not exist (yet)", "topic", t)
			continue
		}
		var pe *zkwatch.ParseError
		if errors.As(err, &pe) {
			c.log.Warn("skipping topic with a malformed registration", "err", err)
			c.reportError(ctx, fmt.Errorf("balanced: skipping topic %s: %w", t, err))
			continue
		}
		if err != nil {
			return view{}, fmt.Errorf("read topic: %w", err)
		}
		v.topics = append(v.topics, t)
		parts := map[int32]int32{}
		if c.cfg.Layout == LayoutPykafka {
			leaders, err := sess.ReadLeaders(ctx, topic)
			if errors.As(err, &pe) && leaders != nil {
				c.log.Warn("malformed partition state; its leader counts as unknown (-1)", "err", err)
				c.reportError(ctx, fmt.Errorf("balanced: leaders of %s: %w", t, err))
			} else if err != nil {
				return view{}, fmt.Errorf("read leaders: %w", err)
			}
			parts = leaders
		} else {
			for _, p := range topic.PartitionIDs() {
				parts[p] = -1
			}
		}
		in.Topics[t] = parts
	}
	if c.cfg.Assignor == partition.Sticky {
		if in.Previous, err = c.readOwners(ctx, sess, v.topics, subs); err != nil {
			return view{}, err
		}
	}
	v.input = in
	return v, nil
}

// readOwners maps each owned partition to the member id holding it.
func (c *Consumer) readOwners(ctx context.Context, sess *zkwatch.Conn, topics []string, members map[string]subscription) (map[TopicPartition]string, error) {
	out := map[TopicPartition]string{}
	for _, t := range topics {
		names, _, err := sess.Children(ctx, ownersPath(c.cfg.Group, t))
		if errors.Is(err, zkwatch.ErrNoNode) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read owners: %w", err)
		}
		var parts []int32
		var paths []string
		for _, n := range names {
			if p, ok := parseOwnerName(n); ok {
				parts = append(parts, p)
				paths = append(paths, ownersPath(c.cfg.Group, t)+"/"+n)
			}
		}
		for i, r := range sess.GetMany(ctx, paths) {
			p := parts[i]
			if errors.Is(r.Err, zkwatch.ErrNoNode) {
				continue
			}
			if r.Err != nil {
				return nil, fmt.Errorf("read owner: %w", r.Err)
			}
			owner := string(r.Data)
			if _, ok := members[owner]; !ok {
				if m, _, ok := partition.SplitThreadID(owner); ok {
					owner = m
				}
			}
			out[TopicPartition{Topic: t, Partition: p}] = owner
		}
	}
	return out, nil
}
