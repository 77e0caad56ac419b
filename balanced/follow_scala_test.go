package balanced_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/zkbalance/zkbalance/balanced"
	"github.com/zkbalance/zkbalance/groupstate"
	"github.com/zkbalance/zkbalance/internal/javapeer"
	"github.com/zkbalance/zkbalance/internal/scalapeer"
	"github.com/zkbalance/zkbalance/internal/zkformat"
	"github.com/zkbalance/zkbalance/partition"
	"github.com/zkbalance/zkbalance/scenario"
)

// scalaSplit is kafkaSplit for a zookeeper-mode group with real Scala
// members: "" when every partition's owner znode is held by exactly the
// member (zkbalance or Scala) that processes it and every partition is
// processed by one, and each member owns some (the tests have more
// partitions than consumer threads).
func scalaSplit(t testing.TB, group, topic string, parts int32, scalas []*scalapeer.Member, members ...*member) string {
	owners := ownership(t, group, topic)
	by := map[balanced.TopicPartition]string{}
	claim := func(tp balanced.TopicPartition, who, id string) string {
		if o, dup := by[tp]; dup {
			return fmt.Sprintf("%s processed by %s and %s", tp, o, who)
		}
		by[tp] = who
		if m, _, _ := partition.SplitThreadID(owners[tp]); m != id {
			return fmt.Sprintf("%s processed by %s but its owner znode holds %q", tp, who, owners[tp])
		}
		return ""
	}
	for _, m := range members {
		for _, tp := range m.c.Owned() {
			if s := claim(tp, m.name, m.c.MemberID()); s != "" {
				return s
			}
		}
	}
	for _, s := range scalas {
		if s.Exited() {
			return fmt.Sprintf("%s exited: %v %v", s, s.ExitErr(), s.Errors())
		}
		for _, tp := range s.Owned() {
			if msg := claim(balanced.TopicPartition{Topic: tp.Topic, Partition: tp.Partition}, s.ID(), s.ID()); msg != "" {
				return msg
			}
		}
	}
	if len(by) != int(parts) || len(owners) != int(parts) {
		return fmt.Sprintf("%d of %d partitions processed (%v), owner znodes %v", len(by), parts, by, owners)
	}
	for _, m := range members {
		if len(m.c.Owned()) == 0 {
			return fmt.Sprintf("member %s owns nothing", m.name)
		}
	}
	for _, s := range scalas {
		if len(s.Owned()) == 0 {
			return fmt.Sprintf("%s owns nothing", s)
		}
	}
	return ""
}

func waitScalaSplit(t testing.TB, d time.Duration, group, topic string, parts int32, scalas []*scalapeer.Member, members ...*member) time.Duration {
	t.Helper()
	t0 := time.Now()
	var last string
	for time.Since(t0) < d {
		if last = scalaSplit(t, group, topic, parts, scalas, members...); last == "" {
			return time.Since(t0)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("partitions not split within %s: %s", d, last)
	return 0
}

// withPeers is one processing log of log's records and the messages the
// real Scala and Java members processed, with their own processing windows.
func withPeers(log *plog, scalas []*scalapeer.Member, j *javapeer.Member) *plog {
	both := withJava(log, j)
	for _, s := range scalas {
		for _, e := range s.Messages() {
			both.Add(scenario.Record{Member: s.ID(), TP: balanced.TopicPartition{Topic: e.Topic, Partition: e.Partition},
				Offset: e.Offset, Start: e.Start, End: e.End})
		}
	}
	return both
}

// The migration of a real Scala group to Kafka's group coordinator, under a
// continuous stream: two real Scala high-level consumers (Kafka 1.1.1,
// offsets in ZooKeeper) are replaced one by one by follow-mode zkbalance
// members (Scala layout, scala-range, offsets in both stores, the higher
// read); the toggle to kafka is refused while a Scala member is registered
// and done once they are gone; a Java KafkaConsumer joins the Kafka group
// and the zkbalance members leave. Nothing is lost, no partition is
// processed by two members at overlapping times, and the Java member's
// Kafka offsets end at the log end.
func TestFollowMigrateFromRealScala(t *testing.T) {
	cl := shared.Get(t)
	ctx := testCtx(t, 5*time.Minute)
	if _, err := scalapeer.Build(ctx); err != nil {
		t.Fatal(err)
	}
	topic, group := uniq(t, "fs"), uniq(t, "g-fs")
	const parts = 6
	if err := cl.CreateTopic(ctx, topic, parts, 1); err != nil {
		t.Fatal(err)
	}
	var log plog
	stopStream := stream(t, topic, parts, 30)
	var all []*scalapeer.Member
	startScala := func(streams int) *scalapeer.Member {
		s, err := scalapeer.Start(ctx, scalapeer.Args{ZooKeeper: cl.KafkaZooKeeperConnect(), Group: group,
			Topics: []string{topic}, Strategy: scalapeer.Range, Streams: streams, Delay: time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if !s.Exited() {
				_ = s.Stop()
			}
			if t.Failed() {
				t.Logf("%s stderr:\n%s", s, s.Stderr(40))
			}
		})
		all = append(all, s)
		return s
	}
	s1, s2 := startScala(2), startScala(1)
	waitScalaSplit(t, 60*time.Second, group, topic, parts, []*scalapeer.Member{s1, s2})
	if err := s2.WaitMessages(ctx, 50); err != nil {
		t.Fatal(err)
	}
	t.Logf("Scala group: S1 %v, S2 %v; S1 committed %v", s1.Owned(), s2.Owned(), s1.Committed())

	f1 := startMember(t, "F1", followConfig(group, topic), recorder(&log, "F1", time.Millisecond))
	d := waitScalaSplit(t, 60*time.Second, group, topic, parts, []*scalapeer.Member{s1, s2}, f1)
	t.Logf("F1 joined the Scala group: split in %s: S1 %v, S2 %v, F1 %v", d.Round(time.Millisecond), s1.Owned(), s2.Owned(), f1.c.Owned())

	kc := groupClient(t)
	_, err := groupstate.SetCoordination(ctx, zkConn(t), kc, group, groupstate.ModeKafka, false, nil)
	if !errors.Is(err, groupstate.ErrCannotFollow) || !strings.Contains(err.Error(), s1.ID()) || !strings.Contains(err.Error(), s2.ID()) {
		t.Fatalf("switch with real Scala members registered: %v", err)
	}
	t.Logf("refused: %v", err)

	if err := s1.Stop(); err != nil {
		t.Fatal(err)
	}
	f2 := startMember(t, "F2", followConfig(group, topic), recorder(&log, "F2", time.Millisecond))
	d = waitScalaSplit(t, 60*time.Second, group, topic, parts, []*scalapeer.Member{s2}, f1, f2)
	t.Logf("S1 replaced by F2: split in %s: S2 %v, F1 %v, F2 %v", d.Round(time.Millisecond), s2.Owned(), f1.c.Owned(), f2.c.Owned())
	time.Sleep(time.Second)
	if err := s2.Stop(); err != nil {
		t.Fatal(err)
	}
	d = waitSwitched(t, 60*time.Second, group, topic, zkformat.ModeZooKeeper, parts, nil, f1, f2)
	t.Logf("S2 left: split in %s: F1 %v, F2 %v", d.Round(time.Millisecond), f1.c.Owned(), f2.c.Owned())
	time.Sleep(time.Second)

	if _, err := groupstate.SetCoordination(ctx, zkConn(t), kc, group, groupstate.ModeKafka, false, nil); err != nil {
		t.Fatalf("switch after the Scala members left: %v", err)
	}
	d = waitSwitched(t, 90*time.Second, group, topic, zkformat.ModeKafka, parts, nil, f1, f2)
	t.Logf("switched to kafka in %s: F1 %v, F2 %v", d.Round(time.Millisecond), f1.c.Owned(), f2.c.Owned())
	time.Sleep(time.Second)

	j, err := javapeer.Start(ctx, javapeer.Args{Bootstrap: cl.BrokerAddrs(), Group: group, Topics: []string{topic},
		Strategy: javapeer.Range, Delay: time.Millisecond, ID: "java-after-scala"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = j.Kill() })
	t0 := time.Now()
	waitKafkaSplit(t, 60*time.Second, group, topic, parts, j.Owned, f1, f2)
	t.Logf("java joined: split in %s: F1 %v, F2 %v, java %v", time.Since(t0).Round(time.Millisecond), f1.c.Owned(), f2.c.Owned(), j.Owned())
	time.Sleep(time.Second)
	f1.Stop(t)
	f2.Stop(t)
	t0 = time.Now()
	if err := j.WaitOwned(ctx, func(o []javapeer.TopicPartition) bool { return len(o) == parts }); err != nil {
		t.Fatal(err)
	}
	t.Logf("zkbalance members left: java owns all %d partitions %s after", parts, time.Since(t0).Round(time.Millisecond))
	time.Sleep(time.Second)

	produced := stopStream()
	deadline := time.Now().Add(2 * time.Minute)
	for withPeers(&log, all, j).Processed() < total(produced) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if err := j.Stop(); err != nil {
		t.Fatalf("java member: %v\n%s", err, j.Stderr(40))
	}
	an := withPeers(&log, all, j).Analyze(produced)
	t.Logf("produced %d; Scala processed %d+%d (failed rebalance attempts %d+%d, dropped %d+%d), follow members %d, java %d; %s",
		total(produced), len(s1.Messages()), len(s2.Messages()), s1.FailedRebalances(), s2.FailedRebalances(),
		len(s1.Dropped()), len(s2.Dropped()), len(log.Records()), len(j.Messages()), an)
	javaVerdict(t, an, j)
	checkCommitted(t, group, topic, parts, produced)
}
