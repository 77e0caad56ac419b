package javapeer_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/zkbalance/zkbalance/internal/cluster"
	"github.com/zkbalance/zkbalance/internal/javapeer"
)

var shared = cluster.NewShared(cluster.Config{Brokers: 1})

func TestMain(m *testing.M) { shared.Main(m) }

func testCtx(t testing.TB, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// build compiles the member before a test's timings start and logs how long
// that took (the first call in a process; a compile only on a cold cache).
func build(t *testing.T) {
	t.Helper()
	begin := time.Now()
	p, err := javapeer.Build(testCtx(t, 3*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Build: %s (classes %s)", time.Since(begin).Round(time.Millisecond), p.Classes)
}

// topic creates a topic with parts partitions named after the test.
func topic(t *testing.T, cl *cluster.Cluster, parts int32) string {
	t.Helper()
	name := fmt.Sprintf("javapeer-%s-%d", t.Name(), time.Now().UnixNano())
	if err := cl.CreateTopic(testCtx(t, time.Minute), name, parts, 1); err != nil {
		t.Fatal(err)
	}
	return name
}

// produce writes n messages round-robin over parts partitions.
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

// start starts a range member (taking delay per record) and stops it (or kills it, when Stop fails) at the
// end of the test.
func start(t *testing.T, cl *cluster.Cluster, group, topic, id string, delay time.Duration) *javapeer.Member {
	t.Helper()
	begin := time.Now()
	m, err := javapeer.Start(testCtx(t, time.Minute), javapeer.Args{
		Bootstrap: cl.BrokerAddrs(), Group: group, Topics: []string{topic}, Strategy: javapeer.Range, ID: id, Delay: delay,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: started in %s", m, time.Since(begin).Round(time.Millisecond))
	t.Cleanup(func() {
		if err := m.Stop(); err != nil {
			t.Error(err)
		}
	})
	return m
}

// waitAssigned waits for m's first assignment and logs the time since begin.
func waitAssigned(t *testing.T, m *javapeer.Member, begin time.Time) {
	t.Helper()
	if err := m.WaitAssigned(testCtx(t, 30*time.Second)); err != nil {
		t.Fatalf("%s: %v\n%s", m, err, m.Stderr(30))
	}
	t.Logf("%s: first assignment %s after start", m, time.Since(begin).Round(time.Millisecond))
}

// waitOwned waits until m owns n partitions.
func waitOwned(t *testing.T, m *javapeer.Member, n int) {
	t.Helper()
	err := m.WaitOwned(testCtx(t, 30*time.Second), func(o []javapeer.TopicPartition) bool { return len(o) == n })
	if err != nil {
		t.Fatalf("%s owns %v, want %d partitions: %v\n%s", m, m.Owned(), n, err, m.Stderr(30))
	}
}

// waitTotal waits until the members processed n messages together.
func waitTotal(t *testing.T, n int, ms ...*javapeer.Member) {
	t.Helper()
	ctx := testCtx(t, 30*time.Second)
	for {
		total, counts := 0, ""
		for _, m := range ms {
			total += len(m.Messages())
			counts += fmt.Sprintf(" %s:%d", m.ID(), len(m.Messages()))
		}
		if total >= n {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%d messages processed (%s), want %d", total, counts, n)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// checkCommitted checks that group's committed offsets of topic are its
// log end offsets, polling briefly: the last commit follows the last msg line.
func checkCommitted(t *testing.T, cl *cluster.Cluster, group, topic string, parts int32) {
	t.Helper()
	ctx := testCtx(t, 20*time.Second)
	end, err := cl.LogEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	var got map[int32]int64
	for {
		if got, err = cl.CommittedOffsets(ctx, group, topic, parts); err == nil && maps.Equal(got, end) {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("committed offsets %v (%v), want the log end %v", got, err, end)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// processed counts each (partition, offset) the members processed.
func processed(ms ...*javapeer.Member) map[javapeer.TopicPartition]map[int64]int {
	out := map[javapeer.TopicPartition]map[int64]int{}
	for _, m := range ms {
		for _, e := range m.Messages() {
			tp := javapeer.TopicPartition{Topic: e.Topic, Partition: e.Partition}
			if out[tp] == nil {
				out[tp] = map[int64]int{}
			}
			out[tp][e.Offset]++
		}
	}
	return out
}

// checkOnce checks that every one of n messages (round-robin over parts
// partitions from offset 0) was processed exactly once.
func checkOnce(t *testing.T, topic string, parts int32, n int, ms ...*javapeer.Member) {
	t.Helper()
	got := processed(ms...)
	for i := range n {
		tp := javapeer.TopicPartition{Topic: topic, Partition: int32(i) % parts}
		if c := got[tp][int64(i)/int64(parts)]; c != 1 {
			t.Errorf("%s offset %d processed %d times, want once", tp, int64(i)/int64(parts), c)
		}
	}
}

func checkClean(t *testing.T, ms ...*javapeer.Member) {
	t.Helper()
	for _, m := range ms {
		if errs := m.Errors(); len(errs) > 0 {
			t.Errorf("%s: errors %v", m, errs)
		}
		if lost := m.Lost(); len(lost) > 0 {
			t.Errorf("%s: lost %v", m, lost)
		}
	}
}

// TestConsumeAll: one member processes every message, commits them all and
// leaves cleanly.
func TestConsumeAll(t *testing.T) {
	cl := shared.Get(t)
	build(t)
	const parts, n = 4, 400
	tp := topic(t, cl, parts)
	produce(t, cl, tp, parts, n)
	group := "javapeer-" + t.Name()
	begin := time.Now()
	m := start(t, cl, group, tp, "solo", 0)
	waitAssigned(t, m, begin)
	if err := m.WaitMessages(testCtx(t, 30*time.Second), n); err != nil {
		t.Fatalf("%v: %d messages\n%s", err, len(m.Messages()), m.Stderr(30))
	}
	t.Logf("%d messages %s after start", n, time.Since(begin).Round(time.Millisecond))
	checkCommitted(t, cl, group, tp, parts)
	checkOnce(t, tp, parts, n, m)
	if got := len(m.Owned()); got != parts {
		t.Errorf("owned %v, want all %d partitions", m.Owned(), parts)
	}
	for _, e := range m.Messages() {
		if e.End.Before(e.Start) || e.Start.Before(begin.Add(-time.Second)) {
			t.Errorf("msg %q: start %s end %s, started at %s", e.Line, e.Start, e.End, begin)
			break
		}
	}
	stopped := time.Now()
	if err := m.Stop(); err != nil {
		t.Fatal(err)
	}
	t.Logf("Stop took %s", time.Since(stopped).Round(time.Millisecond))
	if o := m.Owned(); len(o) != 0 {
		t.Errorf("owned %v after the close, want none (revoked on close)", o)
	}
	checkClean(t, m)
}

// TestRangeShare: two range members split the partitions without overlap,
// the second taking over from the first's commits, and together process
// every message exactly once; the second takes its Delay per record.
func TestRangeShare(t *testing.T) {
	cl := shared.Get(t)
	build(t)
	const parts, n = 4, 200
	tp := topic(t, cl, parts)
	group := "javapeer-" + t.Name()
	produce(t, cl, tp, parts, n) // consumed by a alone, then shared
	a := start(t, cl, group, tp, "a", 0)
	if err := a.WaitMessages(testCtx(t, 30*time.Second), n); err != nil {
		t.Fatalf("%v\n%s", err, a.Stderr(30))
	}
	begin := time.Now()
	const delay = 2 * time.Millisecond
	b := start(t, cl, group, tp, "b", delay)
	waitAssigned(t, b, begin)
	waitOwned(t, a, parts/2)
	waitOwned(t, b, parts/2)
	ownA, ownB := a.Owned(), b.Owned()
	if all := slices.Concat(ownA, ownB); len(all) != parts || slices.ContainsFunc(ownA, func(x javapeer.TopicPartition) bool { return slices.Contains(ownB, x) }) {
		t.Fatalf("a owns %v, b owns %v: want the %d partitions split without overlap", ownA, ownB, parts)
	}
	produce(t, cl, tp, parts, n) // shared
	waitTotal(t, 2*n, a, b)
	checkCommitted(t, cl, group, tp, parts)
	checkOnce(t, tp, parts, 2*n, a, b)
	for _, e := range b.Messages() {
		if !slices.Contains(ownB, javapeer.TopicPartition{Topic: e.Topic, Partition: e.Partition}) {
			t.Errorf("b processed %q outside its partitions %v", e.Line, ownB)
		}
		if d := e.End.Sub(e.Start); d < delay {
			t.Errorf("b processed %q in %s, want at least its Delay %s", e.Line, d, delay)
		}
	}
	checkClean(t, a, b)
}

// TestStopLeaves: a stopped member leaves the group at once (well before
// the 45 s session timeout), so the other gets every partition.
func TestStopLeaves(t *testing.T) {
	cl := shared.Get(t)
	build(t)
	const parts, n = 4, 100
	tp := topic(t, cl, parts)
	group := "javapeer-" + t.Name()
	a := start(t, cl, group, tp, "a", 0)
	waitAssigned(t, a, time.Now())
	b := start(t, cl, group, tp, "b", 0)
	waitOwned(t, a, parts/2)
	waitOwned(t, b, parts/2)
	produce(t, cl, tp, parts, n)
	waitTotal(t, n, a, b)
	stopped := time.Now()
	if err := b.Stop(); err != nil {
		t.Fatal(err)
	}
	t.Logf("b.Stop took %s", time.Since(stopped).Round(time.Millisecond))
	if o := b.Owned(); len(o) != 0 {
		t.Errorf("b owns %v after Stop, want none", o)
	}
	waitOwned(t, a, parts)
	took := time.Since(stopped)
	t.Logf("a owns all %d partitions %s after b's Stop began", parts, took.Round(time.Millisecond))
	if took > 15*time.Second {
		t.Errorf("a took %s to get b's partitions: b did not leave the group on close", took)
	}
	produce(t, cl, tp, parts, n)
	waitTotal(t, 2*n, a, b)
	checkCommitted(t, cl, group, tp, parts)
	checkOnce(t, tp, parts, 2*n, a, b)
	checkClean(t, a, b)
}
