package zkwatch_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zkbalance/zkbalance/zkwatch"
)

func TestParseServers(t *testing.T) {
	for _, tc := range []struct {
		in      string
		servers []string
		chroot  string
		bad     bool
	}{
		{in: "a:2181", servers: []string{"a:2181"}},
		{in: "a:2181,b:2182/kafka", servers: []string{"a:2181", "b:2182"}, chroot: "/kafka"},
		{in: "a:2181/", servers: []string{"a:2181"}},
		{in: "a:2181/x/y", servers: []string{"a:2181"}, chroot: "/x/y"},
		{in: " a:1 , b:2 ", servers: []string{"a:1", "b:2"}},
		{in: "", bad: true},
		{in: "/kafka", bad: true},
		{in: "a:1/x/", bad: true},
		{in: "a:1/x//y", bad: true},
		{in: "a:1/x/../y", bad: true},
	} {
		s, c, err := zkwatch.ParseServers(tc.in)
		if tc.bad {
			if !errors.Is(err, zkwatch.ErrBadServers) {
				t.Errorf("%q: err = %v, want ErrBadServers", tc.in, err)
			}
			continue
		}
		if err != nil || !slices.Equal(s, tc.servers) || c != tc.chroot {
			t.Errorf("%q: got %v %q %v", tc.in, s, c, err)
		}
	}
}

func TestConnOpsUnderChroot(t *testing.T) {
	shared.Get(t)
	ctx := testCtx(t, 30*time.Second)
	c := dial(t, "/zkw-ops", zkwatch.Config{})
	root := dial(t, "", zkwatch.Config{})
	if c.Chroot() != "/zkw-ops" {
		t.Fatalf("chroot %q", c.Chroot())
	}
	if err := c.EnsurePath(ctx, "/a/b", nil); err != nil {
		t.Fatal(err)
	}
	if err := c.EnsurePath(ctx, "/a/b", nil); err != nil {
		t.Fatalf("second EnsurePath: %v", err)
	}
	p, err := c.Create(ctx, "/a/b/seq-", []byte("x"), zkwatch.FlagSequence|zkwatch.FlagEphemeral, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(p) <= len("/a/b/seq-") || p[:9] != "/a/b/seq-" {
		t.Fatalf("created %q, want relative sequential path", p)
	}
	if b, _, err := root.Get(ctx, "/zkw-ops"+p); err != nil || string(b) != "x" {
		t.Fatalf("absolute read: %q %v", b, err)
	}
	st, err := c.Set(ctx, p, []byte("y"), -1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Set(ctx, p, []byte("z"), st.Version+5); !errors.Is(err, zkwatch.ErrBadVersion) {
		t.Fatalf("set with wrong version: %v", err)
	}
	kids, _, err := c.Children(ctx, "/a/b")
	if err != nil || len(kids) != 1 {
		t.Fatalf("children: %v %v", kids, err)
	}
	// Multi: check version + set another node atomically; fails as a whole.
	if _, err := c.Create(ctx, "/a/off", []byte("1"), 0, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Multi(ctx,
		&zkwatch.CheckVersionRequest{Path: p, Version: st.Version},
		&zkwatch.SetDataRequest{Path: "/a/off", Data: []byte("2"), Version: -1}); err != nil {
		t.Fatal(err)
	}
	_, err = c.Multi(ctx,
		&zkwatch.CheckVersionRequest{Path: p, Version: st.Version + 1},
		&zkwatch.SetDataRequest{Path: "/a/off", Data: []byte("3"), Version: -1})
	if !errors.Is(err, zkwatch.ErrBadVersion) {
		t.Fatalf("fenced multi: err = %v, want ErrBadVersion", err)
	}
	if b, _, _ := c.Get(ctx, "/a/off"); string(b) != "2" {
		t.Fatalf("fenced multi wrote: %q", b)
	}
	if err := c.Delete(ctx, p, -1); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Get(ctx, "/missing"); !errors.Is(err, zkwatch.ErrNoNode) {
		t.Fatalf("missing get: %v", err)
	}
	if _, _, err := c.Get(ctx, "/missing"); err == nil || !strings.Contains(err.Error(), "/missing") {
		t.Fatalf("error does not name the path: %v", err)
	}
	c.Close()
	if _, _, err := c.Get(ctx, "/a"); !errors.Is(err, zkwatch.ErrClosed) {
		t.Fatalf("after close: %v", err)
	}
}

func TestDialUnreachable(t *testing.T) {
	ctx := testCtx(t, 2*time.Second)
	_, err := zkwatch.Dial(ctx, zkwatch.Config{Servers: "127.0.0.1:1", Logger: testLogger(t)})
	if err == nil || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Fatalf("dial of a closed port: %v", err)
	}
}

// TestSessionIDKnownAtOnce dials many times: the session id must be set as
// soon as Dial returns (the first event can arrive before Connect returns).
func TestSessionIDKnownAtOnce(t *testing.T) {
	shared.Get(t)
	for i := range 30 {
		c := dial(t, "", zkwatch.Config{})
		if c.SessionID() == 0 || c.SessionID() != zkwatch.ClientSessionID(c) {
			t.Fatalf("dial %d: SessionID() = %x, zk says %x", i, c.SessionID(), zkwatch.ClientSessionID(c))
		}
		c.Close()
	}
}
