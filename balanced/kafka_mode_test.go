package balanced_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/zkbalance/zkbalance/balanced"
	"github.com/zkbalance/zkbalance/internal/javapeer"
	"github.com/zkbalance/zkbalance/partition"
	"github.com/zkbalance/zkbalance/scenario"
)

// kafkaModeConfig is a kafka-mode member's config.
func kafkaModeConfig(group, topic, strategy string) balanced.Config {
	return balanced.Config{Group: group, Topics: []string{topic}, Coordination: balanced.CoordinationKafka,
		KafkaStrategy: strategy, CommitInterval: 200 * time.Millisecond}
}

// kafkaCommitted reads group's committed offsets of topic's partitions
// through the admin API.
func kafkaCommitted(t testing.TB, group, topic string, partitions int32) map[balanced.TopicPartition]int64 {
	t.Helper()
	cl := shared.Get(t)
	sc := sarama.NewConfig()
	sc.Version = sarama.V3_0_0_0
	admin, err := sarama.NewClusterAdmin(cl.BrokerAddrs(), sc)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	var ps []int32
	for p := range partitions {
		ps = append(ps, p)
	}
	resp, err := admin.ListConsumerGroupOffsets(group, map[string][]int32{topic: ps})
	if err != nil {
		t.Fatal(err)
	}
	out := map[balanced.TopicPartition]int64{}
	for _, p := range ps {
		if b := resp.GetBlock(topic, p); b != nil && b.Offset >= 0 {
			out[balanced.TopicPartition{Topic: topic, Partition: p}] = b.Offset
		}
	}
	return out
}

// kafkaSplit describes how the partitions are split: "" when every one of
// them is fetched by exactly one of the members (all if javaOwned is nil;
// the rest are the Java member's) and the owner znodes are held exactly for
// the zkbalance members' partitions, by them.
func kafkaSplit(t testing.TB, group, topic string, partitions int32, java func() []javapeer.TopicPartition, members ...*member) string {
	owners := ownership(t, group, topic)
	by := map[balanced.TopicPartition]string{}
	for _, m := range members {
		for _, tp := range m.c.Owned() {
			if o, dup := by[tp]; dup {
				return fmt.Sprintf("%s owned by %s and %s", tp, o, m.name)
			}
			by[tp] = m.name
			want := partition.ThreadID(m.c.MemberID(), 0)
			if m.layout == balanced.LayoutPykafka {
				want = m.c.MemberID()
			}
			if owners[tp] != want {
				return fmt.Sprintf("%s processed by %s but its owner znode holds %q", tp, m.name, owners[tp])
			}
		}
	}
	for tp, o := range owners {
		if by[tp] == "" {
			return fmt.Sprintf("owner znode of %s held by %q, which does not process it", tp, o)
		}
	}
	if java != nil {
		for _, jtp := range java() {
			tp := balanced.TopicPartition{Topic: jtp.Topic, Partition: jtp.Partition}
			if o, dup := by[tp]; dup {
				return fmt.Sprintf("%s owned by %s and the java member", tp, o)
			}
			by[tp] = "java"
		}
	}
	if len(by) != int(partitions) {
		return fmt.Sprintf("%d of %d partitions owned: %v", len(by), partitions, by)
	}
	for _, m := range members {
		if !slices.ContainsFunc(slices.Collect(maps.Values(by)), func(o string) bool { return o == m.name }) {
			return fmt.Sprintf("member %s owns nothing", m.name)
		}
	}
	if java != nil && !slices.Contains(slices.Collect(maps.Values(by)), "java") {
		return "the java member owns nothing"
	}
	return ""
}

func waitKafkaSplit(t testing.TB, d time.Duration, group, topic string, partitions int32, java func() []javapeer.TopicPartition, members ...*member) {
	t.Helper()
	deadline := time.Now().Add(d)
	var last string
	for time.Now().Before(deadline) {
		if last = kafkaSplit(t, group, topic, partitions, java, members...); last == "" {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("partitions not split within %s: %s", d, last)
}

// checkCommitted fails unless group's committed offsets equal produced.
func checkCommitted(t testing.TB, group, topic string, partitions int32, produced map[balanced.TopicPartition]int64) {
	t.Helper()
	got := kafkaCommitted(t, group, topic, partitions)
	for tp, n := range produced {
		if got[tp] != n {
			t.Errorf("%s: committed %d, log end %d", tp, got[tp], n)
		}
	}
}

// Two zkbalance members with Coordination kafka share a topic through
// Kafka's group coordinator (range): each partition is processed by one
// member at a time, the one holding its owner znode; nothing is lost across
// a join and a leave; the committed offsets reach the log end; every
// owner znode is gone after the last member left.
func TestKafkaModeTwoMembers(t *testing.T) {
	cl := shared.Get(t)
	ctx := testCtx(t, 4*time.Minute)
	topic, group := uniq(t, "km"), uniq(t, "g-km")
	const parts = 6
	if err := cl.CreateTopic(ctx, topic, parts, 1); err != nil {
		t.Fatal(err)
	}
	var log plog
	cfg := kafkaModeConfig(group, topic, balanced.KafkaRange)
	a := startMember(t, "A", cfg, recorder(&log, "A", time.Millisecond))
	waitKafkaSplit(t, 30*time.Second, group, topic, parts, nil, a)
	stopStream := stream(t, topic, parts, 30)
	time.Sleep(time.Second)
	b := startMember(t, "B", cfg, recorder(&log, "B", time.Millisecond))
	t0 := time.Now()
	waitKafkaSplit(t, 30*time.Second, group, topic, parts, nil, a, b)
	t.Logf("B's join rebalanced in %s: A %v, B %v", time.Since(t0).Round(time.Millisecond), a.c.Owned(), b.c.Owned())
	time.Sleep(2 * time.Second)
	b.Stop(t)
	waitKafkaSplit(t, 30*time.Second, group, topic, parts, nil, a)
	produced := stopStream()
	waitProcessed(t, &log, total(produced), 2*time.Minute)
	a.Stop(t)
	an := log.Analyze(produced)
	t.Logf("produced %d across a join and a leave: %s", total(produced), an)
	if an.Lost != 0 || an.Overlaps != 0 {
		t.Fatalf("%s (%s)", an, an.FirstOverlap)
	}
	checkCommitted(t, group, topic, parts, produced)
	if o := ownership(t, group, topic); len(o) != 0 {
		t.Errorf("owner znodes left after both members left: %v", o)
	}
}

// A zkbalance member in kafka mode and a Java KafkaConsumer share a group,
// for each eager assignor: both get partitions, nothing is lost, no
// partition is processed by both at once (processing logs with start and
// end times), and the committed offsets reach the log end.
func TestKafkaModeJavaPeer(t *testing.T) {
	for _, strategy := range []string{javapeer.Range, javapeer.RoundRobin, javapeer.Sticky} {
		t.Run(strategy, func(t *testing.T) {
			cl := shared.Get(t)
			ctx := testCtx(t, 4*time.Minute)
			topic, group := uniq(t, "kj"), uniq(t, "g-kj")
			const parts = 6
			if err := cl.CreateTopic(ctx, topic, parts, 1); err != nil {
				t.Fatal(err)
			}
			var log plog
			z := startMember(t, "Z", kafkaModeConfig(group, topic, strategy), recorder(&log, "Z", time.Millisecond))
			waitKafkaSplit(t, 30*time.Second, group, topic, parts, nil, z)
			stopStream := stream(t, topic, parts, 30)
			time.Sleep(time.Second)
			j, err := javapeer.Start(ctx, javapeer.Args{Bootstrap: cl.BrokerAddrs(), Group: group, Topics: []string{topic},
				Strategy: strategy, Delay: time.Millisecond, ID: "java-" + strategy})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = j.Kill() })
			t0 := time.Now()
			waitKafkaSplit(t, 60*time.Second, group, topic, parts, j.Owned, z)
			t.Logf("java joined: split in %s: Z %v, java %v", time.Since(t0).Round(time.Millisecond), z.c.Owned(), j.Owned())
			time.Sleep(2 * time.Second)
			if err := j.Stop(); err != nil {
				t.Fatalf("java member: %v\n%s", err, j.Stderr(40))
			}
			waitKafkaSplit(t, 30*time.Second, group, topic, parts, nil, z)
			produced := stopStream()
			waitWithJava(&log, j, total(produced), 2*time.Minute)
			z.Stop(t)
			both := withJava(&log, j)
			an := both.Analyze(produced)
			t.Logf("%s: produced %d; zkbalance processed %d, java %d; %s", strategy, total(produced), len(log.Records()), len(j.Messages()), an)
			javaVerdict(t, an, j)
			checkCommitted(t, group, topic, parts, produced)
		})
	}
}

// withJava is one processing log of log's records and the messages the
// Java member processed (as member "java").
func withJava(log *plog, j *javapeer.Member) *plog {
	var both plog
	for _, r := range log.Records() {
		both.Add(r)
	}
	for _, e := range j.Messages() {
		both.Add(scenario.Record{Member: "java", TP: balanced.TopicPartition{Topic: e.Topic, Partition: e.Partition},
			Offset: e.Offset, Start: e.Start, End: e.End})
	}
	return &both
}

// waitWithJava waits (at most d) until log and the Java member together
// processed n distinct messages.
func waitWithJava(log *plog, j *javapeer.Member, n int, d time.Duration) {
	deadline := time.Now().Add(d)
	for withJava(log, j).Processed() < n && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
}

// javaVerdict fails t unless the Java member processed something and
// reported no error, and the combined log an judged lost nothing and has
// no overlap.
func javaVerdict(t *testing.T, an scenario.Analysis, j *javapeer.Member) {
	t.Helper()
	if len(j.Messages()) == 0 {
		t.Error("the java member processed nothing")
	}
	if an.Lost != 0 || an.Overlaps != 0 {
		t.Fatalf("%s (%s)", an, an.FirstOverlap)
	}
	if errs := j.Errors(); len(errs) > 0 {
		t.Errorf("java member errors: %v", errs)
	}
}

// A revoke cancels the handler's context with ErrRevoked; a commit in a
// generation that is over, or by a member the coordinator does not know,
// is refused with ErrNotOwner and writes nothing.
func TestKafkaModeRevokeAndStaleCommit(t *testing.T) {
	cl := shared.Get(t)
	ctx := testCtx(t, 3*time.Minute)
	topic, group := uniq(t, "kr"), uniq(t, "g-kr")
	const parts = 2
	if err := cl.CreateTopic(ctx, topic, parts, 1); err != nil {
		t.Fatal(err)
	}
	var ends causes
	h := balanced.HandlerFunc(func(ctx context.Context, c *balanced.Claim) error {
		<-ctx.Done()
		ends.add(context.Cause(ctx))
		return nil
	})
	cfg := kafkaModeConfig(group, topic, balanced.KafkaRange)
	a := startMember(t, "A", cfg, h)
	waitKafkaSplit(t, 30*time.Second, group, topic, parts, nil, a)
	gen1, member1, ok := balanced.KafkaGeneration(a.c)
	if !ok {
		t.Fatal("A has no generation")
	}
	// B speaks the newer group protocol versions (JoinGroup v7: its first
	// join is answered MEMBER_ID_REQUIRED; SyncGroup v5, Heartbeat v4,
	// LeaveGroup v4); A the default ones (JoinGroup v3).
	bcfg := cfg
	bcfg.Sarama = sarama.NewConfig()
	bcfg.Sarama.Version = sarama.V3_0_0_0
	b := startMember(t, "B", bcfg, h)
	waitKafkaSplit(t, 30*time.Second, group, topic, parts, nil, a, b)
	if n := ends.count(balanced.ErrRevoked); n != 2 {
		t.Errorf("%d handler contexts ended with ErrRevoked, want 2 (eager: A's both partitions)", n)
	}
	gen2, member2, _ := balanced.KafkaGeneration(a.c)
	if gen2 <= gen1 || member2 != member1 {
		t.Fatalf("A: generation %d -> %d, member %q -> %q", gen1, gen2, member1, member2)
	}
	sc := sarama.NewConfig()
	sc.Version = sarama.V2_1_0_0
	client, err := sarama.NewClient(cl.BrokerAddrs(), sc)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	tp := balanced.TopicPartition{Topic: topic, Partition: 0}
	before := kafkaCommitted(t, group, topic, parts)[tp]
	for _, c := range []struct {
		gen    int32
		member string
	}{{gen1, member1}, {gen2, "someone-else"}} {
		err := balanced.CommitAsGeneration(ctx, client, group, c.gen, c.member, tp, 12345)
		if !errors.Is(err, balanced.ErrNotOwner) {
			t.Errorf("commit as generation %d member %s: %v, want ErrNotOwner", c.gen, c.member, err)
		}
		t.Logf("stale commit refused: %v", err)
	}
	if got := kafkaCommitted(t, group, topic, parts)[tp]; got != before {
		t.Errorf("a refused commit wrote: %d, was %d", got, before)
	}
	// The current generation's commit goes through (the fence is not
	// just refusing everything).
	if err := balanced.CommitAsGeneration(ctx, client, group, gen2, member2, tp, 0); err != nil {
		t.Errorf("commit in the current generation: %v", err)
	}
}

// A handler that ignores its cancelled context for a while (within
// RevokeTimeout) keeps the partition: the new owner starts it only after
// the old one's handler returned, its offset was committed and its owner
// znode released (OnRevoked), and nothing is processed twice at once.
func TestKafkaModeSlowRevokeHandsOverAfterRelease(t *testing.T) {
	cl := shared.Get(t)
	ctx := testCtx(t, 4*time.Minute)
	topic, group := uniq(t, "ks"), uniq(t, "g-ks")
	const parts = 4
	if err := cl.CreateTopic(ctx, topic, parts, 1); err != nil {
		t.Fatal(err)
	}
	var log plog
	var mu sync.Mutex
	var revokedAt time.Time
	stubborn := balanced.EachMessage(func(ctx context.Context, m *balanced.Message) error {
		start := time.Now()
		time.Sleep(700 * time.Millisecond) // ignores ctx
		log.Add(scenario.Record{Member: "A", TP: balanced.TopicPartition{Topic: m.Topic, Partition: m.Partition},
			Offset: m.Offset, Start: start, End: time.Now()})
		return nil
	})
	cfg := kafkaModeConfig(group, topic, balanced.KafkaRange)
	cfg.RevokeTimeout = 5 * time.Second
	acfg := cfg
	acfg.Hooks.OnRevoked = func(ctx context.Context, tps []balanced.TopicPartition) {
		mu.Lock()
		defer mu.Unlock()
		if revokedAt.IsZero() {
			revokedAt = time.Now()
		}
	}
	a := startMember(t, "A", acfg, stubborn)
	waitKafkaSplit(t, 30*time.Second, group, topic, parts, nil, a)
	produced := produceSpread(t, topic, parts, 40)
	time.Sleep(1500 * time.Millisecond) // A is inside a message on each partition
	b := startMember(t, "B", cfg, recorder(&log, "B", 0))
	waitKafkaSplit(t, 60*time.Second, group, topic, parts, nil, a, b)
	waitProcessed(t, &log, total(produced), 2*time.Minute)
	a.Stop(t)
	b.Stop(t)
	mu.Lock()
	rev := revokedAt
	mu.Unlock()
	var aLast time.Time
	bFirst := map[balanced.TopicPartition]time.Time{}
	for _, r := range log.Records() {
		if r.Member == "A" && r.End.After(aLast) && r.Start.Before(rev) {
			aLast = r.End
		}
		if r.Member == "B" {
			if f, ok := bFirst[r.TP]; !ok || r.Start.Before(f) {
				bFirst[r.TP] = r.Start
			}
		}
	}
	if len(bFirst) == 0 {
		t.Fatal("B processed nothing")
	}
	for tp, f := range bFirst {
		if f.Before(rev) {
			t.Errorf("B started %s at %s, before A released its owner znodes at %s", tp, f.Format("15:04:05.000"), rev.Format("15:04:05.000"))
		}
	}
	if aLast.After(rev) {
		t.Errorf("A's handler ran until %s, after its release at %s", aLast.Format("15:04:05.000"), rev.Format("15:04:05.000"))
	}
	an := log.Analyze(produced)
	t.Logf("A's last message before the revoke ended %s, A released at %s, B's first start %v; %s",
		aLast.Format("15:04:05.000"), rev.Format("15:04:05.000"), bFirst, an)
	if an.Lost != 0 || an.Overlaps != 0 {
		t.Fatalf("%s (%s)", an, an.FirstOverlap)
	}
}
