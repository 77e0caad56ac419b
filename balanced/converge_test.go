package balanced_test

import (
	"testing"
	"time"

	"github.com/zkbalance/zkbalance/balanced"
	"github.com/zkbalance/zkbalance/partition"
)

// TestThreeMembersConvergeToEachAssignor starts three members with each
// assignor and checks the owner znodes equal exactly what the assignor
// computes (pykafka assignors in the pykafka layout, with leaders).
func TestThreeMembersConvergeToEachAssignor(t *testing.T) {
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
