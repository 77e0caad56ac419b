package scalapeer_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zkbalance/zkbalance/internal/cluster"
	"github.com/zkbalance/zkbalance/internal/scalapeer"
	"github.com/zkbalance/zkbalance/internal/zk"
	"github.com/zkbalance/zkbalance/internal/zkformat"
	"github.com/zkbalance/zkbalance/partition"
)

var shared = cluster.NewShared(cluster.Config{Brokers: 1})

func TestMain(m *testing.M) { shared.Main(m) }

func testCtx(t testing.TB, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// build resolves the jars and compiles the member before a test's timings
// start, and logs how long that took.
func build(t *testing.T) {
	t.Helper()
	begin := time.Now()
	p, err := scalapeer.Build(testCtx(t, 5*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Build: %s (classes %s, jars %s)", time.Since(begin).Round(time.Millisecond), p.Classes, p.Libs)
}

func topic(t *testing.T, cl *cluster.Cluster, parts int32) string {
	t.Helper()
	name := fmt.Sprintf("scalapeer-%s-%d", t.Name(), time.Now().UnixNano())
	if err := cl.CreateTopic(testCtx(t, time.Minute), name, parts, 1); err != nil {
		t.Fatal(err)
	}
	return name
}

func produce(t *testing.T, cl *cluster.Cluster, topic string, parts int32, n int) {
	t.Helper()
	msgs := make([]cluster.Message, n)
	for i := range msgs {
		msgs[i] = cluster.Message{Partition: int32(i) % parts, Value: fmt.Appendf(nil, "m%d", i)}
	}
	if _, err := cl.Produce(testCtx(t, time.Minute), topic, msgs); err != nil {
		t.Fatal(err)
	}
}

func start(t *testing.T, args scalapeer.Args) *scalapeer.Member {
	t.Helper()
	begin := time.Now()
	m, err := scalapeer.Start(testCtx(t, time.Minute), args)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: started (registered, first rebalance done) in %s", m, time.Since(begin).Round(time.Millisecond))
	t.Cleanup(func() {
		if !m.Exited() {
			if err := m.Stop(); err != nil {
				t.Error(err)
			}
		}
	})
	return m
}

// expected is the assignor's answer for the group's registrations as the
// real consumers wrote them, as partition -> thread id.
func expected(t *testing.T, conn *zk.Conn, assignor, group string, topics map[string]int32) map[scalapeer.TopicPartition]string {
	t.Helper()
	ids, _, err := conn.Children("/consumers/" + group + "/ids")
	if err != nil {
		t.Fatal(err)
	}
	in := partition.Input{Topics: partition.Topics{}}
	for tp, n := range topics {
		in.Topics[tp] = map[int32]int32{}
		for p := range n {
			in.Topics[tp][p] = -1
		}
	}
	for _, id := range ids {
		data, _, err := conn.Get("/consumers/" + group + "/ids/" + id)
		if err != nil {
			t.Fatal(err)
		}
		reg, err := zkformat.ParseRegistration(data)
		if err != nil || reg.Pykafka || reg.Pattern != zkformat.PatternStatic {
			t.Fatalf("registration %s = %s: %+v, %v", id, data, reg, err)
		}
		in.Members = append(in.Members, partition.Member{ID: id, Subscription: reg.Subscription})
	}
	a, err := partition.Lookup(assignor)
	if err != nil {
		t.Fatal(err)
	}
	asg, err := a.Assign(in)
	if err != nil {
		t.Fatal(err)
	}
	out := map[scalapeer.TopicPartition]string{}
	for tp, owner := range asg.Owners() {
		out[scalapeer.TopicPartition{Topic: tp.Topic, Partition: tp.Partition}] = owner
	}
	return out
}

// owners reads /consumers/<group>/owners/<topic>/<p> of every partition.
func owners(t *testing.T, conn *zk.Conn, group string, topics map[string]int32) map[scalapeer.TopicPartition]string {
	t.Helper()
	out := map[scalapeer.TopicPartition]string{}
	for tp, n := range topics {
		for p := range n {
			data, _, err := conn.Get(fmt.Sprintf("/consumers/%s/owners/%s/%d", group, tp, p))
			if err == nil {
				out[scalapeer.TopicPartition{Topic: tp, Partition: p}] = string(data)
			}
		}
	}
	return out
}

// settled waits until every member's last assignment equals want and the
// owner znodes hold it, and each member processes its share.
func settled(t *testing.T, ctx context.Context, conn *zk.Conn, ms []*scalapeer.Member, want func() map[scalapeer.TopicPartition]string, topics map[string]int32) {
	t.Helper()
	var last string
	for ctx.Err() == nil {
		w := want()
		ok := maps.Equal(owners(t, conn, ms[0].Args().Group, topics), w)
		for _, m := range ms {
			ok = ok && maps.Equal(m.Assignment(), w)
			var share []scalapeer.TopicPartition
			for tp, th := range w {
				if id, _, _ := partition.SplitThreadID(th); id == m.ID() {
					share = append(share, tp)
				}
			}
			slices.SortFunc(share, func(a, b scalapeer.TopicPartition) int { return strings.Compare(a.String(), b.String()) })
			got := m.Owned()
			slices.SortFunc(got, func(a, b scalapeer.TopicPartition) int { return strings.Compare(a.String(), b.String()) })
			ok = ok && slices.Equal(got, share)
		}
		if ok {
			return
		}
		last = fmt.Sprintf("want %v; owner znodes %v", w, owners(t, conn, ms[0].Args().Group, topics))
		for _, m := range ms {
			last += fmt.Sprintf("; %s: assignment %v owned %v", m.ID(), m.Assignment(), m.Owned())
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("not settled: %s", last)
}

// checkAll checks that the members together processed every offset below
// end and that no two members processed one partition at overlapping times.
func checkAll(t *testing.T, ms []*scalapeer.Member, end map[string]map[int32]int64) {
	t.Helper()
	type iv struct {
		who        string
		start, end time.Time
	}
	seen := map[scalapeer.TopicPartition]map[int64]bool{}
	ivs := map[scalapeer.TopicPartition][]iv{}
	dups := 0
	for _, m := range ms {
		for _, e := range m.Messages() {
			tp := scalapeer.TopicPartition{Topic: e.Topic, Partition: e.Partition}
			if seen[tp] == nil {
				seen[tp] = map[int64]bool{}
			}
			if seen[tp][e.Offset] {
				dups++
			}
			seen[tp][e.Offset] = true
			ivs[tp] = append(ivs[tp], iv{m.ID(), e.Start, e.End})
		}
	}
	lost := 0
	for tn, ps := range end {
		for p, e := range ps {
			for o := range e {
				if !seen[scalapeer.TopicPartition{Topic: tn, Partition: p}][o] {
					lost++
				}
			}
		}
	}
	overlaps := 0
	for _, xs := range ivs {
		slices.SortFunc(xs, func(a, b iv) int { return a.start.Compare(b.start) })
		for i := 1; i < len(xs); i++ {
			if xs[i].who != xs[i-1].who && xs[i].start.Before(xs[i-1].end) {
				overlaps++
			}
		}
	}
	t.Logf("lost %d, duplicates %d, overlaps %d", lost, dups, overlaps)
	if lost > 0 || overlaps > 0 {
		t.Fatalf("lost %d, overlaps %d", lost, overlaps)
	}
}

// TestRangeGroup runs real Scala consumers (Kafka 1.1.1's
// ZookeeperConsumerConnector) against Kafka 3.9 and ZooKeeper 3.8: one with
// two streams, then a second with one; each rebalance's assignment is
// scala-range's for the registrations they wrote; the owner znodes hold it;
// after the first leaves the second owns everything; together they process
// every message, never at once on one partition, and the offsets in
// ZooKeeper end at the log end.
func TestRangeGroup(t *testing.T) {
	cl := shared.Get(t)
	build(t)
	ctx := testCtx(t, 3*time.Minute)
	const parts = 6
	tn, group := topic(t, cl, parts), "g-scalapeer-range"
	topics := map[string]int32{tn: parts}
	produce(t, cl, tn, parts, 300)
	conn, err := cl.DialZooKeeper(ctx, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	want := func() map[scalapeer.TopicPartition]string {
		return expected(t, conn, partition.ScalaRange, group, topics)
	}

	args := scalapeer.Args{ZooKeeper: cl.KafkaZooKeeperConnect(), Group: group, Topics: []string{tn}, Streams: 2, Delay: 2 * time.Millisecond}
	a := start(t, args)
	if !strings.HasPrefix(a.ID(), group+"_") {
		t.Errorf("consumer id %q: want %s_<host>-<millis>-<uuid8>", a.ID(), group)
	}
	settled(t, ctx, conn, []*scalapeer.Member{a}, want, topics)
	if err := a.WaitMessages(ctx, 50); err != nil {
		t.Fatal(err)
	}
	checkRegistration(t, conn, group, a, tn, 2)
	args.Streams, args.ID = 1, "b"
	begin := time.Now()
	b := start(t, args)
	if b.ID() != group+"_b" {
		t.Errorf("consumer id %q, want %s_b", b.ID(), group)
	}
	settled(t, ctx, conn, []*scalapeer.Member{a, b}, want, topics)
	t.Logf("A (2 streams) + B: %v, settled %s after B's start", a.Assignment(), time.Since(begin).Round(time.Millisecond))
	begin = time.Now()
	if err := a.Stop(); err != nil {
		t.Fatal(err)
	}
	settled(t, ctx, conn, []*scalapeer.Member{b}, want, topics)
	t.Logf("A stopped: B owns %v, settled %s after the stop began", b.Owned(), time.Since(begin).Round(time.Millisecond))
	produce(t, cl, tn, parts, 60)
	if err := b.WaitMessages(ctx, 1); err != nil {
		t.Fatal(err)
	}
	end, err := cl.LogEndOffsets(ctx, tn)
	if err != nil {
		t.Fatal(err)
	}
	for p, e := range end {
		for ctx.Err() == nil {
			data, _, err := conn.Get(fmt.Sprintf("/consumers/%s/offsets/%s/%d", group, tn, p))
			if err == nil && string(data) == strconv.FormatInt(e, 10) {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	if err := b.Stop(); err != nil {
		t.Fatal(err)
	}
	checkAll(t, []*scalapeer.Member{a, b}, map[string]map[int32]int64{tn: end})
	if ids, _, err := conn.Children("/consumers/" + group + "/ids"); err != nil || len(ids) != 0 {
		t.Errorf("registrations after both stopped: %v (%v)", ids, err)
	}
	t.Logf("dropped after rebalances: A %d, B %d", len(a.Dropped()), len(b.Dropped()))
}

// checkRegistration checks the real consumer's znodes as zkbalance reads
// them: its registration (Scala JSON: version 1, the topic with its stream
// count, pattern static, timestamp a string of milliseconds), the value of
// an owner znode (its thread id) and of an offset znode (decimal text).
func checkRegistration(t *testing.T, conn *zk.Conn, group string, m *scalapeer.Member, topic string, streams int) {
	t.Helper()
	data, _, err := conn.Get("/consumers/" + group + "/ids/" + m.ID())
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	if err := json.Unmarshal(data, &raw); err != nil {
		t.Fatalf("registration %s: %v", data, err)
	}
	reg, err := zkformat.ParseRegistration(data)
	if err != nil || reg.Pykafka || reg.Pattern != zkformat.PatternStatic || !maps.Equal(reg.Subscription, map[string]int{topic: streams}) {
		t.Fatalf("registration %s: %+v, %v", data, reg, err)
	}
	ts, err := zkformat.ParseTimestamp(reg.Timestamp)
	if _, isString := raw["timestamp"].(string); err != nil || !isString || time.Since(ts) > time.Minute || time.Since(ts) < 0 {
		t.Errorf("registration timestamp %s: %v, %v", reg.Timestamp, ts, err)
	}
	if len(raw) != 4 || raw["version"] != 1.0 {
		t.Errorf("registration %s: want exactly version 1, subscription, pattern, timestamp", data)
	}
	own := m.Owned()[0]
	holder, _, err := conn.Get(fmt.Sprintf("/consumers/%s/owners/%s/%d", group, own.Topic, own.Partition))
	if id, n, ok := partition.SplitThreadID(string(holder)); err != nil || !ok || id != m.ID() || n < 0 || n >= streams {
		t.Errorf("owner znode of %s: %q (%v), want %s-<0..%d>", own, holder, err, m.ID(), streams-1)
	}
	committed := m.Committed()
	var off []byte
	for tp := range committed {
		if off, _, err = conn.Get(fmt.Sprintf("/consumers/%s/offsets/%s/%d", group, tp.Topic, tp.Partition)); err != nil {
			t.Fatal(err)
		}
		if _, err := zkformat.ParseOffset("offset", off); err != nil {
			t.Errorf("offset znode of %s: %q: %v", tp, off, err)
		}
		break
	}
	t.Logf("the real consumer's registration %s, owner znode %s = %s, an offset znode %q", data, own, holder, off)
}

// TestRoundRobinGroup: two real Scala consumers with the round-robin
// assignor on two topics (two streams each); their assignment is
// scala-roundrobin-1.0's (partitions ordered by the hash of "topic-p").
func TestRoundRobinGroup(t *testing.T) {
	cl := shared.Get(t)
	build(t)
	ctx := testCtx(t, 3*time.Minute)
	t1, t2, group := topic(t, cl, 5), topic(t, cl, 3), "g-scalapeer-rr"
	topics := map[string]int32{t1: 5, t2: 3}
	conn, err := cl.DialZooKeeper(ctx, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	args := scalapeer.Args{ZooKeeper: cl.KafkaZooKeeperConnect(), Group: group, Topics: []string{t1, t2},
		Strategy: scalapeer.RoundRobin, Streams: 2, ID: "rr-a"}
	a := start(t, args)
	args.ID = "rr-b"
	b := start(t, args)
	settled(t, ctx, conn, []*scalapeer.Member{a, b}, func() map[scalapeer.TopicPartition]string {
		return expected(t, conn, partition.ScalaRoundRobin10, group, topics)
	}, topics)
	t.Logf("round robin: %v", a.Assignment())
}
