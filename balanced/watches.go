package balanced

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/zkbalance/zkbalance/partition"
	"github.com/zkbalance/zkbalance/zkwatch"
)

// triggerPolicy is what one assignor or layout adds to the watches every
// group has (its members, the brokers, the topics and each group topic's
// registration, all of which trigger a rebalance).
type triggerPolicy struct {
	// ownerWatches: watch each group topic's owners directory and report
	// every change as evOwnersChanged. The sticky assignor needs it: its
	// input includes the current owners, which members read at different
	// moments while partitions move, so they may disagree — and one may
	// wait forever to claim a partition its holder means to keep. Owner
	// changes therefore make every member read the owners again once it is
	// idle (see schedState).
	ownerWatches bool
	// leaderWatches: watch each partition's state and trigger a rebalance
	// when its leader changes (not on any ISR change). The pykafka layout
	// needs it: the assignment depends on the partitions' leaders, so
	// members that read leaders at different moments would disagree and
	// one could wait forever for a partition another keeps.
	leaderWatches bool
}

// policyFor is cfg's trigger policy.
func policyFor(cfg Config) triggerPolicy {
	return triggerPolicy{
		ownerWatches:  cfg.Assignor == partition.Sticky,
		leaderWatches: cfg.Layout == LayoutPykafka,
	}
}

// watches are one session's ZooKeeper watches that lead to rebalances: the
// session-wide ones (members, brokers, topics) and, per group topic, its
// registration plus what the trigger policy adds. Snapshots become
// rebalance triggers (trigger) or, for owner watches, owner-change signals
// (ownersChanged). Every watch ends when ctx is done; wait waits for their
// goroutines.
type watches struct {
	ctx           context.Context
	sess          *zkwatch.Conn
	group         string
	policy        triggerPolicy
	trigger       func(reason string) // never blocks
	ownersChanged func()              // never blocks
	wg            sync.WaitGroup      // every watch goroutine

	mu     sync.Mutex // the rebalance goroutine adds topic watches too (addTopics)
	topics map[string]*topicWatch
	// ownerDirs: policy.ownerWatches by a children watch on each topic's
	// owners directory (ownersByDirs). Off while the owners tree
	// (owners_tree.go) reports the changes instead: a children watch reads
	// the whole directory again each time it fires, 4096 names for each of
	// 65 members several times per join at 64 x 4096.
	ownerDirs bool

	// prefetched is the session's first rebalance's read of its likely
	// topics (see Consumer.prefetchTopics), taken once (takePrefetched).
	prefetched <-chan map[string]topicRead

	knownMu sync.Mutex
	known   known // the session watches' last snapshots (see latest)
	// pending: a change of the members (topics) was notified and its
	// snapshot is being read; knownCh is closed (and replaced) whenever a
	// snapshot is remembered, or registrations are read.
	membersPending, topicsPending bool
	knownCh                       chan struct{}
	// memberRegs are the registrations of the members in the last members
	// snapshot, read as soon as it showed them (readRegistrations), by
	// member id; regsReading are those being read, regsPending the reads
	// in flight.
	memberRegs  map[string]zkwatch.GetResult
	regsReading map[string]bool
	regsPending int
}

// topicWatch is the watches of one group topic.
type topicWatch struct {
	ctx    context.Context
	cancel context.CancelFunc
	parts  map[int32]bool // partitions whose state (leader) is watched
	// reg is the registration as the watch read it last (w.mu), nil when
	// that read failed or found no znode.
	reg *topicReg
}

// topicReg is a topic's registration as a watch read it.
type topicReg struct {
	data []byte
	stat *zkwatch.Stat
}

func newWatches(ctx context.Context, sess *zkwatch.Conn, group string, policy triggerPolicy, trigger func(string), ownersChanged func()) *watches {
	return &watches{ctx: ctx, sess: sess, group: group, policy: policy, trigger: trigger,
		ownersChanged: ownersChanged, topics: map[string]*topicWatch{}}
}

// ownersByDirs turns the owners directories' children watches on (with
// policy.ownerWatches), for the topics watched so far too: there is no
// owners tree to report the changes, or it could not be set.
func (w *watches) ownersByDirs() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ownerDirs || !w.policy.ownerWatches {
		return
	}
	w.ownerDirs = true
	for t, tw := range w.topics {
		w.watchOwnerDir(tw.ctx, t)
	}
}

// watchOwnerDir watches topic's owners directory; w.mu is held.
func (w *watches) watchOwnerDir(ctx context.Context, topic string) {
	w.run(w.sess.WatchChildren(ctx, ownersPath(w.group, topic)), nil, nil, w.ownersChanged)
}

// wait waits for every watch goroutine; they end once ctx is done.
func (w *watches) wait() { w.wg.Wait() }

// armSession sets the session-wide watches (the group's members, the
// brokers, the topics) and returns once each has delivered its first
// snapshot (or ended). A first snapshot only counts as armed: the first
// rebalance starts after every session watch is set, so it reads at least
// that state and needs no trigger for it.
func (w *watches) armSession() {
	var armed sync.WaitGroup
	armed.Add(3)
	members := func() (*bool, *[]string) { return &w.membersPending, &w.known.members }
	topics := func() (*bool, *[]string) { return &w.topicsPending, &w.known.topics }
	// The members and topics watches trigger as soon as ZooKeeper notifies
	// a change, so the coalescer's quiet period runs while the new
	// children (and then the new members' registrations) are read; the
	// rebalance then waits for them (latest).
	rememberMembers := w.remember(members)
	w.run(w.sess.WatchChildrenNotify(w.ctx, idsPath(w.group), w.notified(members, "members changed"), func(s zkwatch.Snapshot) {
		w.readRegistrations(s) // first: latest waits for it from now on
		rememberMembers(s)
	}), &armed, notNotified, w.fire("members changed"))
	w.run(w.sess.WatchChildren(w.ctx, zkwatch.BrokerIDsPath), &armed, nil, w.fire("brokers changed"))
	w.run(w.sess.WatchChildrenNotify(w.ctx, zkwatch.BrokerTopicsPath, w.notified(topics, "topics changed"), w.remember(topics)),
		&armed, notNotified, w.fire("topics changed"))
	armed.Wait()
}

// takePrefetched returns the prefetched topics' channel the first time,
// nil afterwards. Only the rebalance goroutine (one at a time) calls it.
func (w *watches) takePrefetched() <-chan map[string]topicRead {
	ch := w.prefetched
	w.prefetched = nil
	return ch
}

// notNotified passes the snapshots whose change was not notified (and
// triggered) already.
func notNotified(s zkwatch.Snapshot) bool { return !s.Notified }

// knownField picks one list of w.known and its pending flag (to be used
// with knownMu held).
type knownField func() (pending *bool, list *[]string)

// pendingWait bounds latest's wait for a notified change's snapshot; after
// it the rebalance reads for itself.
const pendingWait = 2 * time.Second

// latest is what the session watches saw last: the rebalance takes it
// instead of reading the same again (a round trip on a join's critical
// path). A snapshot is remembered before it triggers anything, and a
// notified change that is still being read is waited for (at most
// pendingWait, then that list is left unknown), so a rebalance triggered
// by a change sees at least that change.
func (w *watches) latest(ctx context.Context) known {
	t := time.NewTimer(pendingWait)
	defer t.Stop()
	for {
		w.knownMu.Lock()
		k, mp, tp, rp := w.known, w.membersPending, w.topicsPending, w.regsPending > 0
		if w.knownCh == nil {
			w.knownCh = make(chan struct{})
		}
		ch := w.knownCh
		k.memberRegs = maps.Clone(w.memberRegs)
		w.knownMu.Unlock()
		if !mp && !tp && !rp {
			return k
		}
		select {
		case <-ch:
			continue
		case <-ctx.Done():
		case <-t.C:
		}
		if mp {
			k.members = nil
		}
		if tp {
			k.topics = nil
		}
		return k
	}
}

// readRegistrations starts reading the registrations of the members in
// the members snapshot s that are neither read nor being read, and
// forgets those of members no longer in it. A join then costs every
// member no read of its own: the joiner's registration is read while the
// coalescer's quiet period runs, and the rebalance takes it (latest).
// A read that fails is left for the rebalance to make.
func (w *watches) readRegistrations(s zkwatch.Snapshot) {
	if s.Err != nil || !s.Exists {
		return
	}
	w.knownMu.Lock()
	defer w.knownMu.Unlock()
	in := make(map[string]bool, len(s.Children))
	var ids []string
	for _, id := range s.Children {
		in[id] = true
		if _, ok := w.memberRegs[id]; !ok && !w.regsReading[id] {
			ids = append(ids, id)
		}
	}
	for id := range w.memberRegs {
		if !in[id] {
			delete(w.memberRegs, id)
		}
	}
	if len(ids) == 0 {
		return
	}
	if w.regsReading == nil {
		w.regsReading, w.memberRegs = map[string]bool{}, map[string]zkwatch.GetResult{}
	}
	paths := make([]string, len(ids))
	for i, id := range ids {
		w.regsReading[id] = true
		paths[i] = idPath(w.group, id)
	}
	w.regsPending++
	w.wg.Go(func() { // ends with w.ctx (GetMany's)
		res := w.sess.GetMany(w.ctx, paths)
		w.knownMu.Lock()
		defer w.knownMu.Unlock()
		for i, id := range ids {
			delete(w.regsReading, id)
			if res[i].Err == nil {
				w.memberRegs[id] = res[i]
			}
		}
		w.regsPending--
		if w.knownCh != nil {
			close(w.knownCh)
			w.knownCh = nil
		}
	})
}

// notified is the changed func of a watch whose snapshots remember keeps:
// it marks field pending and triggers a rebalance (reason).
func (w *watches) notified(field knownField, reason string) func() {
	return func() {
		w.knownMu.Lock()
		pending, _ := field()
		*pending = true
		w.knownMu.Unlock()
		w.trigger(reason)
	}
}

// remember is the seen func of a watch: it keeps every snapshot's
// children in field (nil when the snapshot failed or the znode is missing:
// the rebalance then reads for itself) and ends field's pending state. It
// runs on the watch's goroutine, in order with notified.
func (w *watches) remember(field knownField) func(zkwatch.Snapshot) {
	return func(s zkwatch.Snapshot) {
		var l []string
		if s.Err == nil && s.Exists {
			l = slices.Clone(s.Children)
			if l == nil {
				l = []string{}
			}
		}
		w.knownMu.Lock()
		pending, list := field()
		*list, *pending = l, false
		if w.knownCh != nil {
			close(w.knownCh)
			w.knownCh = nil
		}
		w.knownMu.Unlock()
	}
}

// addTopics watches topics (those not watched yet), and in the pykafka
// layout the partitions' leaders read. A rebalance calls it as soon as it
// knows the topics, before it claims: a claim may wait on an owner change
// that only these watches report. read has what the rebalance read: a
// watch whose first snapshot shows the same does not trigger another
// rebalance (it would supersede the one that armed it, a member's first
// one in particular).
func (w *watches) addTopics(topics []string, read topicsRead) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, t := range topics {
		tw, ok := w.topics[t]
		if !ok {
			tctx, tcancel := context.WithCancel(w.ctx)
			tw = &topicWatch{ctx: tctx, cancel: tcancel, parts: map[int32]bool{}}
			w.topics[t] = tw
			zxid, known := read.zxids[t]
			w.run(w.sess.WatchData(tctx, zkwatch.TopicPath(t)), nil,
				w.keepRegistration(tw, firstUnless(func(s zkwatch.Snapshot) bool {
					return known && s.Exists && s.Stat != nil && s.Stat.Mzxid == zxid
				})), w.fire("partitions of "+t+" changed"))
			if w.ownerDirs {
				w.watchOwnerDir(tctx, t)
			}
		}
		if !w.policy.leaderWatches {
			continue
		}
		for p, leader := range read.leaders[t] {
			if tw.parts[p] {
				continue
			}
			tw.parts[p] = true
			w.run(w.sess.WatchData(tw.ctx, zkwatch.PartitionStatePath(t, p)), nil,
				leaderChanged(leader), w.fire(fmt.Sprintf("leader of %s/%d changed", t, p)))
		}
	}
}

// keepRegistration wraps a topic watch's filter: every snapshot is kept
// as the topic's registration (see registrations) before filter judges it,
// so that a rebalance it triggers reads at least that state.
func (w *watches) keepRegistration(tw *topicWatch, filter func(zkwatch.Snapshot) bool) func(zkwatch.Snapshot) bool {
	return func(s zkwatch.Snapshot) bool {
		var reg *topicReg
		if s.Err == nil && s.Exists && s.Stat != nil {
			reg = &topicReg{data: s.Data, stat: s.Stat}
		}
		w.mu.Lock()
		tw.reg = reg
		w.mu.Unlock()
		return filter(s)
	}
}

// registrations are the watched topics' registrations as their watches
// read them last. A rebalance takes them instead of reading them again:
// at 64 members x 4096 partitions every member's every rebalance read the
// same 44 KB registration, 64 at once, 100-150 ms each. A change after a
// kept snapshot fires the watch again (and triggers another rebalance).
func (w *watches) registrations() map[string]topicReg {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make(map[string]topicReg, len(w.topics))
	for t, tw := range w.topics {
		if tw.reg != nil {
			out[t] = *tw.reg
		}
	}
	return out
}

// syncTopics watches exactly topics: it adds the missing ones and stops
// the watches of the others.
func (w *watches) syncTopics(topics []string) {
	w.addTopics(topics, topicsRead{})
	w.mu.Lock()
	defer w.mu.Unlock()
	want := map[string]bool{}
	for _, t := range topics {
		want[t] = true
	}
	for t, tw := range w.topics {
		if !want[t] {
			tw.cancel()
			delete(w.topics, t)
		}
	}
}

// fire returns a rebalance trigger with reason.
func (w *watches) fire(reason string) func() {
	return func() { w.trigger(reason) }
}

// run calls fire on every snapshot of ch, on a goroutine of its own. With
// armed set, the first snapshot only marks armed done (as does the end of
// ch before any snapshot). With a filter, a snapshot fires only if the
// filter says so; the filter sees every snapshot (the first one too), on
// that goroutine only.
func (w *watches) run(ch <-chan zkwatch.Snapshot, armed *sync.WaitGroup, filter func(zkwatch.Snapshot) bool, fire func()) {
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		first := true
		for snap := range ch {
			pass := filter == nil || filter(snap)
			if first {
				first = false
				if armed != nil {
					armed.Done()
					continue
				}
			}
			if !pass {
				continue
			}
			fire()
		}
		if first && armed != nil {
			armed.Done()
		}
	}()
}

// topicsRead is what a rebalance read of its topics, for the watches it
// arms: the modification zxid of each topic's registration and, in the
// pykafka layout, each partition's leader (-1 unknown).
type topicsRead struct {
	zxids   map[string]int64
	leaders map[string]map[int32]int32
}

// firstUnless is a watch filter: the first snapshot triggers unless same
// says the rebalance read that state already; later ones always trigger.
func firstUnless(same func(zkwatch.Snapshot) bool) func(zkwatch.Snapshot) bool {
	first := true
	return func(s zkwatch.Snapshot) bool {
		if first {
			first = false
			return !same(s)
		}
		return true
	}
}

// leaderChanged is a partition-state watch filter: it triggers when the
// leader differs from the last one seen (initially the one the rebalance
// read); ISR-only changes do not trigger. A missing or malformed state
// counts as leader -1, as in readView.
func leaderChanged(read int32) func(zkwatch.Snapshot) bool {
	last := read
	return func(s zkwatch.Snapshot) bool {
		leader := int32(-1)
		if s.Exists {
			if st, err := zkwatch.ParsePartitionState(s.Path, s.Data); err == nil {
				leader = st.Leader
			}
		}
		changed := leader != last
		last = leader
		return changed
	}
}
