package cluster_test

import (
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/zkbalance/zkbalance/internal/cluster"
	"github.com/zkbalance/zkbalance/zkwatch"
)

// TestEnsemble starts a 3-server ZooKeeper quorum with a proxy in front of
// each server and one broker, and checks the harness's ensemble methods: one
// leader, a client session connected through the proxies that survives the
// leader's kill -9, a new leader elected among the two others, the killed
// server back as a follower, and a server cut off by its proxy while the
// client moves to another one in the same session.
func TestEnsemble(t *testing.T) {
	cluster.SkipShort(t)
	ctx := ctxT(t, 3*time.Minute)
	begin := time.Now()
	cl, err := cluster.Start(ctx, cluster.Config{
		Brokers: 1, ZooKeeperServers: 3, ZooKeeperProxies: true, Chroot: "/kafka",
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("process logs:\n%s", cl.LogTails(40))
		}
		cl.Close()
	})
	t.Logf("3 ZooKeeper servers %s and a broker up in %s", cl.ZooKeeperConnect(), time.Since(begin).Round(time.Millisecond))
	if n := cl.ZooKeeperServers(); n != 3 {
		t.Fatalf("ZooKeeperServers %d", n)
	}
	if got := strings.Count(cl.KafkaZooKeeperConnect(), ","); got != 2 || !strings.HasSuffix(cl.KafkaZooKeeperConnect(), "/kafka") {
		t.Errorf("KafkaZooKeeperConnect %q: want all three servers and the chroot", cl.KafkaZooKeeperConnect())
	}
	if got := cl.ZooKeeperAddr(); got != cl.ZooKeeperServerAddr(1) {
		t.Errorf("ZooKeeperAddr %q, server 1 %q", got, cl.ZooKeeperServerAddr(1))
	}
	leader, err := cl.ZooKeeperLeader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 3; i++ {
		mode, err := cl.ZooKeeperMode(i)
		if err != nil {
			t.Fatal(err)
		}
		if want := map[bool]string{true: "leader", false: "follower"}[i == leader]; mode != want {
			t.Errorf("server %d: mode %q, want %q", i, mode, want)
		}
	}

	var cap cluster.SessionCapture
	c, err := zkwatch.Dial(ctx, zkwatch.Config{Servers: cl.ProxiedZooKeeperConnect(), SessionTimeout: 6 * time.Second,
		Dialer: cap.Dialer, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	session := c.SessionID()
	if _, err := c.Create(ctx, "/ensemble-test", nil, zkwatch.FlagEphemeral, nil); err != nil {
		t.Fatal(err)
	}

	t0 := time.Now()
	if err := cl.KillZooKeeperServer(leader); err != nil {
		t.Fatal(err)
	}
	next, err := cl.ZooKeeperLeader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	elected := time.Since(t0)
	if next == leader {
		t.Fatalf("killed leader %d still leads", leader)
	}
	if err := cl.StartZooKeeperServer(ctx, leader); err != nil {
		t.Fatal(err)
	}
	if mode, err := cl.ZooKeeperMode(leader); err != nil || mode != "follower" {
		t.Errorf("restarted server %d: mode %q (%v), want follower", leader, mode, err)
	}
	t.Logf("leader %d killed: server %d elected within %s", leader, next, elected.Round(time.Millisecond))

	// Cut every server but one off: the client ends up there, same session.
	keep := next%3 + 1
	for i := 1; i <= 3; i++ {
		if i != keep {
			cl.ZooKeeperProxy(i).Refuse(5 * time.Second)
		}
	}
	// The first requests may meet the reset of the cut connection.
	deadline := time.Now().Add(30 * time.Second)
	for {
		ok, _, err := c.Exists(ctx, "/ensemble-test")
		if err == nil && ok && cl.ZooKeeperProxy(keep).Stats().Active > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ephemeral znode after the cut: exists %v, %v; connections through server %d's proxy: %d",
				ok, err, keep, cl.ZooKeeperProxy(keep).Stats().Active)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if c.SessionID() != session {
		t.Fatalf("session 0x%x became 0x%x", session, c.SessionID())
	}
}
