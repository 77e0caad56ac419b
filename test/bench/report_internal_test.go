package bench

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	var ds []time.Duration
	for i := 20; i >= 1; i-- {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	for _, c := range []struct {
		p    float64
		want time.Duration
	}{{.5, 10 * time.Millisecond}, {.99, 20 * time.Millisecond}, {1, 20 * time.Millisecond}, {.05, time.Millisecond}} {
		if got := Percentile(ds, c.p); got != c.want {
			t.Errorf("Percentile(1..20 ms, %v) = %v, want %v", c.p, got, c.want)
		}
	}
	if got := Percentile(nil, .5); got != 0 {
		t.Errorf("Percentile(nil) = %v", got)
	}
}

func TestVerdicts(t *testing.T) {
	r := &Report{Throughput: Throughput{Messages: 1000, Partitions: 8, MessageBytes: 1024, Rates: []Rate{
		{Contender: ZKBalance, PerSec: []float64{96, 100, 300}},
		{Contender: RawSarama, PerSec: []float64{100}},
		{Contender: SaramaGroup, PerSec: []float64{101}},
		{Contender: Pykafka, PerSec: []float64{9}},
	}}}
	var met []bool
	for _, v := range r.ThroughputVerdicts() {
		if v.Met == nil {
			t.Fatalf("%s not judged: %s", v.Target, v.Detail)
		}
		met = append(met, *v.Met)
	}
	if want := []bool{true, false, true}; !equalBools(met, want) {
		t.Errorf("throughput verdicts %v, want %v", met, want)
	}

	ms := func(vs ...int) []time.Duration {
		var out []time.Duration
		for _, v := range vs {
			out = append(out, time.Duration(v)*time.Millisecond)
		}
		return out
	}
	ok := Latency{Contender: ZKBalance, Members: 16, Partitions: 256, Attempted: 3, Fetching: ms(100, 150, 900)}
	if v := r.LatencyVerdict(ok); v.Met == nil || !*v.Met {
		t.Errorf("latency %v: %+v", ok.Fetching, v)
	}
	slow := ok
	slow.Fetching = ms(100, 250, 300)
	if v := r.LatencyVerdict(slow); v.Met == nil || *v.Met {
		t.Errorf("latency %v: %+v", slow.Fetching, v)
	}
	other := ok
	other.Members = 4
	if v := r.LatencyVerdict(other); v.Target != "" {
		t.Errorf("latency at 4 members judged: %+v", v)
	}

	w := Writes{Assignor: "sticky", Members: 16, Partitions: 256, Dirs: 1, Moved: 15, Total: 30}
	if v := r.WritesVerdict(w); v.Met == nil || !*v.Met {
		t.Errorf("writes %+v: %+v", w, v)
	}
	w.Total = 34
	if v := r.WritesVerdict(w); v.Met == nil || *v.Met {
		t.Errorf("writes %+v: %+v", w, v)
	}
	if w := (Writes{Partitions: 256, Members: 16, Dirs: 2, Moved: 15}); w.MinMoved() != 15 || w.Minimum() != 60 {
		t.Errorf("MinMoved %d, Minimum %d", w.MinMoved(), w.Minimum())
	}
}

func equalBools(a, b []bool) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestMarkdownAndMissing(t *testing.T) {
	r := &Report{
		Facts: []Fact{{"date", "today"}},
		Throughput: Throughput{Messages: 1_000_000, Partitions: 8, MessageBytes: 1024, Rates: []Rate{
			{Contender: ZKBalance, PerSec: []float64{250_000}},
			{Contender: RawSarama, Err: "boom"},
		}},
		Latency: []Latency{
			{Contender: ZKBalance, Variant: "scala-range", Members: 16, Partitions: 256, Attempted: 2, Fetching: []time.Duration{time.Millisecond}, Failures: []string{"x"}},
			{Contender: Pykafka, Variant: "pykafka-range", Members: 16, Partitions: 256, Attempted: 3, Failures: []string{"a member exited", "a member exited", "not converged"}},
		},
		Writes: []Writes{{Assignor: "sticky", Members: 16, Partitions: 256, Dirs: 1, Moved: 15, Creates: 15, Deletes: 15, Total: 30}},
		RSS:    []RSS{{Contender: ZKBalance, Partitions: 1000, BurstMiB: 40, PeakMiB: 41}},
		IdleRSS: []RSS{{Contender: ZKBalance, Partitions: 4096, IdleMiB: 50, PeakMiB: 60}, {Contender: ZKBalance, Partitions: 4096, IdleMiB: 70, PeakMiB: 80},
			{Contender: ZKBalance, Partitions: 4096, IdleMiB: 48, PeakMiB: 58}, {Contender: ZKBalance, Partitions: 4096, Err: "no id"}},
		Method: map[string][]string{"latency": {"how"}},
	}
	var b bytes.Buffer
	if err := r.WriteMarkdown(&b); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	for _, want := range []string{
		"| date | today |",
		"| consume throughput, msgs/s (1 000 000 × 1024 B, 8 partitions, 1 member; median of rounds) | 250 000 | error |",
		"none of 3 joins converged",
		"2× a member exited; 1× not converged",
		"| 16 + 1 × 256 | zkbalance | scala-range | 1 of 2 |",
		"**yes** (30 writes for 15 moved",
		"**yes** (40.0 MiB)",
		"| RSS of an idle member owning 4096 partitions (median of rounds, each round) | 50.0 MiB (50.0, 70.0, 48.0) |",
		"idle ≤ 64 MiB (median of rounds) | **yes** (50.0 MiB, median of 3) |",
		"| zkbalance, idle round 2 | 4096 | 70.0 MiB | – | 80.0 MiB | – |",
		"| zkbalance, idle round 4 | 4096 | error: no id |",
		"- how",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("Markdown lacks %q:\n%s", want, md)
		}
	}
	missing := strings.Join(r.Missing(), "\n")
	for _, want := range []string{"throughput raw sarama: boom", "latency zkbalance (scala-range) at 16 x 256: 1 joins did not converge", "rss idle round 4: no id"} {
		if !strings.Contains(missing, want) {
			t.Errorf("Missing lacks %q: %s", want, missing)
		}
	}
	if strings.Contains(missing, "pykafka") {
		t.Errorf("a foreign contender's failed joins are an outcome, not a missing row: %s", missing)
	}
}
