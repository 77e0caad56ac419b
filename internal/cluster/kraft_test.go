package cluster_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/zkbalance/zkbalance/internal/cluster"
)

// TestKRaftRefusesWhatItCannotRun: the KRaft combinations the harness does
// not support fail at once, before any Java or Maven is looked for.
func TestKRaftRefusesWhatItCannotRun(t *testing.T) {
	for _, cfg := range []cluster.Config{
		{KRaft: true, Brokers: 3},
		{KRaft: true, ZooKeeperOnly: true},
		{KRaft: true, Chroot: "/kafka"},
		{KRaft: true, SASLUsers: map[string]string{"alice": "secret"}},
	} {
		if c, err := cluster.Start(context.Background(), cfg); err == nil {
			c.Close()
			t.Errorf("Start(%+v) succeeded", cfg)
		}
	}
}

// TestKRaft runs one Kafka 4 node in KRaft mode (broker and controller in
// one JVM, no ZooKeeper) through what the harness offers: topics, produce,
// consume and group commits with old and new sarama protocol versions, TLS
// and proxied listeners, stop/kill and restart with the data kept, and a
// Close that leaves no JVM.
func TestKRaft(t *testing.T) {
	cluster.SkipShort(t)
	ctx := ctxT(t, 3*time.Minute)
	begin := time.Now()
	cl, err := cluster.Start(ctx, cluster.Config{
		KRaft: true, TLS: true, ProxiedListener: true,
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
	t.Logf("Kafka %s (KRaft) up in %s at %v", cl.KafkaVersion(), time.Since(begin).Round(time.Millisecond), cl.BrokerAddrs())

	t.Run("NoZooKeeper", func(t *testing.T) {
		if cl.KafkaVersion() != cluster.KafkaVersionKRaft || !cl.KRaft() || cl.HasZooKeeper() {
			t.Fatalf("KafkaVersion %q, KRaft %v, HasZooKeeper %v", cl.KafkaVersion(), cl.KRaft(), cl.HasZooKeeper())
		}
		if cl.ZooKeeperAddr() != "" || cl.KafkaZooKeeperConnect() != "" {
			t.Fatalf("ZooKeeperAddr %q, KafkaZooKeeperConnect %q", cl.ZooKeeperAddr(), cl.KafkaZooKeeperConnect())
		}
		if _, err := cl.DialZooKeeper(ctx, time.Second); !errors.Is(err, cluster.ErrNoZooKeeper) {
			t.Fatalf("DialZooKeeper: %v", err)
		}
		if err := cl.StopZooKeeper(); !errors.Is(err, cluster.ErrNoZooKeeper) {
			t.Fatalf("StopZooKeeper: %v", err)
		}
		if ids := cl.BrokerIDs(); !slices.Equal(ids, []int32{1}) {
			t.Fatalf("BrokerIDs %v", ids)
		}
	})

	t.Run("TopicProduceConsume", func(t *testing.T) {
		const topic = "kraft-topic"
		if err := cl.CreateTopic(ctx, topic, 3, 1); err != nil {
			t.Fatal(err)
		}
		want := produce(ctx, t, cl, topic, 3, 30)
		ends, err := cl.LogEndOffsets(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		if !equalEnds(ends, 3, 10) {
			t.Fatalf("log end offsets %v, want 10 each", ends)
		}
		for _, v := range []sarama.KafkaVersion{sarama.V2_1_0_0, sarama.V4_0_0_0} {
			t.Run(v.String(), func(t *testing.T) {
				if got := consumeAll(ctx, t, cl.BrokerAddrs(), v, topic, 3, 10); !equalValues(got, want) {
					t.Fatalf("consumed %v, want %v", got, want)
				}
			})
		}
		if err := cl.AddPartitions(ctx, topic, 5); err != nil {
			t.Fatal(err)
		}
		if ends, err := cl.LogEndOffsets(ctx, topic); err != nil || len(ends) != 5 {
			t.Fatalf("log end offsets after adding partitions: %v, %v", ends, err)
		}
		if err := cl.DeleteTopic(ctx, topic); err != nil {
			t.Fatal(err)
		}
		if _, err := cl.LogEndOffsets(ctx, topic); err == nil {
			t.Fatal("deleted topic still has offsets")
		}
	})

	t.Run("ConsumerGroupCommit", func(t *testing.T) {
		const topic = "kraft-group"
		if err := cl.CreateTopic(ctx, topic, 3, 1); err != nil {
			t.Fatal(err)
		}
		produce(ctx, t, cl, topic, 3, 30)
		for _, v := range []sarama.KafkaVersion{sarama.V2_1_0_0, sarama.V4_0_0_0} {
			t.Run(v.String(), func(t *testing.T) {
				group := "kraft-group-" + v.String()
				consumeGroup(ctx, t, cl.BrokerAddrs(), v, group, topic, 30)
				got, err := cl.CommittedOffsets(ctx, group, topic, 3)
				if err != nil {
					t.Fatal(err)
				}
				if !equalEnds(got, 3, 10) {
					t.Fatalf("committed offsets %v, want 10 each", got)
				}
			})
		}
	})

	t.Run("Listeners", func(t *testing.T) {
		want := []string{cluster.ListenerPlaintext, cluster.ListenerSSL, cluster.ListenerProxied}
		if got := cl.Listeners(); !slices.Equal(got, want) {
			t.Fatalf("Listeners() = %v, want %v", got, want)
		}
		tlsCfg := sarama.NewConfig()
		tlsCfg.Version = sarama.V4_0_0_0
		tlsCfg.Net.TLS.Enable, tlsCfg.Net.TLS.Config = true, cl.TLSConfig()
		if err := metadataAt(cl.ListenerAddrs(cluster.ListenerSSL), tlsCfg, cl.ListenerAddr(1, cluster.ListenerSSL)); err != nil {
			t.Fatalf("metadata over TLS: %v", err)
		}
		px := cl.BrokerProxy(1)
		before := px.Stats().BytesToClient
		sc := sarama.NewConfig()
		sc.Version = sarama.V4_0_0_0
		if err := metadataAt(cl.ProxiedBrokerAddrs(), sc, px.Addr()); err != nil {
			t.Fatalf("metadata through the proxy: %v", err)
		}
		if after := px.Stats().BytesToClient; after <= before {
			t.Fatalf("the proxy forwarded no bytes (%d -> %d)", before, after)
		}
	})

	t.Run("StopStartKeepsData", func(t *testing.T) {
		const topic, group = "kraft-restart", "kraft-restart-group"
		if err := cl.CreateTopic(ctx, topic, 2, 1); err != nil {
			t.Fatal(err)
		}
		want := produce(ctx, t, cl, topic, 2, 20)
		consumeGroup(ctx, t, cl.BrokerAddrs(), sarama.V2_1_0_0, group, topic, 20)
		for _, stop := range []struct {
			name string
			fn   func(context.Context, int32) error
		}{{"stop", cl.StopBroker}, {"kill", cl.KillBroker}} {
			began := time.Now()
			if err := stop.fn(ctx, 1); err != nil {
				t.Fatalf("%s: %v", stop.name, err)
			}
			if cl.BrokerRunning(1) {
				t.Fatalf("broker running after %s", stop.name)
			}
			stopped := time.Since(began)
			if err := cl.StartBroker(ctx, 1); err != nil {
				t.Fatalf("start after %s: %v", stop.name, err)
			}
			t.Logf("%s took %s, start %s", stop.name, stopped.Round(time.Millisecond), (time.Since(began) - stopped).Round(time.Millisecond))
			if ends, err := cl.LogEndOffsets(ctx, topic); err != nil || !equalEnds(ends, 2, 10) {
				t.Fatalf("log end offsets after %s and start: %v, %v", stop.name, ends, err)
			}
			if got, err := cl.CommittedOffsets(ctx, group, topic, 2); err != nil || !equalEnds(got, 2, 10) {
				t.Fatalf("committed offsets after %s and start: %v, %v", stop.name, got, err)
			}
		}
		if got := consumeAll(ctx, t, cl.BrokerAddrs(), sarama.V4_0_0_0, topic, 2, 10); !equalValues(got, want) {
			t.Fatalf("consumed after the restarts %v, want %v", got, want)
		}
	})

	t.Run("CloseLeavesNoJVM", func(t *testing.T) {
		if n := processesIn(t, cl.Dir()); n == 0 {
			t.Fatalf("no process runs with %s before Close", cl.Dir())
		}
		if err := cl.Close(); err != nil {
			t.Fatal(err)
		}
		if n := processesIn(t, cl.Dir()); n != 0 {
			t.Fatalf("%d processes still run with %s after Close", n, cl.Dir())
		}
		if _, err := os.Stat(cl.Dir()); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("cluster dir after Close: %v", err)
		}
	})
}

// produce writes n messages "<i>" round robin to partitions 0..ps-1 and
// returns the values per partition in order.
func produce(ctx context.Context, t *testing.T, cl *cluster.Cluster, topic string, ps, n int) map[int32][]string {
	t.Helper()
	var msgs []cluster.Message
	want := map[int32][]string{}
	for i := range n {
		p := int32(i % ps)
		msgs = append(msgs, cluster.Message{Partition: p, Value: fmt.Appendf(nil, "%d", i)})
		want[p] = append(want[p], fmt.Sprint(i))
	}
	if _, err := cl.Produce(ctx, topic, msgs); err != nil {
		t.Fatal(err)
	}
	return want
}

// consumeAll reads perPartition messages of each of partitions 0..ps-1 with
// a sarama consumer speaking version v.
func consumeAll(ctx context.Context, t *testing.T, addrs []string, v sarama.KafkaVersion, topic string, ps, perPartition int) map[int32][]string {
	t.Helper()
	sc := sarama.NewConfig()
	sc.Version = v
	consumer, err := sarama.NewConsumer(addrs, sc)
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	got := map[int32][]string{}
	for p := range int32(ps) {
		pc, err := consumer.ConsumePartition(topic, p, sarama.OffsetOldest)
		if err != nil {
			t.Fatal(err)
		}
		for len(got[p]) < perPartition {
			select {
			case m := <-pc.Messages():
				got[p] = append(got[p], string(m.Value))
			case err := <-pc.Errors():
				t.Fatalf("partition %d: %v", p, err)
			case <-ctx.Done():
				t.Fatalf("partition %d: %d of %d messages: %v", p, len(got[p]), perPartition, ctx.Err())
			}
		}
		pc.AsyncClose()
	}
	return got
}

// consumeGroup consumes n messages of topic in a sarama ConsumerGroup
// (protocol version v) from the oldest offset, marks each and commits
// synchronously once all n are in, then leaves the group.
func consumeGroup(ctx context.Context, t *testing.T, addrs []string, v sarama.KafkaVersion, group, topic string, n int) {
	t.Helper()
	sc := sarama.NewConfig()
	sc.Version = v
	sc.Consumer.Offsets.Initial = sarama.OffsetOldest
	sc.Consumer.Offsets.AutoCommit.Enable = false
	cg, err := sarama.NewConsumerGroup(addrs, group, sc)
	if err != nil {
		t.Fatal(err)
	}
	defer cg.Close()
	h := &countingHandler{want: int64(n), done: make(chan struct{})}
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	result := make(chan error, 1)
	go func() { // ends when cctx ends (this function's return)
		for cctx.Err() == nil {
			if err := cg.Consume(cctx, []string{topic}, h); err != nil {
				result <- err
				return
			}
		}
		result <- nil
	}()
	select {
	case <-h.done:
	case err := <-result:
		t.Fatalf("consumer group %s: %v", group, err)
	case <-ctx.Done():
		t.Fatalf("consumer group %s: %d of %d messages: %v", group, h.seen.Load(), n, ctx.Err())
	}
	cancel()
	if err := <-result; err != nil {
		t.Fatalf("consumer group %s: %v", group, err)
	}
	if h.commitErr != nil {
		t.Fatal(h.commitErr)
	}
}

// countingHandler marks every message and, at the want-th, commits and
// closes done.
type countingHandler struct {
	want      int64
	seen      atomic.Int64
	done      chan struct{}
	once      sync.Once
	commitErr error // set before done closes
}

func (h *countingHandler) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (h *countingHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }

func (h *countingHandler) ConsumeClaim(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for m := range claim.Messages() {
		sess.MarkMessage(m, "")
		if h.seen.Add(1) == h.want {
			h.once.Do(func() {
				sess.Commit()
				close(h.done)
			})
		}
	}
	return nil
}

// metadataAt asks for the metadata through addrs with sc and checks that it
// lists exactly one broker, at want.
func metadataAt(addrs []string, sc *sarama.Config, want string) error {
	sc.Metadata.Retry.Max = 0
	client, err := sarama.NewClient(addrs, sc)
	if err != nil {
		return err
	}
	defer client.Close()
	bs := client.Brokers()
	if len(bs) != 1 || bs[0].Addr() != want {
		var got []string
		for _, b := range bs {
			got = append(got, b.Addr())
		}
		return fmt.Errorf("metadata lists brokers %v, want [%s]", got, want)
	}
	return nil
}

func equalEnds(got map[int32]int64, ps int, want int64) bool {
	if len(got) != ps {
		return false
	}
	for _, off := range got {
		if off != want {
			return false
		}
	}
	return true
}

func equalValues(got, want map[int32][]string) bool {
	if len(got) != len(want) {
		return false
	}
	for p, vs := range want {
		if !slices.Equal(got[p], vs) {
			return false
		}
	}
	return true
}

// processesIn counts the running processes whose command line names dir.
func processesIn(t *testing.T, dir string) int {
	t.Helper()
	cmdlines, err := filepath.Glob("/proc/[0-9]*/cmdline")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, f := range cmdlines {
		b, err := os.ReadFile(f)
		if err == nil && bytes.Contains(b, []byte(dir+string(filepath.Separator))) {
			n++
		}
	}
	return n
}

// A Kafka 4 node in KRaft mode (no ZooKeeper) for a test that needs a
// broker of the current Kafka: topics, produce and offsets work as with the
// ZooKeeper-mode cluster; the ZooKeeper methods report ErrNoZooKeeper.
func ExampleStart_kraft() {
	ctx := context.Background()
	cl, err := cluster.Start(ctx, cluster.Config{KRaft: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cl.Close()
	if err := cl.CreateTopic(ctx, "orders", 4, 1); err != nil {
		fmt.Println(err)
		return
	}
	_, err = cl.Produce(ctx, "orders", []cluster.Message{{Partition: 0, Value: []byte("hello")}})
	fmt.Println(cl.KafkaVersion(), cl.HasZooKeeper(), err)
	_, err = cl.DialZooKeeper(ctx, 10*time.Second)
	fmt.Println(errors.Is(err, cluster.ErrNoZooKeeper))
}
