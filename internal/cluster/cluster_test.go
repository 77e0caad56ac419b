package cluster_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/zkbalance/zkbalance/internal/cluster"
	"github.com/zkbalance/zkbalance/internal/zk"
	"github.com/zkbalance/zkbalance/zkwatch"
)

var shared = cluster.NewShared(cluster.Config{
	Brokers: 3, Chroot: "/kafka", ProxiedListener: true,
	Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})),
})

func TestMain(m *testing.M) {
	shared.Main(m)
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func TestTopicLifecycleAndProduce(t *testing.T) {
	cl := shared.Get(t)
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
	cl := shared.Get(t)
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
	proxyAddr := cl.BrokerProxy(3).Addr()
	if err := cl.KillBroker(ctx, 3); err != nil {
		t.Fatal(err)
	}
	// The proxy outlives the broker: its port still accepts, and the
	// connection is reset because nothing listens behind it.
	dialErrors := cl.BrokerProxy(3).Stats().DialErrors
	if err := metadataVia(cl, proxyAddr); err == nil {
		t.Fatal("metadata through the proxy of a killed broker succeeded")
	}
	if got := cl.BrokerProxy(3).Stats().DialErrors; got <= dialErrors {
		t.Fatalf("proxy dial errors %d -> %d while its broker is down", dialErrors, got)
	}
	if err := cl.StartBroker(ctx, 3); err != nil {
		t.Fatal(err)
	}
	if cl.BrokerProxy(3).Addr() != proxyAddr {
		t.Fatalf("proxy of broker 3 moved: %s -> %s", proxyAddr, cl.BrokerProxy(3).Addr())
	}
	if err := poll(ctx, func() error { return metadataVia(cl, proxyAddr) }); err != nil {
		t.Fatalf("metadata through the proxy of the restarted broker: %v", err)
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
	cl := shared.Get(t)
	ctx := ctxT(t, 2*time.Minute)
	conn, err := cl.DialZooKeeper(ctx, 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	id := conn.SessionID()
	if _, err := conn.Create("/harness-eph", nil, zkwatch.FlagEphemeral, zkwatch.WorldACL(zkwatch.PermAll)); err != nil {
		t.Fatal(err)
	}
	if err := cl.StopZooKeeper(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	if err := cl.StartZooKeeper(ctx); err != nil {
		t.Fatal(err)
	}
	// A connection the starting server accepts and never answers
	// (ZOOKEEPER-5051) costs the client one bounded handshake (the session
	// timeout) before it dials again.
	deadline := time.Now().Add(60 * time.Second)
	for conn.State() != zkwatch.StateHasSession && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if conn.State() != zkwatch.StateHasSession {
		t.Fatalf("client not back in its session 60s after the restart (state %v)\n%s", conn.State(), cl.LogTails(40))
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
	cl := shared.Get(t)
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
	waitState(t, events, zkwatch.StateHasSession)
	if _, err := conn.Create("/harness-expire", nil, zkwatch.FlagEphemeral, zkwatch.WorldACL(zkwatch.PermAll)); err != nil {
		t.Fatal(err)
	}
	id, pw := capture.Credentials()
	if id != conn.SessionID() || len(pw) == 0 {
		t.Fatalf("captured session %x (pw %d bytes), conn has %x", id, len(pw), conn.SessionID())
	}
	if err := cl.ExpireSession(ctx, id, pw); err != nil {
		t.Fatal(err)
	}
	waitState(t, events, zkwatch.StateExpired)
	waitState(t, events, zkwatch.StateHasSession)
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

func waitState(t *testing.T, events <-chan zkwatch.Event, want zkwatch.State) {
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

// TestProxiedListener: with Config.ProxiedListener every broker advertises
// its proxy on the PROXIED listener, so a client bootstrapped at one proxy
// learns only proxy addresses and every byte it exchanges passes the
// proxies, whose faults cut it off while the harness (PLAINTEXT) is
// untouched.
func TestProxiedListener(t *testing.T) {
	cl := shared.Get(t)
	ctx := ctxT(t, 2*time.Minute)
	if got, want := cl.Listeners(), []string{cluster.ListenerPlaintext, cluster.ListenerProxied}; !slices.Equal(got, want) {
		t.Fatalf("Listeners() = %v, want %v", got, want)
	}
	addrs := cl.ProxiedBrokerAddrs()
	if len(addrs) != 3 {
		t.Fatalf("ProxiedBrokerAddrs() = %v", addrs)
	}
	for i, id := range cl.BrokerIDs() {
		px := cl.BrokerProxy(id)
		if px == nil || px.Addr() != addrs[i] || cl.ListenerAddr(id, "proxied") != addrs[i] {
			t.Fatalf("broker %d: proxy %v, ProxiedBrokerAddrs %v, ListenerAddr %q", id, px, addrs, cl.ListenerAddr(id, "proxied"))
		}
		if addrs[i] == cl.BrokerAddr(id) {
			t.Fatalf("broker %d: proxied address %s is its PLAINTEXT address", id, addrs[i])
		}
	}
	if cl.BrokerProxy(99) != nil {
		t.Fatal("BrokerProxy(99) is not nil")
	}

	// The registration names the proxy as the PROXIED endpoint, PLAINTEXT first.
	conn, err := cl.DialZooKeeper(ctx, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	data, _, err := conn.Get("/kafka/brokers/ids/1")
	if err != nil {
		t.Fatal(err)
	}
	var reg struct {
		Endpoints []string          `json:"endpoints"`
		Protocols map[string]string `json:"listener_security_protocol_map"`
	}
	if err := json.Unmarshal(data, &reg); err != nil {
		t.Fatal(err)
	}
	wantEndpoints := []string{"PLAINTEXT://" + cl.BrokerAddr(1), "PROXIED://" + addrs[0]}
	if !slices.Equal(reg.Endpoints, wantEndpoints) || reg.Protocols["PROXIED"] != "PLAINTEXT" {
		t.Fatalf("registration %s: want endpoints %v and PROXIED:PLAINTEXT", data, wantEndpoints)
	}

	// A client bootstrapped at one proxy sees every broker at its proxy.
	const topic = "harness-proxied"
	if err := cl.CreateTopic(ctx, topic, 3, 3); err != nil {
		t.Fatal(err)
	}
	sc := sarama.NewConfig()
	sc.Version = sarama.V3_9_0_0
	client, err := sarama.NewClient(addrs[:1], sc)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	var seen []string
	for _, b := range client.Brokers() {
		seen = append(seen, b.Addr())
	}
	slices.Sort(seen)
	if want := slices.Sorted(slices.Values(addrs)); !slices.Equal(seen, want) {
		t.Fatalf("metadata through a proxy lists %v, want the proxies %v", seen, want)
	}
	// The leader may not know the new topic yet when the metadata already
	// names it (UNKNOWN_TOPIC_OR_PARTITION): retry for a while.
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		_, err := cl.Produce(ctx, topic, []cluster.Message{{Partition: 0, Value: []byte("through the proxy")}})
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		t.Logf("produce through the proxy, retrying: %v", err)
	}
	leader, err := client.Leader(topic, 0)
	if err != nil {
		t.Fatal(err)
	}
	leaderProxy := cl.BrokerProxy(leader.ID())
	before := leaderProxy.Stats().BytesToClient
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	pc, err := consumer.ConsumePartition(topic, 0, sarama.OffsetOldest)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-pc.Messages():
		if string(m.Value) != "through the proxy" {
			t.Fatalf("consumed %q", m.Value)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("nothing consumed through the proxies in 30s")
	}
	pc.AsyncClose()
	if after := leaderProxy.Stats().BytesToClient; after <= before {
		t.Fatalf("the leader's proxy forwarded no bytes to the client (%d -> %d)", before, after)
	}

	// Refusing every proxy cuts proxied clients off; the harness still works.
	for _, id := range cl.BrokerIDs() {
		cl.BrokerProxy(id).Refuse(3 * time.Second)
	}
	if err := metadataVia(cl, addrs...); err == nil {
		t.Fatal("metadata through refusing proxies succeeded")
	}
	if _, err := cl.Produce(ctx, topic, []cluster.Message{{Partition: 1, Value: []byte("direct")}}); err != nil {
		t.Fatalf("produce over PLAINTEXT while the proxies refuse: %v", err)
	}
	if err := poll(ctx, func() error { return metadataVia(cl, addrs...) }); err != nil {
		t.Fatalf("metadata through the proxies after the refusal: %v", err)
	}
}

// metadataVia makes a client bootstrapped at addrs (one metadata attempt)
// and checks that it lists 3 brokers at proxied addresses.
func metadataVia(cl *cluster.Cluster, addrs ...string) error {
	sc := sarama.NewConfig()
	sc.Version = sarama.V3_9_0_0
	sc.Metadata.Retry.Max = 0
	sc.Net.DialTimeout, sc.Net.ReadTimeout = 3*time.Second, 3*time.Second
	client, err := sarama.NewClient(addrs, sc)
	if err != nil {
		return err
	}
	defer client.Close()
	bs := client.Brokers()
	if len(bs) != 3 {
		return fmt.Errorf("metadata lists %d brokers", len(bs))
	}
	for _, b := range bs {
		if !slices.Contains(cl.ProxiedBrokerAddrs(), b.Addr()) {
			return fmt.Errorf("broker %d listed at %s, not at its proxy", b.ID(), b.Addr())
		}
	}
	return nil
}

// poll calls fn every 200 ms until it returns nil or ctx ends.
func poll(ctx context.Context, fn func() error) error {
	for {
		err := fn()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %v)", ctx.Err(), err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}
