package cluster

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// ExpireSession forces ZooKeeper to expire the session (id, passwd) the way
// ZooKeeper's own tests and Curator do it: a second connection attaches to
// the same session, which makes the server drop the first connection, and
// then closes the session. The owner of the session sees StateExpired on its
// next reconnect; its ephemeral znodes are gone at once. ErrNoZooKeeper with
// Config.KRaft.
func (c *Cluster) ExpireSession(ctx context.Context, id int64, passwd []byte) error {
	if !c.HasZooKeeper() {
		return ErrNoZooKeeper
	}
	return ExpireSession(ctx, c.ZooKeeperAddr(), id, passwd)
}

// ExpireSession is Cluster.ExpireSession for any ZooKeeper address.
func ExpireSession(ctx context.Context, addr string, id int64, passwd []byte) error {
	if id == 0 {
		return errors.New("cluster: expire session: no session id")
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("cluster: expire session: %w", err)
	}
	defer conn.Close()
	deadline := time.Now().Add(10 * time.Second)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	_ = conn.SetDeadline(deadline)

	// ConnectRequest: protocolVersion, lastZxidSeen, timeOut, sessionId, passwd.
	req := binary.BigEndian.AppendUint32(nil, 0)
	req = binary.BigEndian.AppendUint64(req, 0)
	req = binary.BigEndian.AppendUint32(req, 30000)
	req = binary.BigEndian.AppendUint64(req, uint64(id))
	req = binary.BigEndian.AppendUint32(req, uint32(len(passwd)))
	req = append(req, passwd...)
	if err := writeFrame(conn, req); err != nil {
		return fmt.Errorf("cluster: expire session: %w", err)
	}
	resp, err := readFrame(conn)
	if err != nil {
		return fmt.Errorf("cluster: expire session: connect: %w", err)
	}
	got, _, ok := parseConnectResponse(resp)
	if !ok || got != id {
		return fmt.Errorf("cluster: expire session 0x%x: already expired or refused (got 0x%x)", id, got)
	}
	// closeSession: RequestHeader{xid, type=-11}.
	closeReq := binary.BigEndian.AppendUint32(nil, 1)
	closeReq = binary.BigEndian.AppendUint32(closeReq, uint32(0xFFFFFFF5)) // -11
	if err := writeFrame(conn, closeReq); err != nil {
		return fmt.Errorf("cluster: expire session: close: %w", err)
	}
	if _, err := readFrame(conn); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("cluster: expire session: close reply: %w", err)
	}
	return nil
}

func writeFrame(w io.Writer, body []byte) error {
	b := binary.BigEndian.AppendUint32(nil, uint32(len(body)))
	_, err := w.Write(append(b, body...))
	return err
}

func readFrame(r io.Reader) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n > 1<<20 {
		return nil, fmt.Errorf("frame of %d bytes", n)
	}
	body := make([]byte, n)
	_, err := io.ReadFull(r, body)
	return body, err
}

// parseConnectResponse reads protocolVersion, timeOut, sessionId, passwd.
func parseConnectResponse(b []byte) (id int64, passwd []byte, ok bool) {
	if len(b) < 20 {
		return 0, nil, false
	}
	id = int64(binary.BigEndian.Uint64(b[8:16]))
	n := int(int32(binary.BigEndian.Uint32(b[16:20])))
	if n < 0 || len(b) < 20+n {
		return 0, nil, false
	}
	return id, append([]byte(nil), b[20:20+n]...), id != 0
}

// SessionCapture records the session id and password of a go-zookeeper
// connection by watching the connect response on the wire. Pass its Dialer
// to zk.WithDialer (or to anything that accepts a zk.Dialer); Credentials
// then returns what ExpireSession needs.
type SessionCapture struct {
	mu     sync.Mutex
	id     int64
	passwd []byte
}

// Dialer is a zk.Dialer that dials TCP and captures the session credentials.
func (s *SessionCapture) Dialer(network, address string, timeout time.Duration) (net.Conn, error) {
	conn, err := net.DialTimeout(network, address, timeout)
	if err != nil {
		return nil, err
	}
	return &captureConn{Conn: conn, s: s}, nil
}

// Credentials returns the last session id and password seen (0, nil before
// the first connect).
func (s *SessionCapture) Credentials() (int64, []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.id, append([]byte(nil), s.passwd...)
}

type captureConn struct {
	net.Conn
	s    *SessionCapture
	buf  []byte
	done bool
}

func (c *captureConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if !c.done && n > 0 {
		c.buf = append(c.buf, p[:n]...)
		if len(c.buf) >= 4 {
			size := int(binary.BigEndian.Uint32(c.buf[:4]))
			if len(c.buf) >= 4+size {
				if id, pw, ok := parseConnectResponse(c.buf[4 : 4+size]); ok {
					c.s.mu.Lock()
					c.s.id, c.s.passwd = id, pw
					c.s.mu.Unlock()
				}
				c.done, c.buf = true, nil
			}
		}
	}
	return n, err
}
