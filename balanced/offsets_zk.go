package balanced

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/zkbalance/zkbalance/internal/zk"
	"github.com/zkbalance/zkbalance/internal/zkformat"
	"github.com/zkbalance/zkbalance/partition"
	"github.com/zkbalance/zkbalance/zkwatch"
)

// newZooKeeperOffsets returns the offsetStore of the Scala high-level
// consumer's layout: the next offset to consume of partition p of topic t is
// the decimal ASCII value ("42") of the persistent znode
// /consumers/<group>/offsets/<t>/<p>, relative to the chroot of the fence's
// connection. Scala members (offsets.storage=zookeeper) and this store read
// each other's offsets.
//
// Fetch reads through the fence's Conn (or takes fence.Claimed, the read
// made right behind the claim) and needs no ownership: a missing
// znode is "no offset" (ok false); an empty, non-numeric, negative or
// out-of-range value is an error wrapping ErrBadOffset that names the path.
//
// Commit is a single ZooKeeper multi whose first operation is the fence's
// CheckOp (the owner znode still exists with the claimed version) and whose
// second sets the offset znode, or creates it when it does not exist yet
// (its parents are created, empty and persistent, as the Scala consumer
// does, only after a multi has passed the check). If the check fails, or
// the fence's session has ended (its OneSession Conn reports
// zkwatch.ErrSessionExpired or zkwatch.ErrClosed), Commit returns an error
// wrapping ErrNotOwner and the multi wrote nothing. One exception is
// inherent to any remote write: a multi sent just before the session ended
// may have been applied (while the check still held) with its reply lost;
// it is then reported as ErrNotOwner too. When the connection (not the
// session) is lost with the multi in flight, Commit waits for the session to
// come back and sends it once more, still fenced; if that fails the same
// way, it returns a plain error (the commit may or may not have been
// applied; retrying is safe).
//
// The check compares the owner znode's version only: a znode deleted and
// re-created by another session has version 0 again and passes it. The
// multi cannot also compare the ephemeral owner, so a member must stop
// committing to a partition before it deletes its own owner znode (and
// fence.Check, a read, does compare the session).
//
// Offset znodes and the parents Commit creates get acl (nil or empty:
// world:anyone ALL). The fence's connection must hold credentials that acl
// grants write and create to (zkwatch.Config.Auth), or commits after the
// first fail with zkwatch.ErrNoAuth.
//
// The store holds no resources; Close does nothing.
func newZooKeeperOffsets(group string, acl []zkwatch.ACL) offsetStore {
	if len(acl) == 0 {
		acl = nil
	}
	return &zooKeeperOffsetStore{group: group, acl: acl}
}

type zooKeeperOffsetStore struct {
	group string
	acl   []zkwatch.ACL // nil: world:anyone ALL
}

// dir is /consumers/<g>/offsets/<t>.
func (s *zooKeeperOffsetStore) dir(topic string) string { return offsetsPath(s.group, topic) }

// znode is /consumers/<g>/offsets/<t>/<p>.
func (s *zooKeeperOffsetStore) znode(tp partition.TopicPartition) string {
	return s.dir(tp.Topic) + "/" + strconv.FormatInt(int64(tp.Partition), 10)
}

// Fetch implements offsetStore.
func (s *zooKeeperOffsetStore) Fetch(ctx context.Context, f fence, tp partition.TopicPartition) (int64, bool, error) {
	p := s.znode(tp)
	if f.Conn == nil {
		return 0, false, fmt.Errorf("balanced: fetch offset %s: no zookeeper connection in the fence", p)
	}
	var data []byte
	var err error
	if r := f.Claimed; r != nil && r.Path == p && (r.Err == nil || errors.Is(r.Err, zkwatch.ErrNoNode)) {
		data, err = r.Data, r.Err // read right behind the claim
	} else {
		data, _, err = f.Conn.Get(ctx, p)
	}
	if errors.Is(err, zkwatch.ErrNoNode) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("balanced: fetch offset %s: %w", p, err)
	}
	off, err := parseZooKeeperOffset(p, data)
	if err != nil {
		return 0, false, err
	}
	return off, true, nil
}

// parseZooKeeperOffset parses the value of an offset znode (see
// zkformat.ParseOffset); errors wrap ErrBadOffset and name the path.
func parseZooKeeperOffset(path string, data []byte) (int64, error) {
	off, err := zkformat.ParseOffset(path, data)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrBadOffset, err)
	}
	return off, nil
}

// Commit implements offsetStore.
func (s *zooKeeperOffsetStore) Commit(ctx context.Context, f fence, tp partition.TopicPartition, offset int64) error {
	p := s.znode(tp)
	if offset < 0 {
		return fmt.Errorf("%w: refusing to commit the negative offset %d to %s", ErrBadOffset, offset, p)
	}
	if f.Conn == nil {
		return fmt.Errorf("balanced: commit offset %s: %w: no zookeeper session in the fence", p, ErrNotOwner)
	}
	data := []byte(strconv.FormatInt(offset, 10))
	set := &zkwatch.SetDataRequest{Path: p, Data: data, Version: -1}
	create := &zkwatch.CreateRequest{Path: p, Data: data, Flags: 0, Acl: s.acl} // persistent; nil Acl: world:anyone all

	// 1. The usual case: the offset znode exists.
	res, err := s.multi(ctx, f, set)
	if err == nil {
		return nil
	}
	if e := s.classify(p, f, res, err); e != nil {
		return e
	}
	// classify returned nil: the check passed and op 1 (set) found no node.

	// 2. First commit for the partition: create the znode.
	res, err = s.multi(ctx, f, create)
	if err != nil && failedOp(res) == 1 && errors.Is(err, zkwatch.ErrNoNode) {
		// The check passed but the parent is missing: create it (and its
		// parents), then try again. Only now, after a passed check, do we
		// write the (empty, harmless) parents.
		if perr := f.Conn.EnsurePath(ctx, s.dir(tp.Topic), s.acl); perr != nil {
			if sessionEnded(perr) {
				return notOwner(p, f, perr)
			}
			return fmt.Errorf("balanced: commit offset %s: create parent: %w", p, perr)
		}
		res, err = s.multi(ctx, f, create)
	}
	if err == nil {
		return nil
	}
	if failedOp(res) == 1 && errors.Is(err, zkwatch.ErrNodeExists) {
		// Another creator won the race: set it (once).
		res, err = s.multi(ctx, f, set)
		if err == nil {
			return nil
		}
	}
	if e := s.classify(p, f, res, err); e != nil {
		return e
	}
	return fmt.Errorf("balanced: commit offset %s: %w", p, err)
}

// multi runs [f.CheckOp(), op] on the fence's connection. When the
// connection drops with the request in flight (zkwatch.ErrConnectionClosed) the
// outcome is unknown; multi then waits until the session is back and sends
// the request once more (the commit writes the same value either way: a
// create applied the first time fails with NodeExists the second, which
// Commit handles by setting). If the session ended instead, the error says
// so and Commit reports ErrNotOwner.
func (s *zooKeeperOffsetStore) multi(ctx context.Context, f fence, op any) ([]zkwatch.MultiResponse, error) {
	res, err := f.Conn.Multi(ctx, f.CheckOp(), op)
	if err == nil || !errors.Is(err, zkwatch.ErrConnectionClosed) || sessionEnded(err) {
		return res, err
	}
	if werr := f.Conn.WaitSession(ctx); werr != nil {
		return nil, fmt.Errorf("%w; then waiting for the session: %w", err, werr)
	}
	return f.Conn.Multi(ctx, f.CheckOp(), op)
}

// classify turns the error of a [check, write] multi into the error Commit
// returns. It returns nil only when the check passed and the write (op 1)
// failed with NoNode, which the caller handles by creating the znode.
//
// How failures are reported: go-zookeeper's Conn.Multi returns, for a multi
// the server rejected, the error of the first failing operation (the server
// marks the ops before it OK and the ops after it RUNTIMEINCONSISTENCY) and
// one MultiResponse per op whose Error is nil for OK ops; zkwatch.Conn.Multi
// wraps that error ("zkwatch: multi: ...") and returns the responses, so the
// failing index is the first response with a non-nil Error. When the
// request itself failed (connection lost, session expired, Conn closed,
// context done) there are no responses.
func (s *zooKeeperOffsetStore) classify(p string, f fence, res []zkwatch.MultiResponse, err error) error {
	if sessionEnded(err) {
		return notOwner(p, f, err)
	}
	switch failedOp(res) {
	case 0:
		if errors.Is(err, zkwatch.ErrNoNode) || errors.Is(err, zkwatch.ErrBadVersion) {
			return notOwner(p, f, err)
		}
		return fmt.Errorf("balanced: commit offset %s: check owner %s: %w", p, f.OwnerPath, err)
	case 1:
		if errors.Is(err, zkwatch.ErrNoNode) {
			return nil
		}
		return fmt.Errorf("balanced: commit offset %s: %w", p, err)
	}
	return fmt.Errorf("balanced: commit offset %s: %w", p, err)
}

// failedOp is the index of the first operation of a multi that failed, or -1
// when the responses name none (the request as a whole failed).
func failedOp(res []zkwatch.MultiResponse) int {
	for i, r := range res {
		if r.Error != nil {
			return i
		}
	}
	return -1
}

// sessionEnded reports whether err means the fence's session is gone, so
// that no request can be applied in its name any more.
func sessionEnded(err error) bool {
	return errors.Is(err, zkwatch.ErrSessionExpired) || errors.Is(err, zkwatch.ErrClosed) ||
		errors.Is(err, zk.ErrSessionExpired)
}

func notOwner(p string, f fence, err error) error {
	return fmt.Errorf("balanced: commit offset %s: %w: owner %s: %w", p, ErrNotOwner, f.OwnerPath, err)
}

// Close implements offsetStore; the store holds nothing.
func (s *zooKeeperOffsetStore) Close() error { return nil }
