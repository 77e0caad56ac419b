package balanced

import (
	"errors"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/zkbalance/zkbalance/internal/zkformat"
	"github.com/zkbalance/zkbalance/zkwatch"
)

var (
	timeZero    time.Time
	errBoomView = errors.New("boom")
)

func staticSub(topics ...string) subscription {
	m := map[string]int{}
	for _, t := range topics {
		m[t] = 1
	}
	return subscription{static: m, reg: zkformat.Registration{Subscription: m}}
}

func TestCachedRegistrations(t *testing.T) {
	cache := map[string]subscription{"a": staticSub("t"), "gone": staticSub("u")}
	subs, unread := cachedRegistrations(cache, []string{"a", "b", "c"})
	if got := slices.Sorted(maps.Keys(subs)); !slices.Equal(got, []string{"a"}) {
		t.Errorf("cached %v, want [a]", got)
	}
	if !slices.Equal(unread, []string{"b", "c"}) {
		t.Errorf("unread %v, want [b c]", unread)
	}
}

func TestLikelyTopics(t *testing.T) {
	pattern, err := parseRegistration("p", zkformat.EncodeScalaRegistration(nil, "x.*", timeZero))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		subs     map[string]subscription
		own      subscription
		existing []string
		want     []string
	}{
		{"own only", nil, staticSub("b", "a"), nil, []string{"a", "b"}},
		{"known members and own", map[string]subscription{"m": staticSub("c")}, staticSub("a"), nil, []string{"a", "c"}},
		{"a pattern without the topic list resolves to nothing", map[string]subscription{"m": pattern}, staticSub("a"), nil, []string{"a"}},
		{"a pattern with the topic list", map[string]subscription{"m": pattern}, staticSub("a"), []string{"x1", "y", "__x"}, []string{"a", "x1"}},
	}
	for _, tt := range tests {
		if got := likelyTopics(tt.subs, tt.own, tt.existing); !slices.Equal(got, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
	if !needsTopicList(map[string]subscription{"a": staticSub("t"), "m": pattern}) || needsTopicList(map[string]subscription{"a": staticSub("t")}) {
		t.Error("needsTopicList: a pattern needs the list, static subscriptions do not")
	}
}

func TestOwnersReadUnchanged(t *testing.T) {
	dir := &zkwatch.Stat{Czxid: 5, Pzxid: 9}
	read := ownersRead{dir: dir}
	tests := []struct {
		name string
		o    ownersRead
		now  *zkwatch.Stat
		want bool
	}{
		{"same directory, same children", read, &zkwatch.Stat{Czxid: 5, Pzxid: 9}, true},
		{"a child created or deleted", read, &zkwatch.Stat{Czxid: 5, Pzxid: 10}, false},
		{"the directory re-created", read, &zkwatch.Stat{Czxid: 6, Pzxid: 9}, false},
		{"nothing cached", ownersRead{}, dir, false},
		{"a failed read", ownersRead{dir: dir, err: errBoomView}, dir, false},
		{"no directory now", read, nil, false},
	}
	for _, tt := range tests {
		if got := tt.o.unchanged(tt.now); got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestPreviousOwnersAndStats(t *testing.T) {
	st := &zkwatch.Stat{EphemeralOwner: 7}
	entries := []ownerEntry{
		{path: "/o/t/0", partition: 0, value: "m1", stat: st},
		{path: "/o/t/1", partition: 1, value: "m2-0", stat: st}, // a Scala thread id
		{path: "/o/t/3", partition: 3, value: "stranger", stat: st},
		{path: "/o/t/4", partition: 4, value: "m10", stat: st}, // m1's prefix, not m1's
	}
	read := func(me string) map[string]ownersRead {
		return map[string]ownersRead{"t": ownersFrom(entries, ownedBy(me))}
	}
	got := previousOwners(read("m1"), map[string]subscription{"m1": {}, "m2": {}})
	want := map[string][]string{"t": {"m1", "m2", "", "stranger", "m10"}}
	if !maps.EqualFunc(got, want, slices.Equal) {
		t.Errorf("previousOwners %q, want %q", got, want)
	}
	// Only the member's own: held by its id (m1), by a thread id of it (m2).
	for me, path := range map[string]string{"m1": "/o/t/0", "m2": "/o/t/1"} {
		if stats := ownerStats(read(me)); len(stats) != 1 || stats[path] != st {
			t.Errorf("ownerStats for %s: %v, want only %s", me, stats, path)
		}
	}
	if ownerStats(read("m3")) != nil {
		t.Error("ownerStats of a member holding nothing is nil")
	}
	if ownerStats(nil) != nil {
		t.Error("ownerStats of nothing is nil")
	}
}
