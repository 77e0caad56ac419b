package balanced_test

import (
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/zkbalance/zkbalance/balanced"
)

// TestMetricsFollowOwnership checks the Prometheus series a member registers
// against what it owns in the real group.
func TestMetricsFollowOwnership(t *testing.T) {
	cl := shared.Get(t)
	ctx := testCtx(t, 2*time.Minute)
	topic, group := uniq(t, "metrics"), uniq(t, "g-metrics")
	if err := cl.CreateTopic(ctx, topic, 4, 1); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	var log plog
	a := startMember(t, "A", balanced.Config{Group: group, Topics: []string{topic}, Registerer: reg, CommitInterval: 100 * time.Millisecond},
		recorder(&log, "A", 0))
	b := startMember(t, "B", balanced.Config{Group: group, Topics: []string{topic}}, recorder(&log, "B", 0))
	waitConverged(t, 30*time.Second, "scala-range", group, map[string]int32{topic: 4}, a, b)
	produceSpread(t, topic, 4, 40)
	waitProcessed(t, &log, 40, 30*time.Second)
	time.Sleep(500 * time.Millisecond) // a commit interval or two
	got := map[string]float64{}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			v := m.GetCounter().GetValue() + m.GetGauge().GetValue() + float64(m.GetHistogram().GetSampleCount())
			got[mf.GetName()] += v
		}
	}
	if got["zkbalance_owned_partitions"] != float64(len(a.c.Owned())) {
		t.Errorf("owned_partitions = %v, member owns %v", got["zkbalance_owned_partitions"], a.c.Owned())
	}
	if got["zkbalance_rebalances_total"] < 1 || got["zkbalance_rebalance_duration_seconds"] < 1 {
		t.Errorf("no rebalance counted: %v", got)
	}
	if got["zkbalance_commits_total"] < 1 {
		t.Errorf("no commit counted: %v", got)
	}
	// A's share of the 40 (10 a partition), counted although the group had
	// no offsets before.
	if want := float64(10 * len(a.c.Owned())); got["zkbalance_messages_processed_total"] != want {
		t.Errorf("messages_processed_total = %v, want %v", got["zkbalance_messages_processed_total"], want)
	}
	if got["zkbalance_commit_errors_total"] != 0 {
		t.Errorf("commit errors: %v", got["zkbalance_commit_errors_total"])
	}
	if got["zkbalance_commit_duration_seconds"] < got["zkbalance_commits_total"] {
		t.Errorf("%v commit latencies observed for %v commits", got["zkbalance_commit_duration_seconds"], got["zkbalance_commits_total"])
	}
	// Every owned partition committed: its last commit time is recent.
	commits := series(t, reg, "zkbalance_last_commit_timestamp_seconds")
	if len(commits) != len(a.c.Owned()) {
		t.Errorf("last_commit_timestamp_seconds for %d partitions, A owns %v", len(commits), a.c.Owned())
	}
	for _, s := range commits {
		if age := time.Since(time.Unix(int64(s.v), 0)); age < -time.Second || age > time.Minute {
			t.Errorf("last commit %v ago: %v", age, s)
		}
	}
	if c := series(t, reg, "zkbalance_zookeeper_connected"); len(c) != 1 || c[0].v != 1 {
		t.Errorf("zookeeper_connected = %v, want one series at 1", c)
	}
	// Another member may share the registry; A's member id may not be
	// registered twice.
	if _, err := balanced.New(balanced.Config{Group: group, Topics: []string{topic}, ZooKeeper: cl.ZooKeeperAddr(), Registerer: reg, MemberID: a.c.MemberID()}); !errors.Is(err, balanced.ErrInvalidConfig) {
		t.Errorf("registering member %s's metrics twice: err = %v, want ErrInvalidConfig", a.c.MemberID(), err)
	}
	other, err := balanced.New(balanced.Config{Group: group, Topics: []string{topic}, ZooKeeper: cl.ZooKeeperAddr(), Registerer: reg})
	if err != nil {
		t.Fatalf("a second member sharing the registry: %v", err)
	}
	if n := len(series(t, reg, "zkbalance_rebalances_total")); n != 2 {
		t.Errorf("%d rebalances_total series with two members registered, want 2", n)
	}
	other.Close() // never ran: Close unregisters its series
	if n := len(series(t, reg, "zkbalance_rebalances_total")); n != 1 {
		t.Errorf("%d rebalances_total series after the second member's Close, want 1", n)
	}
}

// TestSoloMemberRebalancesOnce: a member alone in its group rebalances
// exactly once: the watches it arms during its first rebalance (the topic's
// registration) report the state that rebalance read, which triggers
// nothing (they used to supersede it).
func TestSoloMemberRebalancesOnce(t *testing.T) {
	cl := shared.Get(t)
	ctx := testCtx(t, time.Minute)
	topic, group := uniq(t, "solo"), uniq(t, "g-solo")
	if err := cl.CreateTopic(ctx, topic, 4, 1); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	var log plog
	a := startMember(t, "A", balanced.Config{Group: group, Topics: []string{topic}, Registerer: reg}, recorder(&log, "A", 0))
	waitConverged(t, 30*time.Second, "scala-range", group, map[string]int32{topic: 4}, a)
	time.Sleep(time.Second) // well beyond RebalanceDelay
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			got[mf.GetName()] += m.GetCounter().GetValue()
		}
	}
	if got["zkbalance_rebalances_total"] != 1 || got["zkbalance_rebalances_superseded_total"] != 0 {
		t.Errorf("%v rebalances (want 1), %v superseded (want 0)", got["zkbalance_rebalances_total"], got["zkbalance_rebalances_superseded_total"])
	}
}
