package cluster_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/zkbalance/zkbalance/test/cluster"
)

var cl *cluster.Cluster

func TestMain(m *testing.M) {
	cluster.Main(m, &cl, cluster.Config{
		Brokers: 3, Chroot: "/kafka",
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})),
	})
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func TestTopicLifecycleAndProduce(t *testing.T) {
	ctx := ctxT(t, 2*time.Minute)
	const topic = "harness-topic"
	if err := cl.CreateTopic(ctx, topic, 3, 3); err != nil {
		t.Fatal(err)
	}
	var msgs []cluster.Message
	for i := range 30 {
		msgs = append(msgs, cluster.Message{Partition: int32(i % 3), Value: []byte(fmt.Sprint(i))})
	}
	offs, err := cl.Produce(ctx, topic, msgs)
	if err != nil {
		t.Fatal(err)
	}
	if offs[29] != 9 {
		t.Fatalf("offset of the 30th message = %d, want 9", offs[29])
	}
	ends, err := cl.LogEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	for p := int32(0); p < 3; p++ {
		if ends[p] != 10 {
			t.Errorf("partition %d log end = %d, want 10", p, ends[p])
		}
	}
	if err := cl.AddPartitions(ctx, topic, 5); err != nil {
		t.Fatal(err)
	}
	conn, err := cl.DialZooKeeper(ctx, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ps, _, err := conn.Children("/kafka/brokers/topics/" + topic + "/partitions")
	if err != nil || len(ps) != 5 {
		t.Fatalf("partitions after add: %v, %v", ps, err)
	}
	if err := cl.DeleteTopic(ctx, topic); err != nil {
		t.Fatal(err)
	}
}

func TestBrokerStopStartKill(t *testing.T) {
	ctx := ctxT(t, 3*time.Minute)
	if err := cl.StopBroker(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if cl.BrokerRunning(2) {
		t.Fatal("broker 2 still running after stop")
	}
	if err := cl.StartBroker(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if err := cl.KillBroker(ctx, 3); err != nil {
		t.Fatal(err)
	}
	if err := cl.StartBroker(ctx, 3); err != nil {
		t.Fatal(err)
	}
	conn, err := cl.DialZooKeeper(ctx, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ids, _, err := conn.Children("/kafka/brokers/ids")
	if err != nil || len(ids) != 3 {
		t.Fatalf("/kafka/brokers/ids = %v, %v", ids, err)
	}
}

func TestZooKeeperRestartKeepsSession(t *testing.T) {
	ctx := ctxT(t, 2*time.Minute)
	conn, err := cl.DialZooKeeper(ctx, 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	id := conn.SessionID()
	if _, err := conn.Create("/harness-eph", nil, zk.FlagEphemeral, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatal(err)
	}
	if err := cl.StopZooKeeper(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	if err := cl.StartZooKeeper(ctx); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for conn.State() != zk.StateHasSession && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if conn.State() != zk.StateHasSession {
		t.Fatalf("client not back in its session 30s after the restart (state %v)\n%s", conn.State(), cl.LogTails(40))
	}
	if conn.SessionID() != id {
		t.Fatalf("session changed across restart: %x -> %x", id, conn.SessionID())
	}
	if ok, _, err := conn.Exists("/harness-eph"); err != nil || !ok {
		t.Fatalf("ephemeral gone after restart: %v %v", ok, err)
	}
	// the brokers come back too
	if err := waitBrokers(ctx, conn, 3); err != nil {
		t.Fatal(err)
	}
}

func waitBrokers(ctx context.Context, conn *zk.Conn, n int) error {
	for {
		ids, _, err := conn.Children("/kafka/brokers/ids")
		if err == nil && len(ids) == n {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("brokers %v (%v): %w", ids, err, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func TestExpireSession(t *testing.T) {
	ctx := ctxT(t, time.Minute)
	var capture cluster.SessionCapture
	conn, err := cl.DialZooKeeper(ctx, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	conn.Close()
	conn, events, err := zk.Connect([]string{cl.ZooKeeperAddr()}, 10*time.Second,
		zk.WithDialer(capture.Dialer), zk.WithLogger(nopLogger{}))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	waitState(t, events, zk.StateHasSession)
	if _, err := conn.Create("/harness-expire", nil, zk.FlagEphemeral, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatal(err)
	}
	id, pw := capture.Credentials()
	if id != conn.SessionID() || len(pw) == 0 {
		t.Fatalf("captured session %x (pw %d bytes), conn has %x", id, len(pw), conn.SessionID())
	}
	if err := cl.ExpireSession(ctx, id, pw); err != nil {
		t.Fatal(err)
	}
	waitState(t, events, zk.StateExpired)
	waitState(t, events, zk.StateHasSession)
	if conn.SessionID() == id {
		t.Fatal("same session after expiry")
	}
	if ok, _, err := conn.Exists("/harness-expire"); err != nil || ok {
		t.Fatalf("ephemeral survived expiry: %v %v", ok, err)
	}
	if err := cl.ExpireSession(ctx, id, pw); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("expiring a dead session: %v", err)
	}
}

func waitState(t *testing.T, events <-chan zk.Event, want zk.State) {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case ev := <-events:
			if ev.State == want {
				return
			}
		case <-timeout:
			t.Fatalf("no %v event", want)
		}
	}
}

type nopLogger struct{}

func (nopLogger) Printf(string, ...any) {}
