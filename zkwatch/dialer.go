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
	return boundedDialer(dial, limit, limit)
}

// boundedDialer is BoundedDialer whose handshake (go-zookeeper's session
// handshake, the only deadline it sets more than 3 x limit ahead: ten
// times its receive timeout) is bounded by handshake instead. Dial gives
// each server of an ensemble the session timeout divided by the number of
// servers, as ZooKeeper's Java client does, so that a server that accepts
// and never answers (cut off by a silent partition) leaves time to reach
// another one within the session.
func boundedDialer(dial Dialer, limit, handshake time.Duration) Dialer {
	if dial == nil {
		dial = net.DialTimeout
	}
	return func(network, address string, timeout time.Duration) (net.Conn, error) {
		c, err := dial(network, address, timeout)
		if err != nil {
			return nil, err
		}
		return boundedConn{Conn: c, limit: limit, handshake: min(handshake, limit)}, nil
	}
}

// boundedConn caps every deadline set on it at limit from now, and one more
// than 3 x limit ahead (the handshake's) at handshake from now.
type boundedConn struct {
	net.Conn
	limit, handshake time.Duration
}

func (c boundedConn) capped(t time.Time) time.Time {
	return capDeadline(t, time.Now(), c.limit, c.handshake)
}

// capDeadline caps deadline t set at now (see boundedConn). Pure.
func capDeadline(t, now time.Time, limit, handshake time.Duration) time.Time {
	if t.IsZero() || limit <= 0 {
		return t
	}
	if handshake > 0 && t.After(now.Add(3*limit)) {
		return now.Add(handshake)
	}
	if max := now.Add(limit); t.After(max) {
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
