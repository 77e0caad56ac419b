package zkwatch

import (
	"errors"
	"fmt"
	"net"
	"sync"
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

// dialLog records how the dials of one Dial went, so that its error can
// name the cause (a refused or unresolvable server) instead of only the
// context's deadline.
type dialLog struct {
	mu        sync.Mutex
	succeeded bool
	last      error
}

// wrap records every dial of dial.
func (l *dialLog) wrap(dial Dialer) Dialer {
	return func(network, address string, timeout time.Duration) (net.Conn, error) {
		c, err := dial(network, address, timeout)
		l.mu.Lock()
		if err != nil {
			l.last = err
		} else {
			l.succeeded = true
		}
		l.mu.Unlock()
		return c, err
	}
}

// onlyFailures is the last dial error when no dial has succeeded yet, else
// nil.
func (l *dialLog) onlyFailures() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.succeeded {
		return nil
	}
	return l.last
}

// dialError is Dial's error when no session came: err (the context's cause,
// or ErrUnreachable which already wraps the dial error) and, when every
// dial failed, the last dial error, so that "connection refused" or "no
// such host" is in the message and matchable with errors.Is/As.
func dialError(servers string, err, lastDial error) error {
	if ue := (*unreachableError)(nil); errors.As(err, &ue) {
		return ue
	}
	if lastDial == nil {
		return fmt.Errorf("zkwatch: connect %s: %w", servers, err)
	}
	return fmt.Errorf("zkwatch: connect %s: %w (last dial error: %w)", servers, err, lastDial)
}

// unreachableError is Dial's error with Config.FailFast: it is
// ErrUnreachable and wraps the last dial error.
type unreachableError struct {
	servers string
	after   time.Duration
	dial    error
}

func (e *unreachableError) Error() string {
	return fmt.Sprintf("zkwatch: connect %s: no server reachable within %s: %v", e.servers, e.after, e.dial)
}

func (e *unreachableError) Is(target error) bool { return target == ErrUnreachable }
func (e *unreachableError) Unwrap() error        { return e.dial }
