package zkwatch

import (
	"slices"
	"testing"
	"time"
)

func TestBurstDue(t *testing.T) {
	t0 := time.Unix(1000, 0)
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	type step struct {
		at     int    // ms
		add    string // trigger reason, "" = try take
		want   bool   // take result
		wantN  int
		reason []string
	}
	for _, tc := range []struct {
		name       string
		quiet, max time.Duration
		steps      []step
	}{
		{"single trigger fires after quiet", 50 * time.Millisecond, time.Second, []step{
			{at: 0, add: "a"}, {at: 49, want: false}, {at: 50, want: true, wantN: 1, reason: []string{"a"}},
		}},
		{"burst extends while quiet is broken", 50 * time.Millisecond, time.Second, []step{
			{at: 0, add: "a"}, {at: 40, add: "b"}, {at: 80, add: "a"}, {at: 100, want: false},
			{at: 130, want: true, wantN: 3, reason: []string{"a", "b"}},
		}},
		{"max wait caps an endless burst", 50 * time.Millisecond, 200 * time.Millisecond, []step{
			{at: 0, add: "x"}, {at: 40, add: "x"}, {at: 80, add: "x"}, {at: 120, add: "x"}, {at: 160, add: "x"},
			{at: 199, want: false}, {at: 200, want: true, wantN: 5, reason: []string{"x"}},
		}},
		{"nothing pending", 50 * time.Millisecond, time.Second, []step{{at: 500, want: false}}},
		{"second burst after take", 10 * time.Millisecond, time.Second, []step{
			{at: 0, add: "a"}, {at: 10, want: true, wantN: 1, reason: []string{"a"}},
			{at: 11, want: false}, {at: 20, add: "b"}, {at: 30, want: true, wantN: 1, reason: []string{"b"}},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := burst{quiet: tc.quiet, max: tc.max}
			for i, s := range tc.steps {
				if s.add != "" {
					b.add(ms(s.at), s.add)
					continue
				}
				sig, ok := b.take(ms(s.at))
				if ok != s.want {
					t.Fatalf("step %d at %dms: take = %v, want %v", i, s.at, ok, s.want)
				}
				if ok && (sig.Count != s.wantN || !slices.Equal(sig.Reasons, s.reason)) {
					t.Fatalf("step %d: signal %+v, want count %d reasons %v", i, sig, s.wantN, s.reason)
				}
			}
		})
	}
}

func TestMergeUnreadSignals(t *testing.T) {
	a := Signal{Reasons: []string{"ids", "topics"}, Count: 2, First: time.Unix(1, 0), Last: time.Unix(2, 0)}
	b := Signal{Reasons: []string{"brokers", "ids"}, Count: 3, First: time.Unix(3, 0), Last: time.Unix(4, 0)}
	m := merge(a, b)
	if m.Count != 5 || !slices.Equal(m.Reasons, []string{"ids", "topics", "brokers"}) ||
		!m.First.Equal(a.First) || !m.Last.Equal(b.Last) {
		t.Fatalf("merge = %+v", m)
	}
}
