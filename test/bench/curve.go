package bench

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Scale-curve targets: a join at every size up to 64 × 4096, for each
// assignor.
const (
	TargetCurveP50 = 250 * time.Millisecond
	TargetCurveP99 = time.Second
)

// Curve is one point of the scale curve: joins into a group of Members
// member processes on a topic of Partitions partitions, with one assignor.
type Curve struct {
	Assignor   string
	Members    int // steady members before the join
	Partitions int
	Attempted  int
	// Joins are the converged joins' times: from the joiner's start line
	// (printed just before balanced.New) until every member's reported set
	// (printed by its hooks) is its share. ExecJoins are the same joins
	// from just before the joiner's exec (process start-up included).
	Joins, ExecJoins []time.Duration
	// Requests are the ZooKeeper requests the server received during each
	// converged join (its "Received" count, pings included).
	Requests []int64
	// Moved and OwnerWrites are, per converged join, the partitions whose
	// owner changed and the owner znode creates + deletes (the owner
	// directory's cversion).
	Moved, OwnerWrites []int
	// RSSMiB is every member's VmRSS after each converged join.
	RSSMiB   []float64
	Failures []string
	Note     string
	Err      string
}

func (c Curve) name() string {
	return fmt.Sprintf("curve %s at %d x %d", c.Assignor, c.Members, c.Partitions)
}

// CurveVerdict: p50 ≤ 250 ms and p99 ≤ 1 s, every join converged.
func (r *Report) CurveVerdict(c Curve) Verdict {
	target := fmt.Sprintf("p50 ≤ %s, p99 ≤ %s", ms(TargetCurveP50), ms(TargetCurveP99))
	if len(c.Joins) == 0 {
		return verdict(target, false, "no join converged")
	}
	p50, p99 := Percentile(c.Joins, .5), Percentile(c.Joins, .99)
	return verdict(target, p50 <= TargetCurveP50 && p99 <= TargetCurveP99 && len(c.Failures) == 0,
		fmt.Sprintf("%s / %s", ms(p50), ms(p99)))
}

// CurveWritesVerdict: sticky writes exactly what moves (a delete and a
// create per moved partition) in every join.
func (r *Report) CurveWritesVerdict(c Curve) Verdict {
	if c.Assignor != "sticky" || len(c.Moved) == 0 {
		return Verdict{}
	}
	ok := true
	for i := range c.Moved {
		ok = ok && c.OwnerWrites[i] == 2*c.Moved[i]
	}
	return verdict("writes = 2 × moved", ok, fmt.Sprintf("%s writes for %s moved", ints(c.OwnerWrites), ints(c.Moved)))
}

func ints(vs []int) string {
	var s []string
	for _, v := range vs {
		s = append(s, fmt.Sprint(v))
	}
	if len(s) > 6 {
		s = append(s[:6], "…")
	}
	return strings.Join(s, ", ")
}

func medianInt64(vs []int64) float64 {
	fs := make([]float64, len(vs))
	for i, v := range vs {
		fs[i] = float64(v)
	}
	return median(fs)
}

func (r *Report) curveMissing() []string {
	var out []string
	for _, c := range r.Curve {
		switch {
		case c.Err != "":
			out = append(out, c.name()+": "+c.Err)
		case c.Attempted == 0:
			out = append(out, c.name()+": no join attempted")
		case len(c.Failures) > 0:
			out = append(out, fmt.Sprintf("%s: %d joins did not converge: %s", c.name(), len(c.Failures), c.Failures[0]))
		}
	}
	return out
}

func (r *Report) curveSummary(row func(...string)) {
	if len(r.Curve) == 0 {
		return
	}
	worst := map[string]Verdict{}
	var order []string
	for _, c := range r.Curve {
		if _, seen := worst[c.Assignor]; !seen {
			order = append(order, c.Assignor)
		}
		v := r.CurveVerdict(c)
		v.Detail = fmt.Sprintf("%d × %d: %s", c.Members, c.Partitions, v.Detail)
		if w, seen := worst[c.Assignor]; !seen || (w.Met != nil && *w.Met && v.Met != nil && !*v.Met) {
			worst[c.Assignor] = v
		}
	}
	for _, a := range order {
		var figs []string
		for _, c := range r.Curve {
			if c.Assignor == a && len(c.Joins) > 0 {
				figs = append(figs, fmt.Sprintf("%d×%d %s", c.Members, c.Partitions, ms(Percentile(c.Joins, .5))))
			}
		}
		v := worst[a]
		if v.Met != nil && *v.Met {
			v.Detail = "every size"
		}
		row(append(append([]string{"join p50 by group size, " + a + " (member processes)"},
			colCells(map[string]string{ZKBalance: strings.Join(figs, "; ")}, true)...), v.Target, v.cell())...)
	}
}

func (r *Report) curveTable(b *strings.Builder) {
	row := func(cells ...string) { fmt.Fprintf(b, "| %s |\n", strings.Join(cells, " | ")) }
	row("assignor", "group", "joins", "p50", "p99", "goal: p50 ≤ 250 ms, p99 ≤ 1 s", "from exec p50 / p99", "ZooKeeper requests per join (median)", "moved / owner writes (median)", "sticky: writes = 2 × moved", "RSS per member (median / max)", "notes")
	row(slices.Repeat([]string{"---"}, 12)...)
	for _, c := range r.Curve {
		p50, p99 := "–", "–"
		if len(c.Joins) > 0 {
			p50, p99 = ms(Percentile(c.Joins, .5)), ms(Percentile(c.Joins, .99))
		}
		reqs, moves, rss, exec := "–", "–", "–", "–"
		if len(c.ExecJoins) > 0 {
			exec = fmt.Sprintf("%s / %s", ms(Percentile(c.ExecJoins, .5)), ms(Percentile(c.ExecJoins, .99)))
		}
		if len(c.Requests) > 0 {
			reqs = num(medianInt64(c.Requests))
		}
		if len(c.Moved) > 0 {
			mv, ow := make([]float64, len(c.Moved)), make([]float64, len(c.OwnerWrites))
			for i := range c.Moved {
				mv[i], ow[i] = float64(c.Moved[i]), float64(c.OwnerWrites[i])
			}
			moves = fmt.Sprintf("%s / %s", num(median(mv)), num(median(ow)))
		}
		if len(c.RSSMiB) > 0 {
			rss = fmt.Sprintf("%.1f / %.1f MiB", median(c.RSSMiB), slices.Max(c.RSSMiB))
		}
		sticky := "–"
		if v := r.CurveWritesVerdict(c); v.Target != "" {
			sticky = v.cell()
		}
		notes := c.Note
		if c.Err != "" {
			notes = strings.TrimSpace("error: " + c.Err + ". " + notes)
		}
		if len(c.Failures) > 0 {
			notes = strings.TrimSpace(fmt.Sprintf("%s %d did not converge: %s", notes, len(c.Failures), summarize(c.Failures)))
		}
		row(c.Assignor, fmt.Sprintf("%d + 1 × %d", c.Members, c.Partitions), fmt.Sprintf("%d of %d", len(c.Joins), c.Attempted),
			p50, p99, r.CurveVerdict(c).cell(), exec, reqs, moves, sticky, rss, escape(notes))
	}
}
