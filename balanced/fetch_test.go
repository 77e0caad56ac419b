package balanced_test

import (
	"testing"
	"time"

	"github.com/zkbalance/zkbalance/balanced"
)

// TestFetchGenerationsBounded churns a group around one member: partitions
// it gains start on fresh connections (a wave of broker loops), and those
// must stay bounded and be closed once their partitions have settled into
// the oldest loops or are gone, while the member keeps processing
// everything exactly once.
func TestFetchGenerationsBounded(t *testing.T) {
	cl := shared.Get(t)
	ctx := testCtx(t, 4*time.Minute)
	topic, group := uniq(t, "gens"), uniq(t, "g-gens")
	if err := cl.CreateTopic(ctx, topic, 8, 1); err != nil {
		t.Fatal(err)
	}
	topics := map[string]int32{topic: 8}
	var log plog
	cfg := balanced.Config{Group: group, Topics: []string{topic}}
	a := startMember(t, "A", cfg, recorder(&log, "A", 0))
	waitConverged(t, 30*time.Second, "scala-range", group, topics, a)
	stop := stream(t, topic, 8, 20)
	maxGens := 0
	for i := range 6 {
		b := startMember(t, "B", cfg, recorder(&log, "B", 0))
		waitConverged(t, 30*time.Second, "scala-range", group, topics, a, b)
		maxGens = max(maxGens, balanced.OpenFetchGens(a.c))
		b.Stop(t)
		waitConverged(t, 30*time.Second, "scala-range", group, topics, a)
		maxGens = max(maxGens, balanced.OpenFetchGens(a.c))
		t.Logf("round %d: A fetches through %d wave(s) of connections", i+1, balanced.OpenFetchGens(a.c))
	}
	produced := stop()
	waitProcessed(t, &log, total(produced), 60*time.Second)
	if maxGens > 4 {
		t.Errorf("A fetched through up to %d waves at once, want at most 4", maxGens)
	}
	// A owns every partition again, gained in the last rebalance: once idle
	// they settle into the oldest loops, and the other waves close.
	deadline := time.Now().Add(30 * time.Second)
	for balanced.OpenFetchGens(a.c) > 2 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if n := balanced.OpenFetchGens(a.c); n > 2 {
		t.Errorf("after churn A still holds %d waves, want at most 2", n)
	}
	if an := log.Analyze(produced); an.Lost != 0 || an.Overlaps != 0 {
		t.Fatalf("lost %d, overlaps %d (%s)", an.Lost, an.Overlaps, an.FirstOverlap)
	}
	a.Stop(t)
	if n := balanced.OpenFetchGens(a.c); n != 0 {
		t.Errorf("after Stop %d waves are open, want 0", n)
	}
}

// TestPartitionStartsBatchOffsetRequests: a member that gains hundreds of
// partitions at once resolves their start offsets with a few ListOffsets
// requests (one per broker loop and pass, fetcher.go), not two per
// partition as sarama's PartitionConsumers did, and still reads every
// message from its offset.
func TestPartitionStartsBatchOffsetRequests(t *testing.T) {
	cl := shared.Get(t)
	ctx := testCtx(t, 4*time.Minute)
	const parts = 300
	topic, group := uniq(t, "batch-offsets"), uniq(t, "g-batch-offsets")
	if err := cl.CreateTopic(ctx, topic, parts, 1); err != nil {
		t.Fatal(err)
	}
	produced := produceSpread(t, topic, parts, 2*parts)
	var log plog
	a := startMember(t, "A", balanced.Config{Group: group, Topics: []string{topic}}, recorder(&log, "A", 0))
	waitProcessed(t, &log, total(produced), 2*time.Minute)
	waitFetching(t, a, parts, 30*time.Second)
	n := balanced.OffsetRequests(a.c)
	t.Logf("%d partitions started with %d ListOffsets requests (sarama alone: %d)", parts, n, 2*parts)
	// How many passes a loop makes depends on when the claims land; sarama
	// alone made 600 (a pass per partition start and offset).
	if n == 0 || n > parts/4 {
		t.Errorf("%d ListOffsets requests for %d partitions, want well under sarama's %d", n, parts, 2*parts)
	}
	if an := log.Analyze(produced); an.Lost != 0 || an.Overlaps != 0 || an.Duplicates != 0 {
		t.Errorf("lost %d, duplicates %d, overlaps %d", an.Lost, an.Duplicates, an.Overlaps)
	}
}
