package scenario

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/zkbalance/zkbalance/balanced"
)

// Record is one processed message in the processing log: which member
// processed which offset, from when to when.
type Record struct {
	Member     string
	TP         balanced.TopicPartition
	Offset     int64
	Start, End time.Time
}

// Log is the processing log shared by the members of a scenario. It is safe
// for concurrent use.
type Log struct {
	mu   sync.Mutex
	recs []Record
	seen map[balanced.TopicPartition]map[int64]bool
}

// Add appends r.
func (l *Log) Add(r Record) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.recs = append(l.recs, r)
	if l.seen == nil {
		l.seen = map[balanced.TopicPartition]map[int64]bool{}
	}
	if l.seen[r.TP] == nil {
		l.seen[r.TP] = map[int64]bool{}
	}
	l.seen[r.TP][r.Offset] = true
}

// Records returns a copy of the log.
func (l *Log) Records() []Record {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.recs)
}

// Processed counts distinct (partition, offset) pairs processed.
func (l *Log) Processed() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, offs := range l.seen {
		n += len(offs)
	}
	return n
}

// WaitProcessed waits until n distinct messages are processed or ctx ends.
func (l *Log) WaitProcessed(ctx context.Context, n int) error {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for l.Processed() < n {
		select {
		case <-ctx.Done():
			return fmt.Errorf("processed %d of %d: %w", l.Processed(), n, context.Cause(ctx))
		case <-t.C:
		}
	}
	return nil
}

// Analysis is what the processing log says about a run (docs/SCENARIOS.md):
// Lost = produced offsets never processed; Duplicates = extra processings of
// an offset; Overlaps = pairs of records of one partition by two members in
// intersecting [start, end] windows.
type Analysis struct {
	Lost, Duplicates, Overlaps int
	FirstOverlap               string // one overlap, described, for failure messages
}

func (a Analysis) String() string {
	return fmt.Sprintf("lost %d, duplicates %d, overlap %d", a.Lost, a.Duplicates, a.Overlaps)
}

// Analyze compares the log with what was produced: for each partition,
// offsets 0..n-1.
func (l *Log) Analyze(produced map[balanced.TopicPartition]int64) Analysis {
	var a Analysis
	count := map[balanced.TopicPartition]map[int64]int{}
	byTP := map[balanced.TopicPartition][]Record{}
	for _, r := range l.Records() {
		if count[r.TP] == nil {
			count[r.TP] = map[int64]int{}
		}
		count[r.TP][r.Offset]++
		byTP[r.TP] = append(byTP[r.TP], r)
	}
	for tp, n := range produced {
		for off := int64(0); off < n; off++ {
			switch c := count[tp][off]; {
			case c == 0:
				a.Lost++
			case c > 1:
				a.Duplicates += c - 1
			}
		}
	}
	for tp, rs := range byTP {
		sort.Slice(rs, func(i, j int) bool { return rs[i].Start.Before(rs[j].Start) })
		for i := range rs {
			for j := i + 1; j < len(rs) && rs[j].Start.Before(rs[i].End); j++ {
				if rs[j].Member == rs[i].Member {
					continue
				}
				a.Overlaps++
				if a.FirstOverlap == "" {
					a.FirstOverlap = fmt.Sprintf("%s: %s@%d [%s..%s] and %s@%d [%s..%s]", tp,
						rs[i].Member, rs[i].Offset, rs[i].Start.Format("15:04:05.000"), rs[i].End.Format("15:04:05.000"),
						rs[j].Member, rs[j].Offset, rs[j].Start.Format("15:04:05.000"), rs[j].End.Format("15:04:05.000"))
				}
			}
		}
	}
	return a
}

// Recorder is a per-message handler that takes delay per message (a slow
// handler) and then records the message in l under member's name. A message
// whose context ends during the delay is not processed: neither recorded
// nor marked.
func Recorder(l *Log, member string, delay time.Duration) balanced.Handler {
	return balanced.EachMessage(func(ctx context.Context, m *balanced.Message) error {
		start := time.Now()
		if delay > 0 {
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return context.Cause(ctx)
			}
		}
		l.Add(Record{Member: member, TP: balanced.TopicPartition{Topic: m.Topic, Partition: m.Partition},
			Offset: m.Offset, Start: start, End: time.Now()})
		return nil
	})
}

// Line is r in the processing log's text form, used by member processes:
// "<member> <topic> <partition> <offset> <start unix ns> <end unix ns>".
func (r Record) Line() string {
	return fmt.Sprintf("%s %s %d %d %d %d", r.Member, r.TP.Topic, r.TP.Partition, r.Offset, r.Start.UnixNano(), r.End.UnixNano())
}

// ParseRecord parses a Line; false for a malformed line (one cut short by a
// kill -9, say).
func ParseRecord(line string) (Record, bool) {
	var r Record
	var s, e int64
	if n, _ := fmt.Sscan(line, &r.Member, &r.TP.Topic, &r.TP.Partition, &r.Offset, &s, &e); n != 6 {
		return Record{}, false
	}
	r.Start, r.End = time.Unix(0, s), time.Unix(0, e)
	return r, true
}
