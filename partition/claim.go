package partition

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path"
	"sync"
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
// parents. While the znode exists and is not ours it retries until ctx is
// done, each retry as soon as the holder deletes the znode (a watch) and at
// the latest after the backoff delay; it never gives up by itself. When ctx ends first, the
// error wraps ErrOwned (if a holder was seen) and the context's cause, and
// a create of ours that may have landed meanwhile is removed.
func (c Claimer) Claim(ctx context.Context, p string, value []byte) (Claim, error) {
	var holder []byte
	for attempt := 0; ; {
		// Look before writing: a create that fails is still a write ZooKeeper
		// must log, and it would queue our session's reads behind it.
		exists, st, gone, err := c.Conn.ExistsW(ctx, p)
		if err != nil {
			return Claim{}, c.abandon(ctx, p, value, err)
		}
		if !exists {
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
				continue // someone was faster: look again
			default:
				return Claim{}, c.abandon(ctx, p, value, err)
			}
		}
		if st.EphemeralOwner == c.Conn.SessionID() {
			data, st2, err := c.Conn.Get(ctx, p)
			if errors.Is(err, zk.ErrNoNode) {
				continue
			}
			if err != nil {
				return Claim{}, c.abandon(ctx, p, value, err)
			}
			if bytes.Equal(data, value) && st2.EphemeralOwner == c.Conn.SessionID() {
				return Claim{Path: p, Version: st2.Version, Session: st2.EphemeralOwner}, nil
			}
			holder = data
		} else if data, _, err := c.Conn.Get(ctx, p); err == nil {
			holder = data
		}
		if c.OnRetry != nil {
			c.OnRetry(p, attempt, holder)
		}
		// Wait for the holder's release (the watch) but no longer than the
		// backoff delay, then look again.
		t := time.NewTimer(c.Backoff.Delay(attempt, rand.Float64()))
		select {
		case <-t.C:
		case <-gone:
			t.Stop()
		case <-ctx.Done():
			t.Stop()
			return Claim{}, c.abandon(ctx, p, value, fmt.Errorf("%w (held by %q): %w", ErrOwned, holder, context.Cause(ctx)))
		}
		attempt++
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
	return ReleaseAll(ctx, conn, []Claim{cl})[0]
}

// ReleaseAll releases many claims of one session: first every check (reads),
// then every delete (writes). Interleaving a read and a write per znode
// would serialise them, since ZooKeeper answers a session's requests in
// order and each write waits for its log sync; in two phases the writes share
// syncs. The result has one error (or nil) per claim.
func ReleaseAll(ctx context.Context, conn *zkwatch.Conn, claims []Claim) []error {
	errs := make([]error, len(claims))
	del := make([]bool, len(claims))
	var wg sync.WaitGroup
	for i, cl := range claims {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, st, err := conn.Exists(ctx, cl.Path)
			switch {
			case err != nil:
				errs[i] = fmt.Errorf("release %s: %w", cl.Path, err)
			case !ok:
			case st.EphemeralOwner != cl.Session || cl.Session != conn.SessionID():
				errs[i] = fmt.Errorf("release %s: %w", cl.Path, ErrNotHeld)
			default:
				del[i] = true
			}
		}()
	}
	wg.Wait()
	for i, cl := range claims {
		if !del[i] {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := conn.Delete(ctx, cl.Path, cl.Version)
			switch {
			case err == nil, errors.Is(err, zk.ErrNoNode):
			case errors.Is(err, zk.ErrBadVersion):
				errs[i] = fmt.Errorf("release %s: %w: %w", cl.Path, ErrNotHeld, err)
			default:
				errs[i] = fmt.Errorf("release %s: %w", cl.Path, err)
			}
		}()
	}
	wg.Wait()
	return errs
}
