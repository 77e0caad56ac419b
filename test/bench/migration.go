package bench

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Switch methods, as the migration table names them.
const (
	// MethodOldWay: stop every member, migrate the offsets ZooKeeper →
	// Kafka (groupstate.MigrateOffsets), start the same number of members
	// with Coordination kafka.
	MethodOldWay = "old way: stop all, migrate offsets, start as a Kafka group"
	// MethodToggle: members of Coordination follow switch live when the
	// group's mode znode says kafka. The target applies to it.
	MethodToggle = "toggle: Coordination follow, mode znode → kafka"
)

// TargetGapP99 is the goal for the processing gap of a switch with the
// toggle, at TargetLatencyMembers x TargetLatencyParts.
const TargetGapP99 = time.Second

// Migration is one switch of a running group from ZooKeeper coordination
// to Kafka coordination under a steady produce stream.
type Migration struct {
	Method     string
	Setup      string // the settings that matter, for the notes
	Members    int
	Partitions int
	// Interval is how often each partition gets a message (the producer
	// sends one to every partition per interval); Produced / ProduceTime
	// is the rate achieved.
	Interval    time.Duration
	Produced    int
	ProduceTime time.Duration
	// Floor is the per-partition gap of a switch that does nothing,
	// measured on the same group just before: the stream's own spacing.
	Floor []time.Duration
	// Gaps is, per partition, the longest pause in processing across the
	// switch (see Gap).
	Gaps []time.Duration
	// Switch is how long the switch function took; Steps its parts.
	Switch time.Duration
	Steps  []Step
	// Lost is the number of produced offsets never processed; Duplicates
	// the messages processed again after the switch began.
	Lost, Duplicates int
	Note             string
	Err              string // a harness failure: nothing (or not all) measured
}

// Step is a named part of a switch and how long it took.
type Step struct {
	Name string
	Took time.Duration
}

// Processed is one message handled by a member: its offset and when the
// handler saw it.
type Processed struct {
	Offset int64
	At     time.Time
}

// Gap is the longest pause in one partition's processing across a switch
// that began at begin and returned at end: the longest time between two
// consecutive processed messages (in processing order) from the last one
// processed before begin up to the first one processed at or after end.
// For a switch that stops every member and starts new ones this is the
// time between the last message the old members processed and the first
// the new ones did. ok is false without a message before begin or without
// one at or after end. recs need not be sorted.
func Gap(recs []Processed, begin, end time.Time) (gap time.Duration, ok bool) {
	s := slices.Clone(recs)
	slices.SortStableFunc(s, func(a, b Processed) int { return a.At.Compare(b.At) })
	first := -1 // the last one before begin
	for i, r := range s {
		if r.At.Before(begin) {
			first = i
		}
	}
	last := slices.IndexFunc(s, func(r Processed) bool { return !r.At.Before(end) })
	if first < 0 || last < 0 || last <= first {
		return 0, false
	}
	for i := first; i < last; i++ {
		gap = max(gap, s[i+1].At.Sub(s[i].At))
	}
	return gap, true
}

// Delivery counts, for one partition whose offsets [0, end) were
// produced, the offsets never processed (lost) and the messages processed
// again at or after since (duplicates: a record of an offset an earlier
// record already processed).
func Delivery(recs []Processed, end int64, since time.Time) (lost, duplicates int) {
	s := slices.Clone(recs)
	slices.SortStableFunc(s, func(a, b Processed) int { return a.At.Compare(b.At) })
	seen := make(map[int64]bool, len(s))
	for _, r := range s {
		if seen[r.Offset] {
			if !r.At.Before(since) {
				duplicates++
			}
			continue
		}
		seen[r.Offset] = true
	}
	for o := range end {
		if !seen[o] {
			lost++
		}
	}
	return lost, duplicates
}

// MigrationVerdict judges a toggle switch at 16 x 256: p99 of the gaps
// within 1 s, nothing lost. Other methods are not judged (Target "").
func (r *Report) MigrationVerdict(m Migration) Verdict {
	const target = "p99 ≤ 1 s (toggle)"
	if m.Method != MethodToggle {
		return Verdict{}
	}
	if m.Members != TargetLatencyMembers || m.Partitions != TargetLatencyParts {
		return Verdict{Target: target, Detail: fmt.Sprintf("measured at %d × %d, the target is for %d × %d",
			m.Members, m.Partitions, TargetLatencyMembers, TargetLatencyParts)}
	}
	if m.Err != "" || len(m.Gaps) == 0 {
		return verdict(target, false, "not measured")
	}
	p99 := Percentile(m.Gaps, .99)
	return verdict(target, p99 <= TargetGapP99 && m.Lost == 0 && len(m.Gaps) == m.Partitions,
		fmt.Sprintf("p99 %s, %d lost", ms(p99), m.Lost))
}

// cell is the summary's figure: p50 / p99 of the gaps.
func (m Migration) cell() string {
	if m.Err != "" && len(m.Gaps) == 0 {
		return "error"
	}
	return fmt.Sprintf("%s / %s", ms(Percentile(m.Gaps, .5)), ms(Percentile(m.Gaps, .99)))
}

// shortMethod is the method's name before its colon.
func shortMethod(m string) string {
	name, _, _ := strings.Cut(m, ":")
	return name
}

func (r *Report) migrationSummary(row func(...string)) {
	if len(r.Migration) == 0 {
		return
	}
	var figs []string
	var v Verdict
	size := ""
	for _, m := range r.Migration {
		figs = append(figs, shortMethod(m.Method)+" "+m.cell())
		size = fmt.Sprintf("%d × %d", m.Members, m.Partitions)
		if mv := r.MigrationVerdict(m); mv.Target != "" {
			v = mv
		}
	}
	target, met := "p99 ≤ 1 s (toggle)", "not judged: the toggle was not measured"
	if v.Target != "" {
		target, met = v.Target, v.cell()
	}
	row(append(append([]string{"processing gap p50 / p99 during a switch ZooKeeper → Kafka coordination at " + size},
		colCells(map[string]string{ZKBalance: strings.Join(figs, "; ")}, true)...), target, met)...)
}

func (r *Report) migrationTable(b *strings.Builder) {
	row := func(cells ...string) { fmt.Fprintf(b, "| %s |\n", strings.Join(cells, " | ")) }
	row("method", "group", "stream", "floor p50 / p99", "gap p50", "gap p99", "gap max", "switch took", "lost", "duplicates", "goal: p99 ≤ 1 s (toggle)", "notes")
	row(slices.Repeat([]string{"---"}, 12)...)
	for _, m := range r.Migration {
		stream := fmt.Sprintf("1 msg / partition / %s", ms(m.Interval))
		if m.ProduceTime > 0 {
			stream += fmt.Sprintf(" (%s msgs/s achieved)", num(float64(m.Produced)/m.ProduceTime.Seconds()))
		}
		floor, p50, p99, mx := "–", "–", "–", "–"
		if len(m.Floor) > 0 {
			floor = ms(Percentile(m.Floor, .5)) + " / " + ms(Percentile(m.Floor, .99))
		}
		if len(m.Gaps) > 0 {
			p50, p99, mx = ms(Percentile(m.Gaps, .5)), ms(Percentile(m.Gaps, .99)), ms(Percentile(m.Gaps, 1))
		}
		goal := "– (the baseline)"
		if v := r.MigrationVerdict(m); v.Target != "" {
			goal = v.cell()
		}
		var steps []string
		for _, s := range m.Steps {
			steps = append(steps, fmt.Sprintf("%s %s", s.Name, ms(s.Took)))
		}
		notes := m.Note
		if len(steps) > 0 {
			notes = strings.TrimSpace(strings.Join(steps, ", ") + ". " + notes)
		}
		if m.Err != "" {
			notes = strings.TrimSpace("error: " + m.Err + " " + notes)
		}
		took := "–"
		if m.Switch > 0 {
			took = ms(m.Switch)
		}
		row(escape(m.Method), fmt.Sprintf("%d × %d", m.Members, m.Partitions), stream, floor, p50, p99, mx, took,
			fmt.Sprint(m.Lost), fmt.Sprint(m.Duplicates), goal, escape(notes))
	}
}
