package balanced_test

import (
	"testing"
	"time"

	"github.com/zkbalance/zkbalance/balanced"
)

// TestS1BlockedConsume is seed 000: a member idles on an empty topic with no
// consume timeout; a newcomer must get its share at once, nobody errors, and
// everything produced afterwards is processed exactly by its owner.
func TestS1BlockedConsume(t *testing.T) {
	cl := shared.Get(t)
	ctx := testCtx(t, 3*time.Minute)
	topic, group := uniq(t, "s1"), uniq(t, "g-s1")
	if err := cl.CreateTopic(ctx, topic, 5, 1); err != nil {
		t.Fatal(err)
	}
	topics := map[string]int32{topic: 5}
	var log plog
	cfg := balanced.Config{Group: group, Topics: []string{topic}}
	a := startMember(t, "A", cfg, recorder(&log, "A", 0))
	waitConverged(t, 30*time.Second, "scala-range", group, topics, a)
	time.Sleep(2 * time.Second) // A waits for data, holding nothing that blocks a rebalance
	b := startMember(t, "B", cfg, recorder(&log, "B", 0))
	took := waitConverged(t, 15*time.Second, "scala-range", group, topics, a, b)
	t.Logf("newcomer owns its share %s after joining", took.Round(time.Millisecond))
	produced := produceSpread(t, topic, 5, 1000)
	waitProcessed(t, &log, 1000, 60*time.Second)
	if an := log.Analyze(produced); an.Lost != 0 || an.Overlaps != 0 || an.Duplicates != 0 {
		t.Fatalf("lost %d, duplicates %d, overlaps %d (%s)", an.Lost, an.Duplicates, an.Overlaps, an.FirstOverlap)
	}
}

// TestS1FiveMembersJoinOneByOne is the seed's 5 processes on 5 partitions:
// each join converges, and at the end every member owns exactly one.
func TestS1FiveMembersJoinOneByOne(t *testing.T) {
	cl := shared.Get(t)
	ctx := testCtx(t, 3*time.Minute)
	topic, group := uniq(t, "s1five"), uniq(t, "g-s1five")
	if err := cl.CreateTopic(ctx, topic, 5, 1); err != nil {
		t.Fatal(err)
	}
	topics := map[string]int32{topic: 5}
	var log plog
	cfg := balanced.Config{Group: group, Topics: []string{topic}}
	var ms []*member
	var peers []peer
	for i, name := range []string{"m1", "m2", "m3", "m4", "m5"} {
		m := startMember(t, name, cfg, recorder(&log, name, 0))
		ms, peers = append(ms, m), append(peers, m)
		took := waitConverged(t, 15*time.Second, "scala-range", group, topics, peers...)
		t.Logf("member %d joined; converged in %s", i+1, took.Round(time.Millisecond))
		time.Sleep(300 * time.Millisecond)
	}
	for _, m := range ms {
		if n := len(m.c.Owned()); n != 1 {
			t.Errorf("%s owns %d partitions, want 1", m.name, n)
		}
	}
	produced := produceSpread(t, topic, 5, 500)
	waitProcessed(t, &log, 500, 60*time.Second)
	if an := log.Analyze(produced); an.Lost != 0 || an.Overlaps != 0 {
		t.Fatalf("lost %d, overlaps %d (%s)", an.Lost, an.Overlaps, an.FirstOverlap)
	}
}
