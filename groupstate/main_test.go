package groupstate_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"path"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/zkbalance/zkbalance/internal/cluster"
	"github.com/zkbalance/zkbalance/zkwatch"
)

// shared is the package's real ZooKeeper + Kafka: one broker, with Kafka under
// the chroot /kafka so that every path goes through the chroot.
var shared = cluster.NewShared(cluster.Config{Brokers: 1, Chroot: "/kafka"})

func TestMain(m *testing.M) {
	shared.Main(m)
}

func testCtx(t testing.TB, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// uniq is a group or topic name unique to this test run.
func uniq(t testing.TB, kind string) string {
	n := strings.NewReplacer("/", "_", " ", "_", "#", "_").Replace(t.Name())
	return fmt.Sprintf("gs-%s-%s-%d", kind, n, time.Now().UnixNano()%1e9)
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// dial connects to the cluster's ZooKeeper under Kafka's chroot. Ephemeral
// znodes created through it live until the test ends.
func dial(t testing.TB, ctx context.Context) *zkwatch.Conn {
	t.Helper()
	cl := shared.Get(t)
	conn, err := zkwatch.Dial(ctx, zkwatch.Config{
		Servers: cl.KafkaZooKeeperConnect(),
		Logger:  slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		t.Fatalf("dial zookeeper: %v", err)
	}
	t.Cleanup(conn.Close)
	return conn
}

// newClient is a Kafka client of the cluster.
func newClient(t testing.TB) sarama.Client {
	t.Helper()
	cl := shared.Get(t)
	sc := sarama.NewConfig()
	sc.Version = sarama.V2_1_0_0
	sc.ClientID = "groupstate-test"
	client, err := sarama.NewClient(cl.BrokerAddrs(), sc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close() })
	return client
}

// put creates p (and its parents) with value; ephemeral when eph.
func put(t testing.TB, ctx context.Context, conn *zkwatch.Conn, p, value string, eph bool) {
	t.Helper()
	if err := conn.EnsurePath(ctx, path.Dir(p), nil); err != nil {
		t.Fatalf("ensure %s: %v", path.Dir(p), err)
	}
	var flags int32
	if eph {
		flags = zkwatch.FlagEphemeral
	}
	if _, err := conn.Create(ctx, p, []byte(value), flags, nil); err != nil {
		t.Fatalf("create %s: %v", p, err)
	}
}

// topicWithMessages creates a topic with len(counts) partitions and writes
// counts[p] messages to partition p.
func topicWithMessages(t testing.TB, ctx context.Context, counts ...int) string {
	t.Helper()
	cl := shared.Get(t)
	topic := uniq(t, "t")
	if err := cl.CreateTopic(ctx, topic, int32(len(counts)), 1); err != nil {
		t.Fatal(err)
	}
	var msgs []cluster.Message
	for p, n := range counts {
		for i := range n {
			msgs = append(msgs, cluster.Message{Partition: int32(p), Value: fmt.Appendf(nil, "m%d-%d", p, i)})
		}
	}
	if len(msgs) > 0 {
		if _, err := cl.Produce(ctx, topic, msgs); err != nil {
			t.Fatal(err)
		}
	}
	return topic
}

// commitKafka commits offsets for group the way pykafka does: OffsetCommit
// v1 to the coordinator, generation -1, no member id.
func commitKafka(t testing.TB, ctx context.Context, client sarama.Client, group, topic string, offsets map[int32]int64) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		err := tryCommitKafka(client, group, topic, offsets)
		if err == nil {
			return
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			t.Fatalf("commit %v for %s to kafka: %v", offsets, group, err)
		}
		t.Logf("commit to kafka: %v; retrying", err)
		_ = client.RefreshCoordinator(group)
		time.Sleep(200 * time.Millisecond)
	}
}

func tryCommitKafka(client sarama.Client, group, topic string, offsets map[int32]int64) error {
	b, err := client.Coordinator(group)
	if err != nil {
		return err
	}
	req := &sarama.OffsetCommitRequest{Version: 1, ConsumerGroup: group,
		ConsumerGroupGeneration: sarama.GroupGenerationUndefined}
	for p, off := range offsets {
		req.AddBlock(topic, p, off, sarama.ReceiveTime, "")
	}
	resp, err := b.CommitOffset(req)
	if err != nil {
		return err
	}
	for p := range offsets {
		if kerr := resp.Errors[topic][p]; kerr != sarama.ErrNoError {
			return fmt.Errorf("partition %d: %w", p, kerr)
		}
	}
	return nil
}

// kafkaCommitted reads group's Kafka offsets of topic's partitions 0..n-1
// through the admin API (independently of the package); absent = none.
func kafkaCommitted(t testing.TB, group, topic string, n int32) map[int32]int64 {
	t.Helper()
	cl := shared.Get(t)
	offs, err := cl.CommittedOffsets(context.Background(), group, topic, n)
	if err != nil {
		t.Fatal(err)
	}
	maps.DeleteFunc(offs, func(_ int32, off int64) bool { return off < 0 })
	return offs
}

// zkTree returns every znode under root with its value ("" for none),
// keyed by path relative to root; a missing root is an empty map.
func zkTree(t testing.TB, ctx context.Context, conn *zkwatch.Conn, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	var walk func(p string)
	walk = func(p string) {
		data, _, err := conn.Get(ctx, p)
		if errors.Is(err, zkwatch.ErrNoNode) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		out[strings.TrimPrefix(p, root)] = string(data)
		kids, _, err := conn.Children(ctx, p)
		if err != nil && !errors.Is(err, zkwatch.ErrNoNode) {
			t.Fatal(err)
		}
		for _, k := range kids {
			walk(p + "/" + k)
		}
	}
	walk(root)
	return out
}
