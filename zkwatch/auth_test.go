package zkwatch_test

import (
	"errors"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/zkbalance/zkbalance/zkwatch"
)

// cutDialer dials TCP and can cut every connection it made.
type cutDialer struct {
	mu    sync.Mutex
	conns []net.Conn
	dials int
}

func (d *cutDialer) Dial(network, address string, timeout time.Duration) (net.Conn, error) {
	c, err := net.DialTimeout(network, address, timeout)
	if err == nil {
		d.mu.Lock()
		d.conns = append(d.conns, c)
		d.dials++
		d.mu.Unlock()
	}
	return c, err
}

func (d *cutDialer) cut() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, c := range d.conns {
		c.Close()
	}
	d.conns = nil
}

func (d *cutDialer) count() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.dials
}

// Auth is added before Dial returns and re-sent by go-zookeeper when the
// connection comes back in the same session.
func TestDialAuth(t *testing.T) {
	shared.Get(t)
	ctx := testCtx(t, time.Minute)
	const user, password = "zkw", "secret"
	var d cutDialer
	c := dial(t, "/auth-test", zkwatch.Config{Dialer: d.Dial, Auth: []zkwatch.Auth{zkwatch.DigestAuth(user, password)}})
	anon := dial(t, "/auth-test", zkwatch.Config{})

	p := "/private-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	if _, err := c.Create(ctx, p, []byte("v"), 0, zkwatch.DigestACL(zkwatch.PermAll, user, password)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Delete(testCtx(t, 10*time.Second), p, -1) })
	if _, _, err := c.Get(ctx, p); err != nil {
		t.Fatalf("get with credentials: %v", err)
	}
	if _, _, err := anon.Get(ctx, p); !errors.Is(err, zkwatch.ErrNoAuth) {
		t.Fatalf("get without credentials: err = %v, want zkwatch.ErrNoAuth", err)
	}

	session, dials := c.SessionID(), d.count()
	d.cut()
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, _, err := c.Get(ctx, p)
		if err == nil && d.count() > dials {
			break
		}
		if errors.Is(err, zkwatch.ErrNoAuth) {
			t.Fatalf("get after reconnecting: %v (credentials not re-sent)", err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no successful get after the reconnect within 20s (last err %v, dials %d)", err, d.count())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if c.SessionID() != session {
		t.Fatalf("session changed from 0x%x to 0x%x: not a reconnect", session, c.SessionID())
	}
}

// A credential the server rejects fails Dial.
func TestDialAuthRejected(t *testing.T) {
	cl := shared.Get(t)
	ctx := testCtx(t, 30*time.Second)
	c, err := zkwatch.Dial(ctx, zkwatch.Config{Servers: cl.ZooKeeperAddr(), Logger: testLogger(t),
		Auth: []zkwatch.Auth{{Scheme: "no-such-scheme", Auth: []byte("x")}}})
	if err == nil {
		c.Close()
		t.Fatal("Dial succeeded with an unknown auth scheme")
	}
	if !errors.Is(err, zkwatch.ErrAuthFailed) {
		t.Fatalf("Dial: err = %v, want zkwatch.ErrAuthFailed", err)
	}
	t.Log(err)
}
