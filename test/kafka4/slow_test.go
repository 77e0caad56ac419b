package kafka4_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/zkbalance/zkbalance/balanced"
	"github.com/zkbalance/zkbalance/internal/balancedhook"
	"github.com/zkbalance/zkbalance/internal/cluster"
	"github.com/zkbalance/zkbalance/scenario"
)

var kafkaGeneration = balancedhook.KafkaGeneration.(func(*balanced.Consumer) (int32, string, bool))

// TestKafka4SlowHandler is the slow-handler scenario (seed 002, S2 in
// docs/SCENARIOS.md) on Kafka 4 with kafka-mode members without ZooKeeper:
// two members with a slow handler (250ms a message) work through a
// backlog; a third joins, then one leaves. Checked: every handler whose
// partition was revoked stopped with ErrRevoked before the partition's
// new owner started it; a commit in the generation before the move, by the
// member that lost the partition, is refused by the broker
// (ILLEGAL_GENERATION) and lands nowhere; committed offsets advance while
// handlers are slow and never go back; nobody is expelled; lost 0, overlap
// 0, duplicates within what was in flight; committed = log end.
func TestKafka4SlowHandler(t *testing.T) {
	cl := shared.Get(t)
	ctx := testCtx(t, 2*time.Minute)
	begin := time.Now()
	topic, group := uniq("k4s"), uniq("g-k4s")
	const parts, n, delay = 4, 120, 250 * time.Millisecond
	if err := cl.CreateTopic(ctx, topic, parts, 1); err != nil {
		t.Fatal(err)
	}
	produced := map[balanced.TopicPartition]int64{}
	produce(ctx, t, cl, topic, parts, n, produced)
	var log scenario.Log
	var ends causes
	var expelled atomic.Int32
	cfg := memberConfig(cl, group, topic)
	cfg.Hooks.OnLost = func(_ context.Context, tps []balanced.TopicPartition) { expelled.Add(int32(len(tps))) }
	start := func(name string) *member {
		return startMember(t, name, cfg, tracked(&ends, name, scenario.Recorder(&log, name, delay)))
	}
	a, b := start("A"), start("B")
	waitSplit(t, 30*time.Second, topic, parts, nil, a, b)

	// Committed offsets never go back (sampled throughout).
	var back atomic.Value
	sctx, stopSampling := context.WithCancel(ctx)
	var sampling sync.WaitGroup
	sampling.Go(func() {
		prev := map[int32]int64{} // the highest seen
		for sctx.Err() == nil {
			if got, err := cl.CommittedOffsets(sctx, group, topic, parts); err == nil {
				for p, off := range got {
					if was, ok := prev[p]; ok && off < was {
						back.Store(fmt.Sprintf("partition %d went back from %d to %d", p, was, off))
					}
					prev[p] = off
				}
			}
			select {
			case <-sctx.Done():
			case <-time.After(200 * time.Millisecond):
			}
		}
	})
	defer func() { stopSampling(); sampling.Wait() }()

	sum := func() int64 {
		got, err := cl.CommittedOffsets(ctx, group, topic, parts)
		if err != nil {
			t.Fatal(err)
		}
		var s int64
		for _, off := range got {
			s += max(off, 0)
		}
		return s
	}
	first := sum()
	time.Sleep(1500 * time.Millisecond)
	if second := sum(); second <= first {
		t.Fatalf("committed offsets did not advance while handlers were busy: %d -> %d", first, second)
	}

	// C joins: every partition is revoked (eager) and some move.
	type genOf struct {
		id     int32
		member string
	}
	gens := map[string]genOf{} // each member's generation before the move
	before := map[int32]string{}
	for _, m := range []*member{a, b} {
		id, mid, ok := kafkaGeneration(m.c)
		if !ok {
			t.Fatalf("%s has no generation", m.name)
		}
		gens[m.name] = genOf{id, mid}
		for _, tp := range m.c.Owned() {
			before[tp.Partition] = m.name
		}
	}
	joined := time.Now()
	c := start("C")
	waitSplit(t, 30*time.Second, topic, parts, nil, a, b, c)
	t.Logf("C's join rebalanced in %s (%d of %d processed)", time.Since(joined).Round(time.Millisecond), log.Processed(), n)
	after := map[int32]string{}
	for _, m := range []*member{a, b, c} {
		for _, tp := range m.c.Owned() {
			after[tp.Partition] = m.name
		}
	}
	moved := map[int32]string{} // partition -> its owner before the move
	for p := range int32(parts) {
		old, now := before[p], after[p]
		tp := balanced.TopicPartition{Topic: topic, Partition: p}
		revokedAt := time.Time{}
		for _, e := range ends.list() {
			if e.member == old && e.tp == tp && e.at.After(joined) && errors.Is(e.err, balanced.ErrRevoked) {
				revokedAt = e.at
			}
		}
		if revokedAt.IsZero() {
			t.Errorf("partition %d: %s's handler did not stop with ErrRevoked at C's join (%v)", p, old, ends.list())
			continue
		}
		if old == now {
			continue
		}
		moved[p] = old
		for _, r := range log.Records() {
			if r.TP == tp && r.Member == now && r.Start.Before(revokedAt) && r.Start.After(joined) {
				t.Errorf("partition %d: %s started offset %d at %s, before %s's handler stopped at %s",
					p, now, r.Offset, r.Start.Format("15:04:05.000"), old, revokedAt.Format("15:04:05.000"))
			}
		}
		t.Logf("partition %d moved %s -> %s; %s's handler stopped (ErrRevoked) %s after C joined",
			p, old, now, old, revokedAt.Sub(joined).Round(time.Millisecond))
	}
	if len(moved) == 0 {
		t.Fatalf("no partition moved: before %v, after %v", before, after)
	}
	for p, old := range moved {
		staleCommitRefused(ctx, t, cl, group, topic, p, old, gens[old].id, gens[old].member)
	}

	time.Sleep(time.Second)
	a.stop(t)
	waitSplit(t, 30*time.Second, topic, parts, nil, b, c)
	if err := log.WaitProcessed(ctx, n); err != nil {
		t.Fatal(err)
	}
	waitCommitted(ctx, t, cl, group, topic, parts, produced, 20*time.Second)
	stopSampling()
	sampling.Wait()
	an := log.Analyze(produced)
	t.Logf("all %d processed in %s: %s; committed = log end", n, time.Since(begin).Round(time.Millisecond), an)
	if an.Lost != 0 || an.Overlaps != 0 {
		t.Fatalf("%s (%s)", an, an.FirstOverlap)
	}
	if an.Duplicates > 2*parts {
		t.Errorf("%s: more duplicates than messages in flight at the two rebalances", an)
	}
	if s, ok := back.Load().(string); ok {
		t.Errorf("committed offsets went back: %s", s)
	}
	if e := expelled.Load(); e != 0 {
		t.Errorf("%d partitions lost (a member was expelled)", e)
	}
}

// staleCommitRefused commits offset 99999 for partition p as its old owner
// name (member id member) in generation gen (before the move) and checks that the broker refuses it
// and writes nothing.
func staleCommitRefused(ctx context.Context, t *testing.T, cl *cluster.Cluster, group, topic string, p int32, name string, gen int32, member string) {
	t.Helper()
	const bogus = 99999
	sc := sarama.NewConfig()
	sc.Version = sarama.V2_1_0_0
	client, err := sarama.NewClient(cl.BrokerAddrs(), sc)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	coord, err := client.Coordinator(group)
	if err != nil {
		t.Fatal(err)
	}
	req := &sarama.OffsetCommitRequest{Version: 2, ConsumerGroup: group, ConsumerGroupGeneration: gen,
		ConsumerID: member, RetentionTime: -1}
	req.AddBlock(topic, p, bogus, 0, "")
	resp, err := coord.CommitOffset(req)
	if err != nil {
		t.Fatal(err)
	}
	kerr := resp.Errors[topic][p]
	if kerr != sarama.ErrIllegalGeneration && kerr != sarama.ErrUnknownMemberId {
		t.Errorf("commit by %s (%s) in generation %d after the move: %v, want ILLEGAL_GENERATION", name, member, gen, kerr)
	}
	got, err := cl.CommittedOffsets(ctx, group, topic, p+1)
	if err != nil {
		t.Fatal(err)
	}
	if got[p] == bogus {
		t.Errorf("the stale commit landed: partition %d committed %d", p, got[p])
	}
	t.Logf("commit of partition %d by its old owner %s in generation %d after the move: refused (%v); committed %d", p, name, gen, kerr, got[p])
}
