package balanced_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zkbalance/zkbalance/balanced"
	"github.com/zkbalance/zkbalance/internal/cluster"
	"github.com/zkbalance/zkbalance/partition"
	"github.com/zkbalance/zkbalance/scenario"
	"github.com/zkbalance/zkbalance/zkwatch"
)

// plog is the processing log shared by all members of a scenario.
type plog = scenario.Log

// member is one running balanced.Consumer.
type member struct {
	name     string
	layout   balanced.Layout // cfg.Layout as given ("": Scala)
	c        *balanced.Consumer
	stop     context.CancelFunc
	done     chan error
	stopOnce sync.Once
}

// startMember runs a consumer; t.Cleanup stops it.
func startMember(t testing.TB, name string, cfg balanced.Config, h balanced.Handler) *member {
	t.Helper()
	return startMemberWith(t, name, cfg, h, nil)
}

// startMemberWith is startMember with prep applied to the consumer before
// it runs (nil: nothing).
func startMemberWith(t testing.TB, name string, cfg balanced.Config, h balanced.Handler, prep func(*balanced.Consumer)) *member {
	t.Helper()
	cl := shared.Get(t)
	if cfg.ZooKeeper == "" {
		cfg.ZooKeeper = cl.ZooKeeperAddr()
	}
	if cfg.Logger == nil {
		cfg.Logger = testLogger(t, levelFromEnv()).With("m", name)
	}
	if cfg.SessionTimeout == 0 {
		cfg.SessionTimeout = 6 * time.Second
	}
	c, err := balanced.New(cfg)
	if err != nil {
		t.Fatalf("New(%s): %v", name, err)
	}
	if prep != nil {
		prep(c)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &member{name: name, layout: cfg.Layout, c: c, stop: cancel, done: make(chan error, 1)}
	go func() { m.done <- c.Run(ctx, h) }()
	t.Cleanup(func() { m.Stop(t) })
	return m
}

// Stop cancels the member and waits for Run to return (idempotent).
func (m *member) Stop(t testing.TB) {
	t.Helper()
	m.stopOnce.Do(func() {
		m.stop()
		select {
		case err := <-m.done:
			if err != nil {
				t.Errorf("member %s: Run: %v", m.name, err)
			}
		case <-time.After(60 * time.Second):
			t.Errorf("member %s: Run did not return within 60s of cancel", m.name)
		}
	})
}

// recorder is a per-message handler that logs to l, taking delay per message.
func recorder(l *plog, name string, delay time.Duration) balanced.Handler {
	return scenario.Recorder(l, name, delay)
}

// ownership reads the owner znodes of a Scala-layout group: tp -> owner value.
func ownership(t testing.TB, group string, topics ...string) map[balanced.TopicPartition]string {
	t.Helper()
	ctx := testCtx(t, 20*time.Second)
	conn := zkConn(t)
	read := func(dir string) map[string]string {
		out := map[string]string{}
		names, _, err := conn.Children(ctx, dir)
		if err != nil {
			return out
		}
		for _, n := range names {
			if data, _, err := conn.Get(ctx, dir+"/"+n); err == nil {
				out[n] = string(data)
			}
		}
		return out
	}
	out := map[balanced.TopicPartition]string{}
	for _, topic := range topics {
		dir := "/consumers/" + group + "/owners/" + topic
		py2 := read(dir)
		// In the pykafka layout every owner znode has a mirror under
		// owners/b'<t>' (pykafka on Python 3), with the same name and value.
		py3 := read("/consumers/" + group + "/owners/b'" + topic + "'")
		for n, v := range py2 {
			if strings.Contains(n, "-") && py3[n] != v {
				v = fmt.Sprintf("%s (mirror b'%s'/%s holds %q)", v, topic, n, py3[n])
			}
			delete(py3, n)
			var p int32
			if i := strings.LastIndexByte(n, '-'); i >= 0 {
				n = n[i+1:]
			}
			fmt.Sscan(n, &p)
			out[balanced.TopicPartition{Topic: topic, Partition: p}] = v
		}
		for n, v := range py3 {
			out[balanced.TopicPartition{Topic: topic, Partition: -1}] = fmt.Sprintf("b'%s'/%s held by %s without a twin", topic, n, v)
		}
	}
	return out
}

var (
	zkConnOnce sync.Once
	zkShared   *zkwatch.Conn
)

// zkConn is a shared observer connection to the test ZooKeeper.
func zkConn(t testing.TB) *zkwatch.Conn {
	cl := shared.Get(t)
	zkConnOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		var err error
		zkShared, err = zkwatch.Dial(ctx, zkwatch.Config{Servers: cl.ZooKeeperAddr(), Logger: testLogger(t, 8)})
		if err != nil {
			panic(err)
		}
	})
	return zkShared
}

// peer is a group member as the checks see it: an in-process consumer or a
// member process (whose fetching the test cannot see).
type peer interface {
	ID() string
	// Owned lists the partitions being fetched, or nil, false when unknown.
	Owned() ([]balanced.TopicPartition, bool)
}

func (m *member) ID() string { return m.c.MemberID() }

func (m *member) Owned() ([]balanced.TopicPartition, bool) { return m.c.Owned(), true }

// expected computes the assignor's answer for the peers, in owner znode
// values: thread ids "<member>-0" in the Scala layout, member ids in pykafka's.
func expected(t testing.TB, assignor, group string, peers []peer, topics map[string]int32) map[balanced.TopicPartition]string {
	t.Helper()
	a, err := partition.Lookup(assignor)
	if err != nil {
		t.Fatal(err)
	}
	pykafka := strings.HasPrefix(assignor, "pykafka-")
	in := partition.Input{Topics: partition.Topics{}}
	for topic, n := range topics {
		in.Topics[topic] = map[int32]int32{}
		for p := range n {
			in.Topics[topic][p] = -1
			if pykafka {
				st, err := zkConn(t).ReadPartitionState(testCtx(t, 10*time.Second), topic, p)
				if err != nil {
					t.Fatal(err)
				}
				in.Topics[topic][p] = st.Leader
			}
		}
	}
	for _, m := range peers {
		sub := map[string]int{}
		for topic := range topics {
			sub[topic] = 1
		}
		in.Members = append(in.Members, partition.Member{ID: m.ID(), Subscription: sub})
	}
	if assignor == partition.Sticky {
		// Sticky's answer depends on the current owners: converged means the
		// current ownership is the assignor's fixed point.
		in.Previous = map[balanced.TopicPartition]string{}
		for tp, o := range ownership(t, group, slices.Collect(maps.Keys(topics))...) {
			if m, _, ok := partition.SplitThreadID(o); ok {
				in.Previous[tp] = m
			}
		}
	}
	asg, err := a.Assign(in)
	if err != nil {
		t.Fatal(err)
	}
	out := asg.Owners()
	if assignor == partition.Sticky {
		for tp, o := range out {
			out[tp] = partition.ThreadID(o, 0)
		}
	}
	return out
}

// ownerValue is what a peer's owner znodes hold under the assignor.
func ownerValue(assignor string, p peer) string {
	if strings.HasPrefix(assignor, "pykafka-") {
		return p.ID()
	}
	return partition.ThreadID(p.ID(), 0)
}

// waitConverged waits until the owner znodes equal the assignor's answer
// for the peers and each in-process peer fetches exactly its share.
func waitConverged(t testing.TB, d time.Duration, assignor, group string, topics map[string]int32, peers ...peer) time.Duration {
	t.Helper()
	start := time.Now()
	var last string
	for time.Since(start) < d {
		want := expected(t, assignor, group, peers, topics)
		got := ownership(t, group, slices.Collect(maps.Keys(topics))...)
		last = diffOwners(want, got)
		if last == "" {
			ok := true
			for _, m := range peers {
				owned, known := m.Owned()
				if !known {
					continue
				}
				var mine []balanced.TopicPartition
				for tp, o := range want {
					if o == ownerValue(assignor, m) {
						mine = append(mine, tp)
					}
				}
				slices.SortFunc(mine, partition.CompareTopicPartitions)
				if !slices.Equal(owned, mine) {
					ok = false
					last = fmt.Sprintf("member %s fetches %v, owns %v", short(m.ID()), owned, mine)
				}
			}
			if ok {
				return time.Since(start)
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("not converged within %s: %s", d, last)
	return 0
}

func diffOwners(want, got map[balanced.TopicPartition]string) string {
	var diffs []string
	for tp, w := range want {
		if got[tp] != w {
			diffs = append(diffs, fmt.Sprintf("%s: want %s, have %q", tp, short(w), short(got[tp])))
		}
	}
	for tp, g := range got {
		if _, ok := want[tp]; !ok {
			diffs = append(diffs, fmt.Sprintf("%s: unexpected owner %s", tp, short(g)))
		}
	}
	slices.Sort(diffs)
	if len(diffs) > 4 {
		diffs = append(diffs[:4], fmt.Sprintf("... %d more", len(diffs)-4))
	}
	return strings.Join(diffs, "; ")
}

func short(id string) string {
	if len(id) > 24 {
		return "…" + id[len(id)-14:]
	}
	return id
}

// produceSpread writes n messages round-robin over the topic's partitions and
// returns how many went to each (offsets 0..k-1 on a fresh topic).
func produceSpread(t testing.TB, topic string, partitions int32, n int) map[balanced.TopicPartition]int64 {
	t.Helper()
	cl := shared.Get(t)
	msgs := make([]cluster.Message, n)
	out := map[balanced.TopicPartition]int64{}
	for i := range msgs {
		p := int32(i) % partitions
		msgs[i] = cluster.Message{Partition: p, Value: []byte(fmt.Sprintf("m-%d", i))}
		out[balanced.TopicPartition{Topic: topic, Partition: p}]++
	}
	if _, err := cl.Produce(testCtx(t, time.Minute), topic, msgs); err != nil {
		t.Fatal(err)
	}
	return out
}

// waitProcessed waits until the log holds n distinct messages.
func waitProcessed(t testing.TB, l *plog, n int, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if l.Processed() >= n {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("processed %d of %d within %s", l.Processed(), n, d)
}

func uniq(t testing.TB, prefix string) string {
	name := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.' {
			return r
		}
		return '_'
	}, t.Name())
	return fmt.Sprintf("%s-%s-%d", prefix, name, time.Now().UnixNano()%1e6)
}

func offsetPath(group, topic string, p int32) string {
	return fmt.Sprintf("/consumers/%s/offsets/%s/%d", group, topic, p)
}

// stream produces batch messages spread over the topic's partitions every
// 100ms (cluster.StartStream) until the returned stop is called; stop
// returns what was produced.
func stream(t testing.TB, topic string, partitions int32, batch int) (stop func() map[balanced.TopicPartition]int64) {
	s := shared.Get(t).StartStream(topic, partitions, batch, 100*time.Millisecond)
	stop = func() map[balanced.TopicPartition]int64 {
		ends, err := s.Stop()
		if err != nil {
			t.Errorf("stream to %s: %v", topic, err)
		}
		out := map[balanced.TopicPartition]int64{}
		for p, o := range ends {
			out[balanced.TopicPartition{Topic: topic, Partition: p}] = o
		}
		return out
	}
	t.Cleanup(func() { stop() })
	return stop
}

func total(produced map[balanced.TopicPartition]int64) int {
	n := 0
	for _, v := range produced {
		n += int(v)
	}
	return n
}
