package balanced

import (
	"errors"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestComputeLag(t *testing.T) {
	const u = noOffset
	for _, tc := range []struct {
		name string
		in   lagInputs
		want int64
		ok   bool
	}{
		{"nothing known", lagInputs{fetchedEnd: 0, listedEnd: u, marked: -1, first: -1, start: u}, 0, false},
		{"end unknown", lagInputs{fetchedEnd: 0, listedEnd: u, marked: 5, first: 0, start: 0}, 0, false},
		{"position unknown", lagInputs{fetchedEnd: 0, listedEnd: 10, marked: -1, first: -1, start: u}, 0, false},
		{"owned, nothing fetched: from the start offset", lagInputs{fetchedEnd: 0, listedEnd: 10, marked: -1, first: -1, start: 3}, 7, true},
		{"empty partition", lagInputs{fetchedEnd: 0, listedEnd: 0, marked: -1, first: -1, start: 0}, 0, true},
		{"stuck on the first message", lagInputs{fetchedEnd: 10, listedEnd: 25, marked: -1, first: 0, start: 0}, 25, true},
		{"first fetched beats a stale start", lagInputs{fetchedEnd: 10, listedEnd: u, marked: -1, first: 4, start: 0}, 6, true},
		{"mark beats first", lagInputs{fetchedEnd: 10, listedEnd: u, marked: 8, first: 0, start: 0}, 2, true},
		{"newest end of the two sources", lagInputs{fetchedEnd: 30, listedEnd: 20, marked: 10, first: 0, start: 0}, 20, true},
		{"listed end newer", lagInputs{fetchedEnd: 12, listedEnd: 40, marked: 10, first: 0, start: 0}, 30, true},
		{"mark ahead of a stale end", lagInputs{fetchedEnd: 10, listedEnd: 9, marked: 12, first: 0, start: 0}, 0, true},
		{"caught up", lagInputs{fetchedEnd: 10, listedEnd: 10, marked: 10, first: 0, start: 0}, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := computeLag(tc.in)
			if got != tc.want || ok != tc.ok {
				t.Errorf("computeLag(%+v) = %d, %v; want %d, %v", tc.in, got, ok, tc.want, tc.ok)
			}
		})
	}
}

func zkUnused() (bool, bool) { return false, false }

// TestMetricsShareRegistry: members of one group register side by side,
// the same member id twice is refused, and unregister frees the id.
func TestMetricsShareRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	a, err := newMetrics("g", "a", []string{"t1", "t2"}, reg, zkUnused)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := newMetrics("g", "b", []string{"t1"}, reg, zkUnused); err != nil {
		t.Fatalf("second member of the group: %v", err)
	}
	if _, err := newMetrics("other", "a", nil, reg, zkUnused); err != nil {
		t.Fatalf("same member id in another group: %v", err)
	}
	_, err = newMetrics("g", "a", nil, reg, zkUnused)
	if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "already registered") {
		t.Fatalf("same member twice: err = %v, want ErrInvalidConfig ... already registered", err)
	}
	// The refused registration left nothing behind: a's series are intact.
	if n := testutil.CollectAndCount(reg, "zkbalance_rebalances_total"); n != 3 {
		t.Errorf("%d rebalances_total series, want 3", n)
	}
	a.unregister()
	a.unregister() // idempotent
	if n := testutil.CollectAndCount(reg, "zkbalance_rebalances_total"); n != 2 {
		t.Errorf("after unregister: %d rebalances_total series, want 2", n)
	}
	if _, err := newMetrics("g", "a", nil, reg, zkUnused); err != nil {
		t.Errorf("re-registering an unregistered member: %v", err)
	}
}

// TestMetricsStartAtZero: the counters exist at 0 before anything happens,
// per configured topic for the per-topic ones.
func TestMetricsStartAtZero(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := newMetrics("g", "a", []string{"t1", "t2"}, reg, zkUnused)
	if err != nil {
		t.Fatal(err)
	}
	want := `
# HELP zkbalance_handler_errors_total Handler calls that returned an error while their partition was owned (each is restarted after HandlerRestartDelay).
# TYPE zkbalance_handler_errors_total counter
zkbalance_handler_errors_total{group="g",member="a",topic="t1"} 0
zkbalance_handler_errors_total{group="g",member="a",topic="t2"} 0
# HELP zkbalance_messages_processed_total Messages marked processed by handlers (counted when committed).
# TYPE zkbalance_messages_processed_total counter
zkbalance_messages_processed_total{group="g",member="a",topic="t1"} 0
zkbalance_messages_processed_total{group="g",member="a",topic="t2"} 0
# HELP zkbalance_commits_total Offset commits written.
# TYPE zkbalance_commits_total counter
zkbalance_commits_total{group="g",member="a"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"zkbalance_handler_errors_total", "zkbalance_messages_processed_total", "zkbalance_commits_total"); err != nil {
		t.Error(err)
	}
	// A pattern topic appears at 0 once one of its partitions is owned.
	m.initTopic("t3")
	if v := testutil.ToFloat64(m.processed.WithLabelValues("t3")); v != 0 {
		t.Errorf("t3 processed = %v", v)
	}
	if n := testutil.CollectAndCount(reg, "zkbalance_handler_errors_total"); n != 3 {
		t.Errorf("%d handler_errors_total series, want 3", n)
	}
}

func TestMetricsZooKeeperConnected(t *testing.T) {
	for _, tc := range []struct {
		name          string
		connected, ok bool
		want          string // exposition, "" for absent
	}{
		{"no ZooKeeper", false, false, ""},
		{"disconnected", false, true, "0"},
		{"connected", true, true, "1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			if _, err := newMetrics("g", "a", nil, reg, func() (bool, bool) { return tc.connected, tc.ok }); err != nil {
				t.Fatal(err)
			}
			exp := ""
			if tc.want != "" {
				exp = `
# HELP zkbalance_zookeeper_connected 1 while the member is connected to its ZooKeeper session, else 0; absent when it does not use ZooKeeper (kafka mode without ZooKeeper, or detached).
# TYPE zkbalance_zookeeper_connected gauge
zkbalance_zookeeper_connected{group="g",member="a"} ` + tc.want + "\n"
			}
			if err := testutil.GatherAndCompare(reg, strings.NewReader(exp), "zkbalance_zookeeper_connected"); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestMetricsForgetPartition: a partition's series go together.
func TestMetricsForgetPartition(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := newMetrics("g", "a", nil, reg, zkUnused)
	if err != nil {
		t.Fatal(err)
	}
	tp0, tp1 := TopicPartition{Topic: "t", Partition: 0}, TopicPartition{Topic: "t", Partition: 1}
	for _, tp := range []TopicPartition{tp0, tp1} {
		m.lag.WithLabelValues(partitionLabels(tp)...).Set(3)
		m.lastCommit.WithLabelValues(partitionLabels(tp)...).Set(1e9)
	}
	m.forgetPartition(tp0)
	m.forgetPartition(tp0) // idempotent
	if n := testutil.CollectAndCount(reg, "zkbalance_lag_messages", "zkbalance_last_commit_timestamp_seconds"); n != 2 {
		t.Errorf("%d series left, want 2 (partition 1's)", n)
	}
	if v := testutil.ToFloat64(m.lag.WithLabelValues("t", "1")); v != 3 {
		t.Errorf("partition 1 lag = %v", v)
	}
}
