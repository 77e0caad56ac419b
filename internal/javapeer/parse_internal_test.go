package javapeer

import (
	"errors"
	"os/exec"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseLine(t *testing.T) {
	at := time.Unix(1, 0)
	tp := func(topic string, p int32) TopicPartition { return TopicPartition{Topic: topic, Partition: p} }
	for _, c := range []struct {
		line string
		want Event
	}{
		{"started javapeer-a", Event{Kind: KindStarted, Text: "javapeer-a"}},
		{"assigned t:0,t:2,u.v-w_x:10", Event{Kind: KindAssigned, Partitions: []TopicPartition{tp("t", 0), tp("t", 2), tp("u.v-w_x", 10)}}},
		{"assigned", Event{Kind: KindAssigned, Partitions: []TopicPartition{}}},
		{"revoked t:1", Event{Kind: KindRevoked, Partitions: []TopicPartition{tp("t", 1)}}},
		{"revoked", Event{Kind: KindRevoked, Partitions: []TopicPartition{}}},
		{"lost t:3", Event{Kind: KindLost, Partitions: []TopicPartition{tp("t", 3)}}},
		{"msg t 3 42 1700000000000000001 1700000000250000000", Event{Kind: KindMsg, Topic: "t", Partition: 3, Offset: 42,
			Start: time.Unix(1700000000, 1), End: time.Unix(1700000000, 250000000)}},
		{"commit t:0=5,t:3=43", Event{Kind: KindCommit, Commits: map[TopicPartition]int64{tp("t", 0): 5, tp("t", 3): 43}}},
		{"error CommitFailedException: Commit cannot be completed", Event{Kind: KindError, Text: "CommitFailedException: Commit cannot be completed"}},
		{"closed", Event{Kind: KindClosed}},
		// Lines that do not parse.
		{"started", Event{Kind: KindOther}},
		{"error", Event{Kind: KindOther}},
		{"closed now", Event{Kind: KindOther}},
		{"assigned t", Event{Kind: KindOther}},
		{"assigned :1", Event{Kind: KindOther}},
		{"assigned t:-1", Event{Kind: KindOther}},
		{"assigned t:0,", Event{Kind: KindOther}},
		{"lost t:x", Event{Kind: KindOther}},
		{"msg t 3 42 1", Event{Kind: KindOther}},
		{"msg t x 42 1 2", Event{Kind: KindOther}},
		{"msg t 3 -1 1 2", Event{Kind: KindOther}},
		{"msg t 3 42 1 2 3", Event{Kind: KindOther}},
		{"commit", Event{Kind: KindOther}},
		{"commit t:0", Event{Kind: KindOther}},
		{"commit t:0=x", Event{Kind: KindOther}},
		{"commit t=5", Event{Kind: KindOther}},
		{"log4j:WARN something", Event{Kind: KindOther}},
		{"", Event{Kind: KindOther}},
	} {
		c.want.At, c.want.Line = at, c.line
		if got := parseLine(c.line, at); !reflect.DeepEqual(got, c.want) {
			t.Errorf("parseLine(%q) =\n %+v, want\n %+v", c.line, got, c.want)
		}
	}
}

func TestOwned(t *testing.T) {
	evs := func(lines ...string) []Event {
		var out []Event
		for _, l := range lines {
			out = append(out, parseLine(l, time.Time{}))
		}
		return out
	}
	tp := func(topic string, p int32) TopicPartition { return TopicPartition{Topic: topic, Partition: p} }
	for _, c := range []struct {
		name  string
		lines []string
		want  []TopicPartition
	}{
		{"none", nil, nil},
		{"eager", []string{"started x", "assigned t:2,t:0,t:1,t:3", "revoked t:0,t:1,t:2,t:3", "assigned t:2,t:3"}, []TopicPartition{tp("t", 2), tp("t", 3)}},
		{"cooperative", []string{"assigned t:0,t:1", "assigned", "revoked t:1", "assigned u:0"}, []TopicPartition{tp("t", 0), tp("u", 0)}},
		{"lost", []string{"assigned t:0,t:1", "lost t:0,t:1", "assigned t:1"}, []TopicPartition{tp("t", 1)}},
		{"closed", []string{"assigned t:0", "msg t 0 0 1 2", "commit t:0=1", "revoked t:0", "closed"}, nil},
	} {
		if got := owned(evs(c.lines...)); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: owned = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestArgv(t *testing.T) {
	got, err := Args{Bootstrap: []string{"h:1", "h:2"}, Group: "g", Topics: []string{"a", "b"},
		Strategy: CooperativeSticky, Delay: 25 * time.Millisecond, ID: "m1"}.argv()
	want := []string{"h:1,h:2", "g", "a,b", "org.apache.kafka.clients.consumer.CooperativeStickyAssignor", "25", "m1"}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("argv = %q, %v; want %q", got, err, want)
	}
	got, err = Args{Bootstrap: []string{"h:1"}, Group: "g", Topics: []string{"a"}}.argv()
	want = []string{"h:1", "g", "a", "org.apache.kafka.clients.consumer.RangeAssignor", "0", "javapeer"}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("argv defaults = %q, %v; want %q", got, err, want)
	}
	ok := Args{Bootstrap: []string{"h:1"}, Group: "g", Topics: []string{"a"}}
	for name, mod := range map[string]func(*Args){
		"no bootstrap":   func(a *Args) { a.Bootstrap = nil },
		"empty broker":   func(a *Args) { a.Bootstrap = []string{""} },
		"no group":       func(a *Args) { a.Group = "" },
		"no topics":      func(a *Args) { a.Topics = nil },
		"comma topic":    func(a *Args) { a.Topics = []string{"a,b"} },
		"empty topic":    func(a *Args) { a.Topics = []string{"a", ""} },
		"bad strategy":   func(a *Args) { a.Strategy = "Range" },
		"negative delay": func(a *Args) { a.Delay = -time.Millisecond },
		"space in id":    func(a *Args) { a.ID = "a b" },
	} {
		a := ok
		mod(&a)
		if _, err := a.argv(); !errors.Is(err, ErrArgs) {
			t.Errorf("%s: argv error %v, want ErrArgs", name, err)
		}
	}
}

// A machine without a JDK gets an error naming javac, never a skip.
func TestJavacMissing(t *testing.T) {
	t.Setenv("JAVA_HOME", t.TempDir())
	t.Setenv("PATH", t.TempDir())
	_, err := driver("", "").Javac()
	if err == nil || !strings.Contains(err.Error(), "javac") || !errors.Is(err, exec.ErrNotFound) {
		t.Fatalf("Javac without a JDK: %v, want an error naming javac wrapping exec.ErrNotFound", err)
	}
}
