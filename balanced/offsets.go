package balanced

import (
	"context"
	"errors"
	"fmt"

	"github.com/zkbalance/zkbalance/partition"
	"github.com/zkbalance/zkbalance/zkwatch"
)

// offsetStore keeps a group's committed offsets. Offsets are always the
// next offset to consume (Kafka and Scala convention). Commits are fenced:
// a store must not write unless the fence still holds. Users choose one
// with Config.Offsets.
//
// Implementations: newZooKeeperOffsets (Scala layout,
// /consumers/<g>/offsets/<t>/<p>), newKafkaOffsets (OffsetCommit/OffsetFetch
// to the group coordinator with generation -1, as pykafka and the Scala
// consumer with offsets.storage=kafka do) and newDualOffsets (both; reads
// the higher).
type offsetStore interface {
	// Fetch returns the committed next offset of tp; ok is false when none
	// is stored. A stored value that cannot be parsed gives an error
	// wrapping ErrBadOffset.
	Fetch(ctx context.Context, f fence, tp partition.TopicPartition) (offset int64, ok bool, err error)
	// Commit stores offset for tp if f still holds; otherwise it writes
	// nothing and returns an error wrapping ErrNotOwner.
	Commit(ctx context.Context, f fence, tp partition.TopicPartition, offset int64) error
	// Close releases the store's resources (not the shared clients).
	Close() error
}

// fence is the proof that this member owns a partition: the ephemeral owner
// znode it created, in the ZooKeeper session it created it in.
type fence struct {
	// Conn is the connection of the session that created the owner znode.
	// It is a OneSession connection: after that session expires every call
	// on it fails, so nothing can be written in the session's name.
	Conn *zkwatch.Conn
	// OwnerPath is the owner znode, relative to the chroot.
	OwnerPath string
	// OwnerVersion is the data version of the owner znode when claimed.
	OwnerVersion int32
	// Gen, in kafka mode (Config.Coordination), is the Kafka group
	// generation the partition was assigned in: commits carry its id and
	// member id, and the coordinator refuses them once it is over.
	Gen *kafkaGeneration
	// Claimed, when set, is the offset znode as read right behind the
	// claim's create (partition.Claim.After): the ZooKeeper store's Fetch
	// takes it instead of reading again. Only a fresh claim's fence has it.
	Claimed *partition.Read
}

// offsetZnode is the znode the offset store s reads tp's offset from in
// ZooKeeper, or "" when it reads none there: a claim reads it in the same
// round trip as its create (fence.Claimed).
func offsetZnode(s offsetStore, tp partition.TopicPartition) string {
	switch st := s.(type) {
	case *zooKeeperOffsetStore:
		return st.znode(tp)
	case *dualOffsetStore:
		return offsetZnode(st.first, tp)
	case *followOffsetStore:
		return offsetZnode(st.zk, tp)
	}
	return ""
}

// Check verifies, with a read, that the owner znode exists, belongs to the
// fence's session and has the claimed version. Stores that cannot make the
// check part of the write (Kafka) call it just before writing.
func (f fence) Check(ctx context.Context) error {
	if f.Conn == nil {
		return fmt.Errorf("%w: no session", ErrNotOwner)
	}
	ok, st, err := f.Conn.Exists(ctx, f.OwnerPath)
	if err != nil {
		if errors.Is(err, zkwatch.ErrSessionExpired) || errors.Is(err, zkwatch.ErrClosed) {
			return fmt.Errorf("%w: %s: %w", ErrNotOwner, f.OwnerPath, err)
		}
		return fmt.Errorf("check owner %s: %w", f.OwnerPath, err)
	}
	if !ok || st.EphemeralOwner != f.Conn.SessionID() || st.Version != f.OwnerVersion {
		return fmt.Errorf("%w: %s is gone or held by another session", ErrNotOwner, f.OwnerPath)
	}
	return nil
}

// CheckOp is the ZooKeeper multi operation that fails unless the owner
// znode still has the claimed version; stores put it first in the multi that
// writes the offset. Within the fence's own session (a OneSession Conn), an
// existing owner znode with that version can only be ours.
func (f fence) CheckOp() *zkwatch.CheckVersionRequest {
	return &zkwatch.CheckVersionRequest{Path: f.OwnerPath, Version: f.OwnerVersion}
}
