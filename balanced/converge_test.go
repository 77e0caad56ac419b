package balanced_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/zkbalance/zkbalance/balanced"
	"github.com/zkbalance/zkbalance/partition"
)

// TestThreeMembersConvergeToEachAssignor starts three members with each
// assignor and checks the owner znodes equal exactly what the assignor
// computes (pykafka assignors in the pykafka layout, with leaders).
func TestThreeMembersConvergeToEachAssignor(t *testing.T) {
	cl := shared.Get(t)
	ctx := testCtx(t, 5*time.Minute)
	topic := uniq(t, "conv")
	if err := cl.CreateTopic(ctx, topic, 11, 2); err != nil {
		t.Fatal(err)
	}
	topics := map[string]int32{topic: 11}
	for _, name := range partition.Names() {
		t.Run(name, func(t *testing.T) {
			group := uniq(t, "g-conv")
			cfg := balanced.Config{Group: group, Topics: []string{topic}, Assignor: name}
			if name == partition.PykafkaRange || name == partition.PykafkaRoundRobin {
				cfg.Layout = balanced.LayoutPykafka
			}
			var log plog
			var peers []peer
			for _, m := range []string{"x", "y", "z"} {
				peers = append(peers, startMember(t, m, cfg, recorder(&log, m, 0)))
			}
			took := waitConverged(t, 30*time.Second, name, group, topics, peers...)
			t.Logf("%s: 3 members converged in %s", name, took.Round(time.Millisecond))
		})
	}
}

// TestStickyConvergesUnderChurn: the sticky assignor's input includes the
// current owners, which members read at different moments while partitions
// move. Members that start and stop together must still settle on exactly
// the sticky answer for the settled owners (owner changes trigger a recheck).
// With the owners tree watch the tree's events report the owner changes;
// without it (ZooKeeper before 3.6: "dirs") a children watch per owners
// directory does.
func TestStickyConvergesUnderChurn(t *testing.T) {
	t.Run("tree", func(t *testing.T) { testStickyConvergesUnderChurn(t, nil) })
	t.Run("dirs", func(t *testing.T) { testStickyConvergesUnderChurn(t, balanced.WithoutTreeWatch) })
}

func testStickyConvergesUnderChurn(t *testing.T, prep func(*balanced.Consumer)) {
	cl := shared.Get(t)
	ctx := testCtx(t, 5*time.Minute)
	topic, group := uniq(t, "sticky"), uniq(t, "g-sticky")
	if err := cl.CreateTopic(ctx, topic, 13, 1); err != nil {
		t.Fatal(err)
	}
	topics := map[string]int32{topic: 13}
	cfg := balanced.Config{Group: group, Topics: []string{topic}, Assignor: partition.Sticky}
	var log plog
	var live []*member
	var stopping sync.WaitGroup
	defer stopping.Wait()
	start := func(names ...string) {
		for _, n := range names {
			live = append(live, startMemberWith(t, n, cfg, recorder(&log, n, 0), prep))
		}
	}
	peers := func() []peer {
		out := make([]peer, len(live))
		for i, m := range live {
			out[i] = m
		}
		return out
	}
	start("a", "b", "c")
	for round := range 6 {
		took := waitConverged(t, 30*time.Second, partition.Sticky, group, topics, peers()...)
		t.Logf("round %d: %d members converged in %s", round, len(live), took.Round(time.Millisecond))
		// One leaves while two join, all at once.
		leaving := live[0]
		live = live[1:]
		stopping.Go(func() { leaving.Stop(t) })
		start(fmt.Sprintf("n%da", round), fmt.Sprintf("n%db", round))
		if len(live) > 4 {
			m := live[0]
			stopping.Go(func() { m.Stop(t) })
			live = live[1:]
		}
	}
	waitConverged(t, 30*time.Second, partition.Sticky, group, topics, peers()...)
}

// TestStickyReadsOnlyWhatChanged: a sticky member keeps the owners with a
// tree watch, so once the group has settled, a join makes the members read
// no owners directory whole and only the owner znodes created since (the
// partitions that moved), not every owner znode of the topic.
func TestStickyReadsOnlyWhatChanged(t *testing.T) {
	cl := shared.Get(t)
	ctx := testCtx(t, 5*time.Minute)
	const parts = 256
	topic, group := uniq(t, "sticky-reads"), uniq(t, "g-sticky-reads")
	if err := cl.CreateTopic(ctx, topic, parts, 1); err != nil {
		t.Fatal(err)
	}
	topics := map[string]int32{topic: parts}
	cfg := balanced.Config{Group: group, Topics: []string{topic}, Assignor: partition.Sticky}
	var live []*member
	peers := func() []peer {
		out := make([]peer, len(live))
		for i, m := range live {
			out[i] = m
		}
		return out
	}
	for i := range 4 {
		live = append(live, startMember(t, fmt.Sprintf("m%d", i), cfg, waitHandler))
	}
	waitConverged(t, time.Minute, partition.Sticky, group, topics, peers()...)
	time.Sleep(2 * time.Second) // the owners-quiet re-reads of the forming
	type reads struct{ whole, single int64 }
	before := make([]reads, len(live))
	for i, m := range live {
		before[i].whole, before[i].single = balanced.OwnerReads(m.c)
	}
	live = append(live, startMember(t, "joiner", cfg, waitHandler))
	took := waitConverged(t, time.Minute, partition.Sticky, group, topics, peers()...)
	time.Sleep(2 * time.Second)
	moved := parts / 5
	for i, m := range live[:4] {
		whole, single := balanced.OwnerReads(m.c)
		whole -= before[i].whole
		single -= before[i].single
		t.Logf("%s: %d whole directory reads, %d owner znodes read (about %d moved; converged in %s)", m.name, whole, single, moved, took.Round(time.Millisecond))
		if whole != 0 {
			t.Errorf("%s read the owners directory whole %d times during a join", m.name, whole)
		}
		if single > 3*int64(moved) {
			t.Errorf("%s read %d owner znodes during a join that moved about %d", m.name, single, moved)
		}
	}
}

// waitHandler consumes nothing and returns when its partition is revoked.
var waitHandler = balanced.HandlerFunc(func(ctx context.Context, _ *balanced.Claim) error {
	<-ctx.Done()
	return nil
})
