package main

import (
	"errors"
	"reflect"
	"testing"
	"time"
)

var uiT0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func uiAt(s int) time.Time { return uiT0.Add(time.Duration(s) * time.Second) }

func TestHistorySize(t *testing.T) {
	for _, c := range []struct {
		window, interval time.Duration
		want             int
	}{
		{15 * time.Minute, 5 * time.Second, 181},
		{10 * time.Second, 3 * time.Second, 5}, // 3.33 intervals: 4, +1
		{time.Second, time.Minute, 2},
		{0, time.Second, 2},
		{time.Minute, 0, 2},
		{24 * time.Hour, time.Millisecond, maxSamples},
	} {
		if got := historySize(c.window, c.interval); got != c.want {
			t.Errorf("historySize(%v, %v) = %d, want %d", c.window, c.interval, got, c.want)
		}
	}
}

func TestLagRing(t *testing.T) {
	times := func(ss []lagSample) []int {
		out := []int{}
		for _, s := range ss {
			out = append(out, int(s.Time.Sub(uiT0)/time.Second))
		}
		return out
	}
	for _, c := range []struct {
		name string
		size int
		add  []int // sample times in seconds
		want []int
	}{
		{"empty", 3, nil, []int{}},
		{"partial", 3, []int{1, 2}, []int{1, 2}},
		{"exactly full", 3, []int{1, 2, 3}, []int{1, 2, 3}},
		{"wraps", 3, []int{1, 2, 3, 4, 5}, []int{3, 4, 5}},
		{"wraps twice", 2, []int{1, 2, 3, 4, 5, 6, 7}, []int{6, 7}},
		{"older and equal ignored", 3, []int{1, 5, 4, 5, 6}, []int{1, 5, 6}},
		{"size 0 holds one", 0, []int{1, 2}, []int{2}},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := newLagRing(c.size)
			for _, s := range c.add {
				r.add(lagSample{Time: uiAt(s)})
			}
			if got := times(r.samples()); !reflect.DeepEqual(got, c.want) {
				t.Errorf("samples = %v, want %v", got, c.want)
			}
		})
	}
}

func TestSampleOf(t *testing.T) {
	rows := []statusRow{
		{Topic: "a", Partition: 0, Lag: ptr[int64](3)},
		{Topic: "a", Partition: 1, Lag: ptr[int64](4)},
		{Topic: "a", Partition: 2}, // nothing committed: no lag
		{Topic: "b", Partition: 0, Lag: ptr[int64](0)},
		{Topic: "c", Partition: 0},
	}
	s := sampleOf(uiAt(1), rows)
	if s.Lag == nil || *s.Lag != 7 || !s.Time.Equal(uiAt(1)) {
		t.Errorf("sample = %+v, want total 7 at %v", s, uiAt(1))
	}
	if want := map[string]int64{"a": 7, "b": 0}; !reflect.DeepEqual(s.Topics, want) {
		t.Errorf("topics = %v, want %v", s.Topics, want)
	}
	if f := failedSample(uiAt(2)); f.Lag != nil || f.Topics != nil {
		t.Errorf("failed sample = %+v, want no lag", f)
	}
}

func TestWatchSet(t *testing.T) {
	type step struct {
		op      string // view, expire, remove
		group   string
		at      int
		added   bool     // view
		evicted string   // view
		gone    []string // expire
		names   []string // after the step
	}
	for _, c := range []struct {
		name  string
		steps []step
	}{
		{"view adds once", []step{
			{op: "view", group: "g", at: 0, added: true, names: []string{"g"}},
			{op: "view", group: "g", at: 1, names: []string{"g"}},
		}},
		{"full evicts the least recently viewed", []step{
			{op: "view", group: "a", at: 0, added: true, names: []string{"a"}},
			{op: "view", group: "b", at: 1, added: true, names: []string{"a", "b"}},
			{op: "view", group: "a", at: 2, names: []string{"a", "b"}},
			{op: "view", group: "c", at: 3, added: true, evicted: "b", names: []string{"a", "c"}},
		}},
		{"expire drops the idle", []step{
			{op: "view", group: "a", at: 0, added: true, names: []string{"a"}},
			{op: "view", group: "b", at: 5, added: true, names: []string{"a", "b"}},
			{op: "expire", at: 10, names: []string{"a", "b"}}, // idle exactly 10 s: kept
			{op: "expire", at: 11, gone: []string{"a"}, names: []string{"b"}},
			{op: "expire", at: 100, gone: []string{"b"}, names: []string{}},
		}},
		{"remove", []step{
			{op: "view", group: "a", at: 0, added: true, names: []string{"a"}},
			{op: "remove", group: "a", names: []string{}},
			{op: "view", group: "a", at: 1, added: true, names: []string{"a"}},
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := newWatchSet(2, 10*time.Second, 3)
			for i, s := range c.steps {
				switch s.op {
				case "view":
					g, added, evicted := w.view(s.group, uiAt(s.at))
					if g == nil || g.name != s.group || added != s.added || evicted != s.evicted {
						t.Fatalf("step %d: view(%s) = %v, added %v, evicted %q; want added %v, evicted %q", i, s.group, g, added, evicted, s.added, s.evicted)
					}
				case "expire":
					if gone := w.expire(uiAt(s.at)); !reflect.DeepEqual(gone, s.gone) {
						t.Fatalf("step %d: expire = %v, want %v", i, gone, s.gone)
					}
				case "remove":
					w.remove(s.group)
				}
				if got := w.names(); !reflect.DeepEqual(got, s.names) && (len(got) != 0 || len(s.names) != 0) {
					t.Fatalf("step %d: names = %v, want %v", i, got, s.names)
				}
			}
		})
	}
}

func TestWatchedGroupRecord(t *testing.T) {
	w := newWatchSet(4, time.Minute, 3)
	g, _, _ := w.view("g", uiAt(0))
	ok := &statusJSON{Rows: []statusRow{{Topic: "t", Lag: ptr[int64](5)}}}
	g.record(uiAt(1), ok, nil)
	g.record(uiAt(2), nil, errors.New("zookeeper down"))
	if g.last != ok || g.lastErr != "zookeeper down" || !g.lastTime.Equal(uiAt(2)) {
		t.Errorf("after a failed read: last %p (want %p), err %q, time %v", g.last, ok, g.lastErr, g.lastTime)
	}
	g.record(uiAt(1), nil, errors.New("late")) // an older read finishing late is dropped
	g.record(uiAt(3), ok, nil)
	h := g.history.samples()
	if len(h) != 3 || *h[0].Lag != 5 || h[1].Lag != nil || *h[2].Lag != 5 || g.lastErr != "" {
		t.Errorf("history = %+v, lastErr %q; want 5, gap, 5 and no error", h, g.lastErr)
	}
}
