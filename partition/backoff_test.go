package partition

import (
	"testing"
	"time"
)

func TestBackoffDelay(t *testing.T) {
	ms := time.Millisecond
	for _, tc := range []struct {
		name    string
		b       Backoff
		attempt int
		rnd     float64
		want    time.Duration
	}{
		{"zero value is the default, no jitter at rnd 0.5", Backoff{}, 0, 0.5, 50 * ms},
		{"doubles", Backoff{}, 3, 0.5, 400 * ms},
		{"caps at max", Backoff{}, 10, 0.5, 2 * time.Second},
		{"huge attempt stays capped", Backoff{}, 5000, 0.5, 2 * time.Second},
		{"negative attempt is the first", Backoff{}, -3, 0.5, 50 * ms},
		{"jitter low end", Backoff{}, 0, 0, 40 * ms},
		{"jitter high end", Backoff{}, 0, 0.9999999, 60 * ms},
		{"no jitter when set to 0 with other fields", Backoff{Initial: 10 * ms, Max: time.Second, Multiplier: 3}, 2, 0, 90 * ms},
		{"max below initial is raised", Backoff{Initial: 100 * ms, Max: 10 * ms, Multiplier: 2}, 4, 0.5, 100 * ms},
		{"bad multiplier defaults to 2", Backoff{Initial: 10 * ms, Max: time.Second, Multiplier: 0.5}, 2, 0.5, 40 * ms},
	} {
		got := tc.b.Delay(tc.attempt, tc.rnd)
		diff := got - tc.want
		if diff < -time.Microsecond || diff > time.Microsecond {
			t.Errorf("%s: Delay(%d, %v) = %v, want %v", tc.name, tc.attempt, tc.rnd, got, tc.want)
		}
	}
}
