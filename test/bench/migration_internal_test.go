package bench

import (
	"strings"
	"testing"
	"time"
)

func TestGap(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	recs := func(pairs ...int) []Processed { // offset, ms, offset, ms, ...
		var out []Processed
		for i := 0; i+1 < len(pairs); i += 2 {
			out = append(out, Processed{Offset: int64(pairs[i]), At: at(pairs[i+1])})
		}
		return out
	}
	for _, c := range []struct {
		name       string
		recs       []Processed
		begin, end int
		want       int
		ok         bool
	}{
		{"stop and start", recs(0, 0, 1, 100, 2, 200, 3, 3200, 4, 3201, 5, 3300), 150, 1000, 3000, true},
		{"unsorted", recs(3, 3200, 0, 0, 2, 200, 1, 100), 150, 1000, 3000, true},
		{"old members process after begin", recs(0, 0, 1, 100, 2, 250, 3, 2250), 150, 1000, 2000, true},
		{"no-op switch: the interval around begin", recs(0, 0, 1, 100, 2, 200), 150, 150, 100, true},
		{"pause before end counted, after the first after end not", recs(0, 0, 1, 900, 2, 1000, 3, 5000), 500, 950, 900, true},
		{"nothing before", recs(0, 200, 1, 300), 150, 150, 0, false},
		{"nothing after", recs(0, 0, 1, 100), 150, 1000, 0, false},
		{"none", nil, 0, 0, 0, false},
	} {
		got, ok := Gap(c.recs, at(c.begin), at(c.end))
		if ok != c.ok || got != time.Duration(c.want)*time.Millisecond {
			t.Errorf("%s: Gap = %v, %v; want %v ms, %v", c.name, got, ok, c.want, c.ok)
		}
	}
}

func TestDelivery(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	for _, c := range []struct {
		name            string
		recs            []Processed
		end             int64
		since           int
		lost, duplicate int
	}{
		{"all once", []Processed{{0, at(0)}, {1, at(1)}, {2, at(2)}}, 3, 1, 0, 0},
		{"one lost", []Processed{{0, at(0)}, {2, at(2)}}, 3, 1, 1, 0},
		{"tail lost", []Processed{{0, at(0)}}, 3, 1, 2, 0},
		{"redelivered after since", []Processed{{0, at(0)}, {1, at(1)}, {1, at(5)}, {2, at(6)}}, 3, 3, 0, 1},
		{"redelivered before since not counted", []Processed{{0, at(0)}, {0, at(1)}, {1, at(5)}}, 2, 3, 0, 0},
		{"beyond end ignored for lost", []Processed{{0, at(0)}, {1, at(1)}, {5, at(2)}}, 2, 1, 0, 0},
		{"nothing produced", nil, 0, 0, 0, 0},
	} {
		lost, dup := Delivery(c.recs, c.end, at(c.since))
		if lost != c.lost || dup != c.duplicate {
			t.Errorf("%s: Delivery = %d lost, %d duplicates; want %d, %d", c.name, lost, dup, c.lost, c.duplicate)
		}
	}
}

func TestMigrationVerdict(t *testing.T) {
	r := &Report{}
	gaps := func(n int, d time.Duration) []time.Duration {
		out := make([]time.Duration, n)
		for i := range out {
			out[i] = d
		}
		return out
	}
	toggle := Migration{Method: MethodToggle, Members: 16, Partitions: 256, Gaps: gaps(256, 300*time.Millisecond)}
	if v := r.MigrationVerdict(toggle); v.Met == nil || !*v.Met {
		t.Errorf("toggle at 300 ms: %+v", v)
	}
	slow := toggle
	slow.Gaps = append(gaps(250, 300*time.Millisecond), gaps(6, 2*time.Second)...)
	if v := r.MigrationVerdict(slow); v.Met == nil || *v.Met {
		t.Errorf("toggle with 6 of 256 at 2 s: %+v", v)
	}
	lost := toggle
	lost.Lost = 1
	if v := r.MigrationVerdict(lost); v.Met == nil || *v.Met {
		t.Errorf("toggle with a lost message: %+v", v)
	}
	partial := toggle
	partial.Gaps = partial.Gaps[:10]
	if v := r.MigrationVerdict(partial); v.Met == nil || *v.Met {
		t.Errorf("toggle with 10 of 256 gaps: %+v", v)
	}
	small := toggle
	small.Members, small.Partitions = 4, 32
	if v := r.MigrationVerdict(small); v.Target == "" || v.Met != nil {
		t.Errorf("toggle at 4 x 32 must not be judged: %+v", v)
	}
	if v := r.MigrationVerdict(Migration{Method: MethodOldWay, Members: 16, Partitions: 256}); v.Target != "" {
		t.Errorf("the old way is not judged: %+v", v)
	}
}

func TestMigrationMarkdown(t *testing.T) {
	r := &Report{Migration: []Migration{{
		Method: MethodOldWay, Members: 4, Partitions: 2, Interval: 100 * time.Millisecond, Produced: 1000, ProduceTime: 10 * time.Second,
		Floor: []time.Duration{90 * time.Millisecond, 100 * time.Millisecond}, Gaps: []time.Duration{4 * time.Second, 5 * time.Second},
		Switch: 3 * time.Second, Steps: []Step{{"stop all", time.Second}, {"migrate", 200 * time.Millisecond}},
	}}, Method: map[string][]string{"migration": {"what is measured"}}}
	var b strings.Builder
	if err := r.WriteMarkdown(&b); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	for _, want := range []string{
		"## Processing gap during a switch to Kafka coordination",
		"| " + MethodOldWay + " | 4 × 2 | 1 msg / partition / 100 ms (100 msgs/s achieved) | 90 ms / 100 ms | 4.00 s | 5.00 s | 5.00 s | 3.00 s | 0 | 0 | – (the baseline) | stop all 1.00 s, migrate 200 ms. |",
		"processing gap p50 / p99 during a switch ZooKeeper → Kafka coordination at 4 × 2 | old way 4.00 s / 5.00 s |",
		"not judged: the toggle was not measured",
		"- what is measured",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	if m := r.Missing(); len(m) != 0 {
		t.Errorf("Missing = %v", m)
	}
	r.Migration[0].Gaps = r.Migration[0].Gaps[:1]
	if m := r.Missing(); len(m) != 1 {
		t.Errorf("Missing with one gap of two = %v", m)
	}
}
