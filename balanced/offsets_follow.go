package balanced

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/IBM/sarama"

	"github.com/zkbalance/zkbalance/partition"
)

// newFollowOffsets returns the offsetStore of follow mode
// (CoordinationFollow): both stores, as the Scala consumer's dual.commit,
// in either coordination mode, so that a switch of mode in either
// direction neither loses nor replays.
//
// Why it is safe: both stores are only ever advanced by the holder of the
// partition's owner znode (zkStore's write is atomic with the owner check;
// the Kafka write follows a check of it), so neither ever holds an offset
// beyond what the group really processed, and the higher of the two is the
// group's committed offset.
//
//   - Fetch (called only once the owner znode is held) returns the higher
//     of the two. It then carries that offset over to the store that lags
//     (fenced like a commit; a failure is only logged): so a peer that reads
//     one store only (a Java KafkaConsumer reads Kafka, a Scala consumer
//     ZooKeeper) starts where this member would, even if this member
//     commits nothing more.
//   - Commit writes zkStore first (fenced by the owner znode, atomically),
//     then Kafka: in kafka mode (the fence has a generation) as a group
//     member with the generation, whose refusal is ErrNotOwner and ends the
//     generation; in zookeeper mode with generation -1, which the
//     coordinator refuses while the Kafka group has members (during a
//     switch): that failure is only logged, since ZooKeeper has the offset
//     already and the next Fetch carries it over.
func newFollowOffsets(zkStore offsetStore, client sarama.Client, group string, log *slog.Logger) offsetStore {
	return &followOffsetStore{zk: zkStore, plain: newKafkaOffsets(client, group), member: newKafkaGroupOffsets(client, group), log: log}
}

type followOffsetStore struct {
	zk, plain, member offsetStore
	log               *slog.Logger
	detachGate
}

// detachGate is what a follow offset store needs for the detach from
// ZooKeeper (coord_detach.go): once detached, Fetch reads Kafka and
// Commit writes Kafka only, fenced by the generation alone. Fetch and
// Commit hold mu (read) across their calls (enter), so that detach waits
// for those under way.
type detachGate struct {
	detached atomic.Bool
	mu       sync.RWMutex
}

// detach switches the store to Kafka only once the calls under way are
// done.
func (g *detachGate) detach() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.detached.Store(true)
}

// enter starts a Fetch or Commit: it returns the fence to use (without
// the owner znode once detached), whether the store is detached, and the
// function that ends the call.
func (g *detachGate) enter(f fence) (fence, bool, func()) {
	g.mu.RLock()
	if g.detached.Load() {
		return fence{Gen: f.Gen}, true, g.mu.RUnlock
	}
	return f, false, g.mu.RUnlock
}

// detacher is an offset store that can go Kafka only (follow mode's).
type detacher interface{ detach() }

// kafka is the Kafka store a commit under f goes to.
func (s *followOffsetStore) kafka(f fence) offsetStore {
	if f.Gen != nil {
		return s.member
	}
	return s.plain
}

// Fetch implements offsetStore.
func (s *followOffsetStore) Fetch(ctx context.Context, f fence, tp partition.TopicPartition) (int64, bool, error) {
	f, detached, done := s.enter(f)
	defer done()
	if detached {
		return s.plain.Fetch(ctx, f, tp)
	}
	z, zok, err := s.zk.Fetch(ctx, f, tp)
	if err != nil {
		return 0, false, fmt.Errorf("balanced: follow offsets: %w", err)
	}
	k, kok, err := s.plain.Fetch(ctx, f, tp)
	if err != nil {
		return 0, false, fmt.Errorf("balanced: follow offsets: %w", err)
	}
	off, lagging, ok := higherOffset(z, zok, k, kok)
	if !ok {
		return 0, false, nil
	}
	var to offsetStore
	switch lagging {
	case lagZooKeeper:
		to = s.zk
	case lagKafka:
		to = s.kafka(f)
	}
	if to != nil {
		if err := to.Commit(ctx, f, tp, off); err != nil {
			s.log.Warn("carrying the offset over to the lagging store failed", "topic", tp.Topic, "partition", tp.Partition, "offset", off, "err", err)
		}
	}
	return off, true, nil
}

// lagging names the store that holds less than the other.
type lagging int

const (
	lagNone lagging = iota
	lagZooKeeper
	lagKafka
)

// higherOffset picks the committed offset from the two stores' answers
// and names the store that lags behind it (pure).
func higherOffset(z int64, zok bool, k int64, kok bool) (int64, lagging, bool) {
	switch {
	case zok && kok && z > k:
		return z, lagKafka, true
	case zok && kok && k > z:
		return k, lagZooKeeper, true
	case zok && kok:
		return z, lagNone, true
	case zok:
		return z, lagKafka, true
	case kok:
		return k, lagZooKeeper, true
	}
	return 0, lagNone, false
}

// Commit implements offsetStore.
func (s *followOffsetStore) Commit(ctx context.Context, f fence, tp partition.TopicPartition, offset int64) error {
	f, detached, done := s.enter(f)
	defer done()
	if detached {
		return s.member.Commit(ctx, f, tp, offset)
	}
	if err := s.zk.Commit(ctx, f, tp, offset); err != nil {
		return fmt.Errorf("balanced: follow offsets: %w", err)
	}
	err := s.kafka(f).Commit(ctx, f, tp, offset)
	switch {
	case err == nil:
	case f.Gen == nil && ctx.Err() == nil:
		// ZooKeeper holds it, and readers take the higher: not a failure.
		s.log.Warn("zookeeper-mode commit to kafka failed (during a switch the Kafka group still has members and refuses it); zookeeper holds the offset",
			"topic", tp.Topic, "partition", tp.Partition, "offset", offset, "err", err)
	default:
		return fmt.Errorf("balanced: follow offsets: zookeeper committed %d, kafka failed: %w", offset, err)
	}
	return nil
}

// Close implements offsetStore.
func (s *followOffsetStore) Close() error {
	return errors.Join(s.zk.Close(), s.plain.Close(), s.member.Close())
}

// newFollowKafkaOffsets returns the offsetStore of follow mode in the
// pykafka layout, where offsets live in Kafka only (pykafka commits them
// there under the group's name): Fetch reads Kafka (called only once the
// owner znode is held); Commit goes, in zookeeper mode (the fence has no
// generation), as pykafka's own commits do — generation -1, after a check
// of the owner znode — and in kafka mode as a member of the Kafka group,
// with the generation (and after the same check).
//
// The coordinator refuses a generation -1 commit while the Kafka group has
// members: that is why follow mode in the pykafka layout joins the Kafka
// group only once no member is registered in ZooKeeper any more
// (waitNoRegistrations), so that the members leaving zookeeper mode make
// their final commits first. A refused commit is returned (the offset stays
// marked and the next commit retries it); it costs redelivery, never a
// skipped message.
func newFollowKafkaOffsets(client sarama.Client, group string) offsetStore {
	return &followKafkaOffsetStore{plain: newKafkaOffsets(client, group), member: newKafkaGroupOffsets(client, group)}
}

type followKafkaOffsetStore struct {
	plain, member offsetStore
	detachGate
}

// Fetch implements offsetStore.
func (s *followKafkaOffsetStore) Fetch(ctx context.Context, f fence, tp partition.TopicPartition) (int64, bool, error) {
	f, _, done := s.enter(f)
	defer done()
	return s.plain.Fetch(ctx, f, tp)
}

// Commit implements offsetStore.
func (s *followKafkaOffsetStore) Commit(ctx context.Context, f fence, tp partition.TopicPartition, offset int64) error {
	f, _, done := s.enter(f)
	defer done()
	if f.Gen != nil {
		return s.member.Commit(ctx, f, tp, offset)
	}
	return s.plain.Commit(ctx, f, tp, offset)
}

// Close implements offsetStore.
func (s *followKafkaOffsetStore) Close() error {
	return errors.Join(s.plain.Close(), s.member.Close())
}
