package balanced_test

import (
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
func TestStickyConvergesUnderChurn(t *testing.T) {
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
			live = append(live, startMember(t, n, cfg, recorder(&log, n, 0)))
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
