package balanced_test

import (
	"context"
	"maps"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zkbalance/zkbalance/balanced"
)

// TestS5BrokerStopStart stops one of three brokers (replication factor 3)
// and starts it again while two members consume: fetching follows the new
// leaders, partition ownership never moves, and nothing is lost.
func TestS5BrokerStopStart(t *testing.T) {
	cl := shared.Get(t)
	ctx := testCtx(t, 5*time.Minute)
	topic, group := uniq(t, "s5"), uniq(t, "g-s5")
	if err := cl.CreateTopic(ctx, topic, 6, 3); err != nil {
		t.Fatal(err)
	}
	topics := map[string]int32{topic: 6}
	var log plog
	var moves atomic.Int32
	count := func(context.Context, []balanced.TopicPartition) { moves.Add(1) }
	cfg := balanced.Config{Group: group, Topics: []string{topic},
		Hooks: balanced.Hooks{OnRevoked: count, OnLost: count}}
	a := startMember(t, "A", cfg, recorder(&log, "A", 0))
	b := startMember(t, "B", cfg, recorder(&log, "B", 0))
	waitConverged(t, 30*time.Second, "scala-range", group, topics, a, b)
	before := ownership(t, group, topic)
	moves.Store(0) // count from here: B's join revoked half of A's partitions
	stopStream := stream(t, topic, 6, 30)
	time.Sleep(time.Second)
	if err := cl.StopBroker(ctx, 2); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second)
	if err := cl.StartBroker(ctx, 2); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	produced := stopStream()
	waitProcessed(t, &log, total(produced), 2*time.Minute)
	an := log.Analyze(produced)
	t.Logf("produced %d across a broker restart: lost %d, duplicates %d, overlaps %d", total(produced), an.Lost, an.Duplicates, an.Overlaps)
	if an.Lost != 0 || an.Overlaps != 0 {
		t.Fatalf("lost %d, overlaps %d (%s)", an.Lost, an.Overlaps, an.FirstOverlap)
	}
	if after := ownership(t, group, topic); !maps.Equal(before, after) {
		t.Fatalf("ownership moved on a broker change:\nbefore %v\nafter  %v", before, after)
	}
	if n := moves.Load(); n != 0 {
		t.Fatalf("%d revoke/lost events on a broker change", n)
	}
}

// TestS6TopicChanges subscribes by pattern: a matching topic created later
// and partitions added to an existing topic are assigned and consumed
// without a restart.
func TestS6TopicChanges(t *testing.T) {
	cl := shared.Get(t)
	ctx := testCtx(t, 4*time.Minute)
	prefix := uniq(t, "s6")
	first, second := prefix+"-a", prefix+"-b"
	group := uniq(t, "g-s6")
	if err := cl.CreateTopic(ctx, first, 2, 1); err != nil {
		t.Fatal(err)
	}
	var log plog
	cfg := balanced.Config{Group: group, TopicPattern: prefix + "-.*"}
	a := startMember(t, "A", cfg, recorder(&log, "A", 0))
	b := startMember(t, "B", cfg, recorder(&log, "B", 0))
	waitConverged(t, 30*time.Second, "scala-range", group, map[string]int32{first: 2}, a, b)

	if err := cl.CreateTopic(ctx, second, 3, 1); err != nil {
		t.Fatal(err)
	}
	took := waitConverged(t, 30*time.Second, "scala-range", group, map[string]int32{first: 2, second: 3}, a, b)
	t.Logf("new matching topic assigned %s after it was created", took.Round(time.Millisecond))
	if err := cl.AddPartitions(ctx, first, 5); err != nil {
		t.Fatal(err)
	}
	took = waitConverged(t, 30*time.Second, "scala-range", group, map[string]int32{first: 5, second: 3}, a, b)
	t.Logf("added partitions assigned %s after they were created", took.Round(time.Millisecond))
	produced := produceSpread(t, first, 5, 100)
	maps.Copy(produced, produceSpread(t, second, 3, 60))
	waitProcessed(t, &log, 160, time.Minute)
	if an := log.Analyze(produced); an.Lost != 0 || an.Overlaps != 0 || an.Duplicates != 0 {
		t.Fatalf("lost %d, duplicates %d, overlaps %d", an.Lost, an.Duplicates, an.Overlaps)
	}
}
