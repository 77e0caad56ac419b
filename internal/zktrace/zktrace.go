// Package zktrace records the requests a ZooKeeper client sends, when
// their answers arrive and the watch events it receives, by decoding the
// jute frames on its connections. It is a Dialer to put in
// zkwatch.Config.Dialer (balanced.Config.ZooKeeperDialer); tests use it to
// see which requests wait for each other (the round trips on a critical
// path).
package zktrace

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/zkbalance/zkbalance/zkwatch"
)

// Event is one request (with its answer) or one watch event.
type Event struct {
	// Who is the name given to Dialer.
	Who string
	// Op is the request's operation ("getData", "create", "multi", ...),
	// "EVENT" for a watch event, or the opcode's number when unknown.
	Op string
	// Path is the request's path ("" for a multi or an unknown request).
	Path string
	// Sent is when the request was written (or the event read).
	Sent time.Time
	// Answered is when its answer was read (zero when none was; equal to
	// Sent for an event).
	Answered time.Time
}

// Recorder collects the events of every connection its dialers open.
type Recorder struct {
	mu  sync.Mutex
	evs []*Event
	t0  time.Time
}

// New returns an empty Recorder whose times count from now.
func New() *Recorder { return &Recorder{t0: time.Now()} }

// Reset forgets every event and counts times from now.
func (r *Recorder) Reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.evs, r.t0 = nil, time.Now()
}

// Start is when the times count from (New or the last Reset).
func (r *Recorder) Start() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.t0
}

// Events returns a copy of the events, by time sent.
func (r *Recorder) Events() []Event {
	r.mu.Lock()
	out := make([]Event, len(r.evs))
	for i, e := range r.evs {
		out[i] = *e
	}
	r.mu.Unlock()
	slices.SortStableFunc(out, func(a, b Event) int { return a.Sent.Compare(b.Sent) })
	return out
}

// Format writes the events, one a line: sent and answered (since Start),
// who, operation and path.
func (r *Recorder) Format(w io.Writer) error {
	t0 := r.Start()
	for _, e := range r.Events() {
		ans := "-"
		if !e.Answered.IsZero() {
			ans = e.Answered.Sub(t0).Round(time.Millisecond).String()
		}
		if _, err := fmt.Fprintf(w, "%8s %8s %-4s %-12s %s\n", e.Sent.Sub(t0).Round(time.Millisecond), ans, e.Who, e.Op, e.Path); err != nil {
			return err
		}
	}
	return nil
}

// Dialer opens TCP connections whose traffic r records under who.
func (r *Recorder) Dialer(who string) zkwatch.Dialer {
	return func(network, address string, timeout time.Duration) (net.Conn, error) {
		c, err := net.DialTimeout(network, address, timeout)
		if err != nil {
			return nil, err
		}
		return &conn{Conn: c, r: r, who: who, pending: map[int32]*Event{}}, nil
	}
}

func (r *Recorder) add(e *Event) {
	r.mu.Lock()
	r.evs = append(r.evs, e)
	r.mu.Unlock()
}

var opNames = map[int32]string{
	-11: "close", 1: "create", 2: "delete", 3: "exists", 4: "getData", 5: "setData",
	6: "getACL", 7: "setACL", 8: "getChildren", 9: "sync", 11: "ping", 12: "getChildren2",
	13: "check", 14: "multi", 15: "create2", 22: "multiRead", 100: "setAuth", 101: "setWatches", 106: "addWatch",
}

// Opcodes whose request body starts with the path (a jute string).
var pathOps = map[int32]bool{1: true, 2: true, 3: true, 4: true, 5: true, 6: true, 7: true, 8: true, 9: true, 12: true, 13: true, 15: true, 106: true}

// conn decodes the frames (a 4-byte length, then the body) each way. The
// first frame each way is the session handshake, which has no xid.
type conn struct {
	net.Conn
	r              *Recorder
	who            string
	mu             sync.Mutex
	wbuf, rbuf     []byte
	wfirst, rfirst bool
	pending        map[int32]*Event
}

// frames cuts the complete frames off buf.
func frames(buf *[]byte) [][]byte {
	var out [][]byte
	for len(*buf) >= 4 {
		n := int(binary.BigEndian.Uint32(*buf))
		if n < 0 || len(*buf)-4 < n {
			break
		}
		out = append(out, (*buf)[4:4+n])
		*buf = (*buf)[4+n:]
	}
	return out
}

// juteString reads a jute string (a 4-byte length, then the bytes) at b.
func juteString(b []byte) string {
	if len(b) < 4 {
		return ""
	}
	l := int(int32(binary.BigEndian.Uint32(b)))
	if l <= 0 || l > len(b)-4 {
		return ""
	}
	return string(b[4 : 4+l])
}

func (c *conn) Write(p []byte) (int, error) {
	now := time.Now()
	c.mu.Lock()
	c.wbuf = append(c.wbuf, p...)
	for _, f := range frames(&c.wbuf) {
		if !c.wfirst {
			c.wfirst = true
			continue
		}
		if len(f) < 8 {
			continue
		}
		xid := int32(binary.BigEndian.Uint32(f))
		op := int32(binary.BigEndian.Uint32(f[4:]))
		if op == 11 { // ping
			continue
		}
		e := &Event{Who: c.who, Op: opNames[op], Sent: now}
		if e.Op == "" {
			e.Op = fmt.Sprint(op)
		}
		if pathOps[op] {
			e.Path = juteString(f[8:])
		}
		c.pending[xid] = e
		c.r.add(e)
	}
	c.mu.Unlock()
	return c.Conn.Write(p)
}

func (c *conn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	now := time.Now()
	c.mu.Lock()
	c.rbuf = append(c.rbuf, p[:n]...)
	for _, f := range frames(&c.rbuf) {
		if !c.rfirst {
			c.rfirst = true
			continue
		}
		if len(f) < 16 {
			continue
		}
		xid := int32(binary.BigEndian.Uint32(f))
		if xid == -1 { // a watch event: header (xid, zxid, err), then type, state, path
			e := &Event{Who: c.who, Op: "EVENT", Sent: now, Answered: now}
			if len(f) > 24 {
				e.Path = juteString(f[24:])
			}
			c.r.add(e)
			continue
		}
		if e := c.pending[xid]; e != nil {
			c.r.mu.Lock()
			e.Answered = now
			c.r.mu.Unlock()
			delete(c.pending, xid)
		}
	}
	c.mu.Unlock()
	return n, err
}
