package scalapeer

import (
	"errors"
	"reflect"
	"testing"
	"time"
)

func TestParseLine(t *testing.T) {
	at := time.Unix(100, 0)
	tp := func(t string, p int32) TopicPartition { return TopicPartition{Topic: t, Partition: p} }
	for _, c := range []struct {
		line string
		want Event
	}{
		{"started g_host-1-abc", Event{Kind: KindStarted, Text: "g_host-1-abc"}},
		{"started", Event{Kind: KindOther}},
		{"owned", Event{Kind: KindOwned, Partitions: []TopicPartition{}}},
		{"owned t:2,t:0", Event{Kind: KindOwned, Partitions: []TopicPartition{tp("t", 0), tp("t", 2)}}},
		{"released a.b:1", Event{Kind: KindReleased, Partitions: []TopicPartition{tp("a.b", 1)}}},
		{"released t", Event{Kind: KindOther}},
		{"assignment t:0=g_a-0,t:1=g_b-1", Event{Kind: KindAssignment,
			Assignment: map[TopicPartition]string{tp("t", 0): "g_a-0", tp("t", 1): "g_b-1"}}},
		{"assignment", Event{Kind: KindAssignment, Assignment: map[TopicPartition]string{}}},
		{"assignment t:0=", Event{Kind: KindOther}},
		{"msg t 3 17 1000 2000", Event{Kind: KindMsg, Topic: "t", Partition: 3, Offset: 17,
			Start: time.Unix(0, 1000), End: time.Unix(0, 2000)}},
		{"msg t 3 17 1000", Event{Kind: KindOther}},
		{"msg t -1 17 1000 2000", Event{Kind: KindOther}},
		{"dropped t 1 5", Event{Kind: KindDropped, Topic: "t", Partition: 1, Offset: 5}},
		{"dropped t 1 x", Event{Kind: KindOther}},
		{"commit t:0=5,u:1=7", Event{Kind: KindCommit, Commits: map[TopicPartition]int64{tp("t", 0): 5, tp("u", 1): 7}}},
		{"commit t:0=-5", Event{Kind: KindOther}},
		{"commit", Event{Kind: KindOther}},
		{"error X: y <- Z: w", Event{Kind: KindError, Text: "X: y <- Z: w"}},
		{"closed", Event{Kind: KindClosed}},
		{"closed now", Event{Kind: KindOther}},
		{"[12:00] INFO something", Event{Kind: KindOther}},
	} {
		got := parseLine(c.line, at)
		c.want.At, c.want.Line = at, c.line
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("parseLine(%q) = %+v, want %+v", c.line, got, c.want)
		}
	}
}

func TestOwned(t *testing.T) {
	p := func(line string) Event { return parseLine(line, time.Time{}) }
	tp := func(t string, p int32) TopicPartition { return TopicPartition{Topic: t, Partition: p} }
	for _, c := range []struct {
		lines []string
		want  []TopicPartition
	}{
		{nil, nil},
		{[]string{"owned t:0,t:1"}, []TopicPartition{tp("t", 0), tp("t", 1)}},
		{[]string{"owned t:0,t:1", "released t:0,t:1"}, nil},
		{[]string{"owned t:0,t:1", "released t:0,t:1", "assignment t:0=x-0", "owned t:1"}, []TopicPartition{tp("t", 1)}},
		{[]string{"owned t:0", "closed"}, nil},
	} {
		var evs []Event
		for _, l := range c.lines {
			evs = append(evs, p(l))
		}
		if got := owned(evs); !reflect.DeepEqual(got, c.want) {
			t.Errorf("owned(%q) = %v, want %v", c.lines, got, c.want)
		}
	}
}

func TestArgs(t *testing.T) {
	ok := Args{ZooKeeper: "127.0.0.1:2181/kafka", Group: "g", Topics: []string{"a", "b"}}
	got, err := ok.argv()
	if want := []string{"127.0.0.1:2181/kafka", "g", "a,b", "range", "1", "0", "-"}; err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("argv = %q, %v; want %q", got, err, want)
	}
	full := ok
	full.Strategy, full.Streams, full.Delay, full.ID = RoundRobin, 3, 25*time.Millisecond, "c1"
	got, err = full.argv()
	if want := []string{"127.0.0.1:2181/kafka", "g", "a,b", "roundrobin", "3", "25", "c1"}; err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("argv = %q, %v; want %q", got, err, want)
	}
	for name, mod := range map[string]func(*Args){
		"no zookeeper":  func(a *Args) { a.ZooKeeper = "" },
		"no group":      func(a *Args) { a.Group = "" },
		"group slash":   func(a *Args) { a.Group = "a/b" },
		"no topics":     func(a *Args) { a.Topics = nil },
		"topic comma":   func(a *Args) { a.Topics = []string{"a,b"} },
		"strategy":      func(a *Args) { a.Strategy = "sticky" },
		"streams":       func(a *Args) { a.Streams = -1 },
		"delay":         func(a *Args) { a.Delay = -time.Millisecond },
		"id space":      func(a *Args) { a.ID = "a b" },
		"id dash alone": func(a *Args) { a.ID = "-" },
	} {
		a := ok
		mod(&a)
		if _, err := a.argv(); !errors.Is(err, ErrArgs) {
			t.Errorf("%s: argv error %v, want ErrArgs", name, err)
		}
	}
}
