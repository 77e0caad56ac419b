package kafka4_test

import (
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/zkbalance/zkbalance/balanced"
	"github.com/zkbalance/zkbalance/internal/javapeer"
	"github.com/zkbalance/zkbalance/scenario"
)

// A kafka-mode member without ZooKeeper consumes everything from Kafka 4
// and commits up to the log end, with the default Sarama Version (2.1:
// JoinGroup v3, OffsetCommit v2, OffsetFetch v1, Fetch v10, ...) and with
// the newest (4.0: JoinGroup v7 through MEMBER_ID_REQUIRED, SyncGroup v5,
// Heartbeat v4, LeaveGroup v4).
func TestKafka4NoZooKeeper(t *testing.T) {
	for _, v := range []sarama.KafkaVersion{{}, sarama.V4_0_0_0} {
		name := "default"
		if v != (sarama.KafkaVersion{}) {
			name = v.String()
		}
		t.Run(name, func(t *testing.T) {
			cl := shared.Get(t)
			ctx := testCtx(t, 2*time.Minute)
			topic, group := uniq("k4"), uniq("g-k4")
			const parts = 4
			if err := cl.CreateTopic(ctx, topic, parts, 1); err != nil {
				t.Fatal(err)
			}
			produced := map[balanced.TopicPartition]int64{}
			produce(ctx, t, cl, topic, parts, 200, produced)
			cfg := memberConfig(cl, group, topic)
			if v != (sarama.KafkaVersion{}) {
				cfg.Sarama = sarama.NewConfig()
				cfg.Sarama.Version = v
			}
			var log scenario.Log
			t0 := time.Now()
			a := startMember(t, "A", cfg, scenario.Recorder(&log, "A", 0))
			waitSplit(t, 30*time.Second, topic, parts, nil, a)
			if h := a.c.Health(); !h.Connected || h.SessionID != 0 || h.Owned != parts {
				t.Errorf("Health %+v, want Connected, no session, %d owned", h, parts)
			}
			if err := log.WaitProcessed(ctx, total(produced)); err != nil {
				t.Fatal(err)
			}
			t.Logf("%d messages processed %s after the start", total(produced), time.Since(t0).Round(time.Millisecond))
			produce(ctx, t, cl, topic, parts, 40, produced) // while it runs
			if err := log.WaitProcessed(ctx, total(produced)); err != nil {
				t.Fatal(err)
			}
			waitCommitted(ctx, t, cl, group, topic, parts, produced, 20*time.Second)
			a.stop(t)
			if h := a.c.Health(); h.Connected {
				t.Errorf("Health after Run returned: %+v", h)
			}
			an := log.Analyze(produced)
			t.Logf("produced %d; %s; committed = log end", total(produced), an)
			if an.Lost != 0 || an.Duplicates != 0 {
				t.Fatal(an)
			}
		})
	}
}

// A kafka-mode member without ZooKeeper and a Java KafkaConsumer
// (kafka-clients 3.9, range) share a group on Kafka 4 under a stream of
// messages, across the Java member's join and leave: no partition is
// processed by both at once, nothing is lost, and the committed offsets
// reach the log end.
func TestKafka4JavaPeer(t *testing.T) {
	cl := shared.Get(t)
	ctx := testCtx(t, 3*time.Minute)
	topic, group := uniq("k4j"), uniq("g-k4j")
	const parts = 6
	if err := cl.CreateTopic(ctx, topic, parts, 1); err != nil {
		t.Fatal(err)
	}
	var log scenario.Log
	z := startMember(t, "Z", memberConfig(cl, group, topic), scenario.Recorder(&log, "Z", time.Millisecond))
	waitSplit(t, 30*time.Second, topic, parts, nil, z)
	stop := stream(t, cl, topic, parts, 30)
	time.Sleep(time.Second)
	j, err := javapeer.Start(ctx, javapeer.Args{Bootstrap: cl.BrokerAddrs(), Group: group, Topics: []string{topic},
		Strategy: javapeer.Range, Delay: time.Millisecond, ID: "java-k4"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = j.Kill() })
	t0 := time.Now()
	waitSplit(t, 60*time.Second, topic, parts, j, z)
	t.Logf("java joined: split in %s: Z %v, java %v", time.Since(t0).Round(time.Millisecond), z.c.Owned(), j.Owned())
	time.Sleep(2 * time.Second)
	if err := j.Stop(); err != nil {
		t.Fatalf("java member: %v\n%s", err, j.Stderr(40))
	}
	t1 := time.Now()
	waitSplit(t, 30*time.Second, topic, parts, nil, z)
	t.Logf("java left: Z owns all again after %s", time.Since(t1).Round(time.Millisecond))
	produced := stop()
	var both scenario.Log
	deadline := time.Now().Add(time.Minute)
	for {
		both = scenario.Log{}
		for _, r := range log.Records() {
			both.Add(r)
		}
		javaRecords(&both, j)
		if both.Processed() >= total(produced) || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	waitCommitted(ctx, t, cl, group, topic, parts, produced, 20*time.Second)
	z.stop(t)
	nj := len(j.Messages())
	an := both.Analyze(produced)
	t.Logf("produced %d; zkbalance processed %d, java %d; %s; committed = log end", total(produced), len(log.Records()), nj, an)
	if nj == 0 {
		t.Error("the java member processed nothing")
	}
	if an.Lost != 0 || an.Overlaps != 0 {
		t.Fatalf("%s (%s)", an, an.FirstOverlap)
	}
	if errs := j.Errors(); len(errs) > 0 {
		t.Errorf("java member errors: %v", errs)
	}
}
