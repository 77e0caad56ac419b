package balanced

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/zkbalance/zkbalance/partition"
	"github.com/zkbalance/zkbalance/zkwatch"
)

// errNotRegistered: our own member znode is gone (deleted by someone).
var errNotRegistered = errors.New("balanced: our member registration is missing")

// errClaimsFailed ends a rebalance some of whose claims failed (not gave
// up): the scheduler retries it after backoff.
var errClaimsFailed = errors.New("balanced: partition claims failed")

// view is what a rebalance reads from ZooKeeper: the group's members and
// subscriptions, the partitions (and leaders) of their topics, and, for the
// sticky assignor, the current owners.
type view struct {
	input  partition.Input
	topics []string // sorted topics any member subscribes to that exist
	// topicZxids are the modification zxids of the topics' registrations read.
	topicZxids map[string]int64
	// ownerStats are the stats of our owner znodes read with the view
	// (sticky, which reads every owner znode): a revoke's ownership check
	// takes them instead of reading again (see revokeAll). The other
	// assignors' revokes read the stats of what they revoke beside
	// stopping the handlers (at 64 x 4096 with scala-range, a member
	// revokes half of what it holds, and reading all it held with the
	// view was one more round trip on every member's path to its
	// assignment).
	ownerStats map[string]*zkwatch.Stat
}

// known is what the session's watches saw last, which a rebalance takes
// instead of reading it again (a nil list: not known). Every change after
// that snapshot fires the watch again and triggers another rebalance, so
// the view is as fresh as one read now would be by the time it matters.
type known struct {
	members []string // children of /consumers/<g>/ids, sorted
	topics  []string // children of /brokers/topics, sorted
	// registrations are the registrations of the topics watched (not
	// read again); nil: none known.
	registrations map[string]topicReg
	// memberRegs are members' registrations read by the members watch
	// (watches.readRegistrations), by member id: not read again.
	memberRegs map[string]zkwatch.GetResult
}

// readView reads the group's state. Malformed member registrations and
// topic registrations are logged and skipped (every zkbalance member skips
// the same ones, so they still agree); a missing self registration is an
// error (the caller re-registers).
//
// It waits for as few round trips as it can, since each is on the
// critical path of every join: the member list comes from the ids watch
// (kn); the new members' registrations, the registrations of the topics
// the group is likely to read (those of the known members and our own) and
// (sticky) their owners directories are read at once; then only what those
// reads revealed: the owner znodes of directories changed since the last
// rebalance, and the topics of new subscriptions (rare).
//
// prefetched, when not nil, delivers what a read of the likely topics
// made while the session's watches were armed (the session's first
// rebalance only): those topics are not read again.
func (c *Consumer) readView(ctx context.Context, sess *zkwatch.Conn, kn known, prefetched <-chan map[string]topicRead) (view, error) {
	ids := kn.members
	if ids == nil || !slices.Contains(ids, c.memberID) {
		var err error
		if ids, _, err = sess.Children(ctx, idsPath(c.cfg.Group)); err != nil {
			return view{}, fmt.Errorf("read members: %w", err)
		}
		slices.Sort(ids)
	}
	subs, unread := cachedRegistrations(c.regs, ids)
	existing := kn.topics
	guess := likelyTopics(subs, c.ownSubscription(), existing)
	paths := make([]string, len(unread))
	for i, id := range unread {
		paths[i] = idPath(c.cfg.Group, id)
	}
	// Round one: the new registrations beside the likely topics.
	var (
		regs []zkwatch.GetResult
		read map[string]topicRead
		wg   sync.WaitGroup
	)
	regs = make([]zkwatch.GetResult, len(unread))
	var toRead []int // those the members watch has not read
	for i, id := range unread {
		if r, ok := kn.memberRegs[id]; ok {
			regs[i] = r
		} else {
			toRead = append(toRead, i)
		}
	}
	if len(toRead) > 0 {
		wg.Go(func() {
			ps := make([]string, len(toRead))
			for j, i := range toRead {
				ps[j] = paths[i]
			}
			for j, r := range sess.GetMany(ctx, ps) {
				regs[toRead[j]] = r
			}
		})
	}
	wg.Go(func() {
		if prefetched != nil {
			select {
			case read = <-prefetched:
			case <-ctx.Done():
			}
		}
		var rest []string
		for _, t := range guess {
			if _, ok := read[t]; !ok {
				rest = append(rest, t)
			}
		}
		more := c.readTopics(ctx, sess, rest, kn.registrations, c.owners)
		if read == nil {
			read = more
		} else {
			maps.Copy(read, more)
		}
	})
	wg.Wait()
	for i, id := range unread {
		data, err := regs[i].Data, regs[i].Err
		if errors.Is(err, zkwatch.ErrNoNode) {
			continue // left meanwhile; its leave triggers another rebalance
		}
		if err != nil {
			return view{}, fmt.Errorf("read member: %w", err)
		}
		s, err := parseRegistration(paths[i], data)
		if err != nil {
			// Not cached: read again next time, in case it is rewritten.
			c.log.Warn("skipping member with a malformed registration", "err", err)
			c.reportError(ctx, fmt.Errorf("balanced: skipping member %s: %w", id, err))
			continue
		}
		subs[id] = s
	}
	c.regs = subs
	if _, ok := subs[c.memberID]; !ok {
		return view{}, fmt.Errorf("%w: %s is missing", errNotRegistered, idPath(c.cfg.Group, c.memberID))
	}
	if needsTopicList(subs) && existing == nil {
		var err error
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
	// Round two, rarely: topics no known member subscribed to.
	var missing []string
	for t := range wanted {
		if _, ok := read[t]; !ok {
			missing = append(missing, t)
		}
	}
	maps.Copy(read, c.readTopics(ctx, sess, missing, kn.registrations, c.owners))
	v := view{topicZxids: map[string]int64{}}
	owners := map[string]ownersRead{}
	for _, t := range slices.Sorted(maps.Keys(wanted)) {
		r := read[t]
		err := r.err
		if errors.Is(err, zkwatch.ErrNoNode) {
			c.log.Debug("subscribed topic does not exist (yet)", "topic", t)
			continue
		}
		if r.zxid != 0 { // read, if not parsed
			v.topicZxids[t] = r.zxid
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
		var parts map[int32]int32
		if c.cfg.Layout == LayoutPykafka {
			if errors.As(r.leadersErr, &pe) && r.leaders != nil {
				c.log.Warn("malformed partition state; its leader counts as unknown (-1)", "err", r.leadersErr)
				c.reportError(ctx, fmt.Errorf("balanced: leaders of %s: %w", t, r.leadersErr))
			} else if r.leadersErr != nil {
				return view{}, fmt.Errorf("read leaders: %w", r.leadersErr)
			}
			parts = r.leaders
		} else {
			parts = r.parts
		}
		in.Topics[t] = parts
		if c.cfg.Assignor == partition.Sticky {
			if r.owners.err != nil {
				return view{}, fmt.Errorf("read owners: %w", r.owners.err)
			}
			owners[t] = r.owners
		}
	}
	if c.cfg.Assignor == partition.Sticky {
		in.PreviousByTopic = previousOwners(owners, subs)
		c.owners = owners
		v.ownerStats = ownerStats(owners)
	}
	v.input = in
	return v, nil
}

// ownSubscription is our own registration's subscription.
func (c *Consumer) ownSubscription() subscription {
	s, _ := parseRegistration("", registration(c.cfg.Layout, c.cfg.Topics, c.cfg.TopicPattern))
	return s
}

// cachedRegistrations splits ids into the registrations already read (a
// new map) and the ids still to read, in the order of ids.
func cachedRegistrations(cache map[string]subscription, ids []string) (map[string]subscription, []string) {
	subs := map[string]subscription{}
	var unread []string
	for _, id := range ids {
		if s, ok := cache[id]; ok {
			subs[id] = s
		} else {
			unread = append(unread, id)
		}
	}
	return subs, unread
}

// likelyTopics are the topics the known subscriptions (and ours) resolve
// to against existing (patterns resolve to nothing while it is unknown),
// sorted: those a rebalance reads before it knows the new members'
// subscriptions.
func likelyTopics(subs map[string]subscription, own subscription, existing []string) []string {
	set := map[string]bool{}
	for _, s := range append(slices.Collect(maps.Values(subs)), own) {
		for t := range s.topics(existing) {
			set[t] = true
		}
	}
	return slices.Sorted(maps.Keys(set))
}

// needsTopicList reports whether a subscription is a pattern, which only
// the list of existing topics resolves.
func needsTopicList(subs map[string]subscription) bool {
	for _, s := range subs {
		if s.static == nil {
			return true
		}
	}
	return false
}

// topicRead is what readTopics read of one topic.
type topicRead struct {
	topic zkwatch.Topic
	parts map[int32]int32 // the topic's partitions, each -1 (shared: not to be modified)
	zxid  int64           // the registration's modification zxid
	err   error           // reading or parsing the registration
	// leaders (pykafka layout): each partition's leader, as ReadLeaders.
	leaders    map[int32]int32
	leadersErr error
	owners     ownersRead // sticky
}

// readTopics reads each topic's registration (unless in regs: what its
// watch read) and, in the pykafka layout, its partitions' leaders, and,
// for the sticky assignor, its owners directory (unless unchanged since
// cache), all topics and both reads at once.
func (c *Consumer) readTopics(ctx context.Context, sess *zkwatch.Conn, topics []string, regs map[string]topicReg, cache map[string]ownersRead) map[string]topicRead {
	out := make(map[string]topicRead, len(topics))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, t := range topics {
		var r topicRead
		var inner sync.WaitGroup
		inner.Go(func() {
			p := zkwatch.TopicPath(t)
			var data []byte
			var st *zkwatch.Stat
			var err error
			if reg, ok := regs[t]; ok {
				data, st = reg.data, reg.stat
			} else {
				data, st, err = sess.Get(ctx, p)
			}
			if err == nil {
				r.zxid = st.Mzxid
				r.topic, r.parts, err = c.topicCache.parse(p, st, data)
			}
			r.err = err
			if err == nil && c.cfg.Layout == LayoutPykafka {
				r.leaders, r.leadersErr = sess.ReadLeaders(ctx, r.topic)
			}
		})
		if c.cfg.Assignor == partition.Sticky {
			cached := cache[t]
			inner.Go(func() { r.owners = c.readOwners(ctx, sess, t, cached) })
		}
		wg.Go(func() {
			inner.Wait()
			mu.Lock()
			out[t] = r
			mu.Unlock()
		})
	}
	wg.Wait()
	return out
}

// readOwners reads topic's owners directory: from the session's owners
// tree when it has one (reading only what changed), else whole (unless
// unchanged since cached).
func (c *Consumer) readOwners(ctx context.Context, sess *zkwatch.Conn, topic string, cached ownersRead) ownersRead {
	if t := c.treeFor(sess); t != nil {
		if out, ok := t.read(ctx, topic); ok {
			return out
		}
	}
	c.ownerReads.whole.Add(1)
	return readOwnersDir(ctx, sess, ownersPath(c.cfg.Group, topic), cached, ownedBy(c.memberID))
}

// ownersRead is one owners directory as read: its stat (whole reads
// only), its owner znodes' values and the stats of ours.
type ownersRead struct {
	dir *zkwatch.Stat // nil: the directory does not exist (or read by the owners tree)
	// values are the owner znodes' values by partition id ("": none);
	// partitions beyond maxOwnerPartition are left out.
	values []string
	// ours are the stats of the owner znodes this member holds, by path.
	ours map[string]*zkwatch.Stat
	err  error
}

// ownerEntry is one owner znode.
type ownerEntry struct {
	path      string
	partition int32
	value     string
	stat      *zkwatch.Stat
}

// unchanged reports whether dir is the directory cached was read from,
// with the same children: same creation zxid and same zxid of the last
// child created or deleted. Owner znodes are never rewritten (every
// implementation creates and deletes them only), so their values are then
// the cached ones too.
func (o ownersRead) unchanged(dir *zkwatch.Stat) bool {
	return o.err == nil && o.dir != nil && dir != nil && o.dir.Czxid == dir.Czxid && o.dir.Pzxid == dir.Pzxid
}

// readOwnersDir lists the owners directory dir and reads its owner znodes,
// unless cached is the same directory unchanged: then its values stand.
// mine tells our own owner values.
func readOwnersDir(ctx context.Context, sess *zkwatch.Conn, dir string, cached ownersRead, mine func(string) bool) ownersRead {
	names, st, err := sess.Children(ctx, dir)
	if errors.Is(err, zkwatch.ErrNoNode) {
		return ownersRead{}
	}
	if err != nil {
		return ownersRead{err: err}
	}
	if cached.unchanged(st) {
		return cached
	}
	entries, complete, err := readOwnerZnodes(ctx, sess, dir, names)
	if err != nil {
		return ownersRead{err: err}
	}
	out := ownersFrom(entries, mine)
	if complete {
		out.dir = st
	}
	return out
}

// ownersFrom is a whole read's owner znodes as a view takes them; mine
// tells our own owner values.
func ownersFrom(entries []ownerEntry, mine func(string) bool) ownersRead {
	tc := topicOwners{ours: map[int32]ownerEntry{}, mine: mine}
	for _, e := range entries {
		tc.set(e)
	}
	return tc.read()
}

// listOwners lists the owners directory dir and reads its owner znodes
// (none when it does not exist).
func listOwners(ctx context.Context, sess *zkwatch.Conn, dir string) ([]ownerEntry, error) {
	names, _, err := sess.Children(ctx, dir)
	if errors.Is(err, zkwatch.ErrNoNode) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	entries, _, err := readOwnerZnodes(ctx, sess, dir, names)
	return entries, err
}

// readOwnerZnodes reads the owner znodes names of the owners directory
// dir at once (GetMany); complete is false when one was deleted since the
// listing (the directory changed).
func readOwnerZnodes(ctx context.Context, sess *zkwatch.Conn, dir string, names []string) (entries []ownerEntry, complete bool, err error) {
	var parts []int32
	var paths []string
	for _, n := range names {
		if p, ok := parseOwnerName(n); ok {
			parts = append(parts, p)
			paths = append(paths, dir+"/"+n)
		}
	}
	complete = true
	entries = make([]ownerEntry, 0, len(paths))
	for i, r := range sess.GetMany(ctx, paths) {
		if errors.Is(r.Err, zkwatch.ErrNoNode) {
			complete = false
			continue
		}
		if r.Err != nil {
			return nil, false, fmt.Errorf("read owner: %w", r.Err)
		}
		entries = append(entries, ownerEntry{path: paths[i], partition: parts[i], value: string(r.Data), stat: r.Stat})
	}
	return entries, complete, nil
}

// previousOwners is, per topic, the member id holding each partition
// (Input.PreviousByTopic): an owner value that is not a member id but a
// thread id "<member>-<n>" of the Scala layout counts as that member.
func previousOwners(owners map[string]ownersRead, members map[string]subscription) map[string][]string {
	out := make(map[string][]string, len(owners))
	for t, o := range owners {
		ids := make([]string, len(o.values))
		for p, v := range o.values {
			if v == "" {
				continue
			}
			if _, ok := members[v]; !ok {
				if m, _, ok := partition.SplitThreadID(v); ok {
					v = m
				}
			}
			ids[p] = v
		}
		out[t] = ids
	}
	return out
}

// ownedBy tells whether an owner znode's value is member's: its id or a
// thread id of it.
func ownedBy(member string) func(value string) bool {
	return func(v string) bool {
		if v == member {
			return true
		}
		if !strings.HasPrefix(v, member) {
			return false // others': no parsing
		}
		m, _, ok := partition.SplitThreadID(v)
		return ok && m == member
	}
}

// ownerStats merges the stats of our owner znodes of owners (what the
// sticky view read), for the release's ownership check, which only ever
// checks our own; nil without any. (All of them made a map of 4096 paths
// in every member's every rebalance at 4096 partitions.)
func ownerStats(owners map[string]ownersRead) map[string]*zkwatch.Stat {
	var out map[string]*zkwatch.Stat
	for _, o := range owners {
		if out == nil && len(o.ours) > 0 {
			out = make(map[string]*zkwatch.Stat, len(o.ours))
		}
		maps.Copy(out, o.ours)
	}
	return out
}

// prefetchTopics starts reading the topics this member subscribes to (and
// the known members do), as a session's first rebalance would, while the
// session's watches are armed: the rebalance's first round of reads then
// needs only the members' registrations. The read ends with ctx; its
// result is sent once on the returned channel (buffered).
func (c *Consumer) prefetchTopics(ctx context.Context, sess *zkwatch.Conn) <-chan map[string]topicRead {
	topics := likelyTopics(c.regs, c.ownSubscription(), nil)
	cache := maps.Clone(c.owners)
	out := make(chan map[string]topicRead, 1)
	go func() { out <- c.readTopics(ctx, sess, topics, nil, cache) }() // ends with ctx: every read does
	return out
}
