package bench

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// CPU targets: zkbalance's CPU time per message within 5 % of raw
// sarama's; a member catching up a 1 GiB backlog over 1000 partitions
// within 64 MiB.
const (
	TargetCPUOverRaw      = 1.05
	TargetBacklogMiB      = 64
	TargetBacklogParts    = 1000
	TargetBacklogMinBytes = 1 << 30
)

// CPU is the CPU time each contender's process spends reading one topic
// from the oldest offset to the end, rounds interleaved.
type CPU struct {
	Messages, Partitions, MessageBytes int
	Runs                               []CPURun
	Err                                string
}

// CPURun is one contender's process in one round.
type CPURun struct {
	Contender string
	Round     int
	// CPU is the process's user + system time (getrusage of the child).
	CPU time.Duration
	// Seconds is the time from its first message to its last.
	Seconds float64
	// PeakMiB is the process's peak RSS (ru_maxrss).
	PeakMiB float64
	Err     string
}

// PerMillion is c's CPU seconds per million messages in each round it
// completed, in round order.
func (x CPU) PerMillion(c string) []float64 {
	var out []float64
	for _, r := range x.Runs {
		if r.Contender == c && r.Err == "" && x.Messages > 0 {
			out = append(out, r.CPU.Seconds()*1e6/float64(x.Messages))
		}
	}
	return out
}

// PairedRatio is, for each round where both ran, a's CPU over b's; the
// median of those is what the target judges (both ran a few seconds
// apart, under the same load).
func (x CPU) PairedRatio(a, b string) []float64 {
	byRound := map[int]map[string]time.Duration{}
	for _, r := range x.Runs {
		if r.Err != "" || r.CPU <= 0 {
			continue
		}
		if byRound[r.Round] == nil {
			byRound[r.Round] = map[string]time.Duration{}
		}
		byRound[r.Round][r.Contender] = r.CPU
	}
	var out []float64
	for _, round := range slices.Sorted(func(yield func(int) bool) {
		for k := range byRound {
			if !yield(k) {
				return
			}
		}
	}) {
		ra, okA := byRound[round][a]
		rb, okB := byRound[round][b]
		if okA && okB {
			out = append(out, ra.Seconds()/rb.Seconds())
		}
	}
	return out
}

// CPUVerdict judges zkbalance against raw sarama: the median of the paired
// per-round ratios ≤ TargetCPUOverRaw.
func (r *Report) CPUVerdict() Verdict {
	target := fmt.Sprintf("≤ %.2f × raw sarama", TargetCPUOverRaw)
	ratios := r.CPU.PairedRatio(ZKBalance, RawSarama)
	if len(ratios) == 0 {
		return Verdict{Target: target, Detail: "not measured"}
	}
	m := median(ratios)
	return verdict(target, m <= TargetCPUOverRaw, fmt.Sprintf("%.2f ×, median of %d rounds", m, len(ratios)))
}

// Backlog is one zkbalance member process catching up a backlog spread
// over many partitions (one of several rounds, each a new group reading
// the same topic).
type Backlog struct {
	Round      int
	Partitions int
	Messages   int   // in all
	Bytes      int64 // message values in all
	Seconds    float64
	CPU        time.Duration
	PeakMiB    float64
	Err        string
}

// BacklogPeaks are the peak RSS of the backlog rounds that completed, in
// round order.
func (r *Report) BacklogPeaks() []float64 {
	var out []float64
	for _, b := range r.Backlog {
		if b.Err == "" {
			out = append(out, b.PeakMiB)
		}
	}
	return out
}

// BacklogVerdict: the median of the rounds' peak RSS ≤ 64 MiB at 1000
// partitions and 1 GiB. (One round's peak swings by several MiB with
// when the garbage collector happens to run.)
func (r *Report) BacklogVerdict() Verdict {
	target := fmt.Sprintf("peak RSS ≤ %d MiB (median of rounds)", TargetBacklogMiB)
	peaks := r.BacklogPeaks()
	if len(peaks) == 0 {
		return verdict(target, false, "not measured")
	}
	if b := r.Backlog[0]; b.Partitions < TargetBacklogParts || b.Bytes < TargetBacklogMinBytes {
		return Verdict{Target: target, Detail: fmt.Sprintf("measured at %d partitions and %s, the target is for %d and 1 GiB",
			b.Partitions, mib(b.Bytes), TargetBacklogParts)}
	}
	m := median(peaks)
	return verdict(target, m <= TargetBacklogMiB, fmt.Sprintf("%.1f MiB, median of %d", m, len(peaks)))
}

// backlogFigure is the rounds' median peak RSS and each round's.
func (r *Report) backlogFigure() string { return medianMiB(r.BacklogPeaks()) }

// medianMiB is the median of rounds' figures in MiB and each round's;
// "error" if there are none.
func medianMiB(vs []float64) string {
	if len(vs) == 0 {
		return "error"
	}
	each := make([]string, len(vs))
	for i, v := range vs {
		each[i] = fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.1f MiB (%s)", median(vs), strings.Join(each, ", "))
}

func mib(n int64) string { return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20)) }

func (r *Report) cpuMissing() []string {
	var out []string
	if r.CPU.Err != "" {
		out = append(out, "cpu: "+r.CPU.Err)
	}
	for _, x := range r.CPU.Runs {
		if x.Err != "" {
			out = append(out, fmt.Sprintf("cpu %s round %d: %s", x.Contender, x.Round, x.Err))
		}
	}
	for _, b := range r.Backlog {
		if b.Err != "" {
			out = append(out, fmt.Sprintf("backlog at %d partitions: %s", b.Partitions, b.Err))
		}
	}
	return out
}

func (r *Report) cpuSummary(row func(...string)) {
	if len(r.CPU.Runs) > 0 {
		cells := map[string]string{}
		for _, c := range Columns {
			if v := r.CPU.PerMillion(c); len(v) > 0 {
				cells[c] = fmt.Sprintf("%.2f s", median(v))
			}
		}
		v := r.CPUVerdict()
		row(append(append([]string{fmt.Sprintf("CPU seconds (user + sys) per million %d B messages, own process each (median of rounds)", r.CPU.MessageBytes)},
			colCells(cells, true)...), v.Target, v.cell())...)
	}
	if len(r.Backlog) > 0 {
		b, v := r.Backlog[0], r.BacklogVerdict()
		row(append(append([]string{fmt.Sprintf("peak RSS of a member catching up %s over %d partitions (median of rounds, each round)", mib(b.Bytes), b.Partitions)},
			colCells(map[string]string{ZKBalance: r.backlogFigure()}, true)...), v.Target, v.cell())...)
	}
}

func (r *Report) cpuTable(b *strings.Builder) {
	row := func(cells ...string) { fmt.Fprintf(b, "| %s |\n", strings.Join(cells, " | ")) }
	x := r.CPU
	if len(x.Runs) > 0 {
		fmt.Fprintf(b, "%s messages of %d B over %d partitions, read from the oldest offset by each contender in its own process.\n\n",
			num(float64(x.Messages)), x.MessageBytes, x.Partitions)
		row("contender", "CPU s per million (each round)", "median", "msgs/s (median)", "peak RSS (median)")
		row(slices.Repeat([]string{"---"}, 5)...)
		for _, c := range Columns {
			var cpu, rates, peaks []float64
			var errs []string
			for _, run := range x.Runs {
				if run.Contender != c {
					continue
				}
				if run.Err != "" {
					errs = append(errs, run.Err)
					continue
				}
				cpu = append(cpu, run.CPU.Seconds()*1e6/float64(x.Messages))
				if run.Seconds > 0 {
					rates = append(rates, float64(x.Messages)/run.Seconds)
				}
				peaks = append(peaks, run.PeakMiB)
			}
			if len(cpu) == 0 && len(errs) == 0 {
				continue
			}
			var each []string
			for _, v := range cpu {
				each = append(each, fmt.Sprintf("%.2f", v))
			}
			cell := strings.Join(each, ", ")
			if len(errs) > 0 {
				cell = strings.TrimSpace(cell + " error: " + escape(summarize(errs)))
			}
			med, rate, peak := "–", "–", "–"
			if len(cpu) > 0 {
				med, peak = fmt.Sprintf("%.2f s", median(cpu)), fmt.Sprintf("%.1f MiB", median(peaks))
			}
			if len(rates) > 0 {
				rate = num(median(rates))
			}
			row(c, cell, med, rate, peak)
		}
		if ratios := x.PairedRatio(ZKBalance, RawSarama); len(ratios) > 0 {
			var each []string
			for _, v := range ratios {
				each = append(each, fmt.Sprintf("%.2f", v))
			}
			fmt.Fprintf(b, "\nzkbalance's CPU over raw sarama's, round by round: %s (median %.2f; goal ≤ %.2f).\n", strings.Join(each, ", "), median(ratios), TargetCPUOverRaw)
		}
	} else if x.Err != "" {
		fmt.Fprintf(b, "error: %s\n", escape(x.Err))
	}
	if len(r.Backlog) > 0 {
		b.WriteString("\n")
		row("backlog", "round", "partitions", "read in", "CPU (user + sys)", "peak RSS")
		row(slices.Repeat([]string{"---"}, 6)...)
		for _, bl := range r.Backlog {
			what := fmt.Sprintf("%s messages, %s", num(float64(bl.Messages)), mib(bl.Bytes))
			if bl.Err != "" {
				row(what, fmt.Sprint(bl.Round+1), fmt.Sprint(bl.Partitions), "error: "+escape(bl.Err), "", "")
				continue
			}
			row(what, fmt.Sprint(bl.Round+1), fmt.Sprint(bl.Partitions),
				fmt.Sprintf("%.1f s", bl.Seconds), fmt.Sprintf("%.1f s", bl.CPU.Seconds()), fmt.Sprintf("%.1f MiB", bl.PeakMiB))
		}
		v := r.BacklogVerdict()
		fmt.Fprintf(b, "\nPeak RSS, median of the rounds: %s (goal: ≤ %d MiB at %d partitions and 1 GiB): %s.\n", r.backlogFigure(), TargetBacklogMiB, TargetBacklogParts, v.cell())
	}
}
