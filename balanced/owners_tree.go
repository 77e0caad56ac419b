package balanced

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/zkbalance/zkbalance/zkwatch"
)

// ownersTree is the sticky assignor's copy of the group's owner znodes,
// kept by a persistent recursive watch on /consumers/<g>/owners
// (ZooKeeper 3.6+) for one session. Without it every member re-read every
// owner znode of a topic whenever one of them changed, and during a join
// they all change: M members × P partitions reads per rebalance (557k
// requests per join at 64 × 4096). With it a member reads a topic's owners
// once per connection and then only the znodes created since.
//
// Exactness rests on ZooKeeper's ordering: the watch's events and the
// replies of requests arrive in the server's order, so a reply reflects no
// change whose event has not been applied. A read's answer is taken only
// when no event touched its znode since the read was sent; otherwise the
// events stand (a deletion) or the znode is read again (a creation).
// While the connection is lost the copy is dropped, and rebuilt from reads
// sent after the watch is registered again.
//
// The same events tell the scheduler that the owners changed (changed),
// in place of a children watch per owners directory; should the watch not
// be set, unavailable turns those watches on.
type ownersTree struct {
	c           *Consumer
	sess        *zkwatch.Conn
	root        string // /consumers/<g>/owners
	cancel      context.CancelFunc
	done        chan struct{} // closed when the watch's goroutine ended
	changed     func()        // an owner znode was created or deleted; never blocks
	unavailable func()        // the watch cannot be set (called at most once)

	mu sync.Mutex
	st ownersState
	// set is closed (under mu) when the watch is first set (TreeWatching),
	// or never (then done is).
	set chan struct{}
}

// watchOwnersTree starts setting the tree watch for sess's session. It
// does not wait for the server's answer: the request goes out before the
// member registers, so the server has set the watch before it answers any
// read a rebalance sends. Until it answers (or when it cannot: before
// ZooKeeper 3.6), reads fall back to whole directories. close ends it.
func (c *Consumer) watchOwnersTree(ctx context.Context, sess *zkwatch.Conn, changed, unavailable func()) *ownersTree {
	if c.noTreeWatch.Load() {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	t := &ownersTree{c: c, sess: sess, root: ownersRoot(c.cfg.Group), cancel: cancel, done: make(chan struct{}),
		changed: changed, unavailable: unavailable, set: make(chan struct{})}
	t.st.mine = ownedBy(c.memberID)
	go func() {
		defer close(t.done)
		stop, err := sess.WatchTree(ctx, t.root, t.onEvent)
		switch {
		case err == nil:
			<-ctx.Done()
			stop()
		case errors.Is(err, zkwatch.ErrUnimplemented):
			// Such a server also closes the connection (the session
			// survives): later sessions do not ask again.
			c.noTreeWatch.Store(true)
			c.log.Info("ZooKeeper before 3.6 has no persistent watches: the sticky assignor reads whole owners directories", "err", err)
			t.unavailable()
		case ctx.Err() == nil:
			c.log.Warn("owners tree watch not set: the sticky assignor reads whole owners directories", "err", err)
			t.unavailable()
		}
	}()
	return t
}

// setTree makes t the owners tree of its session (nil: none).
func (c *Consumer) setTree(t *ownersTree) {
	c.treeMu.Lock()
	c.tree = t
	c.treeMu.Unlock()
}

// treeFor is sess's owners tree, or nil.
func (c *Consumer) treeFor(sess *zkwatch.Conn) *ownersTree {
	c.treeMu.Lock()
	defer c.treeMu.Unlock()
	if c.tree == nil || c.tree.sess != sess {
		return nil
	}
	return c.tree
}

// close ends the watch's callbacks and its goroutine (nil: none).
func (t *ownersTree) close() {
	if t != nil {
		t.cancel()
		<-t.done
	}
}

// onEvent applies one watch event; it runs on the connection's receive
// goroutine and never blocks on I/O.
func (t *ownersTree) onEvent(ev zkwatch.TreeEvent) {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch ev.Kind {
	case zkwatch.TreeWatching:
		lost := !t.st.watching // since the last TreeWatching, if any
		t.st.reset(true)
		select {
		case <-t.set:
			if lost { // set again after a lost connection: changes may be missed
				t.changed()
			}
		default:
			close(t.set)
		}
	case zkwatch.TreeLost:
		t.st.reset(false)
	default:
		rest, ok := strings.CutPrefix(ev.Path, t.root+"/")
		if !ok {
			return
		}
		topic, name, ok := strings.Cut(rest, "/")
		if !ok || strings.Contains(name, "/") {
			return // the topic's directory itself, or deeper
		}
		p, ok := parseOwnerName(name)
		if !ok {
			return
		}
		t.st.apply(topic, p, ev.Kind == zkwatch.TreeDeleted)
		if ev.Kind == zkwatch.TreeCreated || ev.Kind == zkwatch.TreeDeleted {
			t.changed()
		}
	}
}

// warm reads topics' owner directories whole as soon as the watch is set,
// so that the member's first rebalance finds them read: a joiner sends
// those reads right after registering, before its registration wakes the
// other members, whose reads would otherwise queue ahead of its own (4096
// owner znodes took a joiner 0.2-0.5 s at 64 members). A rebalance that
// reads a topic meanwhile waits for this read (see read).
func (t *ownersTree) warm(ctx context.Context, topics []string) {
	select {
	case <-t.set:
	case <-t.done:
		return
	case <-ctx.Done():
		return
	}
	for _, topic := range topics {
		if _, ok := t.read(ctx, topic); !ok || ctx.Err() != nil {
			return
		}
	}
}

// read returns topic's owners as the tree knows them, reading what it
// does not know: the whole directory once per connection (or waiting for
// such a read under way), then the owner znodes created since, in one
// round (a GetMany). ok is false when the tree is not watching (the
// caller reads the directory itself).
func (t *ownersTree) read(ctx context.Context, topic string) (out ownersRead, ok bool) {
	dir := ownersPath(t.c.cfg.Group, topic)
	t.mu.Lock()
	if !t.st.watching {
		t.mu.Unlock()
		return ownersRead{}, false
	}
	tc, gen := t.st.topic(topic), t.st.gen
	for !tc.valid && tc.loading != nil { // another read of the whole directory is under way
		loading := tc.loading
		t.mu.Unlock()
		select {
		case <-loading:
		case <-ctx.Done():
			return ownersRead{err: context.Cause(ctx)}, true
		}
		t.mu.Lock()
		if !t.st.watching {
			t.mu.Unlock()
			return ownersRead{}, false
		}
		tc, gen = t.st.topic(topic), t.st.gen
	}
	if !tc.valid {
		sent := t.st.seq
		loading := make(chan struct{})
		tc.loading = loading
		t.mu.Unlock()
		t.c.ownerReads.whole.Add(1)
		entries, err := listOwners(ctx, t.sess, dir)
		t.mu.Lock()
		tc.loading = nil
		close(loading)
		if err != nil {
			t.mu.Unlock()
			return ownersRead{err: err}, true
		}
		if t.st.gen != gen {
			t.mu.Unlock()
			// The connection changed meanwhile: a plain read.
			return ownersFrom(entries, t.st.mine), true
		}
		tc.install(entries, sent)
	}
	dirty, sent := tc.dirtyParts(), t.st.seq
	if len(dirty) > 0 {
		t.mu.Unlock()
		paths := make([]string, len(dirty))
		for i, p := range dirty {
			paths[i] = fmt.Sprintf("%s/%d", dir, p)
		}
		t.c.ownerReads.single.Add(int64(len(paths)))
		res := t.sess.GetMany(ctx, paths)
		t.mu.Lock()
		if t.st.gen != gen {
			t.mu.Unlock()
			t.c.ownerReads.whole.Add(1)
			return readOwnersDir(ctx, t.sess, dir, ownersRead{}, t.st.mine), true
		}
		for i, r := range res {
			if r.Err != nil && !errors.Is(r.Err, zkwatch.ErrNoNode) {
				t.mu.Unlock()
				return ownersRead{err: fmt.Errorf("read owner: %w", r.Err)}, true
			}
			e := ownerEntry{path: paths[i], partition: dirty[i]}
			if r.Err == nil {
				e.value, e.stat = string(r.Data), r.Stat
			}
			tc.take(e, r.Err == nil, sent)
		}
	}
	// One round only: owner znodes created while it was under way stay
	// dirty and are left out, as if not created yet (their creation events
	// have changed the owners, so the owners watch makes the member read
	// again). Reading until none is dirty would chase a join's claims, one
	// round trip after another, on the critical path of the rebalance
	// that has to release the partitions those claims wait for.
	out = tc.read()
	t.mu.Unlock()
	return out, true
}

// ownersState is the tree's bookkeeping, without I/O (table-tested).
type ownersState struct {
	watching bool
	gen      uint64 // bumped on every reset: reads sent before are void
	seq      uint64 // events applied so far
	topics   map[string]*topicOwners
	// mine tells the owner values that are this member's (see
	// ownedBy); nil: none is.
	mine func(value string) bool
}

// topicOwners is one topic's owner znodes.
type topicOwners struct {
	valid   bool          // read whole since the watch was registered
	loading chan struct{} // a whole read is under way; closed when it ends
	// values are the owner znodes' values by partition id ("": none), in
	// the form a view takes (ownersRead.values).
	values []string
	ours   map[int32]ownerEntry // the owner znodes this member holds
	dirty  map[int32]bool       // created or changed since read: read again
	last   map[int32]uint64     // seq of the last event per partition
	mine   func(value string) bool
}

func (s *ownersState) reset(watching bool) {
	s.watching = watching
	s.gen++
	s.topics = nil
}

// topic returns topic's record, made on first use: events are recorded
// from then on, so a whole read sent after it can be completed by them.
func (s *ownersState) topic(topic string) *topicOwners {
	if s.topics == nil {
		s.topics = map[string]*topicOwners{}
	}
	tc := s.topics[topic]
	if tc == nil {
		tc = &topicOwners{ours: map[int32]ownerEntry{}, dirty: map[int32]bool{}, last: map[int32]uint64{}, mine: s.mine}
		s.topics[topic] = tc
	}
	return tc
}

// apply records a creation or data change (deleted false) or a deletion of
// topic's owner znode for p. Topics never read are not recorded: their
// first read is whole.
func (s *ownersState) apply(topic string, p int32, deleted bool) {
	s.seq++
	tc := s.topics[topic]
	if tc == nil {
		return
	}
	tc.last[p] = s.seq
	if deleted {
		tc.remove(p)
		delete(tc.dirty, p)
		return
	}
	tc.dirty[p] = true
}

// install takes a whole read of the directory sent when seq was sent:
// entries touched by an event since stand as the events left them.
func (tc *topicOwners) install(entries []ownerEntry, sent uint64) {
	clear(tc.values)
	clear(tc.ours)
	for p := range tc.dirty {
		if tc.last[p] <= sent {
			delete(tc.dirty, p) // the read reflects it
		}
	}
	for _, e := range entries {
		if tc.last[e.partition] > sent {
			continue
		}
		tc.set(e)
	}
	tc.valid = true
}

// take takes the answer of one owner znode read sent at sent: found, or
// missing (found false). An event since leaves it to the events.
func (tc *topicOwners) take(e ownerEntry, found bool, sent uint64) {
	if tc.last[e.partition] > sent {
		return
	}
	delete(tc.dirty, e.partition)
	if found {
		tc.set(e)
	} else {
		tc.remove(e.partition)
	}
}

// set records e as its partition's owner znode.
func (tc *topicOwners) set(e ownerEntry) {
	if int(e.partition) >= len(tc.values) {
		tc.values = append(tc.values, make([]string, int(e.partition)+1-len(tc.values))...)
	}
	tc.values[e.partition] = e.value
	if tc.mine != nil && tc.mine(e.value) {
		tc.ours[e.partition] = e
	} else {
		delete(tc.ours, e.partition)
	}
}

// remove records that p has no owner znode.
func (tc *topicOwners) remove(p int32) {
	if int(p) < len(tc.values) {
		tc.values[p] = ""
	}
	delete(tc.ours, p)
}

func (tc *topicOwners) dirtyParts() []int32 {
	return slices.Sorted(maps.Keys(tc.dirty))
}

// read is the topic's owners as a view takes them: a copy of the values
// (4096 string headers at 4096 partitions; a list of every entry, its path
// and stat, was most of a sticky member's garbage per rebalance) and our
// own owner znodes' stats.
func (tc *topicOwners) read() ownersRead {
	out := ownersRead{values: slices.Clone(tc.values)}
	for _, e := range tc.ours {
		if out.ours == nil {
			out.ours = make(map[string]*zkwatch.Stat, len(tc.ours))
		}
		out.ours[e.path] = e.stat
	}
	return out
}
