package bench_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/zkbalance/zkbalance/balanced"
	"github.com/zkbalance/zkbalance/internal/balancedhook"
	"github.com/zkbalance/zkbalance/internal/cluster"
	"github.com/zkbalance/zkbalance/partition"
	"github.com/zkbalance/zkbalance/zkwatch"
)

// zkMember is one in-process balanced.Consumer.
type zkMember struct {
	name   string
	c      *balanced.Consumer
	cancel context.CancelFunc
	done   chan error // Run's result
	once   sync.Once
	err    error
}

// startZK runs a consumer; Run's goroutine is owned by the member and ends
// when stop cancels it.
func startZK(cl *cluster.Cluster, name string, cfg balanced.Config, h balanced.Handler) (*zkMember, error) {
	if cfg.ZooKeeper == "" {
		cfg.ZooKeeper = cl.ZooKeeperAddr()
	}
	if cfg.Logger == nil {
		cfg.Logger = memberLogger(name)
	}
	c, err := balanced.New(cfg)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &zkMember{name: name, c: c, cancel: cancel, done: make(chan error, 1)}
	go func() { m.done <- c.Run(ctx, h) }()
	return m, nil
}

// stop cancels Run and waits for its clean leave, at most until ctx is done.
func (m *zkMember) stop(ctx context.Context) error {
	m.once.Do(func() {
		m.cancel()
		select {
		case err := <-m.done:
			if err != nil {
				m.err = fmt.Errorf("member %s: Run: %w", m.name, err)
			}
		case <-ctx.Done():
			m.err = fmt.Errorf("member %s: Run did not return after cancel: %w", m.name, context.Cause(ctx))
		}
	})
	return m.err
}

// stopZK stops members concurrently and returns the first error.
func stopZK(ctx context.Context, ms []*zkMember) error {
	errs := make([]error, len(ms))
	var wg sync.WaitGroup
	for i, m := range ms {
		wg.Go(func() { errs[i] = m.stop(ctx) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

var nopHandler = balanced.EachMessage(func(context.Context, *balanced.Message) error { return nil })

// zkGroup is a group of in-process zkbalance members on one topic, with
// one assignor. Converged means: every member's partitions (as Owned or
// Fetching reports them) are exactly its share of the assignor's answer
// for the members, computed with the current sets as the previous owners
// (so for sticky: the current assignment is the assignor's fixed point).
type zkGroup struct {
	cl       *cluster.Cluster
	topic    string
	assignor partition.Assignor
	layout   balanced.Layout
	topics   partition.Topics
	group    string
	members  []*zkMember
	joiner   *zkMember
	seq      int
	// zk, when set, is the ZooKeeper address the members use instead of
	// the cluster's (a proxy in front of it).
	zk string
}

func newZKGroup(ctx context.Context, cl *cluster.Cluster, obs *zkwatch.Conn, assignor, topic string, parts int) (*zkGroup, error) {
	a, err := partition.Lookup(assignor)
	if err != nil {
		return nil, err
	}
	g := &zkGroup{cl: cl, topic: topic, assignor: a, layout: balanced.LayoutScala, topics: partition.Topics{topic: {}}}
	for p := range int32(parts) {
		g.topics[topic][p] = -1
	}
	if strings.HasPrefix(assignor, "pykafka-") {
		// The pykafka assignors order partitions by leader.
		g.layout = balanced.LayoutPykafka
		t, err := obs.ReadTopic(ctx, topic)
		if err != nil {
			return nil, err
		}
		leaders, err := obs.ReadLeaders(ctx, t)
		if err != nil {
			return nil, err
		}
		g.topics[topic] = leaders
	}
	return g, nil
}

func (g *zkGroup) start(name string) (*zkMember, error) {
	g.seq++
	return startZK(g.cl, fmt.Sprintf("%s-%d", name, g.seq), balanced.Config{
		Group: g.group, Topics: []string{g.topic}, Layout: g.layout, Assignor: g.assignor.Name(), ZooKeeper: g.zk,
	}, nopHandler)
}

// ownerKey is a member's owner id in the assignor's answer.
func (g *zkGroup) ownerKey(m *zkMember) string {
	if strings.HasPrefix(g.assignor.Name(), "scala-") {
		return partition.ThreadID(m.c.MemberID(), 0)
	}
	return m.c.MemberID()
}

// matches reports whether the members' sets are their shares.
func (g *zkGroup) matches(ms []*zkMember, get func(*balanced.Consumer) []balanced.TopicPartition) bool {
	sets := make([][]balanced.TopicPartition, len(ms))
	prev := map[balanced.TopicPartition]string{}
	in := partition.Input{Topics: g.topics, Previous: prev}
	for i, m := range ms {
		sets[i] = get(m.c)
		for _, tp := range sets[i] {
			if _, dup := prev[tp]; dup {
				return false
			}
			prev[tp] = m.c.MemberID()
		}
		in.Members = append(in.Members, partition.Member{ID: m.c.MemberID(), Subscription: map[string]int{g.topic: 1}})
	}
	asg, err := g.assignor.Assign(in)
	if err != nil {
		return false
	}
	for i, m := range ms {
		if !slices.Equal(sets[i], asg.Partitions(g.ownerKey(m))) {
			return false
		}
	}
	return true
}

// fetchingOf lists the partitions a member has started fetching (added to a
// broker fetch loop), sorted; balanced does not export it.
var fetchingOf = balancedhook.Fetching.(func(*balanced.Consumer) []balanced.TopicPartition)

// waitConverged polls (every 2 ms, in process) until the members own and
// then fetch their shares, and returns both times since start.
func (g *zkGroup) waitConverged(ctx context.Context, ms []*zkMember, start time.Time) (owned, fetching time.Duration, err error) {
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for {
		if owned == 0 && g.matches(ms, (*balanced.Consumer).Owned) {
			owned = time.Since(start)
		}
		if owned != 0 && g.matches(ms, fetchingOf) {
			return owned, time.Since(start), nil
		}
		select {
		case <-ctx.Done():
			return 0, 0, failf("not converged within the bound", "%d zkbalance members not converged: %v", len(ms), context.Cause(ctx))
		case err := <-g.anyDone(ms):
			return 0, 0, failf("a member's Run returned", "%v", err)
		case <-tick.C:
		}
	}
}

// anyDone is a channel that yields when a member's Run returned early (a
// fatal error); nil (never ready) otherwise.
func (g *zkGroup) anyDone(ms []*zkMember) <-chan error {
	for _, m := range ms {
		select {
		case err := <-m.done:
			m.done <- err // keep it for stop
			ch := make(chan error, 1)
			ch <- fmt.Errorf("member %s: %v", m.name, err)
			return ch
		default:
		}
	}
	return nil
}

// form starts n members in a new group and waits until they converged.
func (g *zkGroup) form(ctx context.Context, n int) error {
	g.group = uniq("g-" + g.assignor.Name())
	g.members, g.joiner = nil, nil
	for range n {
		m, err := g.start("m")
		if err != nil {
			return err
		}
		g.members = append(g.members, m)
	}
	_, _, err := g.waitConverged(ctx, g.members, time.Now())
	return err
}

func (g *zkGroup) join(ctx context.Context) (fetching, owned time.Duration, err error) {
	start := time.Now()
	j, err := g.start("joiner")
	if err != nil {
		return 0, 0, err
	}
	g.joiner = j
	owned, fetching, err = g.waitConverged(ctx, append(slices.Clone(g.members), j), start)
	return fetching, owned, err
}

func (g *zkGroup) leave(ctx context.Context) error {
	if g.joiner == nil {
		return nil
	}
	j := g.joiner
	g.joiner = nil
	if err := j.stop(ctx); err != nil {
		return err
	}
	_, _, err := g.waitConverged(ctx, g.members, time.Now())
	return err
}

func (g *zkGroup) close(ctx context.Context) error {
	ms := g.members
	if g.joiner != nil {
		ms = append(slices.Clone(ms), g.joiner)
	}
	g.members, g.joiner = nil, nil
	return stopZK(ctx, ms)
}
