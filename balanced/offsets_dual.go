package balanced

import (
	"context"
	"errors"
	"fmt"

	"github.com/zkbalance/zkbalance/partition"
)

// newDualOffsets returns the offsetStore of the Scala consumer's
// dual.commit.enabled=true: offsets are committed to both stores and read
// from both, the higher one winning. It is the migration path between
// ZooKeeper and Kafka offset storage while members of both kinds share a
// group.
//
// Commit writes zkStore first (for newZooKeeperOffsets the write is fenced
// atomically) and then kafkaStore. If the first commit fails nothing else is
// written and its error is returned (ErrNotOwner included); if the second
// fails its error is returned, and the first store keeps the new offset
// (readers take the higher, so they see it). The Scala consumer writes
// Kafka first; writing the atomically fenced store first means a member
// that lost the partition writes to neither store in the common case.
//
// Fetch reads both stores and returns the higher offset, ok if either holds
// one. An error of either (ErrBadOffset included) is returned.
//
// Close closes both stores (which do not close shared clients).
func newDualOffsets(zkStore, kafkaStore offsetStore) offsetStore {
	return &dualOffsetStore{first: zkStore, second: kafkaStore}
}

type dualOffsetStore struct {
	first, second offsetStore
}

// Fetch implements offsetStore.
func (s *dualOffsetStore) Fetch(ctx context.Context, f fence, tp partition.TopicPartition) (int64, bool, error) {
	a, aok, err := s.first.Fetch(ctx, f, tp)
	if err != nil {
		return 0, false, fmt.Errorf("balanced: dual offsets: %w", err)
	}
	b, bok, err := s.second.Fetch(ctx, f, tp)
	if err != nil {
		return 0, false, fmt.Errorf("balanced: dual offsets: %w", err)
	}
	switch {
	case aok && bok:
		return max(a, b), true, nil
	case aok:
		return a, true, nil
	case bok:
		return b, true, nil
	}
	return 0, false, nil
}

// Commit implements offsetStore.
func (s *dualOffsetStore) Commit(ctx context.Context, f fence, tp partition.TopicPartition, offset int64) error {
	if err := s.first.Commit(ctx, f, tp, offset); err != nil {
		return fmt.Errorf("balanced: dual offsets: %w", err)
	}
	if err := s.second.Commit(ctx, f, tp, offset); err != nil {
		return fmt.Errorf("balanced: dual offsets: first store committed %d, second failed: %w", offset, err)
	}
	return nil
}

// Close implements offsetStore.
func (s *dualOffsetStore) Close() error {
	return errors.Join(s.first.Close(), s.second.Close())
}
