package main

import (
	"maps"
	"slices"
	"time"
)

// The pure part of 'zkbalance ui': the lag history of a group (a ring
// buffer of samples) and the set of groups the server samples (bounded in
// number, dropped when nobody looked at them for a while). No I/O here;
// ui_server.go does the reading and the locking.

// maxSamples bounds one group's history whatever --history and --interval
// say.
const maxSamples = 4096

// lagSample is one point of a group's lag history, as /api/group returns
// it.
type lagSample struct {
	// Time is when the group was read.
	Time time.Time `json:"time"`
	// Lag is the total lag (the TOTAL line of 'status': the sum of the
	// known lags); nil when the read failed.
	Lag *int64 `json:"lag"`
	// Topics is the lag per topic (of the partitions whose lag is known);
	// omitted when the read failed.
	Topics map[string]int64 `json:"topics,omitempty"`
}

// sampleOf is the sample of a read at t whose partition table is rows.
func sampleOf(t time.Time, rows []statusRow) lagSample {
	total := rowsTotalLag(rows)
	topics := map[string]int64{}
	for _, r := range rows {
		if r.Lag != nil {
			topics[r.Topic] += *r.Lag
		}
	}
	return lagSample{Time: t, Lag: &total, Topics: topics}
}

// failedSample is the sample of a read at t that failed: a gap in the
// chart.
func failedSample(t time.Time) lagSample { return lagSample{Time: t} }

// historySize is how many samples cover window at one per interval (one
// more than window/interval rounded up, so the window is spanned), at
// least 2 and at most maxSamples.
func historySize(window, interval time.Duration) int {
	if interval <= 0 || window <= 0 {
		return 2
	}
	n := int64(window / interval)
	if window%interval != 0 {
		n++
	}
	return int(min(max(n+1, 2), maxSamples))
}

// lagRing keeps the last len(buf) samples, in time order.
type lagRing struct {
	buf  []lagSample
	next int // where the next sample goes
	n    int // how many are held
}

func newLagRing(size int) *lagRing {
	return &lagRing{buf: make([]lagSample, max(size, 1))}
}

// add appends s, dropping the oldest sample when full. A sample not later
// than the newest held is ignored (two readers raced), so the history
// stays in time order.
func (r *lagRing) add(s lagSample) bool {
	if r.n > 0 && !s.Time.After(r.buf[(r.next+len(r.buf)-1)%len(r.buf)].Time) {
		return false
	}
	r.buf[r.next] = s
	r.next = (r.next + 1) % len(r.buf)
	r.n = min(r.n+1, len(r.buf))
	return true
}

// samples returns the held samples, oldest first, as a new slice.
func (r *lagRing) samples() []lagSample {
	out := make([]lagSample, 0, r.n)
	start := (r.next - r.n + len(r.buf)) % len(r.buf)
	for i := range r.n {
		out = append(out, r.buf[(start+i)%len(r.buf)])
	}
	return out
}

// watchedGroup is one group the server samples: its history, its latest
// read and when the page last asked for it.
type watchedGroup struct {
	name    string
	viewed  time.Time // the last /api/group for it
	history *lagRing
	// last is the latest successful read (nil before the first); lastTime
	// and lastErr are the latest read's time and error ("" when it
	// succeeded).
	last     *statusJSON
	lastTime time.Time
	lastErr  string
}

// watchSet is the groups the server samples: at most max of them; a group
// nobody asked for in idle is dropped, and adding one more than max drops
// the one viewed longest ago. Not safe for concurrent use.
type watchSet struct {
	max     int
	idle    time.Duration
	samples int // the ring size of each group
	groups  map[string]*watchedGroup
}

func newWatchSet(maxGroups int, idle time.Duration, samples int) *watchSet {
	return &watchSet{max: max(maxGroups, 1), idle: idle, samples: samples, groups: map[string]*watchedGroup{}}
}

// view marks group as viewed at now, adding it (and evicting the least
// recently viewed group when full) if it was not watched; added says
// whether it was new, evicted which group made room ("" when none).
func (w *watchSet) view(group string, now time.Time) (g *watchedGroup, added bool, evicted string) {
	if g := w.groups[group]; g != nil {
		g.viewed = now
		return g, false, ""
	}
	if len(w.groups) >= w.max {
		var oldest *watchedGroup
		for _, o := range w.groups {
			if oldest == nil || o.viewed.Before(oldest.viewed) || (o.viewed.Equal(oldest.viewed) && o.name < oldest.name) {
				oldest = o
			}
		}
		delete(w.groups, oldest.name)
		evicted = oldest.name
	}
	g = &watchedGroup{name: group, viewed: now, history: newLagRing(w.samples)}
	w.groups[group] = g
	return g, true, evicted
}

// expire drops the groups not viewed within idle before now and returns
// their names, sorted.
func (w *watchSet) expire(now time.Time) []string {
	var gone []string
	for name, g := range w.groups {
		if now.Sub(g.viewed) > w.idle {
			delete(w.groups, name)
			gone = append(gone, name)
		}
	}
	slices.Sort(gone)
	return gone
}

// remove stops watching group (it does not exist).
func (w *watchSet) remove(group string) { delete(w.groups, group) }

// get is the watched group, nil when it is not watched.
func (w *watchSet) get(group string) *watchedGroup { return w.groups[group] }

// names is the watched groups, sorted.
func (w *watchSet) names() []string { return slices.Sorted(maps.Keys(w.groups)) }

// record stores a read of g at t: its status and rows when err is nil
// (and a sample of its lag), or the error (and a gap).
func (g *watchedGroup) record(t time.Time, st *statusJSON, err error) {
	if t.Before(g.lastTime) {
		return // an older read finished late
	}
	g.lastTime = t
	if err != nil {
		g.lastErr = err.Error()
		g.history.add(failedSample(t))
		return
	}
	g.last, g.lastErr = st, ""
	g.history.add(sampleOf(t, st.Rows))
}
