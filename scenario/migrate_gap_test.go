package scenario

import (
	"testing"
	"time"

	"github.com/zkbalance/zkbalance/balanced"
)

func TestSwitchGaps(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	p0 := balanced.TopicPartition{Topic: "t", Partition: 0}
	p1 := balanced.TopicPartition{Topic: "t", Partition: 1}
	p2 := balanced.TopicPartition{Topic: "t", Partition: 2}
	recs := []Record{
		// p0: 50 ms steps, a 900 ms pause across the window.
		{TP: p0, End: at(0)}, {TP: p0, End: at(50)}, {TP: p0, End: at(950)}, {TP: p0, End: at(1000)},
		// p1: a long pause before the window does not count.
		{TP: p1, End: at(-2000)}, {TP: p1, End: at(-100)}, {TP: p1, End: at(200)}, {TP: p1, End: at(400)},
		// p2: out of order in the log.
		{TP: p2, End: at(700)}, {TP: p2, End: at(100)}, {TP: p2, End: at(300)},
	}
	for _, tc := range []struct {
		name string
		w    window
		want map[balanced.TopicPartition]time.Duration
		p50  time.Duration
		max  time.Duration
	}{
		{"switch", window{at(100), at(500)},
			map[balanced.TopicPartition]time.Duration{p0: 900 * time.Millisecond, p1: 300 * time.Millisecond, p2: 400 * time.Millisecond},
			400 * time.Millisecond, 900 * time.Millisecond},
		{"after everything", window{at(5000), at(6000)},
			map[balanced.TopicPartition]time.Duration{p0: 0, p1: 0, p2: 0}, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := switchGaps(recs, tc.w)
			for tp, d := range tc.want {
				if got[tp] != d {
					t.Errorf("%v: gap %s, want %s", tp, got[tp], d)
				}
			}
			p50, mx := gapStats(got)
			if p50 != tc.p50 || mx != tc.max {
				t.Errorf("p50 %s max %s, want %s %s", p50, mx, tc.p50, tc.max)
			}
		})
	}
	if p50, mx := gapStats(nil); p50 != 0 || mx != 0 {
		t.Errorf("empty: %s %s", p50, mx)
	}
}
