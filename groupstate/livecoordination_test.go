package groupstate_test

import (
	"testing"

	"github.com/zkbalance/zkbalance/groupstate"
)

func TestLiveCoordinationOf(t *testing.T) {
	for _, c := range []struct {
		zk, kafka bool
		want      groupstate.LiveCoordination
	}{
		{false, false, groupstate.CoordinationNone},
		{true, false, groupstate.CoordinationZooKeeper},
		{false, true, groupstate.CoordinationKafka},
		{true, true, groupstate.CoordinationBoth},
	} {
		if got := groupstate.LiveCoordinationOf(c.zk, c.kafka); got != c.want {
			t.Errorf("LiveCoordinationOf(%v, %v) = %q, want %q", c.zk, c.kafka, got, c.want)
		}
	}
}
