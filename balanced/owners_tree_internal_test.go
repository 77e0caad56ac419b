package balanced

import (
	"maps"
	"slices"
	"testing"

	"github.com/zkbalance/zkbalance/zkwatch"
)

func ownersOf(tc *topicOwners) map[int32]string {
	out := map[int32]string{}
	for p, v := range tc.values {
		if v != "" {
			out[int32(p)] = v
		}
	}
	return out
}

func entry(p int32, v string) ownerEntry { return ownerEntry{partition: p, value: v} }

func TestOwnersStateEvents(t *testing.T) {
	type step struct {
		event   *int32 // apply a creation (or deletion, del) of this partition
		del     bool
		install []ownerEntry // a whole read sent at sentAt
		take    *ownerEntry  // a single read sent at sentAt
		found   bool
		sentAt  uint64
	}
	p := func(x int32) *int32 { return &x }
	e := func(x int32, v string) *ownerEntry { en := entry(x, v); return &en }
	tests := []struct {
		name      string
		steps     []step
		want      map[int32]string
		wantDirty []int32
	}{
		{
			name:  "a whole read with no event since is taken as is",
			steps: []step{{install: []ownerEntry{entry(0, "a"), entry(1, "b")}, sentAt: 0}},
			want:  map[int32]string{0: "a", 1: "b"},
		},
		{
			name: "a deletion after the read was sent wins over the read",
			steps: []step{
				{event: p(1), del: true},
				{install: []ownerEntry{entry(0, "a"), entry(1, "b")}, sentAt: 0},
			},
			want: map[int32]string{0: "a"},
		},
		{
			name: "a creation after the read was sent is read again",
			steps: []step{
				{event: p(2)},
				{install: []ownerEntry{entry(0, "a")}, sentAt: 0},
			},
			want:      map[int32]string{0: "a"},
			wantDirty: []int32{2},
		},
		{
			name: "a creation before the read was sent is reflected by it",
			steps: []step{
				{event: p(2)},
				{install: []ownerEntry{entry(0, "a"), entry(2, "c")}, sentAt: 1},
			},
			want: map[int32]string{0: "a", 2: "c"},
		},
		{
			name: "delete then recreate: the old value goes, the new one is read",
			steps: []step{
				{install: []ownerEntry{entry(0, "a")}, sentAt: 0},
				{event: p(0), del: true},
				{event: p(0)},
			},
			want:      map[int32]string{},
			wantDirty: []int32{0},
		},
		{
			name: "a single read taken when nothing happened since",
			steps: []step{
				{install: nil, sentAt: 0},
				{event: p(3)},
				{take: e(3, "d"), found: true, sentAt: 1},
			},
			want: map[int32]string{3: "d"},
		},
		{
			name: "a single read overtaken by a deletion is dropped",
			steps: []step{
				{install: nil, sentAt: 0},
				{event: p(3)},
				{event: p(3), del: true},
				{take: e(3, "d"), found: true, sentAt: 1},
			},
			want: map[int32]string{},
		},
		{
			name: "a single read overtaken by a recreation stays dirty",
			steps: []step{
				{install: nil, sentAt: 0},
				{event: p(3)},
				{event: p(3), del: true},
				{event: p(3)},
				{take: e(3, "d"), found: true, sentAt: 1},
			},
			want:      map[int32]string{},
			wantDirty: []int32{3},
		},
		{
			name: "a single read that finds nothing removes the entry",
			steps: []step{
				{install: []ownerEntry{entry(3, "old")}, sentAt: 0},
				{take: e(3, ""), found: false, sentAt: 0},
			},
			want: map[int32]string{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s ownersState
			s.reset(true)
			tc := s.topic("t")
			for _, st := range tt.steps {
				switch {
				case st.event != nil:
					s.apply("t", *st.event, st.del)
				case st.take != nil:
					tc.take(*st.take, st.found, st.sentAt)
				default:
					tc.install(st.install, st.sentAt)
				}
			}
			if got := ownersOf(tc); !maps.Equal(got, tt.want) {
				t.Errorf("owners = %v, want %v", got, tt.want)
			}
			if got := tc.dirtyParts(); !slices.Equal(got, tt.wantDirty) {
				t.Errorf("dirty = %v, want %v", got, tt.wantDirty)
			}
		})
	}
}

func TestOwnersStateReset(t *testing.T) {
	var s ownersState
	s.reset(true)
	s.topic("t").install([]ownerEntry{entry(0, "a")}, 0)
	gen := s.gen
	s.reset(false)
	if s.watching || s.gen == gen || s.topics != nil {
		t.Fatalf("after a lost watch: watching %v, gen %d (was %d), topics %v", s.watching, s.gen, gen, s.topics)
	}
	s.apply("t", 1, false) // a topic never read since is not recorded
	if s.topics != nil {
		t.Fatalf("an event made a record: %v", s.topics)
	}
}

// TestOwnersTreeReportsChanges: the tree's events tell the scheduler that
// the owners changed (in place of a children watch per owners directory):
// a created or deleted owner znode does, a data change, a topic's
// directory or a deeper znode does not, nor does the watch's first set;
// its set again after a loss does (changes may have been missed).
func TestOwnersTreeReportsChanges(t *testing.T) {
	root := ownersRoot("g")
	steps := []struct {
		ev   zkwatch.TreeEvent
		want int // changes reported after this event, in total
	}{
		{zkwatch.TreeEvent{Kind: zkwatch.TreeWatching}, 0},
		{zkwatch.TreeEvent{Kind: zkwatch.TreeCreated, Path: root + "/t"}, 0},
		{zkwatch.TreeEvent{Kind: zkwatch.TreeCreated, Path: root + "/t/3"}, 1},
		{zkwatch.TreeEvent{Kind: zkwatch.TreeDataChanged, Path: root + "/t/3"}, 1},
		{zkwatch.TreeEvent{Kind: zkwatch.TreeCreated, Path: root + "/t/3/x"}, 1},
		{zkwatch.TreeEvent{Kind: zkwatch.TreeCreated, Path: "/consumers/other/owners/t/3"}, 1},
		{zkwatch.TreeEvent{Kind: zkwatch.TreeDeleted, Path: root + "/t/3"}, 2},
		{zkwatch.TreeEvent{Kind: zkwatch.TreeLost}, 2},
		{zkwatch.TreeEvent{Kind: zkwatch.TreeWatching}, 3},
		{zkwatch.TreeEvent{Kind: zkwatch.TreeWatching}, 3},
	}
	changes := 0
	tr := &ownersTree{root: root, changed: func() { changes++ }, set: make(chan struct{})}
	for i, s := range steps {
		tr.onEvent(s.ev)
		if changes != s.want {
			t.Fatalf("step %d (%v %s): %d changes reported, want %d", i, s.ev.Kind, s.ev.Path, changes, s.want)
		}
	}
}
