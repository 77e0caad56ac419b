package zkwatch

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/zkbalance/zkbalance/internal/zk"
)

// Snapshot is the state of a watched znode after an event.
type Snapshot struct {
	// Path is the watched path (relative to the chroot).
	Path string
	// Exists is false when the znode does not exist (the watch then waits
	// for its creation).
	Exists bool
	// Children is the sorted list of children (WatchChildren only).
	Children []string
	// Data is the znode's data (WatchData only).
	Data []byte
	// Stat is the znode's stat when it exists.
	Stat *Stat
	// SessionID is the session the snapshot was read in.
	SessionID int64
	// Notified is set when the change this snapshot shows was announced
	// to the watch's changed func (WatchChildrenNotify) before it was
	// read.
	Notified bool
	// Err is set when the read failed with an error that retrying is unlikely
	// to fix quickly (e.g. no auth); the watch keeps retrying with backoff.
	// Connection loss and session expiry are not reported here: the watch
	// waits for a session and re-reads.
	Err error
}

type watchKind int

const (
	watchChildren watchKind = iota
	watchData
)

// WatchChildren watches the children of p. The returned channel first
// delivers the current snapshot, then a new one after every change. It holds
// at most one snapshot: a slow reader sees the newest state, never a stale
// queue. The watch re-arms after every event, rides out disconnects and
// re-arms on the new session after an expiry. The channel is closed when ctx
// is done or the Conn is closed; ctx owns the goroutine behind it.
func (c *Conn) WatchChildren(ctx context.Context, p string) <-chan Snapshot {
	return c.watch(ctx, p, watchChildren, nil)
}

// WatchChildrenNotify is WatchChildren that also calls changed as soon as
// ZooKeeper notifies a change, before the new children are read (a caller
// can start what takes a while, such as waiting for a burst of changes to
// end, while the read is under way; the snapshot read next has Notified
// set), and seen with every snapshot just before it is delivered. Both
// are called on the watch's goroutine, in the order things happen, and
// must not block.
func (c *Conn) WatchChildrenNotify(ctx context.Context, p string, changed func(), seen func(Snapshot)) <-chan Snapshot {
	return c.watch(ctx, p, watchChildren, &notify{changed: changed, seen: seen})
}

// notify is WatchChildrenNotify's callbacks.
type notify struct {
	changed func()
	seen    func(Snapshot)
}

// WatchData watches the data of p, with the same delivery rules as
// WatchChildren. A missing znode is delivered as Exists=false and watched
// for creation.
func (c *Conn) WatchData(ctx context.Context, p string) <-chan Snapshot {
	return c.watch(ctx, p, watchData, nil)
}

func (c *Conn) watch(ctx context.Context, p string, kind watchKind, n *notify) <-chan Snapshot {
	out := make(chan Snapshot, 1)
	go func() {
		defer close(out)
		backoff := retryBackoff{min: 100 * time.Millisecond, max: 2 * time.Second}
		notified := false // a change was announced to changed and not read yet
		for {
			if err := c.WaitSession(ctx); err != nil {
				return
			}
			snap, ev, err := c.read(ctx, p, kind)
			if err != nil {
				if ctx.Err() != nil || errors.Is(err, ErrClosed) || errors.Is(err, ErrSessionExpired) {
					return
				}
				if !transient(err) {
					c.log.Warn("zkwatch: watch read failed", "path", p, "err", err)
					es := Snapshot{Path: p, Err: err, SessionID: c.SessionID()}
					if n != nil {
						n.seen(es)
					}
					deliver(out, es)
				} else {
					c.log.Debug("zkwatch: watch read retry", "path", p, "err", err)
				}
				if !sleepCtx(ctx, c.done, backoff.next()) {
					return
				}
				continue
			}
			backoff.reset()
			snap.Notified, notified = notified, false
			if n != nil {
				n.seen(snap)
			}
			deliver(out, snap)
			select {
			case e, ok := <-ev:
				switch {
				case ok && e.Type == zk.EventNotWatching:
					c.log.Debug("zkwatch: watch dropped, re-arming", "path", p, "err", e.Err)
				case ok && n != nil:
					notified = true
					n.changed()
				}
			case <-ctx.Done():
				return
			case <-c.done:
				return
			}
		}
	}()
	return out
}

// read takes one snapshot and arms the next one-shot watch.
func (c *Conn) read(ctx context.Context, p string, kind watchKind) (Snapshot, <-chan Event, error) {
	type res struct {
		snap Snapshot
		ev   <-chan Event
	}
	abs := c.abs(p)
	r, err := do(ctx, c, func(z *zk.Conn) (res, error) {
		sid := z.SessionID()
		for {
			var (
				snap = Snapshot{Path: p, Exists: true, SessionID: sid}
				ev   <-chan Event
				err  error
			)
			if kind == watchChildren {
				snap.Children, snap.Stat, ev, err = z.ChildrenW(abs)
				slices.Sort(snap.Children)
			} else {
				snap.Data, snap.Stat, ev, err = z.GetW(abs)
			}
			if !errors.Is(err, zk.ErrNoNode) {
				return res{snap, ev}, err
			}
			ok, st, ev, err := z.ExistsW(abs)
			if err != nil {
				return res{}, err
			}
			if ok { // created between the two calls; the exists watch fires too
				_ = st
				continue
			}
			return res{Snapshot{Path: p, SessionID: sid}, ev}, nil
		}
	})
	return r.snap, r.ev, err
}

// deliver replaces any undelivered snapshot in the 1-slot channel with s.
// Only the watch goroutine sends, so after the drain the send cannot block.
func deliver(out chan Snapshot, s Snapshot) {
	select {
	case <-out:
	default:
	}
	out <- s
}

func transient(err error) bool {
	return errors.Is(err, zk.ErrConnectionClosed) || errors.Is(err, zk.ErrNoServer) ||
		errors.Is(err, zk.ErrSessionExpired) || errors.Is(err, zk.ErrSessionMoved) ||
		errors.Is(err, zk.ErrClosing)
}

func sleepCtx(ctx context.Context, done <-chan struct{}, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	case <-done:
		return false
	}
}

// retryBackoff doubles from min to max; it is the watch's retry pacing.
type retryBackoff struct {
	min, max, cur time.Duration
}

func (b *retryBackoff) next() time.Duration {
	if b.cur == 0 {
		b.cur = b.min
	} else {
		b.cur = min(b.cur*2, b.max)
	}
	return b.cur
}

func (b *retryBackoff) reset() { b.cur = 0 }
