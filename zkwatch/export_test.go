package zkwatch

// ClientSessionID is the session id the ZooKeeper client itself reports.
func ClientSessionID(c *Conn) int64 { return c.zk.SessionID() }
