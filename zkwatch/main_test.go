package zkwatch_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/zkbalance/zkbalance/internal/cluster"
	"github.com/zkbalance/zkbalance/zkwatch"
)

// shared is the package's real ZooKeeper + Kafka (one broker, chroot /kafka).
var shared = cluster.NewShared(cluster.Config{Brokers: 1, Chroot: "/kafka"})

func TestMain(m *testing.M) {
	shared.Main(m)
}

func testCtx(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }

// dial connects to the cluster's ZooKeeper under chroot (created if needed).
func dial(t *testing.T, chroot string, cfg zkwatch.Config) *zkwatch.Conn {
	t.Helper()
	cl := shared.Get(t)
	ctx := testCtx(t, 30*time.Second)
	if chroot != "" {
		root, err := zkwatch.Dial(ctx, zkwatch.Config{Servers: cl.ZooKeeperAddr(), Logger: testLogger(t)})
		if err != nil {
			t.Fatal(err)
		}
		if err := root.EnsurePath(ctx, chroot, nil); err != nil {
			t.Fatal(err)
		}
		root.Close()
	}
	cfg.Servers = cl.ZooKeeperAddr() + chroot
	if cfg.Logger == nil {
		cfg.Logger = testLogger(t)
	}
	c, err := zkwatch.Dial(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// next waits for a snapshot satisfying ok, failing the test after d.
func next(t *testing.T, ch <-chan zkwatch.Snapshot, d time.Duration, what string, ok func(zkwatch.Snapshot) bool) zkwatch.Snapshot {
	t.Helper()
	timeout := time.After(d)
	var last zkwatch.Snapshot
	for {
		select {
		case s, open := <-ch:
			if !open {
				t.Fatalf("%s: watch closed (last %+v)", what, last)
			}
			last = s
			if ok(s) {
				return s
			}
		case <-timeout:
			t.Fatalf("%s: not seen within %s (last %+v)", what, d, last)
		}
	}
}
