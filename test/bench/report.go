package bench

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"
)

// Contenders, as the table's columns name them.
const (
	ZKBalance   = "zkbalance"
	RawSarama   = "raw sarama"
	SaramaGroup = "sarama ConsumerGroup"
	Pykafka     = "pykafka"
)

// Columns is the order of the contenders in the summary table.
var Columns = []string{ZKBalance, RawSarama, SaramaGroup, Pykafka}

// Targets of the issue.
const (
	TargetOfRaw          = 0.95 // zkbalance >= 95 % of raw sarama
	TargetOverPykafka    = 10   // zkbalance >= 10x pykafka
	TargetP50            = 200 * time.Millisecond
	TargetP99            = time.Second
	TargetLatencyMembers = 16 // the latency targets apply at 16 x 256
	TargetLatencyParts   = 256
	TargetRSSMiB         = 64 // after consuming a burst, at 1000 partitions
	TargetRSSPartitions  = 1000
	// An idle member owning 4096 partitions (issue 15), median of rounds.
	TargetIdleRSSMiB        = 64
	TargetIdleRSSPartitions = 4096
)

// Report is everything one run measured.
type Report struct {
	Date time.Time
	// Facts are the machine, versions and run parameters, in order.
	Facts []Fact
	// Throughput is the consume throughput comparison.
	Throughput Throughput
	// Latency has one entry per contender (and variant) and group size.
	Latency []Latency
	// Writes has one entry per zkbalance assignor.
	Writes []Writes
	// RSS has one entry per measured member kind.
	RSS []RSS
	// IdleRSS has one entry per idle round of a zkbalance member owning
	// many partitions (no burst).
	IdleRSS []RSS
	// Migration has one entry per switch method (ZooKeeper → Kafka
	// coordination of a running group).
	Migration []Migration
	// RoundTrips has one entry per contender (and variant): joins with
	// ZooKeeper behind a proxy, without and with an added round trip.
	RoundTrips []RoundTrips
	// Curve is the scale curve: one entry per assignor and group size.
	Curve []Curve
	// CPU is the CPU time of each contender's own process per message.
	CPU CPU
	// Backlog has one entry per backlog a zkbalance member process caught
	// up (peak RSS).
	Backlog []Backlog
	// Method are per-section notes (keys: "throughput", "latency", "writes",
	// "rss", "migration", "roundtrips", "cpu", "curve"), written under each section's table.
	Method map[string][]string
}

// Fact is one line of the run's description.
type Fact struct{ Name, Value string }

// Throughput is one pre-produced topic read from start to end by each
// contender in turn.
type Throughput struct {
	Messages, Partitions, MessageBytes int
	Rates                              []Rate
}

// Rate is one contender's throughput, one figure per round.
type Rate struct {
	Contender string
	Setup     string    // the settings that matter, for the notes
	PerSec    []float64 // messages per second between the first and last message, per round
	Err       string    // why it could not be measured
}

// Median of the rounds (0 without any).
func (r Rate) Median() float64 { return median(r.PerSec) }

// median of vs (0 without any).
func median(vs []float64) float64 {
	if len(vs) == 0 {
		return 0
	}
	s := slices.Clone(vs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// Latency is a contender's rebalance latency for one group size: Members
// steady members, one joins, until every partition is owned by its assigned
// member and fetching; then the joiner leaves and the group settles.
type Latency struct {
	Contender  string
	Variant    string // assignor or strategy
	Setup      string // settings that matter, for the notes
	Members    int    // steady members before the join
	Partitions int
	Attempted  int
	// Fetching is, for each converged join, the time until every partition
	// was owned and fetching.
	Fetching []time.Duration
	// Owned is, where the contender shows it separately (zkbalance), the
	// time until every partition was owned (handler running).
	Owned []time.Duration
	// Failures describe the joins that did not converge.
	Failures []string
	Note     string
	Err      string // a harness failure: nothing measured
}

// Converged is the number of joins that converged.
func (l Latency) Converged() int { return len(l.Fetching) }

// Writes is the owner znode churn of one join, for one zkbalance assignor.
type Writes struct {
	Assignor   string
	Layout     string
	Members    int // steady members before the join
	Partitions int
	Dirs       int // owner directories each claim writes (the pykafka layout mirrors into owners/b'<t>')
	Moved      int // partitions whose owner changed
	Creates    int // owner znodes that are new or re-created (czxid changed) after the join
	Deletes    int // owner znodes gone or re-created
	Total      int // creates + deletes of children of the owner directories, counted by ZooKeeper (cversion)
	Err        string
}

// Minimum is the fewest owner writes the moves need: a delete and a create
// per moved partition and owner directory.
func (w Writes) Minimum() int { return 2 * w.Moved * w.Dirs }

// MinMoved is the fewest partitions any balanced assignment must move when
// a member joins Members members: the joiner's share, floor(P/(M+1)).
func (w Writes) MinMoved() int { return w.Partitions / (w.Members + 1) }

// RSS is the resident memory of one member process.
type RSS struct {
	Contender  string
	Partitions int
	Burst      int     // messages consumed before BurstMiB
	IdleMiB    float64 // VmRSS after owning every partition and idling
	BurstMiB   float64 // VmRSS after consuming the burst
	PeakMiB    float64 // VmHWM
	Err        string
}

// Percentile is the nearest-rank p-quantile (0 < p <= 1) of ds: with 20
// samples p99 is the largest.
func Percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(math.Ceil(p*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}

// Verdict is a target's evaluation: Met is nil when it could not be judged.
type Verdict struct {
	Target string
	Met    *bool
	Detail string
}

func verdict(target string, ok bool, detail string) Verdict {
	return Verdict{Target: target, Met: &ok, Detail: detail}
}

func (v Verdict) cell() string {
	switch {
	case v.Met == nil:
		return "not judged: " + v.Detail
	case *v.Met:
		return "**yes** (" + v.Detail + ")"
	default:
		return "**NO** (" + v.Detail + ")"
	}
}

func (r *Report) rate(c string) (Rate, bool) {
	for _, x := range r.Throughput.Rates {
		if x.Contender == c && x.Err == "" && len(x.PerSec) > 0 {
			return x, true
		}
	}
	return Rate{}, false
}

// ThroughputVerdicts judges zkbalance's median against the others'.
func (r *Report) ThroughputVerdicts() []Verdict {
	zk, okZK := r.rate(ZKBalance)
	var out []Verdict
	for _, t := range []struct {
		other, target string
		ratio         float64
	}{
		{RawSarama, "≥ 95 % of raw sarama", TargetOfRaw},
		{SaramaGroup, "≥ sarama ConsumerGroup", 1},
		{Pykafka, "≥ 10 × pykafka", TargetOverPykafka},
	} {
		o, okO := r.rate(t.other)
		if !okZK || !okO {
			out = append(out, Verdict{Target: t.target, Detail: "not measured"})
			continue
		}
		x := zk.Median() / o.Median()
		detail := fmt.Sprintf("%.2f ×", x)
		if t.other == RawSarama {
			detail = fmt.Sprintf("%.1f %%", 100*x)
		}
		out = append(out, verdict(t.target, x >= t.ratio, detail))
	}
	return out
}

// LatencyVerdict judges zkbalance's default assignor at 16 x 256.
func (r *Report) LatencyVerdict(l Latency) Verdict {
	const target = "p50 ≤ 200 ms, p99 ≤ 1 s"
	if l.Contender != ZKBalance || l.Members != TargetLatencyMembers || l.Partitions != TargetLatencyParts {
		return Verdict{}
	}
	if l.Converged() == 0 {
		return verdict(target, false, "no join converged")
	}
	p50, p99 := Percentile(l.Fetching, .5), Percentile(l.Fetching, .99)
	ok := p50 <= TargetP50 && p99 <= TargetP99 && len(l.Failures) == 0
	return verdict(target, ok, fmt.Sprintf("%s / %s over %d joins", ms(p50), ms(p99), l.Converged()))
}

// WritesVerdict: the sticky assignor must write only what moves, and move
// no more than a join must.
func (r *Report) WritesVerdict(w Writes) Verdict {
	if w.Assignor != "sticky" || w.Err != "" {
		return Verdict{}
	}
	ok := w.Total == w.Minimum() && w.Moved == w.MinMoved()
	return verdict("writes = 2 × moved, moved = ⌊P/(M+1)⌋",
		ok, fmt.Sprintf("%d writes for %d moved; minimum %d writes, %d moved", w.Total, w.Moved, w.Minimum(), w.MinMoved()))
}

// RSSVerdict: a zkbalance member owning 1000 partitions stays under 64 MiB.
func (r *Report) RSSVerdict(x RSS) Verdict {
	const target = "< 64 MiB after the burst"
	if x.Contender != ZKBalance || x.Err != "" {
		return Verdict{}
	}
	if x.Partitions != TargetRSSPartitions {
		return Verdict{Target: target, Detail: fmt.Sprintf("measured at %d partitions, the target is for %d", x.Partitions, TargetRSSPartitions)}
	}
	return verdict(target, x.BurstMiB < TargetRSSMiB, fmt.Sprintf("%.1f MiB", x.BurstMiB))
}

// IdleRSSVerdict: the median idle VmRSS of the idle rounds at 4096
// partitions is at most 64 MiB.
func (r *Report) IdleRSSVerdict() Verdict {
	target := fmt.Sprintf("idle ≤ %d MiB (median of rounds)", TargetIdleRSSMiB)
	idle, parts := r.idleRSSFigures()
	switch {
	case len(idle) == 0:
		return Verdict{Target: target, Detail: "no round completed"}
	case parts != TargetIdleRSSPartitions:
		return Verdict{Target: target, Detail: fmt.Sprintf("measured at %d partitions, the target is for %d", parts, TargetIdleRSSPartitions)}
	}
	m := median(idle)
	return verdict(target, m <= TargetIdleRSSMiB, fmt.Sprintf("%.1f MiB, median of %d", m, len(idle)))
}

// idleRSSFigures are the idle VmRSS of the idle rounds that completed and
// their partitions.
func (r *Report) idleRSSFigures() (idle []float64, parts int) {
	for _, x := range r.IdleRSS {
		if x.Err == "" {
			idle = append(idle, x.IdleMiB)
			parts = x.Partitions
		}
	}
	return idle, parts
}

// Missing lists what the run failed to measure: harness errors, contenders
// without a figure, latency rows without an attempted join, zkbalance joins
// that did not converge. A smoke run asserts it is empty; it does not judge
// the targets.
func (r *Report) Missing() []string {
	var out []string
	for _, x := range r.Throughput.Rates {
		if x.Err != "" || len(x.PerSec) == 0 {
			out = append(out, fmt.Sprintf("throughput %s: %s", x.Contender, orNone(x.Err)))
		}
	}
	for _, l := range r.Latency {
		name := fmt.Sprintf("latency %s (%s) at %d x %d", l.Contender, l.Variant, l.Members, l.Partitions)
		switch {
		case l.Err != "":
			out = append(out, name+": "+l.Err)
		case l.Attempted == 0:
			out = append(out, name+": no join attempted")
		case l.Contender == ZKBalance && len(l.Failures) > 0:
			out = append(out, fmt.Sprintf("%s: %d joins did not converge: %s", name, len(l.Failures), l.Failures[0]))
		}
	}
	for _, w := range r.Writes {
		if w.Err != "" {
			out = append(out, fmt.Sprintf("writes %s: %s", w.Assignor, w.Err))
		}
	}
	for _, x := range r.RSS {
		if x.Err != "" {
			out = append(out, fmt.Sprintf("rss %s: %s", x.Contender, x.Err))
		}
	}
	for i, x := range r.IdleRSS {
		if x.Err != "" {
			out = append(out, fmt.Sprintf("rss idle round %d: %s", i+1, x.Err))
		}
	}
	for _, m := range r.Migration {
		name := fmt.Sprintf("migration %s at %d x %d", shortMethod(m.Method), m.Members, m.Partitions)
		switch {
		case m.Err != "":
			out = append(out, name+": "+m.Err)
		case len(m.Gaps) != m.Partitions:
			out = append(out, fmt.Sprintf("%s: a gap for %d of %d partitions", name, len(m.Gaps), m.Partitions))
		case m.Lost > 0:
			out = append(out, fmt.Sprintf("%s: %d messages lost", name, m.Lost))
		}
	}
	out = append(out, r.roundTripsMissing()...)
	out = append(out, r.cpuMissing()...)
	return append(out, r.curveMissing()...)
}

func orNone(s string) string {
	if s == "" {
		return "no figure"
	}
	return s
}

// ms formats a latency: "123 ms", "2.35 s".
func ms(d time.Duration) string {
	if d < time.Second {
		return fmt.Sprintf("%d ms", d.Round(time.Millisecond).Milliseconds())
	}
	return fmt.Sprintf("%.2f s", d.Seconds())
}

// num formats a count with thin groups: 1 234 567.
func num(v float64) string {
	s := fmt.Sprintf("%.0f", v)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(' ')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func (l Latency) cell() string {
	switch {
	case l.Err != "":
		return "error: " + l.Err
	case l.Converged() == 0:
		return fmt.Sprintf("none of %d joins converged", l.Attempted)
	}
	s := fmt.Sprintf("%s / %s", ms(Percentile(l.Fetching, .5)), ms(Percentile(l.Fetching, .99)))
	if len(l.Failures) > 0 || l.Converged() < l.Attempted {
		s += fmt.Sprintf(" (%d of %d joins converged)", l.Converged(), l.Attempted)
	}
	return s
}

// WriteMarkdown writes BENCHMARKS.md.
func (r *Report) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	row := func(cells ...string) { p("| %s |\n", strings.Join(cells, " | ")) }

	p("# Benchmarks\n\n")
	p("Side by side, all in one run on loopback against the same cluster. Written by `make bench`\n")
	p("(`go test ./test/bench -run TestSideBySide -bench.full`, see `test/bench`); do not edit by hand.\n\n")
	row("", "")
	row("---", "---")
	for _, f := range r.Facts {
		row(f.Name, f.Value)
	}

	// Summary.
	p("\n## Summary\n\n")
	row(append(append([]string{"measurement"}, Columns...), "target", "met")...)
	row(slices.Repeat([]string{"---"}, len(Columns)+3)...)
	tp := r.Throughput
	cells := map[string]string{}
	for _, x := range tp.Rates {
		if x.Err != "" {
			cells[x.Contender] = "error"
		} else if len(x.PerSec) > 0 {
			cells[x.Contender] = num(x.Median())
		}
	}
	for i, v := range r.ThroughputVerdicts() {
		if len(tp.Rates) == 0 {
			break
		}
		first, figures := "", map[string]string{}
		if i == 0 {
			first = fmt.Sprintf("consume throughput, msgs/s (%s × %d B, %d partitions, 1 member; median of rounds)",
				num(float64(tp.Messages)), tp.MessageBytes, tp.Partitions)
			figures = cells
		}
		row(append(append([]string{first}, colCells(figures, i == 0)...), v.Target, v.cell())...)
	}
	for _, size := range r.latencySizes() {
		cells := map[string]string{}
		var v Verdict
		for _, l := range r.Latency {
			if l.Members != size[0] || l.Partitions != size[1] {
				continue
			}
			if _, seen := cells[l.Contender]; seen {
				continue // the first variant is the contender's default
			}
			cells[l.Contender] = l.cell()
			if lv := r.LatencyVerdict(l); lv.Target != "" {
				v = lv
			}
		}
		target, met := "–", ""
		if v.Target != "" {
			target, met = v.Target, v.cell()
		}
		row(append(append([]string{fmt.Sprintf("rebalance latency p50 / p99, a join at %d × %d", size[0], size[1])},
			colCells(cells, true)...), target, met)...)
	}
	for _, w := range r.Writes {
		v := r.WritesVerdict(w)
		if v.Target == "" {
			continue
		}
		cells := map[string]string{ZKBalance: fmt.Sprintf("%d (%d moved)", w.Total, w.Moved)}
		row(append(append([]string{fmt.Sprintf("ZooKeeper owner writes (creates + deletes), one join at %d × %d, %s", w.Members, w.Partitions, w.Assignor)},
			colCells(cells, true)...), v.Target, v.cell())...)
	}
	if len(r.RSS) > 0 {
		cells := map[string]string{}
		var v Verdict
		parts := 0
		for _, x := range r.RSS {
			if x.Err != "" {
				cells[x.Contender] = "error"
				continue
			}
			cells[x.Contender] = fmt.Sprintf("%.1f MiB (peak %.1f)", x.BurstMiB, x.PeakMiB)
			parts = x.Partitions
			if xv := r.RSSVerdict(x); xv.Target != "" {
				v = xv
			}
		}
		target, met := "–", ""
		if v.Target != "" {
			target, met = v.Target, v.cell()
		}
		row(append(append([]string{fmt.Sprintf("RSS per member owning %d partitions, after a burst", parts)},
			colCells(cells, true)...), target, met)...)
	}
	if len(r.IdleRSS) > 0 {
		idle, parts := r.idleRSSFigures()
		v := r.IdleRSSVerdict()
		row(append(append([]string{fmt.Sprintf("RSS of an idle member owning %d partitions (median of rounds, each round)", parts)},
			colCells(map[string]string{ZKBalance: medianMiB(idle)}, true)...), v.Target, v.cell())...)
	}
	r.migrationSummary(row)
	r.curveSummary(row)
	r.roundTripsSummary(row)
	r.cpuSummary(row)
	p("\n– : not part of the comparison.\n")

	skipped := func() { p("Not measured in this run.\n") }

	// Throughput.
	p("\n## Consume throughput\n\n")
	if len(tp.Rates) == 0 {
		skipped()
	} else {
		r.throughputTable(&b)
		r.method(&b, "throughput")
	}

	// Latency.
	p("\n## Rebalance latency (a member joins)\n\n")
	if len(r.Latency) == 0 {
		skipped()
	} else {
		r.latencyTable(&b)
		r.method(&b, "latency")
	}

	// Writes.
	p("\n## ZooKeeper writes per rebalance (one join)\n\n")
	if len(r.Writes) == 0 {
		skipped()
	} else {
		r.writesTable(&b)
		r.method(&b, "writes")
	}

	// RSS.
	p("\n## Resident memory per member\n\n")
	if len(r.RSS) == 0 && len(r.IdleRSS) == 0 {
		skipped()
	} else {
		r.rssTable(&b)
		r.method(&b, "rss")
	}

	// Migration.
	p("\n## Processing gap during a switch to Kafka coordination\n\n")
	if len(r.Migration) == 0 {
		skipped()
	} else {
		r.migrationTable(&b)
		r.method(&b, "migration")
	}

	// The scale curve.
	p("\n## Scale curve: a join by group size (member processes)\n\n")
	if len(r.Curve) == 0 {
		skipped()
	} else {
		r.curveTable(&b)
		r.method(&b, "curve")
	}

	// ZooKeeper a round trip away.
	p("\n## ZooKeeper round trips on a join's critical path\n\n")
	if len(r.RoundTrips) == 0 {
		skipped()
	} else {
		r.roundTripsTable(&b)
		r.method(&b, "roundtrips")
	}

	// CPU and memory of a contender's own process.
	p("\n## CPU per message and memory catching up a backlog\n\n")
	if len(r.CPU.Runs) == 0 && r.CPU.Err == "" && len(r.Backlog) == 0 {
		skipped()
	} else {
		r.cpuTable(&b)
		r.method(&b, "cpu")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func (r *Report) throughputTable(b *strings.Builder) {
	row := func(cells ...string) { fmt.Fprintf(b, "| %s |\n", strings.Join(cells, " | ")) }
	tp := r.Throughput
	row("contender", "msgs/s (median)", "MiB/s", "rounds, msgs/s", "settings")
	row("---", "---", "---", "---", "---")
	for _, x := range tp.Rates {
		med, mib := "error: "+x.Err, ""
		if x.Err == "" {
			med = num(x.Median())
			mib = fmt.Sprintf("%.1f", x.Median()*float64(tp.MessageBytes)/(1<<20))
		}
		var rounds []string
		for _, v := range x.PerSec {
			rounds = append(rounds, num(v))
		}
		row(x.Contender, med, mib, strings.Join(rounds, ", "), x.Setup)
	}
	if ratios := tp.PairedRatios(ZKBalance, RawSarama); len(ratios) > 0 {
		var cells []string
		for _, v := range ratios {
			cells = append(cells, fmt.Sprintf("%.0f %%", 100*v))
		}
		fmt.Fprintf(b, "\nzkbalance / raw sarama within each round: %s (median %.1f %%).\n",
			strings.Join(cells, ", "), 100*median(ratios))
	}
}

// PairedRatios is a's rate over b's in each round both were measured.
func (tp Throughput) PairedRatios(a, b string) []float64 {
	var ra, rb []float64
	for _, x := range tp.Rates {
		switch {
		case x.Err != "":
		case x.Contender == a:
			ra = x.PerSec
		case x.Contender == b:
			rb = x.PerSec
		}
	}
	var out []float64
	for i := range min(len(ra), len(rb)) {
		if rb[i] > 0 {
			out = append(out, ra[i]/rb[i])
		}
	}
	return out
}

func (r *Report) latencyTable(b *strings.Builder) {
	row := func(cells ...string) { fmt.Fprintf(b, "| %s |\n", strings.Join(cells, " | ")) }
	row("group", "contender", "variant", "joins converged", "p50", "p99", "max", "owned p50 / p99", "settings", "notes")
	row("---", "---", "---", "---", "---", "---", "---", "---", "---", "---")
	for _, l := range r.Latency {
		p50, p99, mx, owned := "–", "–", "–", "–"
		if l.Converged() > 0 {
			p50, p99 = ms(Percentile(l.Fetching, .5)), ms(Percentile(l.Fetching, .99))
			mx = ms(Percentile(l.Fetching, 1))
		}
		if len(l.Owned) > 0 {
			owned = ms(Percentile(l.Owned, .5)) + " / " + ms(Percentile(l.Owned, .99))
		}
		notes := l.Note
		if l.Err != "" {
			notes = strings.TrimSpace("error: " + l.Err + " " + notes)
		}
		if len(l.Failures) > 0 {
			notes = strings.TrimSpace(fmt.Sprintf("%s %d did not converge: %s", notes, len(l.Failures), summarize(l.Failures)))
		}
		row(fmt.Sprintf("%d + 1 × %d", l.Members, l.Partitions), l.Contender, l.Variant,
			fmt.Sprintf("%d of %d", l.Converged(), l.Attempted), p50, p99, mx, owned, l.Setup, escape(notes))
	}
}

func (r *Report) writesTable(b *strings.Builder) {
	row := func(cells ...string) { fmt.Fprintf(b, "| %s |\n", strings.Join(cells, " | ")) }
	row("assignor", "layout", "group", "partitions moved", "fewest possible", "owner creates", "owner deletes", "writes (ZooKeeper's count)", "minimum for the moves", "only what moves")
	row("---", "---", "---", "---", "---", "---", "---", "---", "---", "---")
	for _, w := range r.Writes {
		if w.Err != "" {
			row(w.Assignor, w.Layout, fmt.Sprintf("%d + 1 × %d", w.Members, w.Partitions), "error: "+escape(w.Err), "", "", "", "", "", "")
			continue
		}
		only := "no"
		if w.Total == w.Minimum() {
			only = "yes"
		}
		row(w.Assignor, w.Layout, fmt.Sprintf("%d + 1 × %d", w.Members, w.Partitions), fmt.Sprint(w.Moved), fmt.Sprint(w.MinMoved()),
			fmt.Sprint(w.Creates), fmt.Sprint(w.Deletes), fmt.Sprint(w.Total), fmt.Sprint(w.Minimum()), only)
	}
}

func (r *Report) rssTable(b *strings.Builder) {
	row := func(cells ...string) { fmt.Fprintf(b, "| %s |\n", strings.Join(cells, " | ")) }
	row("member", "partitions", "idle VmRSS", "after the burst VmRSS", "peak VmHWM", "burst")
	row("---", "---", "---", "---", "---", "---")
	for _, x := range r.RSS {
		if x.Err != "" {
			row(x.Contender, fmt.Sprint(x.Partitions), "error: "+escape(x.Err), "", "", "")
			continue
		}
		row(x.Contender, fmt.Sprint(x.Partitions), fmt.Sprintf("%.1f MiB", x.IdleMiB), fmt.Sprintf("%.1f MiB", x.BurstMiB),
			fmt.Sprintf("%.1f MiB", x.PeakMiB), fmt.Sprintf("%s × 1 KiB", num(float64(x.Burst))))
	}
	for i, x := range r.IdleRSS {
		name := fmt.Sprintf("%s, idle round %d", x.Contender, i+1)
		if x.Err != "" {
			row(name, fmt.Sprint(x.Partitions), "error: "+escape(x.Err), "", "", "")
			continue
		}
		row(name, fmt.Sprint(x.Partitions), fmt.Sprintf("%.1f MiB", x.IdleMiB), "–", fmt.Sprintf("%.1f MiB", x.PeakMiB), "–")
	}
}

func (r *Report) method(b *strings.Builder, key string) {
	if len(r.Method[key]) == 0 {
		return
	}
	b.WriteString("\nMethod:\n\n")
	for _, m := range r.Method[key] {
		fmt.Fprintf(b, "- %s\n", m)
	}
}

func (r *Report) latencySizes() [][2]int {
	var out [][2]int
	for _, l := range r.Latency {
		s := [2]int{l.Members, l.Partitions}
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

func colCells(cells map[string]string, dashes bool) []string {
	out := make([]string, len(Columns))
	for i, c := range Columns {
		v, ok := cells[c]
		switch {
		case ok:
			out[i] = escape(v)
		case dashes:
			out[i] = "–"
		}
	}
	return out
}

// summarize groups equal failure reasons: "2× reason; 1× other".
func summarize(fs []string) string {
	var order []string
	count := map[string]int{}
	for _, f := range fs {
		if count[f] == 0 {
			order = append(order, f)
		}
		count[f]++
	}
	var parts []string
	for _, f := range order {
		parts = append(parts, fmt.Sprintf("%d× %s", count[f], f))
	}
	return strings.Join(parts, "; ")
}

func escape(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ").Replace(s)
}
