package partition

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/zkbalance/zkbalance/zkwatch"
)

// ErrOwned means an owner znode is held by another member.
var ErrOwned = errors.New("partition: owned by another member")

// ErrNotHeld means a release found the owner znode held by someone else
// (different version or session); it was left alone.
var ErrNotHeld = errors.New("partition: owner znode not held by us")

// Claim is a held owner znode.
type Claim struct {
	// Path is the owner znode (relative to the chroot).
	Path string
	// Version is its data version when claimed.
	Version int32
	// Session is the ZooKeeper session that holds it (its ephemeral owner).
	Session int64
}

// Claimer creates ephemeral owner znodes, retrying with backoff while
// another member still holds them. It never steals: an existing owner znode
// counts as ours only if its value is ours and it belongs to our session
// (left by a create of ours whose reply was lost).
type Claimer struct {
	// Conn is the session to claim in.
	Conn *zkwatch.Conn
	// Backoff paces retries; zero means DefaultBackoff.
	Backoff Backoff
	// OnRetry, if set, is called before each wait with the attempt number
	// (0-based) and the value held by the current owner.
	OnRetry func(path string, attempt int, holder []byte)
	// ACL for created znodes (nil: world all).
	ACL []zk.ACL
}

// Claim creates the ephemeral owner znode p with value, creating missing
// parents. While the znode exists and is not ours it retries with backoff
// until ctx is done; it never gives up by itself. When ctx ends first, the
// error wraps ErrOwned (if a holder was seen) and the context's cause, and
// a create of ours that may have landed meanwhile is removed.
func (c Claimer) Claim(ctx context.Context, p string, value []byte) (Claim, error) {
	var holder []byte
	for attempt := 0; ; {
		_, err := c.Conn.Create(ctx, p, value, zk.FlagEphemeral, c.ACL)
		switch {
		case err == nil:
			return Claim{Path: p, Version: 0, Session: c.Conn.SessionID()}, nil
		case errors.Is(err, zk.ErrNoNode):
			if err := c.Conn.EnsurePath(ctx, path.Dir(p), c.ACL); err != nil {
				return Claim{}, c.abandon(ctx, p, value, err)
			}
			continue
		case errors.Is(err, zk.ErrNodeExists):
			data, st, gerr := c.Conn.Get(ctx, p)
			if errors.Is(gerr, zk.ErrNoNode) {
				continue // released between our create and get
			}
			if gerr != nil {
				return Claim{}, c.abandon(ctx, p, value, gerr)
			}
			if bytes.Equal(data, value) && st.EphemeralOwner == c.Conn.SessionID() {
				return Claim{Path: p, Version: st.Version, Session: st.EphemeralOwner}, nil
			}
			holder = data
			if c.OnRetry != nil {
				c.OnRetry(p, attempt, data)
			}
			t := time.NewTimer(c.Backoff.Delay(attempt, rand.Float64()))
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return Claim{}, c.abandon(ctx, p, value, fmt.Errorf("%w (held by %q): %w", ErrOwned, holder, context.Cause(ctx)))
			}
			attempt++
		default:
			return Claim{}, c.abandon(ctx, p, value, err)
		}
	}
}

// abandon removes a create of ours that may have been applied although its
// reply was lost (the etcd Mutex.Lock cleanup), then returns err wrapped.
func (c Claimer) abandon(ctx context.Context, p string, value []byte, err error) error {
	if ctx.Err() != nil {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		data, st, gerr := c.Conn.Get(cctx, p)
		if gerr == nil && bytes.Equal(data, value) && st.EphemeralOwner == c.Conn.SessionID() {
			_ = c.Conn.Delete(cctx, p, st.Version)
		}
	}
	return fmt.Errorf("claim %s: %w", p, err)
}

// Release deletes an owner znode we hold. A znode already gone is fine; one
// held by someone else (other version or session) is left alone and the
// error wraps ErrNotHeld.
func Release(ctx context.Context, conn *zkwatch.Conn, cl Claim) error {
	ok, st, err := conn.Exists(ctx, cl.Path)
	if err != nil {
		return fmt.Errorf("release %s: %w", cl.Path, err)
	}
	if !ok {
		return nil
	}
	if st.EphemeralOwner != cl.Session || cl.Session != conn.SessionID() {
		return fmt.Errorf("release %s: %w", cl.Path, ErrNotHeld)
	}
	if err := conn.Delete(ctx, cl.Path, cl.Version); err != nil {
		if errors.Is(err, zk.ErrNoNode) {
			return nil
		}
		if errors.Is(err, zk.ErrBadVersion) {
			return fmt.Errorf("release %s: %w: %w", cl.Path, ErrNotHeld, err)
		}
		return fmt.Errorf("release %s: %w", cl.Path, err)
	}
	return nil
}
