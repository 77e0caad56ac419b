// Package kafka4_test runs zkbalance members in kafka mode without
// ZooKeeper (Config.Coordination CoordinationKafka, Config.ZooKeeper empty)
// against a real Apache Kafka 4 node in KRaft mode: consuming alone, sharing
// a group with a Java KafkaConsumer, and the slow-handler scenario (seed
// 002) with the generation fence.
package kafka4_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zkbalance/zkbalance/balanced"
	"github.com/zkbalance/zkbalance/internal/cluster"
	"github.com/zkbalance/zkbalance/internal/javapeer"
	"github.com/zkbalance/zkbalance/scenario"
)

// shared is the package's Kafka 4 node (KRaft: broker and controller in
// one JVM, no ZooKeeper).
var shared = cluster.NewShared(cluster.Config{KRaft: true, Brokers: 1})

func TestMain(m *testing.M) { shared.Main(m) }

func testCtx(t testing.TB, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

var uniqN atomic.Int64

// uniq makes a topic or group name unique within the run.
func uniq(prefix string) string {
	return fmt.Sprintf("%s-%d-%d", prefix, time.Now().UnixNano()%1e9, uniqN.Add(1))
}

// logger is the members' logger: warnings to stderr, or the level in
// ZKBALANCE_TEST_LOG (debug, info).
func logger(name string) *slog.Logger {
	level := slog.LevelWarn
	switch os.Getenv("ZKBALANCE_TEST_LOG") {
	case "debug":
		level = slog.LevelDebug
	case "info":
		level = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})).With("member", name)
}

// memberConfig is a kafka-mode member's config without ZooKeeper.
func memberConfig(cl *cluster.Cluster, group, topic string) balanced.Config {
	return balanced.Config{Group: group, Topics: []string{topic}, Brokers: cl.BrokerAddrs(),
		Coordination: balanced.CoordinationKafka, CommitInterval: 200 * time.Millisecond,
		HeartbeatInterval: 500 * time.Millisecond, RevokeTimeout: 5 * time.Second}
}

// member is one zkbalance consumer running in-process.
type member struct {
	name   string
	c      *balanced.Consumer
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
	err    error
}

func startMember(t *testing.T, name string, cfg balanced.Config, h balanced.Handler) *member {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = logger(name)
	}
	c, err := balanced.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &member{name: name, c: c, cancel: cancel, done: make(chan error, 1)}
	go func() { m.done <- c.Run(ctx, h) }() // owned by m: stop waits for it
	t.Cleanup(func() { m.stop(t) })
	return m
}

// stop leaves the group and waits for Run, failing t if Run failed.
func (m *member) stop(t testing.TB) {
	t.Helper()
	m.once.Do(func() {
		m.cancel()
		select {
		case m.err = <-m.done:
		case <-time.After(60 * time.Second):
			m.err = fmt.Errorf("member %s did not stop within 60s", m.name)
		}
	})
	if m.err != nil {
		t.Errorf("member %s: %v", m.name, m.err)
	}
}

// split is "" when every partition 0..parts-1 of topic is owned by exactly
// one of the members and the java member (if any), and each of them owns
// at least one; else what is wrong.
func split(topic string, parts int32, java *javapeer.Member, ms ...*member) string {
	by := map[int32]string{}
	add := func(p int32, who string) string {
		if o, dup := by[p]; dup {
			return fmt.Sprintf("partition %d owned by %s and %s", p, o, who)
		}
		by[p] = who
		return ""
	}
	owners := map[string]int{}
	for _, m := range ms {
		for _, tp := range m.c.Owned() {
			if tp.Topic != topic {
				return fmt.Sprintf("%s owns %s of another topic", m.name, tp)
			}
			if s := add(tp.Partition, m.name); s != "" {
				return s
			}
			owners[m.name]++
		}
	}
	if java != nil {
		for _, tp := range java.Owned() {
			if s := add(tp.Partition, "java"); s != "" {
				return s
			}
			owners["java"]++
		}
	}
	if len(by) != int(parts) {
		return fmt.Sprintf("%d of %d partitions owned: %v", len(by), parts, by)
	}
	for _, m := range ms {
		if owners[m.name] == 0 {
			return fmt.Sprintf("%s owns nothing: %v", m.name, by)
		}
	}
	if java != nil && owners["java"] == 0 {
		return fmt.Sprintf("the java member owns nothing: %v", by)
	}
	return ""
}

func waitSplit(t *testing.T, d time.Duration, topic string, parts int32, java *javapeer.Member, ms ...*member) {
	t.Helper()
	deadline := time.Now().Add(d)
	var last string
	for time.Now().Before(deadline) {
		if last = split(topic, parts, java, ms...); last == "" {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("partitions not split within %s: %s", d, last)
}

// produce writes n messages round robin over partitions 0..parts-1 and
// adds them to produced (log end offset per partition; the topic is new).
func produce(ctx context.Context, t testing.TB, cl *cluster.Cluster, topic string, parts int32, n int, produced map[balanced.TopicPartition]int64) {
	t.Helper()
	msgs := make([]cluster.Message, n)
	for i := range msgs {
		msgs[i] = cluster.Message{Partition: int32(i) % parts, Value: fmt.Appendf(nil, "m%d", i)}
	}
	offs, err := cl.Produce(ctx, topic, msgs)
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range msgs {
		tp := balanced.TopicPartition{Topic: topic, Partition: m.Partition}
		produced[tp] = max(produced[tp], offs[i]+1)
	}
}

// stream produces batches of perBatch messages every 50ms until the
// returned function is called, which returns the log end offsets.
func stream(t *testing.T, cl *cluster.Cluster, topic string, parts int32, perBatch int) func() map[balanced.TopicPartition]int64 {
	ctx, cancel := context.WithCancel(context.Background())
	produced := map[balanced.TopicPartition]int64{}
	done := make(chan struct{})
	var failed error
	go func() { // owned by the returned function, which waits for it
		defer close(done)
		for ctx.Err() == nil {
			msgs := make([]cluster.Message, perBatch)
			for i := range msgs {
				msgs[i] = cluster.Message{Partition: int32(i) % parts, Value: []byte("s")}
			}
			offs, err := cl.Produce(context.WithoutCancel(ctx), topic, msgs)
			if err != nil {
				failed = err
				return
			}
			for i, m := range msgs {
				tp := balanced.TopicPartition{Topic: topic, Partition: m.Partition}
				produced[tp] = max(produced[tp], offs[i]+1)
			}
			select {
			case <-ctx.Done():
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	var once sync.Once
	stop := func() map[balanced.TopicPartition]int64 {
		once.Do(func() { cancel(); <-done })
		if failed != nil {
			t.Fatalf("producing: %v", failed)
		}
		return produced
	}
	t.Cleanup(func() { stop() })
	return stop
}

func total(produced map[balanced.TopicPartition]int64) int {
	n := 0
	for _, v := range produced {
		n += int(v)
	}
	return n
}

// waitCommitted waits until group's committed offsets equal produced.
func waitCommitted(ctx context.Context, t *testing.T, cl *cluster.Cluster, group, topic string, parts int32, produced map[balanced.TopicPartition]int64, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	var got map[int32]int64
	var err error
	for time.Now().Before(deadline) {
		got, err = cl.CommittedOffsets(ctx, group, topic, parts)
		if err == nil && committedEqual(got, topic, produced) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("committed offsets %v (err %v), want the log end %v", got, err, produced)
}

func committedEqual(got map[int32]int64, topic string, produced map[balanced.TopicPartition]int64) bool {
	for tp, end := range produced {
		if tp.Topic == topic && got[tp.Partition] != end {
			return false
		}
	}
	return true
}

// javaRecords adds the java member's processed messages to log.
func javaRecords(log *scenario.Log, j *javapeer.Member) int {
	msgs := j.Messages()
	for _, e := range msgs {
		log.Add(scenario.Record{Member: "java", TP: balanced.TopicPartition{Topic: e.Topic, Partition: e.Partition},
			Offset: e.Offset, Start: e.Start, End: e.End})
	}
	return len(msgs)
}

// causes collects, per member and partition, the causes with which the
// handlers' contexts ended.
type causes struct {
	mu  sync.Mutex
	all []cause
}

type cause struct {
	member string
	tp     balanced.TopicPartition
	err    error
	at     time.Time
}

func (c *causes) add(member string, tp balanced.TopicPartition, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.all = append(c.all, cause{member, tp, err, time.Now()})
}

func (c *causes) list() []cause {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.all)
}

// tracked wraps h: when its Consume returns, the context's cause is added
// to cs.
func tracked(cs *causes, name string, h balanced.Handler) balanced.Handler {
	return balanced.HandlerFunc(func(ctx context.Context, cl *balanced.Claim) error {
		err := h.Consume(ctx, cl)
		cs.add(name, cl.TopicPartition(), context.Cause(ctx))
		return err
	})
}
