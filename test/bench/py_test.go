package bench_test

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/zkbalance/zkbalance/internal/cluster"
	"github.com/zkbalance/zkbalance/internal/pykafka"
)

// pykafkaSetup describes the members' settings, for the report.
const pykafkaSetup = "pykafka defaults (pykafka-range, rebalance_max_retries 5, rebalance_backoff_ms 2000, ZooKeeper session 6 s), consumer_timeout_ms 1000, broker_version 1.0.0"

func pyArgs(cl *cluster.Cluster, topic, group, name string) pykafka.MemberArgs {
	return pykafka.MemberArgs{
		ZooKeeper: cl.KafkaZooKeeperConnect(), Brokers: cl.BrokerAddrs(),
		Topic: topic, Group: group, Name: name,
	}
}

// pyGroup is a group of pykafka member processes. Converged means: every
// member's last reported "owned" set (post_rebalance_callback, called
// after its internal SimpleConsumer was set up and started) is complete and
// disjoint with the others'. pykafka reports a set only when it changed,
// so a member whose share did not change keeps its earlier report.
type pyGroup struct {
	cl      *cluster.Cluster
	python  string
	topic   string
	parts   int
	group   string
	members []*pykafka.Member
	joiner  *pykafka.Member
	seq     int
	// zk, when set, replaces the host:port part of the cluster's ZooKeeper
	// connect string (a proxy in front of it); the chroot stays.
	zk string
}

// name numbers a member; not safe for concurrent use.
func (g *pyGroup) name(prefix string) string {
	g.seq++
	return fmt.Sprintf("%s-%d", prefix, g.seq)
}

func (g *pyGroup) start(ctx context.Context, name string) (*pykafka.Member, error) {
	args := pyArgs(g.cl, g.topic, g.group, name)
	if g.zk != "" {
		args.ZooKeeper = g.zk + strings.TrimPrefix(args.ZooKeeper, g.cl.ZooKeeperAddr())
	}
	return pykafka.Start(ctx, g.python, args)
}

// form starts n member processes at once and waits until their sets are
// complete and have been quiet for a second.
func (g *pyGroup) form(ctx context.Context, n int) error {
	g.group = uniq("g-pykafka")
	g.members, g.joiner = nil, nil
	ms := make([]*pykafka.Member, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		name := g.name("m")
		wg.Go(func() { ms[i], errs[i] = g.start(ctx, name) })
	}
	wg.Wait()
	for i, m := range ms {
		if m != nil {
			g.members = append(g.members, m)
		} else {
			return errs[i]
		}
	}
	return g.settle(ctx, g.members)
}

// join starts a member; the join starts when it printed its paths line,
// just before BalancedConsumer.start() (so the interpreter's start and
// imports and the KafkaClient's bootstrap are not counted).
func (g *pyGroup) join(ctx context.Context) (fetching, owned time.Duration, err error) {
	j, err := g.start(ctx, g.name("joiner"))
	if err != nil {
		return 0, 0, failf("the joiner did not start", "%v", err)
	}
	g.joiner = j
	var start time.Time
	for _, e := range j.Events() {
		if e.Kind == pykafka.EventPaths {
			start = e.At
		}
	}
	all := append(slices.Clone(g.members), j)
	at, err := g.waitComplete(ctx, all, start)
	if err != nil {
		return 0, 0, err
	}
	// Not measured: let a second rebalance (a later watch event) pass
	// before the leave.
	if err := g.settle(ctx, all); err != nil {
		return 0, 0, err
	}
	return at.Sub(start), 0, nil
}

func (g *pyGroup) leave(ctx context.Context) error {
	if g.joiner == nil {
		return nil
	}
	j := g.joiner
	g.joiner = nil
	if err := j.Stop(); err != nil {
		return failf("the joiner did not stop cleanly", "%v", err)
	}
	return g.settle(ctx, g.members)
}

// close kills every member: the group is not used again, so their
// sessions may simply time out.
func (g *pyGroup) close(context.Context) error {
	ms := g.members
	if g.joiner != nil {
		ms = append(slices.Clone(ms), g.joiner)
	}
	g.members, g.joiner = nil, nil
	var wg sync.WaitGroup
	for _, m := range ms {
		wg.Go(func() { _ = m.Kill() })
	}
	wg.Wait()
	return nil
}

// pyOwned is one "owned" report.
type pyOwned struct {
	member int
	at     time.Time
	parts  []int32
}

// completeAt replays the members' owned reports in time order from since
// (each member's last report before since is its state then) and returns
// the time of the first report after which the sets were complete and
// disjoint; ok false with a description of the current state otherwise.
func completeAt(ms []*pykafka.Member, parts int, since time.Time) (at time.Time, ok bool, state string) {
	cur := make([][]int32, len(ms))
	known := make([]bool, len(ms))
	var later []pyOwned
	for i, m := range ms {
		for _, e := range m.Events() {
			if e.Kind != pykafka.EventOwned {
				continue
			}
			if e.At.After(since) {
				later = append(later, pyOwned{i, e.At, e.Partitions})
			} else {
				cur[i], known[i] = e.Partitions, true
			}
		}
	}
	sort.SliceStable(later, func(a, b int) bool { return later[a].at.Before(later[b].at) })
	check := func() bool {
		seen := map[int32]bool{}
		for i := range ms {
			if !known[i] {
				return false
			}
			for _, p := range cur[i] {
				if seen[p] {
					return false
				}
				seen[p] = true
			}
		}
		return len(seen) == parts
	}
	if check() {
		return since, true, ""
	}
	for _, o := range later {
		cur[o.member], known[o.member] = o.parts, true
		if check() {
			return o.at, true, ""
		}
	}
	var b strings.Builder
	total := 0
	for i := range ms {
		if !known[i] {
			fmt.Fprintf(&b, " m%d:?", i)
			continue
		}
		total += len(cur[i])
		fmt.Fprintf(&b, " m%d:%d", i, len(cur[i]))
	}
	return time.Time{}, false, fmt.Sprintf("%d partition reports for %d partitions:%s", total, parts, b.String())
}

// waitComplete polls (20 ms) until the members' reports after since are
// complete and disjoint; a member that exits fails the wait.
func (g *pyGroup) waitComplete(ctx context.Context, ms []*pykafka.Member, since time.Time) (time.Time, error) {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if err := exited(ms); err != nil {
			return time.Time{}, err
		}
		at, ok, state := completeAt(ms, g.parts, since)
		if ok {
			return at, nil
		}
		select {
		case <-ctx.Done():
			return time.Time{}, failf("not converged within the bound", "pykafka group of %d: %s; errors: %s: %v", len(ms), state, errorNames(ms), context.Cause(ctx))
		case <-tick.C:
		}
	}
}

// settle waits until the members' current sets are complete and no member
// reported for a second.
func (g *pyGroup) settle(ctx context.Context, ms []*pykafka.Member) error {
	const quiet = time.Second
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if err := exited(ms); err != nil {
			return err
		}
		var last time.Time
		for _, m := range ms {
			for _, e := range m.Events() {
				if e.Kind == pykafka.EventOwned && e.At.After(last) {
					last = e.At
				}
			}
		}
		_, ok, state := completeAt(ms, g.parts, time.Now())
		if ok && time.Since(last) >= quiet {
			return nil
		}
		select {
		case <-ctx.Done():
			return failf("not converged within the bound", "pykafka group of %d did not settle: %s; errors: %s: %v", len(ms), state, errorNames(ms), context.Cause(ctx))
		case <-tick.C:
		}
	}
}

// exited fails when a member process has exited, naming the exceptions it
// reported (e.g. PartitionOwnedError, then ConsumerStoppedException).
func exited(ms []*pykafka.Member) error {
	for _, m := range ms {
		if m.Exited() {
			return failf("a member exited ("+memberErrors(m)+")", "%s exited (%v): %s\n%s", m, m.ExitErr(), memberErrors(m), m.Stderr(15))
		}
	}
	return nil
}

func memberErrors(m *pykafka.Member) string {
	var names []string
	for _, e := range m.Errors() {
		if e.Name != "ReferenceError" && !slices.Contains(names, e.Name) {
			names = append(names, e.Name)
		}
	}
	if len(names) == 0 {
		return "no exception reported"
	}
	return strings.Join(names, ", ")
}

func errorNames(ms []*pykafka.Member) string {
	count := map[string]int{}
	for _, m := range ms {
		for _, e := range m.Errors() {
			count[e.Name]++
		}
	}
	if len(count) == 0 {
		return "none"
	}
	return fmt.Sprint(count)
}
