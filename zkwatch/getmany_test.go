package zkwatch_test

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zkbalance/zkbalance/zkwatch"
)

// packetsReceived is the server's zk_packets_received (mntr).
func packetsReceived(t *testing.T, addr string) int64 {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Write([]byte("mntr")); err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(conn)
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(out), "\n") {
		if v, ok := strings.CutPrefix(line, "zk_packets_received"); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatalf("no zk_packets_received in mntr: %q", out)
	return 0
}

// TestGetMany: hundreds of reads come back in order, each with its data
// and stat or its own error (missing, not readable), in a few multiRead
// requests rather than one request a znode.
func TestGetMany(t *testing.T) {
	cl := shared.Get(t)
	ctx := testCtx(t, time.Minute)
	c := dial(t, "/zkw-getmany", zkwatch.Config{})
	const n = 300
	if err := c.EnsurePath(ctx, "/many", nil); err != nil {
		t.Fatal(err)
	}
	var paths []string
	for i := range n {
		p := fmt.Sprintf("/many/%d", i)
		if _, err := c.Create(ctx, p, []byte("v"+strconv.Itoa(i)), zkwatch.FlagPersistent, nil); err != nil && !errors.Is(err, zkwatch.ErrNodeExists) {
			t.Fatal(err)
		}
		paths = append(paths, p)
		if i%100 == 50 {
			paths = append(paths, fmt.Sprintf("/many/missing-%d", i))
		}
	}
	secret := "/many/secret"
	if _, err := c.Create(ctx, secret, []byte("x"), zkwatch.FlagPersistent, zkwatch.DigestACL(zkwatch.PermAll, "someone", "else")); err != nil && !errors.Is(err, zkwatch.ErrNodeExists) {
		t.Fatal(err)
	}
	paths = append(paths, secret)

	before := packetsReceived(t, cl.ZooKeeperAddr())
	res := c.GetMany(ctx, paths)
	requests := packetsReceived(t, cl.ZooKeeperAddr()) - before
	t.Logf("%d reads in %d requests", len(paths), requests)
	if len(res) != len(paths) {
		t.Fatalf("%d results for %d paths", len(res), len(paths))
	}
	for i, p := range paths {
		r := res[i]
		switch {
		case strings.Contains(p, "missing"):
			if !errors.Is(r.Err, zkwatch.ErrNoNode) {
				t.Errorf("%s: err %v, want ErrNoNode", p, r.Err)
			}
		case p == secret:
			if !errors.Is(r.Err, zkwatch.ErrNoAuth) {
				t.Errorf("%s: err %v, want ErrNoAuth", p, r.Err)
			}
		default:
			want := "v" + strings.TrimPrefix(p, "/many/")
			if r.Err != nil || string(r.Data) != want || r.Stat == nil || r.Stat.Czxid == 0 {
				t.Errorf("%s: %q %+v %v, want %q with a stat", p, r.Data, r.Stat, r.Err, want)
			}
		}
	}
	if requests > 10 {
		t.Errorf("%d reads took %d requests, want a few multiReads", len(paths), requests)
	}
}
