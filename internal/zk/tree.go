package zk

import (
	"errors"
	"strings"
)

// Persistent recursive watches (zkbalance patch; ZooKeeper 3.6+, the
// addWatch request). Upstream go-zookeeper has none.

const (
	opAddWatch = 106 // addWatch (ZooKeeper 3.6+)

	addWatchModePersistentRecursive = 1
)

// EventTreeWatching is delivered to a tree watch's callback when the server
// has registered it on the current connection (zkbalance patch): every
// change under its path from then on is delivered, in order, before the
// reply of any request sent after it. The client-side EventNotWatching is
// delivered when the connection is lost: changes until the next
// EventTreeWatching may be missed.
const EventTreeWatching EventType = -3

// ErrUnimplemented is the server's answer to a request it does not know
// (addWatch on ZooKeeper before 3.6; such a server also closes the
// connection) (zkbalance patch).
var ErrUnimplemented = errors.New("zk: request not implemented by the server")

type addWatchRequest struct {
	Path string
	Mode int32
}

type addWatchResponse struct{}

// treeWatch is one persistent recursive watch and its callback.
type treeWatch struct {
	path   string
	fn     func(Event)
	active bool // registered on the current connection; guarded by Conn.treesMu
}

// covers reports whether p is the watch's path or below it.
func (w *treeWatch) covers(p string) bool {
	return p == w.path || strings.HasPrefix(p, w.path+"/") || w.path == "/"
}

// AddTreeWatch sets a persistent recursive watch on path (which need not
// exist) and calls fn, on the connection's receive goroutine, for every
// creation, deletion and data change of path and the znodes below it, as
// the server notifies them (no child events: creations and deletions name
// the child). fn must not block. It gets EventTreeWatching once the server
// registered the watch, EventNotWatching when the connection is lost (then
// the watch is registered again on the next connection, which ends with
// another EventTreeWatching). remove stops the callbacks; the server keeps
// the watch until the session ends.
//
// A connection lost before the server answered is not an error: the
// watch is registered with the next connection. A server before 3.6
// answers ErrUnimplemented.
func (c *Conn) AddTreeWatch(path string, fn func(Event)) (remove func(), err error) {
	if err := validatePath(path, false); err != nil {
		return nil, err
	}
	w := &treeWatch{path: path, fn: fn}
	c.treesMu.Lock()
	if c.trees == nil {
		c.trees = map[*treeWatch]struct{}{}
	}
	c.trees[w] = struct{}{}
	c.treesMu.Unlock()
	remove = func() {
		c.treesMu.Lock()
		delete(c.trees, w)
		c.treesMu.Unlock()
	}
	err = c.registerTree(w)
	if err != nil && !errors.Is(err, ErrConnectionClosed) {
		remove()
		return nil, err
	}
	return remove, nil
}

// registerTree sends w's addWatch request and waits for the answer; w
// becomes active (and fn hears EventTreeWatching) on the receive goroutine,
// in order with the events that follow.
func (c *Conn) registerTree(w *treeWatch) error {
	_, err := c.request(opAddWatch, &addWatchRequest{Path: w.path, Mode: addWatchModePersistentRecursive}, &addWatchResponse{},
		func(_ *request, _ *responseHeader, err error) {
			if err != nil {
				return
			}
			c.treesMu.Lock()
			defer c.treesMu.Unlock()
			if _, ok := c.trees[w]; ok && !w.active {
				w.active = true
				w.fn(Event{Type: EventTreeWatching, Path: w.path})
			}
		})
	return err
}

// notifyTrees passes a watch event to the active tree watches covering its
// path (on the receive goroutine).
func (c *Conn) notifyTrees(ev Event) {
	switch ev.Type {
	case EventNodeCreated, EventNodeDeleted, EventNodeDataChanged:
	default:
		return
	}
	c.treesMu.Lock()
	defer c.treesMu.Unlock()
	for w := range c.trees {
		if w.active && w.covers(ev.Path) {
			w.fn(ev)
		}
	}
}

// treesLost tells every active tree watch that the connection is lost
// (after its receive goroutine ended: no event of it follows).
func (c *Conn) treesLost(err error) {
	c.treesMu.Lock()
	defer c.treesMu.Unlock()
	for w := range c.trees {
		if w.active {
			w.active = false
			w.fn(Event{Type: EventNotWatching, State: StateDisconnected, Path: w.path, Err: err})
		}
	}
}

// resendTrees registers every tree watch again on a new connection, in the
// background (like sendSetWatches).
func (c *Conn) resendTrees() {
	c.treesMu.Lock()
	ws := make([]*treeWatch, 0, len(c.trees))
	for w := range c.trees {
		ws = append(ws, w)
	}
	c.treesMu.Unlock()
	if len(ws) == 0 {
		return
	}
	go func() {
		for _, w := range ws {
			if err := c.registerTree(w); err != nil {
				c.logger.Printf("Failed to set a tree watch again: %v", err)
				return
			}
		}
	}()
}
