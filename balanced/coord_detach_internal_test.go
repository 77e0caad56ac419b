package balanced

import (
	"context"
	"errors"
	"testing"

	"github.com/zkbalance/zkbalance/partition"
	"github.com/zkbalance/zkbalance/zkwatch"
)

func TestDetachedIn(t *testing.T) {
	for _, tc := range []struct {
		name string
		snap zkwatch.Snapshot
		want bool
	}{
		{"detached", zkwatch.Snapshot{Exists: true, Data: []byte(`{"version":1,"mode":"kafka","zookeeper":"detached"}`)}, true},
		{"kafka", zkwatch.Snapshot{Exists: true, Data: []byte(`{"version":1,"mode":"kafka"}`)}, false},
		{"zookeeper detached is malformed", zkwatch.Snapshot{Exists: true, Data: []byte(`{"version":1,"mode":"zookeeper","zookeeper":"detached"}`)}, false},
		{"unknown state", zkwatch.Snapshot{Exists: true, Data: []byte(`{"version":1,"mode":"kafka","zookeeper":"gone"}`)}, false},
		{"absent", zkwatch.Snapshot{}, false},
		{"read error", zkwatch.Snapshot{Exists: true, Data: []byte(`{"version":1,"mode":"kafka","zookeeper":"detached"}`), Err: errors.New("x")}, false},
	} {
		if got := detachedIn(tc.snap); got != tc.want {
			t.Errorf("%s: detachedIn = %v", tc.name, got)
		}
	}
}

func TestModeOfRejectsBadDetach(t *testing.T) {
	if m, err := modeOf(true, []byte(`{"version":1,"mode":"kafka","zookeeper":"detached"}`)); err != nil || m != CoordinationKafka {
		t.Errorf("detached: %q %v", m, err)
	}
	if _, err := modeOf(true, []byte(`{"version":1,"mode":"kafka","zookeeper":"gone"}`)); err == nil {
		t.Error("an unknown zookeeper state was accepted")
	}
}

func TestZKDetachRequest(t *testing.T) {
	var d zkDetach
	ch := d.requested()
	select {
	case <-ch:
		t.Fatal("requested before request")
	default:
	}
	d.request()
	d.request() // twice: no panic
	select {
	case <-ch:
	default:
		t.Fatal("not requested after request")
	}
	if d.requested() != ch {
		t.Error("requested changed")
	}
}

// fakeStore records the calls made to it.
type fakeStore struct {
	fetches, commits []fence
	off              int64
}

func (s *fakeStore) Fetch(_ context.Context, f fence, _ partition.TopicPartition) (int64, bool, error) {
	s.fetches = append(s.fetches, f)
	return s.off, true, nil
}

func (s *fakeStore) Commit(_ context.Context, f fence, _ partition.TopicPartition, _ int64) error {
	s.commits = append(s.commits, f)
	return nil
}

func (s *fakeStore) Close() error { return nil }

// Detached, the follow store reads and writes Kafka only, and never hands
// the Kafka store the owner znode's session to check.
func TestFollowOffsetsDetached(t *testing.T) {
	zk, plain, member := &fakeStore{off: 9}, &fakeStore{off: 5}, &fakeStore{}
	s := &followOffsetStore{zk: zk, plain: plain, member: member}
	s.detached.Store(true)
	gen := &kafkaGeneration{id: 3}
	f := fence{Conn: &zkwatch.Conn{}, OwnerPath: "/o", Gen: gen}
	tp := partition.TopicPartition{Topic: "t", Partition: 0}
	off, ok, err := s.Fetch(context.Background(), f, tp)
	if err != nil || !ok || off != 5 {
		t.Fatalf("Fetch = %d %v %v; want kafka's 5", off, ok, err)
	}
	if err := s.Commit(context.Background(), f, tp, 7); err != nil {
		t.Fatal(err)
	}
	if len(zk.fetches)+len(zk.commits)+len(plain.commits) != 0 || len(member.commits) != 1 {
		t.Fatalf("calls: zk %d/%d, plain commits %d, member commits %d", len(zk.fetches), len(zk.commits), len(plain.commits), len(member.commits))
	}
	if c := member.commits[0]; c.Conn != nil || c.OwnerPath != "" || c.Gen != gen {
		t.Errorf("member commit fence %+v: want the generation only", c)
	}
}
