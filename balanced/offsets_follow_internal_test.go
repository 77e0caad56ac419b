package balanced

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/zkbalance/zkbalance/partition"
)

func TestHigherOffset(t *testing.T) {
	for _, tc := range []struct {
		z        int64
		zok      bool
		k        int64
		kok      bool
		want     int64
		lag      lagging
		wantSome bool
	}{
		{0, false, 0, false, 0, lagNone, false},
		{5, true, 0, false, 5, lagKafka, true},
		{0, false, 7, true, 7, lagZooKeeper, true},
		{9, true, 4, true, 9, lagKafka, true},
		{4, true, 9, true, 9, lagZooKeeper, true},
		{6, true, 6, true, 6, lagNone, true},
	} {
		got, lag, ok := higherOffset(tc.z, tc.zok, tc.k, tc.kok)
		if got != tc.want || lag != tc.lag || ok != tc.wantSome {
			t.Errorf("higherOffset(%d,%v,%d,%v) = %d,%v,%v; want %d,%v,%v", tc.z, tc.zok, tc.k, tc.kok, got, lag, ok, tc.want, tc.lag, tc.wantSome)
		}
	}
}

// recStore records which store a follow-mode call went to (pure fake).
type recStore struct {
	name string
	log  *[]string
}

func (s recStore) Fetch(context.Context, fence, partition.TopicPartition) (int64, bool, error) {
	*s.log = append(*s.log, s.name+" fetch")
	return 7, true, nil
}

func (s recStore) Commit(_ context.Context, _ fence, _ partition.TopicPartition, off int64) error {
	*s.log = append(*s.log, fmt.Sprintf("%s commit %d", s.name, off))
	return nil
}

func (s recStore) Close() error { return nil }

// In the pykafka layout, follow mode reads Kafka and commits as pykafka
// does (generation -1) in zookeeper mode and with the generation in kafka
// mode.
func TestFollowKafkaOffsetsRouting(t *testing.T) {
	var log []string
	s := &followKafkaOffsetStore{plain: recStore{"plain", &log}, member: recStore{"member", &log}}
	ctx := context.Background()
	tp := partition.TopicPartition{Topic: "t", Partition: 1}
	if off, ok, err := s.Fetch(ctx, fence{Gen: &kafkaGeneration{id: 3}}, tp); off != 7 || !ok || err != nil {
		t.Fatalf("fetch: %d %v %v", off, ok, err)
	}
	_ = s.Commit(ctx, fence{}, tp, 10)
	_ = s.Commit(ctx, fence{Gen: &kafkaGeneration{id: 3}}, tp, 11)
	if want := []string{"plain fetch", "plain commit 10", "member commit 11"}; !slices.Equal(log, want) {
		t.Errorf("calls %q, want %q", log, want)
	}
}

func TestAtBorder(t *testing.T) {
	live := context.Background()
	done, cancel := context.WithCancel(context.Background())
	cancel()
	boom := errors.New("boom")
	for _, tc := range []struct {
		name    string
		ctx     context.Context
		err     error
		proceed bool
		want    error
	}{
		{"clear", live, nil, true, nil},
		{"session lost", live, errSessionLost, false, errSessionLost},
		{"mode ended", done, context.Canceled, false, nil},
		{"other", live, boom, false, boom},
	} {
		proceed, err := atBorder(tc.ctx, func() error { return tc.err })
		if proceed != tc.proceed || !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
			t.Errorf("%s: %v, %v; want %v, %v", tc.name, proceed, err, tc.proceed, tc.want)
		}
	}
}
