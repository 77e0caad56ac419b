package balanced_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/zkbalance/zkbalance/balanced"
)

// sample is one gathered series: its labels and value.
type sample struct {
	labels map[string]string
	v      float64
}

func (s sample) String() string {
	keys := slices.Sorted(maps.Keys(s.labels))
	parts := make([]string, len(keys))
	for i, k := range keys {
		v := s.labels[k]
		if k == "member" {
			v = short(v)
		}
		parts[i] = k + "=" + v
	}
	return fmt.Sprintf("{%s} %v", strings.Join(parts, ","), s.v)
}

// series gathers the samples of the metric name from reg (counter, gauge or
// untyped values).
func series(t testing.TB, reg prometheus.Gatherer, name string) []sample {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var out []sample
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			s := sample{labels: map[string]string{}, v: m.GetCounter().GetValue() + m.GetGauge().GetValue() + m.GetUntyped().GetValue()}
			for _, lp := range m.GetLabel() {
				s.labels[lp.GetName()] = lp.GetValue()
			}
			out = append(out, s)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}

// stuckHandler takes each partition's first message and then never marks
// or returns until its partition is taken away.
func stuckHandler(mu *sync.Mutex, got map[balanced.TopicPartition]int64) balanced.Handler {
	return balanced.HandlerFunc(func(ctx context.Context, claim *balanced.Claim) error {
		m, err := claim.Next(ctx)
		if err != nil {
			return nil
		}
		mu.Lock()
		got[balanced.TopicPartition{Topic: m.Topic, Partition: m.Partition}] = m.Offset
		mu.Unlock()
		<-ctx.Done()
		return nil
	})
}

// zkCommitted reads group's committed offsets of the partitions in ends
// from ZooKeeper.
func zkCommitted(t testing.TB, group string, ends map[balanced.TopicPartition]int64) map[balanced.TopicPartition]int64 {
	t.Helper()
	ctx := testCtx(t, 10*time.Second)
	out := map[balanced.TopicPartition]int64{}
	for tp := range ends {
		if data, _, err := zkConn(t).Get(ctx, offsetPath(group, tp.Topic, tp.Partition)); err == nil {
			off, err := strconv.ParseInt(string(data), 10, 64)
			if err != nil {
				t.Fatalf("offset of %s: %q: %v", tp, data, err)
			}
			out[tp] = off
		}
	}
	return out
}

// groupLag is the group's true lag: the log end of each partition minus its
// committed offset (0 when none: InitialOffset oldest).
func groupLag(ends, committed map[balanced.TopicPartition]int64) int64 {
	var lag int64
	for tp, end := range ends {
		lag += end - committed[tp]
	}
	return lag
}

// lagMismatch compares the lag series in reg with the members' ownership
// and the group's true lag; "" when they agree.
func lagMismatch(t testing.TB, reg prometheus.Gatherer, committed func() map[balanced.TopicPartition]int64, ends map[balanced.TopicPartition]int64, members ...*member) string {
	t.Helper()
	owner := map[string]string{} // "topic/partition" -> member id
	for _, m := range members {
		for _, tp := range m.c.Owned() {
			owner[fmt.Sprintf("%s/%d", tp.Topic, tp.Partition)] = m.c.MemberID()
		}
	}
	var sum float64
	seen := map[string]bool{}
	var problems []string
	for _, s := range series(t, reg, "zkbalance_lag_messages") {
		key := s.labels["topic"] + "/" + s.labels["partition"]
		if owner[key] != s.labels["member"] {
			problems = append(problems, fmt.Sprintf("series %v: partition owned by %q", s, short(owner[key])))
		}
		if seen[key] {
			problems = append(problems, fmt.Sprintf("partition %s exported twice", key))
		}
		seen[key] = true
		sum += s.v
	}
	for key := range owner {
		if !seen[key] {
			problems = append(problems, fmt.Sprintf("owned partition %s has no lag series", key))
		}
	}
	if want := groupLag(ends, committed()); sum != float64(want) {
		problems = append(problems, fmt.Sprintf("summed lag %v, group's true lag %d", sum, want))
	}
	slices.Sort(problems)
	return strings.Join(problems, "; ")
}

// waitLag waits until lagMismatch finds nothing (committed offsets in
// ZooKeeper unless committed is set).
func waitLag(t testing.TB, d time.Duration, reg prometheus.Gatherer, group string, committed func() map[balanced.TopicPartition]int64, ends map[balanced.TopicPartition]int64, members ...*member) {
	t.Helper()
	deadline := time.Now().Add(d)
	if committed == nil {
		committed = func() map[balanced.TopicPartition]int64 { return zkCommitted(t, group, ends) }
	}
	var last string
	for time.Now().Before(deadline) {
		if last = lagMismatch(t, reg, committed, ends, members...); last == "" {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("lag series never added up within %s: %s\nseries: %v", d, last, series(t, reg, "zkbalance_lag_messages"))
}

// TestMetricsLagAddsUp: members sharing a registry, whose handlers are stuck
// on their first message, export the group's lag exactly once per
// partition — before any mark, growing while they stay stuck, across a
// rebalance, and with nothing left of a member after it stopped.
func TestMetricsLagAddsUp(t *testing.T) {
	cl := shared.Get(t)
	ctx := testCtx(t, 3*time.Minute)
	const parts = 6
	topic, group := uniq(t, "lag"), uniq(t, "g-lag")
	if err := cl.CreateTopic(ctx, topic, parts, 1); err != nil {
		t.Fatal(err)
	}
	ends := produceSpread(t, topic, parts, 10*parts)
	reg := prometheus.NewRegistry()
	var mu sync.Mutex
	got := map[balanced.TopicPartition]int64{}
	cfg := balanced.Config{Group: group, Topics: []string{topic}, Registerer: reg, LagInterval: 200 * time.Millisecond,
		CommitInterval: 100 * time.Millisecond}
	a := startMember(t, "A", cfg, stuckHandler(&mu, got))
	b := startMember(t, "B", cfg, stuckHandler(&mu, got))
	topics := map[string]int32{topic: parts}
	waitConverged(t, 30*time.Second, "scala-range", group, topics, a, b)
	waitLag(t, 20*time.Second, reg, group, nil, ends, a, b)
	mu.Lock()
	stuck := len(got)
	mu.Unlock()
	t.Logf("A and B: %d handlers stuck on their first message; lag %v", stuck, series(t, reg, "zkbalance_lag_messages"))

	// Still stuck: more messages raise the lag (the fetch high-water mark
	// no longer moves; the periodic ListOffsets does).
	for tp, n := range produceSpread(t, topic, parts, 5*parts) {
		ends[tp] += n
	}
	waitLag(t, 10*time.Second, reg, group, nil, ends, a, b)

	// A third member: the partitions that move are exported by their new
	// owner only.
	c := startMember(t, "C", cfg, stuckHandler(&mu, got))
	waitConverged(t, 30*time.Second, "scala-range", group, topics, a, b, c)
	waitLag(t, 20*time.Second, reg, group, nil, ends, a, b, c)
	for _, m := range []*member{a, b, c} {
		if n := len(m.c.Owned()); n != parts/3 {
			t.Errorf("member %s owns %d partitions, want %d", m.name, n, parts/3)
		}
	}
	if lc := series(t, reg, "zkbalance_last_commit_timestamp_seconds"); len(lc) != 0 {
		t.Errorf("nothing was marked, yet last commit times: %v", lc)
	}
	for _, s := range series(t, reg, "zkbalance_zookeeper_connected") {
		if s.v != 1 {
			t.Errorf("zookeeper_connected: %v", s)
		}
	}

	// C leaves: its series are gone, the others take its partitions over.
	cid := c.c.MemberID()
	c.Stop(t)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == "member" && lp.GetValue() == cid {
					t.Errorf("after C stopped: %s still has a series of C: %v", mf.GetName(), m.GetLabel())
				}
			}
		}
	}
	waitConverged(t, 30*time.Second, "scala-range", group, topics, a, b)
	waitLag(t, 20*time.Second, reg, group, nil, ends, a, b)
	if n := len(series(t, reg, "zkbalance_zookeeper_connected")); n != 2 {
		t.Errorf("%d zookeeper_connected series for A and B", n)
	}
}

// TestMetricsHandlerErrors: a handler call that fails while its partition
// is owned is counted once per failure, per topic, from 0.
func TestMetricsHandlerErrors(t *testing.T) {
	cl := shared.Get(t)
	ctx := testCtx(t, time.Minute)
	topic, group := uniq(t, "herr"), uniq(t, "g-herr")
	if err := cl.CreateTopic(ctx, topic, 1, 1); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	var mu sync.Mutex
	fails, done := 2, make(chan struct{})
	h := balanced.EachMessage(func(ctx context.Context, m *balanced.Message) error {
		mu.Lock()
		defer mu.Unlock()
		if fails > 0 {
			fails--
			return fmt.Errorf("failure %d", 2-fails)
		}
		close(done)
		return nil
	})
	a := startMember(t, "A", balanced.Config{Group: group, Topics: []string{topic}, Registerer: reg,
		HandlerRestartDelay: 50 * time.Millisecond, CommitInterval: 100 * time.Millisecond}, h)
	if s := series(t, reg, "zkbalance_handler_errors_total"); len(s) != 1 || s[0].v != 0 || s[0].labels["topic"] != topic {
		t.Errorf("before any message: handler_errors_total = %v, want one series at 0 for %s", s, topic)
	}
	waitConverged(t, 30*time.Second, "scala-range", group, map[string]int32{topic: 1}, a)
	produceSpread(t, topic, 1, 1)
	select {
	case <-done:
	case <-ctx.Done():
		t.Fatal("the message was never processed")
	}
	if s := series(t, reg, "zkbalance_handler_errors_total"); len(s) != 1 || s[0].v != 2 {
		t.Errorf("handler_errors_total = %v, want 2", s)
	}
}

// TestMetricsLagAddsUpKafkaMode: the same in kafka mode, where the Kafka
// coordinator's generations revoke and assign (offsets in Kafka).
func TestMetricsLagAddsUpKafkaMode(t *testing.T) {
	cl := shared.Get(t)
	ctx := testCtx(t, 3*time.Minute)
	const parts = 6
	topic, group := uniq(t, "klag"), uniq(t, "g-klag")
	if err := cl.CreateTopic(ctx, topic, parts, 1); err != nil {
		t.Fatal(err)
	}
	ends := produceSpread(t, topic, parts, 10*parts)
	reg := prometheus.NewRegistry()
	var mu sync.Mutex
	got := map[balanced.TopicPartition]int64{}
	cfg := kafkaModeConfig(group, topic, "range")
	cfg.Registerer, cfg.LagInterval = reg, 200*time.Millisecond
	committed := func() map[balanced.TopicPartition]int64 { return kafkaCommitted(t, group, topic, parts) }
	a := startMember(t, "A", cfg, stuckHandler(&mu, got))
	b := startMember(t, "B", cfg, stuckHandler(&mu, got))
	waitKafkaSplit(t, time.Minute, group, topic, parts, nil, a, b)
	waitLag(t, 20*time.Second, reg, group, committed, ends, a, b)
	for tp, n := range produceSpread(t, topic, parts, 5*parts) {
		ends[tp] += n
	}
	waitLag(t, 10*time.Second, reg, group, committed, ends, a, b)
	c := startMember(t, "C", cfg, stuckHandler(&mu, got))
	waitKafkaSplit(t, time.Minute, group, topic, parts, nil, a, b, c)
	waitLag(t, 20*time.Second, reg, group, committed, ends, a, b, c)
	cid := c.c.MemberID()
	c.Stop(t)
	if s := series(t, reg, "zkbalance_owned_partitions"); len(s) != 2 {
		t.Errorf("after C stopped: owned_partitions series %v, want A's and B's", s)
	}
	for _, s := range series(t, reg, "zkbalance_lag_messages") {
		if s.labels["member"] == cid {
			t.Errorf("after C stopped: %v", s)
		}
	}
	waitKafkaSplit(t, time.Minute, group, topic, parts, nil, a, b)
	waitLag(t, 20*time.Second, reg, group, committed, ends, a, b)
}
