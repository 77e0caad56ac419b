package balanced

import (
	"testing"

	"github.com/IBM/sarama"
)

// TestRequestVersions pins the SyncGroup, Heartbeat and LeaveGroup request
// versions per client Config.Version (as sarama's own consumer group picks
// them).
func TestRequestVersions(t *testing.T) {
	cases := []struct {
		v                      sarama.KafkaVersion
		sync, heartbeat, leave int16
	}{
		{sarama.V0_10_2_0, 0, 0, 0},
		{sarama.V0_11_0_0, 1, 1, 1},
		{sarama.V1_0_0_0, 1, 1, 1},
		{sarama.V2_0_0_0, 2, 2, 2},
		{sarama.V2_2_0_0, 2, 2, 2},
		{sarama.V2_3_0_0, 3, 3, 2},
		{sarama.V2_4_0_0, 4, 4, 4},
		{sarama.V2_5_0_0, 5, 4, 4},
		{sarama.V3_9_0_0, 5, 4, 4},
		{sarama.V4_0_0_0, 5, 4, 4},
	}
	for _, c := range cases {
		if got := syncGroupVersion(c.v); got != c.sync {
			t.Errorf("syncGroupVersion(%s) = %d, want %d", c.v, got, c.sync)
		}
		if got := heartbeatVersion(c.v); got != c.heartbeat {
			t.Errorf("heartbeatVersion(%s) = %d, want %d", c.v, got, c.heartbeat)
		}
		if got := leaveGroupVersion(c.v); got != c.leave {
			t.Errorf("leaveGroupVersion(%s) = %d, want %d", c.v, got, c.leave)
		}
	}
}
