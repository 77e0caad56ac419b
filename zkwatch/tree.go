package zkwatch

import (
	"context"
	"fmt"

	"github.com/zkbalance/zkbalance/internal/zk"
)

// TreeEventKind is what a TreeEvent reports.
type TreeEventKind int

const (
	// TreeWatching: the server registered the watch on the current
	// connection; every change below the path from now on is delivered.
	// A cache of the tree may be (re)built from reads sent after it.
	TreeWatching TreeEventKind = iota
	// TreeLost: the connection was lost; changes may be missed until the
	// next TreeWatching (the watch is set again on the next connection).
	TreeLost
	// TreeCreated, TreeDeleted, TreeDataChanged: a znode at or below the
	// path was created, deleted, or its data set.
	TreeCreated
	TreeDeleted
	TreeDataChanged
)

// TreeEvent is one notification of WatchTree.
type TreeEvent struct {
	Kind TreeEventKind
	Path string // the znode's path (relative to the chroot)
}

// WatchTree sets a persistent recursive watch on p (which need not exist;
// ZooKeeper 3.6 or later) and calls fn for every creation, deletion and
// data change at or below p. fn runs on the connection's receive
// goroutine and must not block; events and the replies of requests arrive
// in the server's order, so when a reply arrives, fn has seen every change
// the reply reflects. Call stop to end the callbacks (the server keeps the
// watch until the session ends). A server before 3.6 answers
// ErrUnimplemented (and closes the connection; the session survives).
func (c *Conn) WatchTree(ctx context.Context, p string, fn func(TreeEvent)) (stop func(), err error) {
	cb := func(ev zk.Event) {
		var k TreeEventKind
		switch ev.Type {
		case zk.EventTreeWatching:
			k = TreeWatching
		case zk.EventNotWatching:
			k = TreeLost
		case zk.EventNodeCreated:
			k = TreeCreated
		case zk.EventNodeDeleted:
			k = TreeDeleted
		case zk.EventNodeDataChanged:
			k = TreeDataChanged
		default:
			return
		}
		fn(TreeEvent{Kind: k, Path: c.rel(ev.Path)})
	}
	type result struct {
		stop func()
		err  error
	}
	ch := make(chan result, 1)
	go func() { // ends when go-zookeeper answers, which it always does
		s, err := c.zk.AddTreeWatch(c.abs(p), cb)
		ch <- result{s, err}
	}()
	var r result
	select {
	case r = <-ch:
	case <-ctx.Done():
		err = context.Cause(ctx)
	case <-c.done:
		err = c.endErr()
	}
	if err != nil {
		go func() { // the watch was set meanwhile: end its callbacks
			if r := <-ch; r.stop != nil {
				r.stop()
			}
		}()
		return nil, fmt.Errorf("zkwatch: watch tree %s: %w", p, err)
	}
	if r.err != nil {
		return nil, fmt.Errorf("zkwatch: watch tree %s: %w", p, r.err)
	}
	return r.stop, nil
}
