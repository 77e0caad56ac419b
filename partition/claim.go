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
	// Also are mirror owner znodes created in the same transaction as Path,
	// with the same value, and released with it (pykafka's Python 3 path
	// beside its Python 2 one). Usually empty.
	Also []string
	// After is the read of Claimer.ReadAfter sent right behind the create
	// that took Path, so that it saw the state just after the claim; nil
	// when it was not read (no ReadAfter, a claim with mirrors, or an owner
	// znode found already ours).
	After *Read
}

// Read is the result of reading one znode.
type Read struct {
	// Path is the znode read (relative to the chroot).
	Path string
	zkwatch.GetResult
}

// Claimer creates ephemeral owner znodes, retrying with backoff while
// another member still holds them. It never steals: an existing owner znode
// counts as ours only if its value is ours and it belongs to our session
// (left by a create of ours whose reply was lost).
type Claimer struct {
	// Conn is the session to claim in.
	Conn *zkwatch.Conn
	// Backoff paces retries; zero means DefaultBackoff. While a watch on
	// the holder's znode is armed, a retry waits for it, or at most Max.
	Backoff Backoff
	// OnRetry, if set, is called before each wait with the attempt number
	// (0-based) and the value held by the current owner.
	OnRetry func(path string, attempt int, holder []byte)
	// ACL for created znodes (nil: world all).
	ACL []zkwatch.ACL
	// ReadAfter, if set, is a znode read in the same round trip as the
	// create that takes the owner znode, right behind it (Claim.After):
	// the partition's committed offset, which the new owner needs next.
	// ZooKeeper answers a session's requests in order, so the read sees
	// every write that came before the claim, the previous owner's final
	// commit included.
	ReadAfter string
	// Missing says the owner znode was read just now and did not exist
	// (the caller read many at once, in a few multiRead requests instead
	// of a look each): the first attempt creates it without looking. A
	// create that finds it exists looks then, as after any lost race.
	// Ignored with mirrors.
	Missing bool
}

// Claim creates the ephemeral owner znode p with value, creating missing
// parents; with also, the mirror znodes are created in the same
// transaction, so that either all are ours or none is. While one of them
// exists and is not ours it retries until ctx is done, each retry as soon as
// the holder deletes that znode (a watch armed by the read that found it
// held) and at the latest after the backoff's longest delay (Backoff.Max;
// the shorter delays only when no watch could be armed): the watch, not
// the delay, tells when to look again. It never gives up by itself. When
// ctx ends first, the error wraps ErrOwned (if a holder was seen) and the
// context's cause, and a create of ours that may have landed meanwhile is
// removed.
//
// Round trips: a free partition takes two (read, create), a held one
// after its release one more than the release's notification (the create,
// sent as soon as the deletion is seen, without reading again).
func (c Claimer) Claim(ctx context.Context, p string, value []byte, also ...string) (Claim, error) {
	paths := append([]string{p}, also...)
	deleted := c.Missing // paths[0] was just seen deleted or missing: create without looking
	for attempt := 0; ; {
		var (
			held    string
			holder  []byte
			missing []string
			version int32
			gone    <-chan zkwatch.Event
			err     error
		)
		if deleted && len(paths) == 1 {
			missing = paths
		} else {
			// Look before writing: a create that fails is still a write
			// ZooKeeper must log, and it would queue our session's reads
			// behind it.
			held, holder, missing, version, gone, err = c.look(ctx, paths, value)
			if err != nil {
				return Claim{}, c.abandon(ctx, paths, value, err)
			}
		}
		deleted = false
		if held == "" {
			if len(missing) == 0 {
				return Claim{Path: p, Version: version, Session: c.Conn.SessionID(), Also: also}, nil
			}
			after, err := c.create(ctx, missing, value)
			switch {
			case err == nil:
				if missing[0] == p {
					version = 0
				}
				return Claim{Path: p, Version: version, Session: c.Conn.SessionID(), Also: also, After: after}, nil
			case errors.Is(err, zkwatch.ErrNoNode):
				for _, q := range missing {
					if err := c.Conn.EnsurePath(ctx, path.Dir(q), c.ACL); err != nil {
						return Claim{}, c.abandon(ctx, paths, value, err)
					}
				}
				continue
			case errors.Is(err, zkwatch.ErrNodeExists):
				continue // someone was faster: look again
			default:
				return Claim{}, c.abandon(ctx, paths, value, err)
			}
		}
		// Wait for the holder's release (the watch the look armed), then
		// look again. The watch reports the deletion (or any change, or
		// the end of the connection, by closing), so the delay only bounds
		// the wait: the backoff's longest while a watch is armed. Looking
		// again sooner would only repeat the read: at 4096 partitions a
		// join has a thousand claims or more waiting at once, and polling
		// them at 50, 100, 200 ms... added a third to the join's ZooKeeper
		// requests while the releases they wait for queued behind them.
		if c.OnRetry != nil {
			c.OnRetry(held, attempt, holder)
		}
		delay := c.Backoff.Delay(attempt, rand.Float64())
		if gone != nil {
			delay = max(delay, c.Backoff.withDefaults().Max)
		}
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case ev, ok := <-gone:
			t.Stop()
			deleted = ok && ev.Type == zkwatch.EventNodeDeleted && held == p
		case <-ctx.Done():
			t.Stop()
			return Claim{}, c.abandon(ctx, paths, value, fmt.Errorf("%w (held by %q): %w", ErrOwned, holder, context.Cause(ctx)))
		}
		attempt++
	}
}

// MissingClaim is one owner znode for Claimer.ClaimMissing: Path, read
// just now as missing, and ReadAfter, the znode read right behind its
// create (Claim.After; "": none).
type MissingClaim struct {
	Path      string
	ReadAfter string
}

// ClaimResult is the answer to one MissingClaim: the Claim, or Err.
type ClaimResult struct {
	Claim Claim
	Err   error
}

// ClaimMissing creates, with value, owner znodes that were read just now
// as missing (as Missing says for one), all at once on the calling
// goroutine: their creates go out merged, up to 500 in a round trip, each
// with its ReadAfter read behind it (zkwatch.Conn.CreateThenGetMany),
// where Claim would take a goroutine each. It neither waits nor retries: a
// claim whose create failed (another member was faster, a parent is
// missing, the connection failed, or ctx had ended before anything was
// sent) has Err set, and the caller claims it again with Claim, which
// looks first and so also finds a create of ours that landed although its
// answer was lost. c.Missing and c.ReadAfter are not used; mirrors are not
// supported.
func (c Claimer) ClaimMissing(ctx context.Context, claims []MissingClaim, value []byte) []ClaimResult {
	ops := make([]zkwatch.CreateThenGetOp, len(claims))
	for i, m := range claims {
		ops[i] = zkwatch.CreateThenGetOp{Path: m.Path, Data: value, Flags: zkwatch.FlagEphemeral, ACL: c.ACL, GetPath: m.ReadAfter}
	}
	answers := c.Conn.CreateThenGetMany(ctx, ops)
	session := c.Conn.SessionID()
	res := make([]ClaimResult, len(claims))
	for i, r := range answers {
		m := claims[i]
		if r.Err != nil {
			res[i].Err = fmt.Errorf("claim %s: %w", m.Path, r.Err)
			continue
		}
		res[i].Claim = Claim{Path: m.Path, Session: session}
		if m.ReadAfter != "" {
			res[i].Claim.After = &Read{Path: m.ReadAfter, GetResult: r.Get}
		}
	}
	return res
}

// look reads paths: the first one held by someone else ("") with its value
// and a watch on it (gone), the ones missing, and the version of paths[0]
// if it is ours.
func (c Claimer) look(ctx context.Context, paths []string, value []byte) (held string, holder []byte, missing []string, version int32, gone <-chan zkwatch.Event, err error) {
	for i, q := range paths {
		data, st, ev, err := c.Conn.GetW(ctx, q)
		if errors.Is(err, zkwatch.ErrNoNode) {
			missing = append(missing, q)
			continue
		}
		if err != nil {
			return "", nil, nil, 0, nil, err
		}
		if st.EphemeralOwner != c.Conn.SessionID() || !bytes.Equal(data, value) {
			return q, data, nil, 0, ev, nil
		}
		if i == 0 {
			version = st.Version
		}
	}
	return "", nil, missing, version, nil, nil
}

// create creates the ephemeral znodes, in one transaction if more than one;
// a single create carries the ReadAfter read behind it.
func (c Claimer) create(ctx context.Context, paths []string, value []byte) (*Read, error) {
	if len(paths) == 1 {
		if c.ReadAfter == "" {
			_, err := c.Conn.Create(ctx, paths[0], value, zkwatch.FlagEphemeral, c.ACL)
			return nil, err
		}
		_, got, err := c.Conn.CreateThenGet(ctx, paths[0], value, zkwatch.FlagEphemeral, c.ACL, c.ReadAfter)
		if err != nil {
			return nil, err
		}
		return &Read{Path: c.ReadAfter, GetResult: got}, nil
	}
	ops := make([]any, len(paths))
	for i, q := range paths {
		ops[i] = &zkwatch.CreateRequest{Path: q, Data: value, Flags: zkwatch.FlagEphemeral, Acl: c.ACL}
	}
	_, err := c.Conn.Multi(ctx, ops...)
	return nil, err
}

// abandon removes creates of ours that may have been applied although their
// reply was lost (the etcd Mutex.Lock cleanup), then returns err wrapped.
func (c Claimer) abandon(ctx context.Context, paths []string, value []byte, err error) error {
	if ctx.Err() != nil {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		for _, p := range paths {
			data, st, gerr := c.Conn.Get(cctx, p)
			if gerr == nil && bytes.Equal(data, value) && st.EphemeralOwner == c.Conn.SessionID() {
				_ = c.Conn.Delete(cctx, p, st.Version)
			}
		}
	}
	return fmt.Errorf("claim %s: %w", paths[0], err)
}

// Release deletes an owner znode we hold (and its mirrors). A znode already
// gone is fine; one held by someone else (other version or session) is left
// alone and the error wraps ErrNotHeld.
func Release(ctx context.Context, conn *zkwatch.Conn, cl Claim) error {
	return ReleaseAll(ctx, conn, []Claim{cl})[0]
}

// maxMultiOps bounds a transaction's size (ZooKeeper's jute.maxbuffer is
// 1 MiB by default; an owner path is far below 1 KiB).
const maxMultiOps = 1000

// ReleaseAll releases many claims of one session: first every check (reads),
// then every delete (writes), in one transaction (per 1000 znodes) when possible. Interleaving a read and a write per znode
// would serialise them, since ZooKeeper answers a session's requests in
// order and each write waits for its log sync; in two phases the writes share
// syncs. A claim's mirrors are deleted in one transaction with it. The
// result has one error (or nil) per claim.
func ReleaseAll(ctx context.Context, conn *zkwatch.Conn, claims []Claim) []error {
	return CheckReleases(ctx, conn, claims, nil).Delete(ctx)
}

// Releases are claims of one session checked for release (CheckReleases),
// to be deleted (Delete).
type Releases struct {
	conn   *zkwatch.Conn
	claims []Claim
	dels   [][]*zkwatch.DeleteRequest
	errs   []error
}

// CheckReleases is ReleaseAll's first phase: it checks that each claim's
// znodes (and mirrors) still belong to the claiming session, reading their
// stats at once, except those known already holds (znode path -> stat as
// read recently, e.g. by the rebalance that revokes them: nil or missing
// entries are read). A caller may run it while it does something else
// before the deletes (the final commits): the check and the delete are
// never atomic, the check only narrows the time in which a znode deleted
// by a third party and created again by another member could be taken for
// ours.
func CheckReleases(ctx context.Context, conn *zkwatch.Conn, claims []Claim, known map[string]*zkwatch.Stat) *Releases {
	r := &Releases{conn: conn, claims: claims, dels: make([][]*zkwatch.DeleteRequest, len(claims)), errs: make([]error, len(claims))}
	// The stats not known are read at once (GetMany: a multiRead a 128).
	var unknown []string
	for _, cl := range claims {
		for _, p := range append([]string{cl.Path}, cl.Also...) {
			if known[p] == nil {
				unknown = append(unknown, p)
			}
		}
	}
	read := make(map[string]zkwatch.GetResult, len(unknown))
	for i, res := range conn.GetMany(ctx, unknown) {
		read[unknown[i]] = res
	}
	for i, cl := range claims {
		for j, p := range append([]string{cl.Path}, cl.Also...) {
			ok, st := true, known[p]
			var err error
			if st == nil {
				res := read[p]
				st, err = res.Stat, res.Err
				if errors.Is(err, zkwatch.ErrNoNode) {
					ok, err = false, nil
				}
			}
			switch {
			case err != nil:
				r.errs[i] = errors.Join(r.errs[i], fmt.Errorf("release %s: %w", p, err))
			case !ok:
			case st.EphemeralOwner != cl.Session || cl.Session != conn.SessionID():
				if j == 0 {
					r.errs[i] = errors.Join(r.errs[i], fmt.Errorf("release %s: %w", p, ErrNotHeld))
				}
			default:
				v := cl.Version
				if j > 0 {
					v = st.Version
				}
				r.dels[i] = append(r.dels[i], &zkwatch.DeleteRequest{Path: p, Version: v})
			}
		}
	}
	return r
}

// Claims are the claims checked.
func (r *Releases) Claims() []Claim { return r.claims }

// Delete is ReleaseAll's second phase: it deletes the znodes found ours,
// with their versions, in transactions of up to maxMultiOps znodes (a
// claim's znodes always in one); if one fails (a znode changed since the
// check), none of it is applied and each of its claims is released on its
// own. It returns one error (or nil) per claim, the check's included.
func (r *Releases) Delete(ctx context.Context) []error {
	// The deletes in few transactions: one request and one log entry for
	// ZooKeeper instead of one each.
	var (
		wg    sync.WaitGroup
		chunk []int // claims
		ops   int
	)
	flush := func() {
		if len(chunk) > 0 {
			idx := chunk
			wg.Go(func() { r.deleteChunk(ctx, idx) })
		}
		chunk, ops = nil, 0
	}
	for i, ds := range r.dels {
		if len(ds) == 0 {
			continue
		}
		if ops+len(ds) > maxMultiOps {
			flush()
		}
		chunk = append(chunk, i)
		ops += len(ds)
	}
	flush()
	wg.Wait()
	return r.errs
}

// deleteChunk deletes the znodes of the claims idx in one transaction, or
// if that fails each claim's on its own.
func (r *Releases) deleteChunk(ctx context.Context, idx []int) {
	conn, claims, dels, errs := r.conn, r.claims, r.dels, r.errs
	var all []any
	for _, i := range idx {
		for _, d := range dels[i] {
			all = append(all, d)
		}
	}
	if len(all) > 1 {
		if _, err := conn.Multi(ctx, all...); err == nil {
			return
		}
	}
	var wg sync.WaitGroup
	for _, i := range idx {
		ds := dels[i]
		wg.Go(func() {
			var err error
			if len(ds) == 1 {
				err = conn.Delete(ctx, ds[0].Path, ds[0].Version)
			} else {
				ops := make([]any, len(ds))
				for k, d := range ds {
					ops[k] = d
				}
				_, err = conn.Multi(ctx, ops...)
			}
			switch {
			case err == nil, errors.Is(err, zkwatch.ErrNoNode):
			case errors.Is(err, zkwatch.ErrBadVersion):
				errs[i] = errors.Join(errs[i], fmt.Errorf("release %s: %w: %w", claims[i].Path, ErrNotHeld, err))
			default:
				errs[i] = errors.Join(errs[i], fmt.Errorf("release %s: %w", claims[i].Path, err))
			}
		})
	}
	wg.Wait()
}
