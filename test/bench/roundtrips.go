package bench

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// TargetRoundTrips is the most ZooKeeper round trips a zkbalance join may
// have on its critical path (register, be noticed, read the group, release,
// claim are about five).
const TargetRoundTrips = 8

// RoundTrips is one contender's join latency at one group size with
// ZooKeeper behind a proxy, without and with an added round trip: how many
// sequential ZooKeeper round trips a join waits for.
type RoundTrips struct {
	Contender  string
	Variant    string
	Members    int
	Partitions int
	// RTT is the round trip the proxy adds (half of it each way).
	RTT time.Duration
	// Base and Delayed are the joins' times until every partition was
	// owned and fetching, through the proxy with no delay and with RTT.
	Base, Delayed []time.Duration
	Note          string
	Err           string
}

// Count is (p50 with the delay − p50 without) / RTT, and false when either
// side has no converged join.
func (x RoundTrips) Count() (float64, bool) {
	if len(x.Base) == 0 || len(x.Delayed) == 0 || x.RTT <= 0 {
		return 0, false
	}
	diff := Percentile(x.Delayed, .5) - Percentile(x.Base, .5)
	return float64(diff) / float64(x.RTT), true
}

// RoundTripsVerdict judges zkbalance: at most TargetRoundTrips. Other
// contenders are not judged (Target "").
func (r *Report) RoundTripsVerdict(x RoundTrips) Verdict {
	if x.Contender != ZKBalance {
		return Verdict{}
	}
	target := fmt.Sprintf("≤ %d round trips", TargetRoundTrips)
	n, ok := x.Count()
	if !ok {
		return verdict(target, false, "not measured")
	}
	return verdict(target, n <= TargetRoundTrips, fmt.Sprintf("%.1f", n))
}

func (x RoundTrips) name() string {
	return fmt.Sprintf("round trips %s (%s) at %d x %d", x.Contender, x.Variant, x.Members, x.Partitions)
}

func (r *Report) roundTripsMissing() []string {
	var out []string
	for _, x := range r.RoundTrips {
		switch _, ok := x.Count(); {
		case x.Err != "":
			out = append(out, x.name()+": "+x.Err)
		case !ok:
			out = append(out, x.name()+": no converged join on one side")
		}
	}
	return out
}

func (r *Report) roundTripsSummary(row func(...string)) {
	var figs []string
	var v Verdict
	size, rtt := "", ""
	for _, x := range r.RoundTrips {
		n, ok := x.Count()
		fig := "error"
		if ok {
			fig = fmt.Sprintf("%.1f", n)
		}
		if x.Contender == ZKBalance {
			figs = append(figs, x.Variant+" "+fig)
			if xv := r.RoundTripsVerdict(x); v.Target == "" || (xv.Met != nil && !*xv.Met) {
				v = xv
			}
		}
		size, rtt = fmt.Sprintf("%d × %d", x.Members, x.Partitions), ms(x.RTT)
	}
	if len(figs) == 0 {
		return
	}
	cells := map[string]string{ZKBalance: strings.Join(figs, "; ")}
	for _, x := range r.RoundTrips {
		if n, ok := x.Count(); ok && x.Contender != ZKBalance {
			cells[x.Contender] = fmt.Sprintf("%.1f", n)
		}
	}
	row(append(append([]string{fmt.Sprintf("ZooKeeper round trips on a join's critical path at %s (+%s round trip)", size, rtt)},
		colCells(cells, true)...), v.Target, v.cell())...)
}

func (r *Report) roundTripsTable(b *strings.Builder) {
	row := func(cells ...string) { fmt.Fprintf(b, "| %s |\n", strings.Join(cells, " | ")) }
	row("contender", "variant", "group", "joins", "p50 / p99 through the proxy", "p50 / p99 with +RTT", "round trips", fmt.Sprintf("goal: ≤ %d (zkbalance)", TargetRoundTrips), "notes")
	row(slices.Repeat([]string{"---"}, 9)...)
	for _, x := range r.RoundTrips {
		lat := func(ds []time.Duration) string {
			if len(ds) == 0 {
				return "–"
			}
			return ms(Percentile(ds, .5)) + " / " + ms(Percentile(ds, .99))
		}
		count, goal := "–", "–"
		if n, ok := x.Count(); ok {
			count = fmt.Sprintf("%.1f", n)
		}
		if v := r.RoundTripsVerdict(x); v.Target != "" {
			goal = v.cell()
		}
		notes := x.Note
		if x.Err != "" {
			notes = strings.TrimSpace("error: " + x.Err + ". " + notes)
		}
		row(x.Contender, x.Variant, fmt.Sprintf("%d × %d", x.Members, x.Partitions),
			fmt.Sprintf("%d + %d", len(x.Base), len(x.Delayed)), lat(x.Base), fmt.Sprintf("%s (+%s)", lat(x.Delayed), ms(x.RTT)),
			count, goal, escape(notes))
	}
}
