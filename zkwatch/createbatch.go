package zkwatch

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/zkbalance/zkbalance/internal/zk"
)

// createCoalescer merges concurrent CreateThenGet calls of one Conn.
//
// Why: a rebalance claims every partition that moved to the member at
// once, each with a create (a write every ZooKeeper server logs and syncs)
// and a read of the partition's offset znode behind it. At 4096
// partitions a join moves up to about 2000 of them, and the server's
// pipeline, not the round trip, set the pace: claims ran at 1-2 a
// millisecond. Merged, a claim wave is a few multis and multiReads.
//
// How: a call made while none is in flight is sent at once, alone (a lone
// claim waits for nothing). Calls made while one is in flight gather in a
// batch that is sent createGather after its first call (not when the one
// in flight is answered: over a slow link that would cost the batch a
// round trip), and the next calls gather in the next batch. A batch is a
// multi of up to maxCreateBatch creates with a multiRead of their reads
// pipelined behind it (one round trip), or, while the server is not known
// to answer multiRead, the multi and then GetMany. A multi applies all its
// creates or none: see sendCreateChunk for one that fails. The zero value
// is ready to use.
type createCoalescer struct {
	mu       sync.Mutex
	inFlight int          // calls and batches sent and not yet answered
	next     *createBatch // the batch gathering, nil if none
}

// createGather is how long a batch gathers calls before it is sent.
const createGather = time.Millisecond

// maxCreateBatch bounds the creates of one multi (far below ZooKeeper's 1
// MiB packet limit for owner znodes).
const maxCreateBatch = 500

type createItem struct {
	path    string
	data    []byte
	flags   int32
	acl     []ACL
	getPath string

	created string
	got     GetResult
	err     error
}

type createBatch struct {
	items []*createItem
	done  chan struct{}
}

func (q *createCoalescer) do(ctx context.Context, c *Conn, it createItem) (string, GetResult, error) {
	item := &it
	if ctx.Err() != nil { // never sent
		item.fail(context.Cause(ctx))
		return "", item.got, item.err
	}
	b := q.enqueue(c, item)
	if b == nil {
		created, got, err := c.createThenGetOne(ctx, it.path, it.data, it.flags, it.acl, it.getPath)
		q.sentAlone()
		return created, got, err
	}
	select {
	case <-b.done:
		return item.created, item.got, item.err
	case <-ctx.Done():
	}
	q.mu.Lock()
	if q.next == b { // not sent: taken out, it never will be
		b.items = slices.DeleteFunc(b.items, func(x *createItem) bool { return x == item })
		q.mu.Unlock()
	} else {
		// Sent (or being sent): wait for the answer, so that whatever the
		// caller sends next (a claim that gives up reads its znode to
		// delete a create of its own that landed) goes behind the create.
		// A caller of a single create gets the same order from the
		// connection's queue.
		q.mu.Unlock()
		<-b.done
	}
	item.fail(context.Cause(ctx))
	return "", item.got, item.err
}

// doMany is do for many items at once, without a context (the caller
// consulted it): answered when they are, alone or in their batch.
func (q *createCoalescer) doMany(c *Conn, items []*createItem) {
	b := q.enqueue(c, items...)
	if b == nil {
		c.sendCreates(items)
		q.sentAlone()
		return
	}
	<-b.done
}

// enqueue adds items to the batch gathering calls and returns it,
// starting one (sent createGather later) if none is; or, while nothing is
// in flight, returns nil and counts the items in flight: the caller sends
// them at once, alone, then calls sentAlone.
func (q *createCoalescer) enqueue(c *Conn, items ...*createItem) *createBatch {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.inFlight == 0 {
		q.inFlight++
		return nil
	}
	if q.next == nil {
		b := &createBatch{done: make(chan struct{})}
		q.next = b
		time.AfterFunc(createGather, func() { q.send(c, b) }) // ends with the batch's answer
	}
	q.next.items = append(q.next.items, items...)
	return q.next
}

// sentAlone ends what enqueue counted in flight.
func (q *createCoalescer) sentAlone() {
	q.mu.Lock()
	q.inFlight--
	q.mu.Unlock()
}

// fail sets it's answer to err: its create failed, and its read (if it has
// one) too.
func (it *createItem) fail(err error) {
	it.err = fmt.Errorf("zkwatch: create %s: %w", it.path, err)
	if it.getPath != "" {
		it.got = GetResult{Err: fmt.Errorf("zkwatch: get %s: %w", it.getPath, err)}
	}
}

// send closes b to new calls and sends it.
func (q *createCoalescer) send(c *Conn, b *createBatch) {
	q.mu.Lock()
	if q.next == b {
		q.next = nil
	}
	q.inFlight++
	items := b.items
	q.mu.Unlock()
	c.sendCreates(items)
	close(b.done)
	q.mu.Lock()
	q.inFlight--
	q.mu.Unlock()
}

// sendCreates sends items in multis of at most maxCreateBatch creates and
// fills in their answers. It does not take a caller's context: a batch is
// sent whole (a caller that stops waiting before it is sent is taken out of
// it; after, its create stays, as a request already sent may be applied
// anyway); it ends when the server answers or the connection fails the
// requests.
func (c *Conn) sendCreates(items []*createItem) {
	var wg sync.WaitGroup
	for lo := 0; lo < len(items); lo += maxCreateBatch {
		chunk := items[lo:min(lo+maxCreateBatch, len(items))]
		wg.Go(func() { c.sendCreateChunk(chunk) })
	}
	wg.Wait()
}

// sendCreateChunk sends items as one multi (with their reads). When the
// server refuses the multi for one create (then it applied none: ZooKeeper
// names the first failing operation), that create goes on its own, for its
// own answer, and the others are merged again, at most maxCreateRetries
// times; after that each goes on its own.
func (c *Conn) sendCreateChunk(items []*createItem) {
	var wg sync.WaitGroup
	defer wg.Wait()
	alone := func(it *createItem) {
		wg.Go(func() {
			it.created, it.got, it.err = c.createThenGetOne(context.Background(), it.path, it.data, it.flags, it.acl, it.getPath)
		})
	}
	for round := 0; len(items) > 1 && round <= maxCreateRetries; round++ {
		failed := c.sendMerged(items)
		if failed < 0 {
			return
		}
		alone(items[failed])
		items = append(items[:failed:failed], items[failed+1:]...)
	}
	for _, it := range items {
		alone(it)
	}
}

// maxCreateRetries bounds how often a chunk whose multi failed on one
// create is merged again without it.
const maxCreateRetries = 3

// sendMerged sends items as one multi with their reads and fills in their
// answers; or, when the server refused the multi for one of its creates,
// fills in nothing and returns that create's index (else -1).
func (c *Conn) sendMerged(items []*createItem) int {
	ctx := context.Background()
	ops := make([]any, len(items))
	var readers []*createItem // the items with a read, in order
	var gets []string         // their reads
	for i, it := range items {
		ops[i] = &zk.CreateRequest{Path: c.abs(it.path), Data: it.data, Acl: orOpenACL(it.acl), Flags: it.flags}
		if it.getPath != "" {
			readers = append(readers, it)
			gets = append(gets, c.abs(it.getPath))
		}
	}
	type answer struct {
		mres []zk.MultiResponse
		err  error
		gres []zk.MultiReadResult
		gerr error
	}
	pipelined := c.multiReadOK.Load() && !c.noMultiRead.Load() && len(gets) > 0
	a, err := do(ctx, c, func(z *zk.Conn) (answer, error) {
		var a answer
		if pipelined {
			a.mres, a.err, a.gres, a.gerr = z.MultiThenGetMulti(ops, gets)
		} else {
			a.mres, a.err = z.Multi(ops...)
		}
		return a, nil
	})
	if err == nil {
		err = a.err
		if errors.Is(err, zk.ErrClosing) {
			err = fmt.Errorf("%w: %w", c.endErr(), err)
		}
	}
	if err != nil && len(a.mres) == len(items) {
		for i, r := range a.mres {
			if r.Error != nil { // the ops before it answer OK, the ones after RUNTIMEINCONSISTENCY
				return i
			}
		}
		return 0 // not named: the first goes alone, the rest again
	}
	if err != nil {
		for _, it := range items {
			it.fail(err)
		}
		return -1
	}
	switch {
	case len(readers) == 0:
	case !pipelined:
		paths := make([]string, len(readers))
		for j, it := range readers {
			paths[j] = it.getPath
		}
		for j, r := range c.GetMany(ctx, paths) {
			readers[j].got = r
		}
	case a.gerr != nil:
		for _, it := range readers {
			it.got = GetResult{Err: fmt.Errorf("zkwatch: get %s: %w", it.getPath, a.gerr)}
		}
	default:
		for j, it := range readers {
			if r := a.gres[j]; r.Err != nil {
				it.got = GetResult{Err: fmt.Errorf("zkwatch: get %s: %w", it.getPath, r.Err)}
			} else {
				it.got = GetResult{Data: r.Data, Stat: r.Stat}
			}
		}
	}
	for i, it := range items {
		it.created = c.rel(a.mres[i].String)
	}
	return -1
}
