package pykafka_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zkbalance/zkbalance/balanced"
	"github.com/zkbalance/zkbalance/internal/cluster"
	"github.com/zkbalance/zkbalance/internal/scalapeer"
	"github.com/zkbalance/zkbalance/partition"
	"github.com/zkbalance/zkbalance/scenario"
	"github.com/zkbalance/zkbalance/zkwatch"
)

// startScala runs a real Scala high-level consumer (internal/scalapeer) of
// group on topic; it is stopped at the latest when the test ends.
func startScala(t *testing.T, ctx context.Context, group, topic string, streams int, delay time.Duration) *scalapeer.Member {
	t.Helper()
	cl := shared.Get(t)
	begin := time.Now()
	m, err := scalapeer.Start(ctx, scalapeer.Args{ZooKeeper: cl.KafkaZooKeeperConnect(), Group: group,
		Topics: []string{topic}, Strategy: scalapeer.Range, Streams: streams, Delay: delay})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s started in %s", m, time.Since(begin).Round(time.Millisecond))
	t.Cleanup(func() {
		if !m.Exited() {
			if err := m.Stop(); err != nil {
				t.Error(err)
			}
		}
		if t.Failed() {
			t.Logf("%s stderr:\n%s", m, m.Stderr(60))
		}
	})
	return m
}

// keepProducing writes perBatch messages over parts partitions every 50ms
// until the returned function is called.
func keepProducing(t *testing.T, cl *cluster.Cluster, topic string, parts int32, perBatch int) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	var failed error
	go func() { // owned by stop, which waits for it
		defer close(done)
		for ctx.Err() == nil {
			msgs := make([]cluster.Message, perBatch)
			for i := range msgs {
				msgs[i] = cluster.Message{Partition: int32(i) % parts, Value: []byte("s")}
			}
			if _, err := cl.Produce(context.WithoutCancel(ctx), topic, msgs); err != nil {
				failed = err
				return
			}
			select {
			case <-ctx.Done():
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() { cancel(); <-done })
		if failed != nil {
			t.Fatalf("producing: %v", failed)
		}
	}
	t.Cleanup(stop)
	return stop
}

// checkRealScalaGroup checks a group of zkbalance and real Scala members:
// the registrations are theirs; every partition has one owner znode
// holding the thread id scala-range chooses for those registrations; each
// Scala member computed that same assignment in its last rebalance and
// processes its share; each zkbalance member runs handlers for its share.
func checkRealScalaGroup(ctx context.Context, conn *zkwatch.Conn, group, topic string, n int32, zbs []*zbMember, scalas []*scalapeer.Member) error {
	var want []string
	for _, m := range zbs {
		if err := m.exited(); err != nil {
			return err
		}
		want = append(want, m.ID())
	}
	for _, m := range scalas {
		if m.Exited() {
			return fmt.Errorf("%s exited: %v%v", m, m.ExitErr(), m.Errors())
		}
		want = append(want, m.ID())
	}
	slices.Sort(want)
	ids, err := readIDs(ctx, conn, group)
	if err != nil {
		return err
	}
	if got := slices.Sorted(maps.Keys(ids)); !slices.Equal(got, want) {
		return fmt.Errorf("registrations %v, want %v", got, want)
	}
	asg, err := scalaRange(ctx, conn, group, topic, n)
	if err != nil {
		return err
	}
	owners, err := readOwners(ctx, conn, group, topic)
	if err != nil {
		return err
	}
	for p := range n {
		zs := owners[p]
		if len(zs) != 1 || zs[0] != (ownerZnode{Dir: topic, Name: strconv.Itoa(int(p)), Holder: asg[p]}) {
			return fmt.Errorf("partition %d: owner znodes %v, want %s/%d = %s", p, zs, topic, p, asg[p])
		}
	}
	shareOf := func(id string) []int32 {
		var share []int32
		for p, o := range asg {
			if m, _, _ := partition.SplitThreadID(o); m == id {
				share = append(share, p)
			}
		}
		slices.Sort(share)
		return share
	}
	for _, m := range zbs {
		if got, _ := m.parts(); !slices.Equal(got, shareOf(m.ID())) {
			return fmt.Errorf("%s runs handlers for %v, want %v", m, got, shareOf(m.ID()))
		}
	}
	for _, m := range scalas {
		real := map[int32]string{}
		for tp, th := range m.Assignment() {
			real[tp.Partition] = th
		}
		if !maps.Equal(real, asg) {
			return fmt.Errorf("%s computed %v, scala-range says %v", m, real, asg)
		}
		var got []int32
		for _, tp := range m.Owned() {
			got = append(got, tp.Partition)
		}
		if !slices.Equal(got, shareOf(m.ID())) {
			return fmt.Errorf("%s processes %v, want %v", m, got, shareOf(m.ID()))
		}
	}
	return nil
}

// TestMixedGroupRealScala is TestMixedGroupScala with real Scala
// high-level consumers (Kafka 1.1.1's ZookeeperConsumerConnector, offsets
// in ZooKeeper) instead of test-written registrations, under a continuous
// stream: a Scala member with two streams starts alone and commits to
// ZooKeeper; zkbalance members (Scala layout, scala-range, ZooKeeper
// offsets) and a second Scala member join; members of both kinds leave.
// After each change the owner znodes, the Scala members' own assignments
// and zkbalance's running handlers all are scala-range's answer. Where a
// partition moves from a Scala member to anyone, the new owner starts at
// the offset the Scala member committed; at the end every message was
// processed (lost 0), no partition by two members at once (overlap 0), and
// the ZooKeeper offsets are the log end.
func TestMixedGroupRealScala(t *testing.T) {
	cl := shared.Get(t)
	t.Parallel()
	ctx := testCtx(t, 4*time.Minute)
	if _, err := scalapeer.Build(ctx); err != nil {
		t.Fatal(err)
	}
	const parts = 8
	const delay = 2 * time.Millisecond
	// Unique names, so that -count=N runs on one cluster.
	topic := fmt.Sprintf("s8-real-scala-%d", time.Now().UnixNano())
	group := "g-" + topic
	if err := cl.CreateTopic(ctx, topic, parts, 1); err != nil {
		t.Fatal(err)
	}
	produce(t, ctx, topic, parts, 400)
	stopStream := keepProducing(t, cl, topic, parts, 8)
	conn := dialZK(t, ctx)
	var (
		zlog   scenario.Log
		zbs    []*zbMember
		scalas []*scalapeer.Member
		all    []*scalapeer.Member
		steps  []string
	)
	cfg := balanced.Config{Group: group, Topics: []string{topic}, Assignor: partition.ScalaRange,
		Layout: balanced.LayoutScala, Offsets: balanced.OffsetsZooKeeper}
	change := func(what string, begin time.Time) {
		t.Helper()
		waitFor(t, ctx, stepBound, "after "+what, func() error {
			return checkRealScalaGroup(ctx, conn, group, topic, parts, zbs, scalas)
		})
		took := time.Since(begin)
		steps = append(steps, fmt.Sprintf("%s %s", what, took.Round(time.Millisecond)))
		t.Logf("%s: settled in %s", what, took.Round(time.Millisecond))
	}
	joinScala := func(what string, streams int) *scalapeer.Member {
		begin := time.Now()
		m := startScala(t, ctx, group, topic, streams, delay)
		scalas, all = append(scalas, m), append(all, m)
		change(what, begin)
		return m
	}
	joinZB := func(what, name string) *zbMember {
		begin := time.Now()
		m := startZB(t, name, cfg, scenario.Recorder(&zlog, name, delay))
		zbs = append(zbs, m)
		change(what, begin)
		return m
	}
	// resumes: after a Scala member's stop, each partition it held then
	// and committed during that last ownership is next processed by
	// another member from exactly the offset it committed.
	type resume struct {
		who       string
		committed map[int32]int64
		after     time.Time
	}
	var resumes []resume
	leaveScala := func(what string, m *scalapeer.Member) {
		begin := time.Now()
		if err := m.Stop(); err != nil {
			t.Fatal(err)
		}
		resumes = append(resumes, resume{m.ID(), lastCommits(m), begin})
		scalas = slices.DeleteFunc(scalas, func(x *scalapeer.Member) bool { return x == m })
		change(what, begin)
	}
	leaveZB := func(what string, m *zbMember) {
		begin := time.Now()
		if err := m.stop(); err != nil {
			t.Fatal(err)
		}
		zbs = slices.DeleteFunc(zbs, func(x *zbMember) bool { return x == m })
		change(what, begin)
	}

	s1 := joinScala("Scala S1 (2 streams) joined", 2)
	if err := s1.WaitMessages(ctx, 200); err != nil {
		t.Fatal(err)
	}
	a := joinZB("zkbalance A joined", "zA")
	s2 := joinScala("Scala S2 joined", 1)
	joinZB("zkbalance B joined", "zB")
	time.Sleep(time.Second) // all four process the stream
	leaveScala("Scala S1 left", s1)
	leaveZB("zkbalance A left", a)
	time.Sleep(time.Second)
	leaveScala("Scala S2 left", s2)

	stopStream()
	var an scenario.Analysis
	waitFor(t, ctx, time.Minute, "every message processed", func() error {
		var err error
		an, err = analyzeWithScala(ctx, cl, topic, &zlog, all)
		if err != nil {
			return err
		}
		if an.Lost > 0 {
			return fmt.Errorf("%s", an)
		}
		return nil
	})
	if an.Overlaps > 0 {
		t.Fatalf("%s: %s", an, an.FirstOverlap)
	}
	// The next offset processed after each Scala member's stop.
	var recs []scenario.Record
	recs = append(recs, zlog.Records()...)
	for _, m := range all {
		recs = append(recs, scalaRecords(m)...)
	}
	exact, moved := 0, 0
	for _, r := range resumes {
		for p, off := range r.committed {
			first := int64(-1)
			for _, rec := range recs {
				if rec.TP.Partition == p && rec.Member != r.who && !rec.Start.Before(r.after) && (first < 0 || rec.Offset < first) {
					first = rec.Offset
				}
			}
			if first < 0 {
				t.Errorf("partition %d: nothing processed after %s stopped", p, r.who)
				continue
			}
			moved++
			if first != off {
				t.Errorf("partition %d: after a Scala member stopped having committed %d, the next processed offset was %d", p, off, first)
			} else {
				exact++
			}
		}
	}
	end, err := cl.LogEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, 30*time.Second, "offsets committed to ZooKeeper", func() error {
		for p, e := range end {
			data, _, err := conn.Get(ctx, fmt.Sprintf("/consumers/%s/offsets/%s/%d", group, topic, p))
			if err != nil || strings.TrimSpace(string(data)) != strconv.FormatInt(e, 10) {
				return fmt.Errorf("offset of partition %d: %q (%v), want %d", p, data, err, e)
			}
		}
		return nil
	})
	var scalaMsgs, dropped, failed int
	for _, m := range all {
		scalaMsgs += len(m.Messages())
		dropped += len(m.Dropped())
		failed += m.FailedRebalances()
	}
	total := 0
	for _, e := range end {
		total += int(e)
	}
	result(t, "S8 real Scala consumers (Kafka %s ZookeeperConsumerConnector, 2 streams and 1) + zkbalance (scala-range, ZooKeeper offsets), %d partitions, %d messages under a continuous stream (%d by Scala, %d dropped from stale chunks): %d joins/leaves, %d failed Scala rebalance attempts, each settled to scala-range's answer in all members: %s; %s; %d/%d handed-over partitions resumed at the Scala member's committed offset; ZooKeeper offsets = log end",
		scalapeer.KafkaVersion, parts, total, scalaMsgs, dropped, len(steps), failed, strings.Join(steps, ", "), an, exact, moved)
}

// lastCommits are the offsets m committed, after its last owned event, of
// the partitions it owned then: what the next owner must resume from.
func lastCommits(m *scalapeer.Member) map[int32]int64 {
	evs := m.Events()
	last := -1
	for i, e := range evs {
		if e.Kind == scalapeer.KindOwned {
			last = i
		}
	}
	out := map[int32]int64{}
	if last < 0 {
		return out
	}
	for _, e := range evs[last+1:] {
		if e.Kind == scalapeer.KindCommit {
			for tp, o := range e.Commits {
				if slices.Contains(evs[last].Partitions, tp) {
					out[tp.Partition] = o
				}
			}
		}
	}
	return out
}

// scalaRecords are m's processed messages as processing-log records.
func scalaRecords(m *scalapeer.Member) []scenario.Record {
	var out []scenario.Record
	for _, e := range m.Messages() {
		out = append(out, scenario.Record{Member: m.ID(), TP: balanced.TopicPartition{Topic: e.Topic, Partition: e.Partition},
			Offset: e.Offset, Start: e.Start, End: e.End})
	}
	return out
}

// analyzeWithScala is analyze with the Scala members' messages (their own
// processing windows) added to the zkbalance members' log.
func analyzeWithScala(ctx context.Context, cl *cluster.Cluster, topic string, zlog *scenario.Log, scalas []*scalapeer.Member) (scenario.Analysis, error) {
	end, err := cl.LogEndOffsets(ctx, topic)
	if err != nil {
		return scenario.Analysis{}, err
	}
	produced := map[balanced.TopicPartition]int64{}
	for p, o := range end {
		produced[balanced.TopicPartition{Topic: topic, Partition: p}] = o
	}
	var l scenario.Log
	for _, r := range zlog.Records() {
		l.Add(r)
	}
	for _, m := range scalas {
		for _, r := range scalaRecords(m) {
			l.Add(r)
		}
	}
	return l.Analyze(produced), nil
}
