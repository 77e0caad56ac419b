package bench_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/zkbalance/zkbalance/internal/proxy"
	"github.com/zkbalance/zkbalance/test/bench"
)

// runRoundTrips measures each contender's join at rttMembers × partitions
// with every member's ZooKeeper connection through a proxy: first with no
// added delay, then with -bench.rtt more per round trip. The difference of
// the p50s over the round trip is the number of sequential ZooKeeper round
// trips on a join's critical path.
func (r *run) runRoundTrips(t *testing.T) {
	s, rtt := r.sizes, *flagRTT
	topic, err := createTopic(r.ctx, r.cl, "rtt", s.partitions)
	px, perr := proxy.New(r.ctx, r.cl.ZooKeeperAddr())
	if err == nil {
		err = perr
	}
	if perr == nil {
		defer px.Close()
	}
	measure := func(x bench.RoundTrips, g joinGroup) bench.RoundTrips {
		if err != nil {
			x.Err = err.Error()
			return x
		}
		// The joins alternate, without and with the delay, in one run, so
		// that drift (the machine's load, the group's history) falls on
		// both sides alike.
		ag := &alternating{joinGroup: g, px: px, rtt: rtt}
		l := runLatency(t, r.ctx, bench.Latency{Contender: x.Contender, Variant: x.Variant, Members: x.Members, Partitions: x.Partitions}, ag, 2*s.rttJoins)
		x.Err, x.Note = l.Err, l.Note
		x.Base, x.Delayed = ag.base, ag.delayed
		px.SetLatency(0)
		n, _ := x.Count()
		t.Logf("round trips %s (%s) %d x %d: p50 %s through the proxy, %s with +%s: %.1f round trips",
			x.Contender, x.Variant, x.Members, x.Partitions, bench.Percentile(x.Base, .5), bench.Percentile(x.Delayed, .5), rtt, n)
		return x
	}
	for _, a := range s.latencyAssignors {
		x := bench.RoundTrips{Contender: bench.ZKBalance, Variant: a, Members: s.rttMembers, Partitions: s.partitions, RTT: rtt}
		var g joinGroup
		if err == nil {
			zg, gerr := newZKGroup(r.ctx, r.cl, r.obs, a, topic, s.partitions)
			if gerr != nil {
				x.Err = gerr.Error()
				r.report.RoundTrips = append(r.report.RoundTrips, x)
				continue
			}
			zg.zk = px.Addr()
			g = zg
		}
		r.report.RoundTrips = append(r.report.RoundTrips, measure(x, g))
	}
	if r.python != "" && *flagFull {
		x := bench.RoundTrips{Contender: bench.Pykafka, Variant: "pykafka-range", Members: s.rttMembers, Partitions: s.partitions, RTT: rtt}
		var g joinGroup
		if err == nil {
			g = &pyGroup{cl: r.cl, python: r.python, topic: topic, parts: s.partitions, zk: px.Addr()}
		}
		r.report.RoundTrips = append(r.report.RoundTrips, measure(x, g))
	}
}

// alternating is a joinGroup whose joins alternate between no delay and
// rtt through px (forming and leaving run at the delay of the last join),
// sorting the converged joins' times into base and delayed.
type alternating struct {
	joinGroup
	px            *proxy.Proxy
	rtt           time.Duration
	n             int
	base, delayed []time.Duration
}

func (a *alternating) form(ctx context.Context, n int) error {
	a.px.SetLatency(0)
	return a.joinGroup.form(ctx, n)
}

func (a *alternating) join(ctx context.Context) (fetching, owned time.Duration, err error) {
	delayed := a.n%2 == 1
	a.n++
	a.px.SetLatency(0)
	if delayed {
		a.px.SetLatency(a.rtt / 2)
	}
	fetching, owned, err = a.joinGroup.join(ctx)
	switch {
	case err != nil:
	case delayed:
		a.delayed = append(a.delayed, fetching)
	default:
		a.base = append(a.base, fetching)
	}
	return fetching, owned, err
}

func (r *run) roundTripsMethod() []string {
	s := r.sizes
	return []string{
		fmt.Sprintf("Every member's ZooKeeper connection goes through a proxy (internal/proxy) in front of the cluster's ZooKeeper; Kafka is reached directly. "+
			"For each contender: %d joins into a group of %d on a topic of %d partitions, measured as in the latency section, alternately through the proxy with no delay "+
			"and with %s added to each round trip (%s each way, from the moment the proxy reads a byte: pipelined requests keep their overlap), %d of each.",
			2*s.rttJoins, s.rttMembers, s.partitions, ms(*flagRTT), ms(*flagRTT/2), s.rttJoins),
		"round trips = (p50 with the delay − p50 without) / the added round trip: the ZooKeeper requests a join waits for one after the other " +
			"(register, be noticed by the others, read the group, release, claim: about five). pykafka takes part only in make bench (-bench.full).",
	}
}

func ms(d time.Duration) string { return d.Round(time.Millisecond).String() }
