package balanced_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/zkbalance/zkbalance/balanced"
)

// TestS2SlowHandler is seed 002: handlers take a second per message while a
// third member joins and then one leaves. No partition is ever processed by
// two members at once, committed offsets keep advancing while handlers are
// slow, nothing is lost, and duplicates stay within what was in flight.
func TestS2SlowHandler(t *testing.T) {
	cl := shared.Get(t)
	ctx := testCtx(t, 5*time.Minute)
	topic, group := uniq(t, "s2"), uniq(t, "g-s2")
	if err := cl.CreateTopic(ctx, topic, 4, 1); err != nil {
		t.Fatal(err)
	}
	topics := map[string]int32{topic: 4}
	const n = 120
	produced := produceSpread(t, topic, 4, n)
	var log plog
	const delay = 250 * time.Millisecond
	cfg := balanced.Config{Group: group, Topics: []string{topic}, CommitInterval: 200 * time.Millisecond, RevokeTimeout: 5 * time.Second}
	a := startMember(t, "A", cfg, recorder(&log, "A", delay))
	b := startMember(t, "B", cfg, recorder(&log, "B", delay))
	waitConverged(t, 30*time.Second, "scala-range", group, topics, a, b)

	// Committed offsets advance while the handlers are slow.
	first := committedSum(t, group, topic, 4)
	time.Sleep(2 * time.Second)
	second := committedSum(t, group, topic, 4)
	if second <= first {
		t.Fatalf("committed offsets did not advance while handlers were busy: %d -> %d", first, second)
	}

	c := startMember(t, "C", cfg, recorder(&log, "C", delay))
	waitConverged(t, 30*time.Second, "scala-range", group, topics, a, b, c)
	time.Sleep(time.Second)
	a.Stop(t)
	waitConverged(t, 30*time.Second, "scala-range", group, topics, b, c)
	waitProcessed(t, &log, n, 2*time.Minute)
	an := log.Analyze(produced)
	t.Logf("lost %d, duplicates %d, overlaps %d", an.Lost, an.Duplicates, an.Overlaps)
	if an.Lost != 0 || an.Overlaps != 0 {
		t.Fatalf("lost %d, overlaps %d (%s)", an.Lost, an.Overlaps, an.FirstOverlap)
	}
	// Each rebalance moves at most one in-flight message per moved partition;
	// with commits on revoke there should be none at all.
	if an.Duplicates > 8 {
		t.Fatalf("%d duplicates, more than could have been in flight", an.Duplicates)
	}
	// At the end the committed offsets are exactly what was produced.
	deadline := time.Now().Add(10 * time.Second)
	for committedSum(t, group, topic, 4) != int64(n) && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if got := committedSum(t, group, topic, 4); got != int64(n) {
		t.Fatalf("committed offsets sum to %d, want %d", got, n)
	}
}

// committedSum adds the ZooKeeper-stored offsets of a topic's partitions.
func committedSum(t testing.TB, group, topic string, partitions int32) int64 {
	t.Helper()
	ctx := testCtx(t, 10*time.Second)
	var sum int64
	for p := range partitions {
		data, _, err := zkConn(t).Get(ctx, offsetPath(group, topic, p))
		if err != nil {
			continue
		}
		var v int64
		if _, err := fmt.Sscan(string(data), &v); err == nil {
			sum += v
		}
	}
	return sum
}
