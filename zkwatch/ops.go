package zkwatch

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/zkbalance/zkbalance/internal/zk"
)

// abs turns a path relative to the chroot into the server's absolute path.
func (c *Conn) abs(p string) string {
	if c.chroot == "" {
		return p
	}
	if p == "/" {
		return c.chroot
	}
	return c.chroot + p
}

// rel strips the chroot from a path the server returned.
func (c *Conn) rel(p string) string {
	if c.chroot == "" {
		return p
	}
	r := strings.TrimPrefix(p, c.chroot)
	if r == "" {
		return "/"
	}
	return r
}

// do runs a blocking go-zookeeper call so that ctx can end the wait. The call
// itself is not undone: a write may still be applied after ctx is done. The
// goroutine ends when go-zookeeper answers (or fails the request when the
// connection drops), which it always does.
func do[T any](ctx context.Context, c *Conn, fn func(*zk.Conn) (T, error)) (T, error) {
	var zero T
	if err := ctx.Err(); err != nil {
		return zero, context.Cause(ctx)
	}
	select {
	case <-c.done:
		return zero, c.endErr()
	default:
	}
	type result struct {
		v   T
		err error
	}
	ch := make(chan result, 1)
	go func() {
		v, err := fn(c.zk)
		ch <- result{v, err}
	}()
	select {
	case r := <-ch:
		if errors.Is(r.err, zk.ErrClosing) {
			return r.v, fmt.Errorf("%w: %w", c.endErr(), r.err)
		}
		return r.v, r.err
	case <-ctx.Done():
		return zero, context.Cause(ctx)
	case <-c.done:
		return zero, c.endErr()
	}
}

type stat = *Stat

// Get reads a znode's data and stat.
func (c *Conn) Get(ctx context.Context, p string) ([]byte, *Stat, error) {
	type r struct {
		b []byte
		s stat
	}
	v, err := do(ctx, c, func(z *zk.Conn) (r, error) { b, s, err := z.Get(c.abs(p)); return r{b, s}, err })
	if err != nil {
		return nil, nil, fmt.Errorf("zkwatch: get %s: %w", p, err)
	}
	return v.b, v.s, nil
}

// GetResult is one answer of GetMany.
type GetResult struct {
	Data []byte
	Stat *Stat
	Err  error // as Get's
}

// maxInFlight bounds GetMany's concurrent single reads.
const maxInFlight = 256

// maxMultiReadsInFlight bounds GetMany's concurrent multiRead requests:
// 4096 reads at once, so that a sticky member reading a 4096-partition
// topic's owners whole waits for one round trip, not four waves of 1024
// (an answer of 128 owner znodes is about 20 KiB).
const maxMultiReadsInFlight = 32

// multiReadChunk is the paths one multiRead request of GetMany reads
// (answers of owner and offset znodes stay far below ZooKeeper's 1 MiB
// packet limit).
const multiReadChunk = 128

// GetMany reads paths and returns the results in the order of paths. On
// ZooKeeper 3.6 and later it reads them in multiRead requests of up to 128
// paths each (one request through the server's pipeline instead of one a
// znode), at most 32 requests pipelined; on an older server (which answers the
// first one UNIMPLEMENTED and closes the connection, the session
// surviving) and from then on in this Conn, as single reads, at most 256 in
// flight: the requests pipeline on the one connection instead of paying a
// round trip each.
func (c *Conn) GetMany(ctx context.Context, paths []string) []GetResult {
	out := make([]GetResult, len(paths))
	if len(paths) > 1 && !c.noMultiRead.Load() {
		var wg sync.WaitGroup
		var fallback atomic.Bool
		sem := make(chan struct{}, maxMultiReadsInFlight)
		for lo := 0; lo < len(paths); lo += multiReadChunk {
			hi := min(lo+multiReadChunk, len(paths))
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				if !c.getMulti(ctx, paths[lo:hi], out[lo:hi]) {
					fallback.Store(true)
				}
			})
		}
		wg.Wait()
		if !fallback.Load() {
			return out
		}
	}
	sem := make(chan struct{}, maxInFlight)
	var wg sync.WaitGroup
	for i, p := range paths {
		if out[i].Stat != nil {
			continue // answered by a multiRead
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			out[i].Data, out[i].Stat, out[i].Err = c.Get(ctx, p)
		})
	}
	wg.Wait()
	return out
}

// getMulti reads paths in one multiRead request into out; false when the
// server does not know multiRead (then out is left for single reads).
func (c *Conn) getMulti(ctx context.Context, paths []string, out []GetResult) bool {
	abs := make([]string, len(paths))
	for i, p := range paths {
		abs[i] = c.abs(p)
	}
	res, err := do(ctx, c, func(z *zk.Conn) ([]zk.MultiReadResult, error) { return z.GetMulti(abs) })
	if errors.Is(err, zk.ErrUnimplemented) {
		c.noMultiRead.Store(true)
		return false
	}
	if err != nil && c.noMultiRead.Load() {
		return false // the connection another chunk's UNIMPLEMENTED closed
	}
	if err == nil {
		c.multiReadOK.Store(true)
	}
	for i, p := range paths {
		switch {
		case err != nil:
			out[i].Err = fmt.Errorf("zkwatch: get %s: %w", p, err)
		case res[i].Err != nil:
			out[i].Err = fmt.Errorf("zkwatch: get %s: %w", p, res[i].Err)
		default:
			out[i].Data, out[i].Stat = res[i].Data, res[i].Stat
		}
	}
	return true
}

// Children lists a znode's children (in server order).
func (c *Conn) Children(ctx context.Context, p string) ([]string, *Stat, error) {
	type r struct {
		c []string
		s stat
	}
	v, err := do(ctx, c, func(z *zk.Conn) (r, error) { ch, s, err := z.Children(c.abs(p)); return r{ch, s}, err })
	if err != nil {
		return nil, nil, fmt.Errorf("zkwatch: children of %s: %w", p, err)
	}
	return v.c, v.s, nil
}

// Exists reports whether a znode exists, with its stat when it does.
func (c *Conn) Exists(ctx context.Context, p string) (bool, *Stat, error) {
	type r struct {
		ok bool
		s  stat
	}
	v, err := do(ctx, c, func(z *zk.Conn) (r, error) { ok, s, err := z.Exists(c.abs(p)); return r{ok, s}, err })
	if err != nil {
		return false, nil, fmt.Errorf("zkwatch: exists %s: %w", p, err)
	}
	return v.ok, v.s, nil
}

// orOpenACL is acl, or world:anyone all when acl is nil (what Create and
// CreateThenGet take nil to mean).
func orOpenACL(acl []ACL) []ACL {
	if acl == nil {
		return zk.WorldACL(zk.PermAll)
	}
	return acl
}

// Create creates a znode and returns its path (relative to the chroot;
// sequential nodes get their suffix). acl nil means world:anyone all.
func (c *Conn) Create(ctx context.Context, p string, data []byte, flags int32, acl []ACL) (string, error) {
	acl = orOpenACL(acl)
	v, err := do(ctx, c, func(z *zk.Conn) (string, error) { return z.Create(c.abs(p), data, flags, acl) })
	if err != nil {
		return "", fmt.Errorf("zkwatch: create %s: %w", p, err)
	}
	return c.rel(v), nil
}

// EnsurePath creates p and any missing parents as persistent znodes with
// empty data; existing nodes are left alone.
func (c *Conn) EnsurePath(ctx context.Context, p string, acl []ACL) error {
	if p == "/" || p == "" {
		return nil
	}
	if ok, _, err := c.Exists(ctx, p); err != nil {
		return err
	} else if ok {
		return nil
	}
	parts := strings.Split(strings.TrimPrefix(p, "/"), "/")
	cur := ""
	for _, part := range parts {
		cur += "/" + part
		if _, err := c.Create(ctx, cur, nil, 0, acl); err != nil && !errors.Is(err, zk.ErrNodeExists) {
			return fmt.Errorf("zkwatch: ensure %s: %w", p, err)
		}
	}
	return nil
}

// Set writes a znode's data if its version matches (-1 for any).
func (c *Conn) Set(ctx context.Context, p string, data []byte, version int32) (*Stat, error) {
	v, err := do(ctx, c, func(z *zk.Conn) (stat, error) { return z.Set(c.abs(p), data, version) })
	if err != nil {
		return nil, fmt.Errorf("zkwatch: set %s: %w", p, err)
	}
	return v, nil
}

// Delete deletes a znode if its version matches (-1 for any).
func (c *Conn) Delete(ctx context.Context, p string, version int32) error {
	_, err := do(ctx, c, func(z *zk.Conn) (struct{}, error) { return struct{}{}, z.Delete(c.abs(p), version) })
	if err != nil {
		return fmt.Errorf("zkwatch: delete %s: %w", p, err)
	}
	return nil
}

// GetACL returns the ACL and stat of the znode at p.
func (c *Conn) GetACL(ctx context.Context, p string) ([]ACL, *Stat, error) {
	type r struct {
		acl []ACL
		s   *Stat
	}
	v, err := do(ctx, c, func(z *zk.Conn) (r, error) { a, s, err := z.GetACL(c.abs(p)); return r{a, s}, err })
	if err != nil {
		return nil, nil, fmt.Errorf("zkwatch: get acl %s: %w", p, err)
	}
	return v.acl, v.s, nil
}

// Multi runs the operations atomically. ops are *CreateRequest,
// *SetDataRequest, *DeleteRequest or *CheckVersionRequest with
// paths relative to the chroot (they are not modified). The error of the
// first failing operation is returned, wrapped.
func (c *Conn) Multi(ctx context.Context, ops ...any) ([]MultiResponse, error) {
	abs := make([]any, len(ops))
	for i, op := range ops {
		switch o := op.(type) {
		case *CreateRequest:
			cp := *o
			cp.Path = c.abs(o.Path)
			if cp.Acl == nil {
				cp.Acl = zk.WorldACL(zk.PermAll)
			}
			abs[i] = &cp
		case *SetDataRequest:
			cp := *o
			cp.Path = c.abs(o.Path)
			abs[i] = &cp
		case *DeleteRequest:
			cp := *o
			cp.Path = c.abs(o.Path)
			abs[i] = &cp
		case *CheckVersionRequest:
			cp := *o
			cp.Path = c.abs(o.Path)
			abs[i] = &cp
		default:
			return nil, fmt.Errorf("zkwatch: multi: unsupported operation %T", op)
		}
	}
	res, err := do(ctx, c, func(z *zk.Conn) ([]MultiResponse, error) { return z.Multi(abs...) })
	if err == nil {
		for i, r := range res {
			if r.Error != nil {
				err = fmt.Errorf("operation %d: %w", i, r.Error)
				break
			}
		}
	}
	if err != nil {
		return res, fmt.Errorf("zkwatch: multi: %w", err)
	}
	return res, nil
}

// ExistsW reports whether p exists and arms a one-shot watch that fires on
// its creation, deletion or data change. The channel gets one event (or is
// closed unfired when the connection ends).
func (c *Conn) ExistsW(ctx context.Context, p string) (bool, *Stat, <-chan Event, error) {
	type r struct {
		ok bool
		s  stat
		ev <-chan Event
	}
	v, err := do(ctx, c, func(z *zk.Conn) (r, error) { ok, s, ev, err := z.ExistsW(c.abs(p)); return r{ok, s, ev}, err })
	if err != nil {
		return false, nil, nil, fmt.Errorf("zkwatch: exists %s: %w", p, err)
	}
	return v.ok, v.s, v.ev, nil
}

// GetW reads a znode's data and stat and arms a one-shot watch that fires
// on its deletion or a change of its data. The channel gets one event (or
// is closed unfired when the connection ends). A missing znode is an error
// wrapping ErrNoNode, and then no watch is armed.
func (c *Conn) GetW(ctx context.Context, p string) ([]byte, *Stat, <-chan Event, error) {
	type r struct {
		b  []byte
		s  stat
		ev <-chan Event
	}
	v, err := do(ctx, c, func(z *zk.Conn) (r, error) { b, s, ev, err := z.GetW(c.abs(p)); return r{b, s, ev}, err })
	if err != nil {
		return nil, nil, nil, fmt.Errorf("zkwatch: get %s: %w", p, err)
	}
	return v.b, v.s, v.ev, nil
}

// CreateThenGet creates a znode as Create does and reads getPath right
// behind it, in one round trip: the read is sent without waiting for the
// create's answer, and ZooKeeper answers a session's requests in order, so
// it sees the state just after the create. The read's result is returned
// whether or not the create succeeded (unless the request could not be
// sent at all); err is the create's.
//
// Concurrent calls are merged (createbatch.go): a call made while none is
// in flight is sent at once, alone; calls made while one is in flight
// gather for a millisecond and go together as one multi of their creates
// with one multiRead of their reads right behind it. Each caller still
// gets its own create's answer: when a merged multi fails on one create
// (it then applies none), that create is sent again alone and the others
// merged again. When ctx ends first, a create not yet sent is never sent;
// one already sent (alone or merged) may still be applied, and a merged
// one is waited for before the call returns ctx's error, so that a read
// the caller sends next sees it if it was.
func (c *Conn) CreateThenGet(ctx context.Context, p string, data []byte, flags int32, acl []ACL, getPath string) (string, GetResult, error) {
	return c.creates.do(ctx, c, createItem{path: p, data: data, flags: flags, acl: acl, getPath: getPath})
}

// CreateThenGetOp is one create of CreateThenGetMany: the znode Path with
// Data, Flags and ACL (nil: world all), and GetPath read right behind it
// ("": no read).
type CreateThenGetOp struct {
	Path    string
	Data    []byte
	Flags   int32
	ACL     []ACL
	GetPath string
}

// CreateThenGetResult is the answer to one CreateThenGetOp: the path
// created (Created, with a sequence number if one was asked for) or the
// create's error (Err), and the read behind it (Get; zero without a
// GetPath).
type CreateThenGetResult struct {
	Created string
	Get     GetResult
	Err     error
}

// CreateThenGetMany makes many CreateThenGet calls at once, on the calling
// goroutine, merged as concurrent CreateThenGet calls are (with them too):
// multis of up to 500 creates, each with a multiRead of their reads right
// behind it, and each create answered on its own. It returns one result
// per op, in order. ctx is consulted once, before anything is sent: if it
// has ended, each result fails with its cause. Once sent, the call returns
// when the server has answered or the connection has failed the requests.
func (c *Conn) CreateThenGetMany(ctx context.Context, ops []CreateThenGetOp) []CreateThenGetResult {
	items := make([]createItem, len(ops))
	ptrs := make([]*createItem, len(ops))
	for i, op := range ops {
		items[i] = createItem{path: op.Path, data: op.Data, flags: op.Flags, acl: op.ACL, getPath: op.GetPath}
		ptrs[i] = &items[i]
	}
	if ctx.Err() != nil { // never sent
		for _, it := range ptrs {
			it.fail(context.Cause(ctx))
		}
	} else {
		c.creates.doMany(c, ptrs)
	}
	res := make([]CreateThenGetResult, len(ops))
	for i, it := range items {
		res[i] = CreateThenGetResult{Created: it.created, Get: it.got, Err: it.err}
	}
	return res
}

// createThenGetOne is one unmerged CreateThenGet.
func (c *Conn) createThenGetOne(ctx context.Context, p string, data []byte, flags int32, acl []ACL, getPath string) (string, GetResult, error) {
	if getPath == "" {
		created, err := c.Create(ctx, p, data, flags, acl)
		return created, GetResult{}, err
	}
	acl = orOpenACL(acl)
	type r struct {
		path string
		get  GetResult
	}
	v, err := do(ctx, c, func(z *zk.Conn) (r, error) {
		created, err, data, st, gerr := z.CreateThenGet(c.abs(p), data, flags, acl, c.abs(getPath))
		if gerr != nil {
			gerr = fmt.Errorf("zkwatch: get %s: %w", getPath, gerr)
		}
		return r{created, GetResult{Data: data, Stat: st, Err: gerr}}, err
	})
	if err != nil {
		if v.get.Err == nil && v.get.Stat == nil {
			v.get.Err = fmt.Errorf("zkwatch: get %s: %w", getPath, err)
		}
		return "", v.get, fmt.Errorf("zkwatch: create %s: %w", p, err)
	}
	return c.rel(v.path), v.get, nil
}
