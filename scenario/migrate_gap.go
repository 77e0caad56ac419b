package scenario

import (
	"slices"
	"time"

	"github.com/zkbalance/zkbalance/balanced"
)

// window is a span of the run: a switch, from the toggle written to every
// member owning again.
type window struct{ from, to time.Time }

// switchGaps is, for each partition, the longest time between two
// consecutive processings (end to end) of the partition whose interval
// touches w: the pause in processing the switch caused. Pure.
func switchGaps(recs []Record, w window) map[balanced.TopicPartition]time.Duration {
	ends := map[balanced.TopicPartition][]time.Time{}
	for _, r := range recs {
		ends[r.TP] = append(ends[r.TP], r.End)
	}
	out := map[balanced.TopicPartition]time.Duration{}
	for tp, es := range ends {
		slices.SortFunc(es, func(a, b time.Time) int { return a.Compare(b) })
		var longest time.Duration
		for i := 0; i+1 < len(es); i++ {
			if es[i+1].Before(w.from) || es[i].After(w.to) {
				continue
			}
			longest = max(longest, es[i+1].Sub(es[i]))
		}
		out[tp] = longest
	}
	return out
}

// gapStats is the median (lower) and the maximum of the gaps. Pure.
func gapStats(gaps map[balanced.TopicPartition]time.Duration) (p50, maxGap time.Duration) {
	if len(gaps) == 0 {
		return 0, 0
	}
	ds := make([]time.Duration, 0, len(gaps))
	for _, d := range gaps {
		ds = append(ds, d)
	}
	slices.Sort(ds)
	return ds[(len(ds)-1)/2], ds[len(ds)-1]
}
