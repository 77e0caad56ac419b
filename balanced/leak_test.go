package balanced_test

import (
	"bytes"
	"errors"
	"fmt"
	"runtime"
	"runtime/pprof"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/zkbalance/zkbalance/balanced"
	"github.com/zkbalance/zkbalance/partition"
	"github.com/zkbalance/zkbalance/zkwatch"
)

// TestNoLeakAfter100Rebalances keeps one member A running while a second
// member B joins and leaves until A has rebalanced at least 100 times, then
// checks that A still owns and consumes everything, that its goroutines and
// fetch waves did not grow with the rebalances, that no znode is left once
// everyone stopped and that A's Run left no goroutine behind.
func TestNoLeakAfter100Rebalances(t *testing.T) {
	cl := shared.Get(t)
	const (
		parts      = 16
		rebalances = 100
		// After a leave A may fetch through more generations than after its
		// first convergence (the one made for the partitions B gave back,
		// and one still closing): 12 goroutines each with 3 brokers,
		// measured. Anything that grows with the rebalances shows up as
		// many more.
		tolerance = 30
		maxPairs  = 80 // a join and a leave each rebalance A once or more
	)
	ctx := testCtx(t, 4*time.Minute)
	topic, group := uniq(t, "leak"), uniq(t, "g-leak")
	if err := cl.CreateTopic(ctx, topic, parts, 1); err != nil {
		t.Fatal(err)
	}
	topics := map[string]int32{topic: parts}
	conn := zkConn(t) // the shared observer lives on: start it before counting
	beforeA := settledGoroutines(5*time.Second, 500*time.Millisecond)

	reg := prometheus.NewRegistry()
	var log plog
	a := startMember(t, "A", balanced.Config{Group: group, Topics: []string{topic}, Registerer: reg, CommitInterval: 100 * time.Millisecond},
		recorder(&log, "A", 0))
	waitConverged(t, time.Minute, partition.ScalaRange, group, topics, a)
	waitFetching(t, a, parts, 30*time.Second)
	produceSpread(t, topic, parts, 2*parts)
	waitProcessed(t, &log, 2*parts, 30*time.Second)
	base := settledGoroutines(5*time.Second, 500*time.Millisecond)
	rebalancesAtBase := counterValue(t, reg, "zkbalance_rebalances_total")
	t.Logf("goroutines: %d before A, %d with A converged (%d rebalance(s) so far)", beforeA, base, int(rebalancesAtBase))

	// Sample the open fetch waves all along the churn.
	var maxGens, gensSamples int
	stopSampling := make(chan struct{})
	samplerDone := make(chan struct{})
	go func() { // owned by this test: ends with stopSampling
		defer close(samplerDone)
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stopSampling:
				return
			case <-tick.C:
				maxGens = max(maxGens, balanced.OpenFetchGens(a.c))
				gensSamples++
			}
		}
	}()
	var stopSamplingOnce sync.Once
	endSampling := func() { stopSamplingOnce.Do(func() { close(stopSampling); <-samplerDone }) }
	t.Cleanup(endSampling)

	start := time.Now()
	var (
		pairs   int
		settled []int // A's goroutines after each leave, once settled
		n       float64
	)
	for n = counterValue(t, reg, "zkbalance_rebalances_total") - rebalancesAtBase; n < rebalances; n = counterValue(t, reg, "zkbalance_rebalances_total") - rebalancesAtBase {
		if pairs == maxPairs {
			t.Fatalf("%d join/leave pairs made A rebalance only %v times", pairs, n)
		}
		pairs++
		b := startMember(t, fmt.Sprintf("B%d", pairs), balanced.Config{Group: group, Topics: []string{topic}}, recorder(&log, "B", 0))
		waitConverged(t, time.Minute, partition.ScalaRange, group, topics, a, b)
		b.Stop(t)
		waitConverged(t, time.Minute, partition.ScalaRange, group, topics, a)
		settled = append(settled, settledGoroutines(3*time.Second, 300*time.Millisecond))
	}
	churn := time.Since(start)
	endSampling()
	t.Logf("%d join/leave pairs: %v rebalances of A in %s (%s a pair)", pairs, n, churn.Round(time.Millisecond), (churn / time.Duration(pairs)).Round(time.Millisecond))
	t.Logf("A's goroutines after each leave (base %d): %v", base, settled)
	t.Logf("open fetch waves: at most %d over %d samples", maxGens, gensSamples)

	// A owns everything and keeps consuming.
	waitFetching(t, a, parts, 30*time.Second)
	produceSpread(t, topic, parts, 2*parts)
	waitProcessed(t, &log, 4*parts, 30*time.Second)
	if maxGens > 4 {
		t.Errorf("A had %d fetch waves open at once (at most 4 allowed)", maxGens)
	}
	if g := balanced.OpenFetchGens(a.c); g > 4 {
		t.Errorf("A has %d fetch waves open after the churn", g)
	}
	// Its goroutines did not grow with the rebalances: neither against the
	// first convergence nor along the churn.
	if g, ok := waitGoroutines(base+tolerance, 10*time.Second); !ok {
		t.Errorf("A runs %d goroutines after %v rebalances, %d after its first convergence (tolerance %d)\n%s",
			g, n, base, tolerance, goroutineDump())
	}
	if k := len(settled); k >= 10 {
		early, late := slices.Max(settled[:k/4]), slices.Max(settled[3*k/4:])
		if late > early+tolerance/2 {
			t.Errorf("A's goroutines grow with the rebalances: at most %d over the first quarter of the churn, %d over the last\n%s",
				early, late, goroutineDump())
		}
	}

	// A leaves: no znode is left and Run leaves no goroutine behind.
	a.Stop(t)
	for _, dir := range []string{"/consumers/" + group + "/ids", "/consumers/" + group + "/owners/" + topic} {
		children, _, err := conn.Children(ctx, dir)
		if err != nil && !errors.Is(err, zkwatch.ErrNoNode) {
			t.Fatalf("children of %s: %v", dir, err)
		}
		if len(children) != 0 {
			t.Errorf("%s still has %d children after every member stopped: %v", dir, len(children), children)
		}
	}
	if g, ok := waitGoroutines(beforeA+2, 20*time.Second); !ok {
		t.Errorf("%d goroutines 20s after A stopped, %d before it started\n%s", g, beforeA, goroutineDump())
	} else {
		t.Logf("goroutines after A stopped: %d (%d before it started)", g, beforeA)
	}
}

// waitFetching waits until m fetches n partitions.
func waitFetching(t testing.TB, m *member, n int, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for len(m.c.Fetching()) != n {
		if time.Now().After(deadline) {
			t.Fatalf("member %s fetches %d partitions, want %d", m.name, len(m.c.Fetching()), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// counterValue sums the samples of the counter name in reg.
func counterValue(t testing.TB, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var v float64
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				v += m.GetCounter().GetValue()
			}
		}
	}
	return v
}

// settledGoroutines waits (up to d) until the goroutine count stays the same
// for stable and returns it.
func settledGoroutines(d, stable time.Duration) int {
	deadline := time.Now().Add(d)
	last, since := runtime.NumGoroutine(), time.Now()
	for time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		if g := runtime.NumGoroutine(); g != last {
			last, since = g, time.Now()
		} else if time.Since(since) >= stable {
			break
		}
	}
	return last
}

// waitGoroutines waits up to d until at most n goroutines run; it returns
// the last count and whether it got there.
func waitGoroutines(n int, d time.Duration) (int, bool) {
	deadline := time.Now().Add(d)
	for {
		g := runtime.NumGoroutine()
		if g <= n {
			return g, true
		}
		if time.Now().After(deadline) {
			return g, false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func goroutineDump() string {
	var buf bytes.Buffer
	_ = pprof.Lookup("goroutine").WriteTo(&buf, 1)
	return buf.String()
}
