package balanced

import (
	"net"
	"sync"

	"github.com/IBM/sarama"
)

// connTracker dials the fetcher's broker connections (as sarama would,
// through the configured proxy if any) and keeps them, so that shutdown
// can close them under a request in flight: sarama holds a Broker's lock
// while a request waits for its answer, so Broker.Close waits for a long
// poll (up to Consumer.MaxWaitTime) to be answered.
type connTracker struct {
	conf *sarama.Config // its Net settings, read at each dial
	base interface {
		Dial(network, addr string) (net.Conn, error)
	} // the configured proxy's dialer, or nil

	mu     sync.Mutex
	conns  map[*trackedConn]struct{}
	closed bool
}

// trackConns makes conf's connections go through a new connTracker.
func trackConns(conf *sarama.Config) *connTracker {
	t := &connTracker{conf: conf, conns: map[*trackedConn]struct{}{}}
	if conf.Net.Proxy.Enable {
		t.base = conf.Net.Proxy.Dialer
	}
	conf.Net.Proxy.Enable, conf.Net.Proxy.Dialer = true, t
	return t
}

// Dial opens a connection as sarama would have without the tracker.
func (t *connTracker) Dial(network, addr string) (net.Conn, error) {
	var c net.Conn
	var err error
	if t.base != nil {
		c, err = t.base.Dial(network, addr)
	} else {
		n := t.conf.Net
		c, err = (&net.Dialer{Timeout: n.DialTimeout, KeepAlive: n.KeepAlive, LocalAddr: n.LocalAddr}).Dial(network, addr)
	}
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		_ = c.Close()
		return nil, net.ErrClosed
	}
	tc := &trackedConn{Conn: c, t: t}
	t.conns[tc] = struct{}{}
	return tc, nil
}

// closeAll closes every connection, and every one dialed from now on.
func (t *connTracker) closeAll() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closed = true
	for c := range t.conns {
		_ = c.Conn.Close()
	}
	clear(t.conns)
}

// trackedConn is a connection the tracker keeps until it is closed.
type trackedConn struct {
	net.Conn
	t *connTracker
}

func (c *trackedConn) Close() error {
	c.t.mu.Lock()
	delete(c.t.conns, c)
	c.t.mu.Unlock()
	return c.Conn.Close()
}
