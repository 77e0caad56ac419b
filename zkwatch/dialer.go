package zkwatch

import (
	"net"
	"time"
)

// BoundedDialer wraps dial (net.DialTimeout when nil) so that no single read
// or write on a ZooKeeper connection waits longer than limit.
//
// go-zookeeper gives its connect handshake ten times its receive timeout
// (6.7 x the session timeout). A server that accepts a connection while it
// is starting and then never answers it (ZooKeeper 3.8's ZOOKEEPER-5051
// leaks such sockets) holds the client in that handshake for minutes, long
// after its session could have been resumed on the running server. With
// the limit, the handshake gives up and the client dials again. Dial applies
// it with the session timeout as the limit; reads and writes of an
// established connection already use shorter deadlines and are unaffected.
func BoundedDialer(dial Dialer, limit time.Duration) Dialer {
	if dial == nil {
		dial = net.DialTimeout
	}
	return func(network, address string, timeout time.Duration) (net.Conn, error) {
		c, err := dial(network, address, timeout)
		if err != nil {
			return nil, err
		}
		return boundedConn{Conn: c, limit: limit}, nil
	}
}

// boundedConn caps every deadline set on it at limit from now.
type boundedConn struct {
	net.Conn
	limit time.Duration
}

func (c boundedConn) capped(t time.Time) time.Time {
	if t.IsZero() || c.limit <= 0 {
		return t
	}
	if max := time.Now().Add(c.limit); t.After(max) {
		return max
	}
	return t
}

func (c boundedConn) SetDeadline(t time.Time) error { return c.Conn.SetDeadline(c.capped(t)) }

func (c boundedConn) SetReadDeadline(t time.Time) error {
	return c.Conn.SetReadDeadline(c.capped(t))
}

func (c boundedConn) SetWriteDeadline(t time.Time) error {
	return c.Conn.SetWriteDeadline(c.capped(t))
}
