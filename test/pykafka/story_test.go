package pykafka_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/zkbalance/zkbalance/balanced"
	"github.com/zkbalance/zkbalance/groupstate"
	"github.com/zkbalance/zkbalance/internal/javapeer"
	"github.com/zkbalance/zkbalance/internal/pykafka"
	"github.com/zkbalance/zkbalance/internal/zkformat"
	"github.com/zkbalance/zkbalance/scenario"
	"github.com/zkbalance/zkbalance/zkwatch"
)

// TestWholeStoryPykafkaToJava is issue 13's whole story, "leave ZooKeeper
// live", on a pykafka group, with a stream of messages produced the whole
// time:
//
//  1. three real pykafka 2.8 BalancedConsumers (as on Python 3, with a
//     consumer_timeout so that pykafka's blocked rebalance cannot stall
//     them) consume the group;
//  2. two zkbalance members in follow mode with the pykafka layout join
//     (pykafka-range converges over all five);
//  3. the pykafka members are stopped one by one; while any is
//     registered, 'coordination' shows it unable to follow (the zkbalance
//     members able) and the switch to kafka is refused naming it;
//  4. with only zkbalance members left the mode znode is toggled to kafka
//     (groupstate.SetCoordination, as 'zkbalance coordination --apply'):
//     both deregister and join the Kafka group; their owner znodes stay in
//     the pykafka layout (<leader>-<p> under owners/<t> and owners/b'<t>');
//  5. a Java KafkaConsumer (range) joins the Kafka group and gets a share;
//  6. the zkbalance members leave one by one; the Java member ends with
//     every partition and catches up, and the group's Kafka offsets are the
//     log end.
//
// From start to end: every message produced is processed (lost 0), no
// partition is processed by two members at overlapping times (overlap 0;
// pykafka messages count at the moment their line was read), and the
// duplicates are counted, each attributed to the hand-off it came from.
func TestWholeStoryPykafkaToJava(t *testing.T) {
	cl := shared.Get(t)
	t.Parallel()
	python := venv(t, pykafka.V28)
	ctx := testCtx(t, 12*time.Minute)
	const parts = 6
	topic, group := "story", "g-story"
	if err := cl.CreateTopic(ctx, topic, parts, 1); err != nil {
		t.Fatal(err)
	}
	conn := dialZK(t, ctx)
	kc := storyClient(t)
	began := time.Now()
	var timeline []string
	mark := func(format string, args ...any) {
		s := fmt.Sprintf("%6.1fs ", time.Since(began).Seconds()) + fmt.Sprintf(format, args...)
		timeline = append(timeline, s)
		t.Log(s)
	}
	stream := cl.StartStream(topic, parts, 12, 100*time.Millisecond) // 120 messages/s
	// dwell is how long each stage runs under the stream before the next.
	const dwell = 3 * time.Second
	t.Cleanup(func() { _, _ = stream.Stop() })

	// 1. The pykafka group.
	var (
		zlog scenario.Log
		live []member
		pys  []*pykafka.Member
	)
	converged := func(what string) {
		t.Helper()
		took := waitFor(t, ctx, 90*time.Second, what, func() error {
			return checkPykafkaGroup(ctx, conn, group, topic, parts, live)
		})
		mark("%s: pykafka-range over %d members in %s", what, len(live), took.Round(time.Millisecond))
	}
	for _, name := range []string{"py1", "py2", "py3"} {
		m := start(t, ctx, python, pykafka.MemberArgs{Topic: topic, Group: group, Name: name, Delay: 2 * time.Millisecond})
		pys = append(pys, m)
		live = append(live, pyMember{m})
	}
	converged("3 pykafka members")
	time.Sleep(dwell)

	// 2. zkbalance follow members, pykafka layout.
	cfg := balanced.Config{Group: group, Topics: []string{topic}, Layout: balanced.LayoutPykafka,
		Coordination: balanced.CoordinationFollow, CommitInterval: 200 * time.Millisecond}
	var zbs []*zbMember
	for _, name := range []string{"z1", "z2"} {
		m := startZB(t, name, cfg, scenario.Recorder(&zlog, name, 2*time.Millisecond))
		zbs = append(zbs, m)
		live = append(live, m)
	}
	converged("2 zkbalance follow members joined")
	time.Sleep(dwell)

	// 3. The pykafka members leave; the switch is refused while one is registered.
	refused := 0
	for _, p := range pys {
		checkFollowers(t, ctx, conn, kc, group, zbs, live)
		_, err := groupstate.SetCoordination(ctx, conn, kc, group, groupstate.ModeKafka, false, nil)
		if !errors.Is(err, groupstate.ErrCannotFollow) || !strings.Contains(err.Error(), "member "+p.ID()+" cannot follow (pykafka member") {
			t.Fatalf("switch to kafka with %s registered: %v", p, err)
		}
		refused++
		checkErrors(t, p) // before the stop, whose own exceptions are no failure
		if err := p.Stop(); err != nil {
			t.Fatal(err)
		}
		live = slices.DeleteFunc(live, func(m member) bool { return m.ID() == p.ID() })
		converged(p.String() + " stopped")
		time.Sleep(dwell)
	}
	mark("switch to kafka refused %d times, each naming a registered pykafka member", refused)

	// 4. Toggle to kafka.
	toggled := time.Now()
	plan, err := groupstate.SetCoordination(ctx, conn, kc, group, groupstate.ModeKafka, false, nil)
	if err != nil {
		t.Fatalf("switch to kafka with only followers left: %v", err)
	}
	t.Logf("plan:\n  %s", strings.Join(plan.Steps, "\n  "))
	took := waitFor(t, ctx, 90*time.Second, "switched to kafka", func() error {
		return storySplit(ctx, conn, group, topic, parts, zbs, nil, true)
	})
	mark("toggled to kafka: both zkbalance members in the Kafka group, owning all %d partitions in the pykafka layout, in %s (%s)", parts, took.Round(time.Millisecond), ownedText(zbs, nil))
	switchTook := time.Since(toggled)
	time.Sleep(dwell)

	// 5. A Java KafkaConsumer joins.
	j, err := javapeer.Start(ctx, javapeer.Args{Bootstrap: cl.BrokerAddrs(), Group: group, Topics: []string{topic},
		Strategy: javapeer.Range, Delay: time.Millisecond, ID: "java-story"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = j.Kill()
		if t.Failed() {
			t.Logf("%s stderr tail:\n%s", j, j.Stderr(60))
		}
	})
	took = waitFor(t, ctx, 90*time.Second, "java joined", func() error {
		if len(j.Owned()) == 0 {
			return errors.New("the java member owns nothing")
		}
		return storySplit(ctx, conn, group, topic, parts, zbs, j, true)
	})
	mark("java member joined: split in %s (%s)", took.Round(time.Millisecond), ownedText(zbs, j))
	time.Sleep(dwell)

	// 6. The zkbalance members leave one by one.
	for len(zbs) > 0 {
		z := zbs[0]
		if err := z.stop(); err != nil {
			t.Fatal(err)
		}
		zbs = zbs[1:]
		took = waitFor(t, ctx, 90*time.Second, z.name+" left", func() error {
			return storySplit(ctx, conn, group, topic, parts, zbs, j, false)
		})
		mark("zkbalance %s left: split in %s (%s)", z.name, took.Round(time.Millisecond), ownedText(zbs, j))
		time.Sleep(dwell)
	}
	if got := len(j.Owned()); got != parts {
		t.Fatalf("the java member owns %d partitions, want %d", got, parts)
	}
	if ids, err := readIDs(ctx, conn, group); err != nil || len(ids) != 0 {
		t.Errorf("registrations left: %v (%v)", ids, err)
	}
	if o, err := readOwners(ctx, conn, group, topic); err != nil || len(o) != 0 {
		t.Errorf("owner znodes left: %v (%v)", o, err)
	}

	// The end: the stream stops, the Java member catches up.
	ends, err := stream.Stop()
	if err != nil {
		t.Fatalf("stream: %v", err)
	}
	produced := 0
	for _, o := range ends {
		produced += int(o)
	}
	mark("stream stopped: %d messages produced in %s", produced, time.Since(began).Round(time.Second))
	all := func() *scenario.Log { return processingLog(&zlog, pys, j) }
	var an scenario.Analysis
	took = waitFor(t, ctx, 2*time.Minute, "the java member caught up", func() error {
		if an, err = analyzeAll(ctx, cl, topic, all()); err != nil {
			return err
		}
		if an.Lost > 0 {
			return fmt.Errorf("%s", an)
		}
		return nil
	})
	waitCommitted(t, ctx, group, topic, parts)
	mark("java caught up in %s; the group's Kafka offsets are the log end", took.Round(time.Millisecond))
	if err := j.Stop(); err != nil {
		t.Fatalf("java member: %v", err)
	}
	an, err = analyzeAll(ctx, cl, topic, all())
	if err != nil {
		t.Fatal(err)
	}
	if errs := j.Errors(); len(errs) > 0 {
		t.Errorf("java member errors: %v", errs)
	}
	checkErrors(t, pys...)

	by := processedBy(all(), pys, j)
	t.Logf("timeline:\n  %s", strings.Join(timeline, "\n  "))
	result(t, "whole story, pykafka %s x3 -> zkbalance follow (pykafka layout) x2 -> toggle to kafka -> Java KafkaConsumer, %d partitions, stream the whole time: %d messages in %s; processed by %s; %s; duplicates by hand-off: %s; switch to kafka %s; pykafka errors %s (claim retries it logged: %d)",
		pykafka.V28, parts, produced, time.Since(began).Round(time.Second), by, an, dupHandoffs(all(), pys, j),
		switchTook.Round(time.Millisecond), formatCounts(errorCounts(pys...)), claimRetries(pys...))
	if an.Lost != 0 || an.Overlaps != 0 {
		t.Fatalf("%s (%s)", an, an.FirstOverlap)
	}
}

// storyClient is a Kafka client for groupstate, closed when the test ends.
func storyClient(t *testing.T) sarama.Client {
	t.Helper()
	sc := sarama.NewConfig()
	sc.Version = sarama.V2_1_0_0
	client, err := sarama.NewClient(shared.Get(t).BrokerAddrs(), sc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close() })
	return client
}

// checkFollowers fails unless 'coordination' (groupstate.ReadCoordination)
// shows every zkbalance member as a follower in zookeeper mode able to
// follow, and every other registered member (pykafka) as unable, as
// pykafka.
func checkFollowers(t *testing.T, ctx context.Context, conn *zkwatch.Conn, kc sarama.Client, group string, zbs []*zbMember, live []member) {
	t.Helper()
	c, err := groupstate.ReadCoordination(ctx, conn, kc, group)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]groupstate.CoordinationMember{}
	for _, m := range c.Members {
		byID[m.ID] = m
	}
	for _, m := range live {
		cm, ok := byID[m.ID()]
		_, zb := m.(*zbMember)
		switch {
		case !ok:
			t.Errorf("coordination does not list %s: %+v", m, c.Members)
		case zb && (!cm.CanFollow || !cm.Follower || cm.Mode != groupstate.ModeZooKeeper || cm.Layout != groupstate.LayoutPykafka):
			t.Errorf("%s: %+v, want a pykafka-layout follower in zookeeper mode", m, cm)
		case !zb && (cm.CanFollow || cm.Follower || cm.Layout != groupstate.LayoutPykafka || !strings.Contains(cm.Reason, "pykafka member")):
			t.Errorf("%s: %+v, want a pykafka member unable to follow", m, cm)
		}
	}
	if len(c.Members) != len(live) {
		t.Errorf("coordination lists %d members, want %d: %+v", len(c.Members), len(live), c.Members)
	}
}

// storySplit is nil once the zkbalance members (in kafka mode: follower
// znode "kafka" with a Kafka member id, no /ids registration) and the Java
// member j (nil: none) own every partition exactly once between them, and
// every partition a zkbalance member owns has its pykafka-layout owner
// znodes (<leader>-<p> under owners/<t> and owners/b'<t>', holding its
// member id) while the Java member's have none. With exact, each zkbalance
// member must own something.
func storySplit(ctx context.Context, conn *zkwatch.Conn, group, topic string, n int32, zbs []*zbMember, j *javapeer.Member, exact bool) error {
	owner := map[int32]string{}
	take := func(p int32, who string) error {
		if prev, ok := owner[p]; ok {
			return fmt.Errorf("partition %d owned by %s and %s", p, prev, who)
		}
		owner[p] = who
		return nil
	}
	for _, z := range zbs {
		if err := z.exited(); err != nil {
			return err
		}
		data, _, err := conn.Get(ctx, zkformat.FollowerPath(group, z.ID()))
		if err != nil {
			return fmt.Errorf("%s: follower znode: %w", z, err)
		}
		mode, kid, err := zkformat.ParseFollower(data)
		if err != nil || mode != zkformat.ModeKafka || kid == "" {
			return fmt.Errorf("%s: follower znode %s, want kafka mode with a kafka member id", z, data)
		}
		ps, _ := z.parts()
		if exact && len(ps) == 0 {
			return fmt.Errorf("%s owns nothing", z)
		}
		for _, p := range ps {
			if err := take(p, z.ID()); err != nil {
				return err
			}
		}
	}
	if j != nil {
		if j.Exited() {
			return fmt.Errorf("%s exited: %v", j, j.ExitErr())
		}
		for _, tp := range j.Owned() {
			if err := take(tp.Partition, "java"); err != nil {
				return err
			}
		}
	}
	if len(owner) != int(n) {
		return fmt.Errorf("%d of %d partitions owned: %v", len(owner), n, owner)
	}
	ids, err := readIDs(ctx, conn, group)
	if err != nil {
		return err
	}
	if len(ids) != 0 {
		return fmt.Errorf("registered in zookeeper mode: %v", slices.Sorted(maps.Keys(ids)))
	}
	leaders, err := leadersOf(ctx, conn, topic)
	if err != nil {
		return err
	}
	zs, err := readOwners(ctx, conn, group, topic)
	if err != nil {
		return err
	}
	for p := range n {
		got := zs[p]
		if owner[p] == "java" {
			if len(got) != 0 {
				return fmt.Errorf("partition %d, owned by the java member: owner znodes %v", p, got)
			}
			continue
		}
		name := fmt.Sprintf("%d-%d", leaders[p], p)
		want := []ownerZnode{{Dir: "b'" + topic + "'", Name: name, Holder: owner[p]}, {Dir: topic, Name: name, Holder: owner[p]}}
		sort.Slice(got, func(a, b int) bool { return got[a].Dir < got[b].Dir }) // "b'<t>'" sorts first
		if !slices.Equal(got, want) {
			return fmt.Errorf("partition %d: owner znodes %v, want %v", p, got, want)
		}
	}
	return nil
}

// ownedText lists who owns what, for the timeline.
func ownedText(zbs []*zbMember, j *javapeer.Member) string {
	var s []string
	for _, z := range zbs {
		ps, _ := z.parts()
		s = append(s, fmt.Sprintf("%s %v", z.name, ps))
	}
	if j != nil {
		var ps []int32
		for _, tp := range j.Owned() {
			ps = append(ps, tp.Partition)
		}
		slices.Sort(ps)
		s = append(s, fmt.Sprintf("java %v", ps))
	}
	return strings.Join(s, ", ")
}

// memberNames maps the log's member names to short ones: pykafka ids to
// their labels (the zkbalance members log under their names already).
func memberNames(pys []*pykafka.Member, j *javapeer.Member) map[string]string {
	names := map[string]string{"java:" + j.ID(): "java"}
	for _, p := range pys {
		names[p.ID()] = p.Name()
	}
	return names
}

// processedBy counts the processings per member: "java=300 py1=120 ...".
func processedBy(log *scenario.Log, pys []*pykafka.Member, j *javapeer.Member) string {
	names := memberNames(pys, j)
	c := map[string]int{}
	for _, r := range log.Records() {
		n := names[r.Member]
		if n == "" {
			n = r.Member
		}
		c[n]++
	}
	return formatCounts(c)
}

// dupHandoffs attributes every duplicate processing to the members that
// processed the offset, in order: "py1->z1=3 z2->java=1", or "none".
func dupHandoffs(log *scenario.Log, pys []*pykafka.Member, j *javapeer.Member) string {
	names := memberNames(pys, j)
	type key struct {
		tp  balanced.TopicPartition
		off int64
	}
	seen := map[key][]scenario.Record{}
	for _, r := range log.Records() {
		k := key{r.TP, r.Offset}
		seen[k] = append(seen[k], r)
	}
	c := map[string]int{}
	for _, rs := range seen {
		if len(rs) < 2 {
			continue
		}
		sort.Slice(rs, func(a, b int) bool { return rs[a].Start.Before(rs[b].Start) })
		var who []string
		for _, r := range rs {
			n := names[r.Member]
			if n == "" {
				n = r.Member
			}
			who = append(who, n)
		}
		c[strings.Join(who, "->")] += len(rs) - 1
	}
	return formatCounts(c)
}
