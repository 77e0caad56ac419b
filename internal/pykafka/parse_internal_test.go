package pykafka

import (
	"reflect"
	"testing"
	"time"
)

func TestParseLine(t *testing.T) {
	at := time.Unix(1, 0)
	for _, c := range []struct {
		line string
		want Event
	}{
		{"member vm:1-2 A 2.8.0", Event{Kind: EventMember, MemberID: "vm:1-2", Name: "A", Message: "2.8.0"}},
		{"paths /consumers/g/ids /consumers/g/owners/b't'", Event{Kind: EventPaths, IDsPath: "/consumers/g/ids", OwnersPath: "/consumers/g/owners/b't'"}},
		{"owned 0,2,10", Event{Kind: EventOwned, Partitions: []int32{0, 2, 10}}},
		{"owned", Event{Kind: EventOwned, Partitions: []int32{}}},
		{"owned ", Event{Kind: EventOwned, Partitions: []int32{}}},
		{"msg t 3 42 vm:1-2 6869", Event{Kind: EventMsg, Topic: "t", Partition: 3, Offset: 42, MemberID: "vm:1-2", Value: []byte("hi")}},
		{"msg t 3 42 vm:1-2 -", Event{Kind: EventMsg, Topic: "t", Partition: 3, Offset: 42, MemberID: "vm:1-2"}},
		{"commit 3 43", Event{Kind: EventCommit, Partition: 3, Offset: 43}},
		{"error PartitionOwnedError partition 0", Event{Kind: EventError, Name: "PartitionOwnedError", Message: "partition 0"}},
		{"error ConsumerStoppedException -", Event{Kind: EventError, Name: "ConsumerStoppedException", Message: "-"}},
		{"stopped", Event{Kind: EventStopped}},
		{"note stop-race -", Event{Kind: EventNote, Name: "stop-race", Message: "-"}},
		{"note", Event{Kind: EventOther}},
		{"done 1000 2.500000", Event{Kind: EventDone, Count: 1000, Elapsed: 2500 * time.Millisecond}},
		{"done 1000", Event{Kind: EventOther}},
		{"msg t x 42 m -", Event{Kind: EventOther}},
		{"msg t 1 2 m zz", Event{Kind: EventOther}},
		{"owned 1,a", Event{Kind: EventOther}},
		{"hello", Event{Kind: EventOther}},
		{"", Event{Kind: EventOther}},
	} {
		c.want.At, c.want.Line = at, c.line
		if got := parseLine(c.line, at); !reflect.DeepEqual(got, c.want) {
			t.Errorf("parseLine(%q) = %+v, want %+v", c.line, got, c.want)
		}
	}
}

func TestArgvDefaults(t *testing.T) {
	got := MemberArgs{ZooKeeper: "z/c", Brokers: []string{"b1", "b2"}, Topic: "t", Group: "g",
		ConsumerTimeoutMS: NoTimeout, Delay: 50 * time.Millisecond, CommitEvery: -1, Py2OwnerPath: true}.argv()
	want := []string{"--zookeeper", "z/c", "--brokers", "b1,b2", "--topic", "t", "--group", "g",
		"--timeout-ms", "-1", "--delay", "0.05", "--member-name", "pykafka", "--broker-version", DefaultBrokerVersion,
		"--auto-commit", "1", "--auto-commit-interval-ms", "1000", "--commit-every", "0",
		"--rebalance-max-retries", "5", "--rebalance-backoff-ms", "2000", "--zk-session-timeout-ms", "6000",
		"--log-level", "INFO", "--py2-owner-path", "1"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("argv:\n got %q\nwant %q", got, want)
	}
}
