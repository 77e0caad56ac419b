package zkwatch

import "time"

// LastAnswer is when a ZooKeeper server last answered a request of this
// Conn: the last reply or ping reply read from any server, or the last
// handshake that kept or opened a session (not a watch notification: the
// server sends those without hearing from the client); the zero Time before the
// first. go-zookeeper pings every third of the negotiated session timeout,
// so on a healthy connection LastAnswer is never older than that plus a
// round trip.
//
// The time since the last answer bounds how long the server may already
// have gone without hearing from the session, whatever the connection
// state says: a reset connection is noticed at once, but a silent network
// partition only when the read times out, two thirds of the session
// timeout after the last answer. The returned Time carries a monotonic
// clock reading: use time.Since.
func (c *Conn) LastAnswer() time.Time {
	if c.zk == nil {
		return time.Time{}
	}
	return c.zk.LastReceive()
}

// NegotiatedTimeout is the session timeout the server granted at the last
// handshake (Config.SessionTimeout before the first): the server expires
// the session when it has not heard from the client for this long.
func (c *Conn) NegotiatedTimeout() time.Duration {
	if c.zk == nil {
		return 0
	}
	return c.zk.NegotiatedTimeout()
}
