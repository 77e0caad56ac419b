package pykafka_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/zkbalance/zkbalance/balanced"
	"github.com/zkbalance/zkbalance/scenario"
)

// TestLeaderChangeDuringJoin: in the pykafka layout the assignment depends
// on the partitions' leaders. Each round moves preferred leaders, starts a
// member and runs a preferred-leader election within 0-20 ms of the join,
// so members may read leaders at different moments. The group must always
// converge to pykafka's range assignment for the current leaders: a leader
// change triggers a rebalance (without it, members disagreed and one waited
// forever for a partition another kept, leaving it unconsumed).
func TestLeaderChangeDuringJoin(t *testing.T) {
	shared.Get(t)
	ctx := testCtx(t, 10*time.Minute)
	const parts = 8
	topic := "leader-race"
	group := "g-" + topic
	conn := dialZK(t, ctx)
	a12 := [][]int32{}
	a21 := [][]int32{}
	for p := 0; p < parts; p++ {
		a12 = append(a12, []int32{1, 2})
		if p%2 == 0 {
			a21 = append(a21, []int32{2, 1})
		} else {
			a21 = append(a21, []int32{1, 2})
		}
	}
	setReplicas(t, ctx, conn, topic, a12, true)
	var zlog scenario.Log
	cfg := balanced.Config{Group: group, Topics: []string{topic}, Layout: balanced.LayoutPykafka}
	var live []member
	for i := 0; i < 3; i++ {
		live = append(live, startZB(t, fmt.Sprintf("m%d", i), cfg, scenario.Recorder(&zlog, "m", 0)))
	}
	waitFor(t, ctx, 60*time.Second, "start", func() error { return checkPykafkaGroup(ctx, conn, group, topic, parts, live) })
	a := admin(t)
	for it := 0; it < 8; it++ {
		assign := a21
		if it%2 == 1 {
			assign = a12
		}
		if err := a.AlterPartitionReassignments(topic, assign); err != nil {
			t.Fatal(err)
		}
		time.Sleep(300 * time.Millisecond)
		x := startZB(t, fmt.Sprintf("x%d", it), cfg, scenario.Recorder(&zlog, "x", 0))
		var ps []int32
		for p := range parts {
			ps = append(ps, int32(p))
		}
		time.Sleep(time.Duration(it%5) * 5 * time.Millisecond)
		if _, err := a.ElectLeaders(0, map[string][]int32{topic: ps}); err != nil {
			t.Log(err)
		}
		ms := append(append([]member{}, live...), x)
		took, err := poll(ctx, 20*time.Second, func() error { return checkPykafkaGroup(ctx, conn, group, topic, parts, ms) })
		t.Logf("iteration %d: %s %v", it, took, err)
		if err != nil {
			l, _ := leadersOf(ctx, conn, topic)
			for _, m := range ms {
				ps, _ := m.parts()
				t.Logf("%s parts %v", m, ps)
			}
			o, _ := readOwners(ctx, conn, group, topic)
			t.Fatalf("round %d: not converged for leaders %v: %v; owners %v", it, l, err, o)
		}
		if err := x.stop(); err != nil {
			t.Fatal(err)
		}
		waitFor(t, ctx, 20*time.Second, "after leave", func() error { return checkPykafkaGroup(ctx, conn, group, topic, parts, live) })
	}
}
