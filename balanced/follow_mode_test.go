package balanced_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/zkbalance/zkbalance/balanced"
	"github.com/zkbalance/zkbalance/groupstate"
	"github.com/zkbalance/zkbalance/internal/cluster"
	"github.com/zkbalance/zkbalance/internal/javapeer"
	"github.com/zkbalance/zkbalance/internal/proxy"
	"github.com/zkbalance/zkbalance/internal/zkformat"
	"github.com/zkbalance/zkbalance/scenario"
	"github.com/zkbalance/zkbalance/zkwatch"
)

// followConfig is a follow-mode member's config.
func followConfig(group, topic string) balanced.Config {
	return balanced.Config{Group: group, Topics: []string{topic}, Coordination: balanced.CoordinationFollow,
		CommitInterval: 200 * time.Millisecond}
}

// setMode writes the group's mode znode, as 'zkbalance coordination
// --apply' does.
func setMode(t testing.TB, group, mode string) {
	t.Helper()
	ctx := testCtx(t, 20*time.Second)
	conn := zkConn(t)
	p, data := zkformat.CoordinationPath(group), zkformat.EncodeMode(mode)
	if _, err := conn.Create(ctx, p, data, 0, nil); errors.Is(err, zkwatch.ErrNodeExists) {
		_, err = conn.Set(ctx, p, data, -1)
		if err != nil {
			t.Fatal(err)
		}
	} else if err != nil {
		t.Fatal(err)
	}
}

// followersIn is "" when every member's follower znode names mode and
// its /ids registration matches it (present in zookeeper mode only).
func followersIn(t testing.TB, group, mode string, members ...*member) string {
	ctx := testCtx(t, 20*time.Second)
	conn := zkConn(t)
	for _, m := range members {
		data, _, err := conn.Get(ctx, zkformat.FollowerPath(group, m.c.MemberID()))
		if err != nil {
			return fmt.Sprintf("%s: follower znode: %v", m.name, err)
		}
		if got, err := zkformat.ParseMode(data); err != nil || got != mode {
			return fmt.Sprintf("%s: follower znode %s", m.name, data)
		}
		ok, _, err := conn.Exists(ctx, "/consumers/"+group+"/ids/"+m.c.MemberID())
		if err != nil {
			return err.Error()
		}
		if ok != (mode == zkformat.ModeZooKeeper) {
			return fmt.Sprintf("%s: registered %v in %s mode", m.name, ok, mode)
		}
	}
	return ""
}

// waitSwitched waits until every member is in mode and the partitions are
// split among them (each processed by the holder of its owner znode).
func waitSwitched(t testing.TB, d time.Duration, group, topic, mode string, parts int32, java func() []javapeer.TopicPartition, members ...*member) time.Duration {
	t.Helper()
	t0 := time.Now()
	deadline := t0.Add(d)
	var last string
	for time.Now().Before(deadline) {
		if last = followersIn(t, group, mode, members...); last == "" {
			if last = kafkaSplit(t, group, topic, parts, java, members...); last == "" {
				return time.Since(t0)
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("not switched to %s within %s: %s", mode, d, last)
	return 0
}

// groupClient is a Kafka client for groupstate.
func groupClient(t testing.TB) sarama.Client {
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

// checkZKCommitted fails unless the ZooKeeper-stored offsets equal produced.
func checkZKCommitted(t testing.TB, group string, produced map[balanced.TopicPartition]int64) {
	t.Helper()
	ctx := testCtx(t, 20*time.Second)
	conn := zkConn(t)
	for tp, n := range produced {
		data, _, err := conn.Get(ctx, offsetPath(group, tp.Topic, tp.Partition))
		if err != nil || string(data) != fmt.Sprint(n) {
			t.Errorf("%s: zookeeper offset %q (%v), log end %d", tp, data, err, n)
		}
	}
}

// Three follow-mode members in zookeeper mode are switched to Kafka's
// group coordinator and back while messages flow: every message is
// processed, no partition by two members at overlapping times, and both
// offset stores end at the log end.
func TestFollowSwitchToKafkaAndBack(t *testing.T) {
	cl := shared.Get(t)
	ctx := testCtx(t, 5*time.Minute)
	topic, group := uniq(t, "fw"), uniq(t, "g-fw")
	const parts = 6
	if err := cl.CreateTopic(ctx, topic, parts, 1); err != nil {
		t.Fatal(err)
	}
	var log plog
	cfg := followConfig(group, topic)
	a := startMember(t, "A", cfg, recorder(&log, "A", time.Millisecond))
	b := startMember(t, "B", cfg, recorder(&log, "B", time.Millisecond))
	c := startMember(t, "C", cfg, recorder(&log, "C", time.Millisecond))
	waitSwitched(t, 60*time.Second, group, topic, zkformat.ModeZooKeeper, parts, nil, a, b, c)
	stopStream := stream(t, topic, parts, 30)
	time.Sleep(2 * time.Second)

	setMode(t, group, zkformat.ModeKafka)
	d := waitSwitched(t, 90*time.Second, group, topic, zkformat.ModeKafka, parts, nil, a, b, c)
	t.Logf("switched to kafka in %s: A %v, B %v, C %v", d.Round(time.Millisecond), a.c.Owned(), b.c.Owned(), c.c.Owned())
	time.Sleep(2 * time.Second)

	setMode(t, group, zkformat.ModeZooKeeper)
	d = waitSwitched(t, 90*time.Second, group, topic, zkformat.ModeZooKeeper, parts, nil, a, b, c)
	t.Logf("switched back to zookeeper in %s: A %v, B %v, C %v", d.Round(time.Millisecond), a.c.Owned(), b.c.Owned(), c.c.Owned())
	time.Sleep(2 * time.Second)

	produced := stopStream()
	finishFollow(t, &log, produced, group, topic, parts, "across two switches", a, b, c)
	if o := ownership(t, group, topic); len(o) != 0 {
		t.Errorf("owner znodes left after every member left: %v", o)
	}
}

// After a switch to kafka, a Java KafkaConsumer (range) joins the group and
// shares the partitions with the follow-mode members; the switch back to
// zookeeper is refused while it is in the group (it cannot follow), and
// done once it left: nothing is lost and no partition is processed by two
// members at overlapping times.
func TestFollowKafkaJavaPeer(t *testing.T) {
	cl := shared.Get(t)
	ctx := testCtx(t, 5*time.Minute)
	topic, group := uniq(t, "fj"), uniq(t, "g-fj")
	const parts = 6
	if err := cl.CreateTopic(ctx, topic, parts, 1); err != nil {
		t.Fatal(err)
	}
	var log plog
	cfg := followConfig(group, topic)
	a := startMember(t, "A", cfg, recorder(&log, "A", time.Millisecond))
	b := startMember(t, "B", cfg, recorder(&log, "B", time.Millisecond))
	waitSwitched(t, 60*time.Second, group, topic, zkformat.ModeZooKeeper, parts, nil, a, b)
	stopStream := stream(t, topic, parts, 30)
	time.Sleep(time.Second)
	setMode(t, group, zkformat.ModeKafka)
	waitSwitched(t, 90*time.Second, group, topic, zkformat.ModeKafka, parts, nil, a, b)
	time.Sleep(time.Second)

	j, err := javapeer.Start(ctx, javapeer.Args{Bootstrap: cl.BrokerAddrs(), Group: group, Topics: []string{topic},
		Strategy: javapeer.Range, Delay: time.Millisecond, ID: "java-follow"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = j.Kill() })
	t0 := time.Now()
	waitKafkaSplit(t, 60*time.Second, group, topic, parts, j.Owned, a, b)
	t.Logf("java joined: split in %s: A %v, B %v, java %v", time.Since(t0).Round(time.Millisecond), a.c.Owned(), b.c.Owned(), j.Owned())

	// The way back to zookeeper is refused while the Java member, which
	// cannot follow, is in the Kafka group; the followers are told apart
	// by the Kafka member ids in their follower znodes.
	kc := groupClient(t)
	_, err = groupstate.SetCoordination(ctx, zkConn(t), kc, group, groupstate.ModeZooKeeper, false, nil)
	if !errors.Is(err, groupstate.ErrCannotFollow) || !strings.Contains(err.Error(), `client id "java-follow"`) {
		t.Fatalf("switch back with the java member in the group: %v", err)
	}
	t.Logf("refused: %v", err)
	time.Sleep(2 * time.Second)
	if err := j.Stop(); err != nil {
		t.Fatalf("java member: %v\n%s", err, j.Stderr(40))
	}
	waitKafkaSplit(t, 30*time.Second, group, topic, parts, nil, a, b)
	if _, err := groupstate.SetCoordination(ctx, zkConn(t), kc, group, groupstate.ModeZooKeeper, false, nil); err != nil {
		t.Fatalf("switch back after the java member left: %v", err)
	}
	waitSwitched(t, 90*time.Second, group, topic, zkformat.ModeZooKeeper, parts, nil, a, b)
	produced := stopStream()
	waitWithJava(&log, j, total(produced), 2*time.Minute)
	a.Stop(t)
	b.Stop(t)
	an := withJava(&log, j).Analyze(produced)
	t.Logf("produced %d; follow members processed %d, java %d; %s", total(produced), len(log.Records()), len(j.Messages()), an)
	javaVerdict(t, an, j)
	checkCommitted(t, group, topic, parts, produced)
}

// finishFollow waits (at most 2 minutes) until every produced message was
// processed, stops the members, and fails t unless nothing was lost, no
// partition was processed by two members at overlapping times, and both
// offset stores (Kafka and ZooKeeper) hold the log end; in the pykafka
// layout (of the first member), Kafka holds it, no offset znode exists and
// nothing was processed twice. what names the run in the log.
func finishFollow(t *testing.T, log *plog, produced map[balanced.TopicPartition]int64, group, topic string, parts int32, what string, members ...*member) {
	t.Helper()
	waitProcessed(t, log, total(produced), 2*time.Minute)
	for _, m := range members {
		m.Stop(t)
	}
	an := log.Analyze(produced)
	t.Logf("produced %d %s: %s", total(produced), what, an)
	if an.Lost != 0 || an.Overlaps != 0 {
		t.Fatalf("%s (%s)", an, an.FirstOverlap)
	}
	checkCommitted(t, group, topic, parts, produced)
	if len(members) > 0 && members[0].layout == balanced.LayoutPykafka {
		// Offsets in Kafka only; and with the switches waiting at the
		// border no commit is refused, so nothing is processed twice.
		if ok, _, err := zkConn(t).Exists(testCtx(t, 20*time.Second), "/consumers/"+group+"/offsets"); err != nil || ok {
			t.Errorf("/consumers/%s/offsets exists (%v): the pykafka layout keeps offsets in Kafka only", group, err)
		}
		if an.Duplicates != 0 {
			t.Errorf("pykafka layout: %d duplicates (a final commit refused at a switch?)", an.Duplicates)
		}
		return
	}
	checkZKCommitted(t, group, produced)
}

// A member whose handler finishes its in-flight message for 600ms after
// its context is cancelled (a slow revoke) is switched with two others,
// to kafka and back, while messages flow: the others see the toggle at
// once, and their claims of its partitions wait until it has released
// them. No partition is processed by two members at overlapping times,
// nothing is lost.
func TestFollowSwitchWithSlowRevoke(t *testing.T) {
	for _, layout := range []balanced.Layout{balanced.LayoutScala, balanced.LayoutPykafka} {
		t.Run(string(layout), func(t *testing.T) { testFollowSwitchWithSlowRevoke(t, layout) })
	}
}

func testFollowSwitchWithSlowRevoke(t *testing.T, layout balanced.Layout) {
	cl := shared.Get(t)
	ctx := testCtx(t, 5*time.Minute)
	topic, group := uniq(t, "fs"), uniq(t, "g-fs")
	const parts = 6
	if err := cl.CreateTopic(ctx, topic, parts, 1); err != nil {
		t.Fatal(err)
	}
	var log plog
	var late atomic.Int64 // A's messages finished after their context was cancelled
	slow := balanced.EachMessage(func(ctx context.Context, m *balanced.Message) error {
		start := time.Now()
		select {
		case <-ctx.Done():
			time.Sleep(600 * time.Millisecond) // finishes the message anyway
			late.Add(1)
		case <-time.After(30 * time.Millisecond): // slower than the stream: always busy
		}
		log.Add(scenario.Record{Member: "A", TP: balanced.TopicPartition{Topic: m.Topic, Partition: m.Partition},
			Offset: m.Offset, Start: start, End: time.Now()})
		return nil
	})
	cfg := followConfig(group, topic)
	cfg.Layout = layout
	a := startMember(t, "A", cfg, slow)
	b := startMember(t, "B", cfg, recorder(&log, "B", time.Millisecond))
	c := startMember(t, "C", cfg, recorder(&log, "C", time.Millisecond))
	waitSwitched(t, 60*time.Second, group, topic, zkformat.ModeZooKeeper, parts, nil, a, b, c)
	stopStream := stream(t, topic, parts, 30)
	time.Sleep(2 * time.Second)
	for _, mode := range []string{zkformat.ModeKafka, zkformat.ModeZooKeeper} {
		before := late.Load()
		setMode(t, group, mode)
		d := waitSwitched(t, 90*time.Second, group, topic, mode, parts, nil, a, b, c)
		t.Logf("switched to %s in %s (A finished %d message(s) after its revoke): A %v, B %v, C %v",
			mode, d.Round(time.Millisecond), late.Load()-before, a.c.Owned(), b.c.Owned(), c.c.Owned())
		time.Sleep(2 * time.Second)
	}
	produced := stopStream()
	finishFollow(t, &log, produced, group, topic, parts, fmt.Sprintf("across two switches, A's revokes slow (%d late message(s))", late.Load()), a, b, c)
	if late.Load() == 0 {
		t.Error("A was never revoked inside a message: the slow revoke was not exercised")
	}
}

// A mode znode that cannot be parsed is reported through Hooks.OnError and
// ignored: the member stays in its mode, and switches once the znode is
// valid.
func TestFollowMalformedModeZnode(t *testing.T) {
	cl := shared.Get(t)
	ctx := testCtx(t, 3*time.Minute)
	topic, group := uniq(t, "fm"), uniq(t, "g-fm")
	const parts = 2
	if err := cl.CreateTopic(ctx, topic, parts, 1); err != nil {
		t.Fatal(err)
	}
	var log plog
	reported := make(chan error, 16)
	cfg := followConfig(group, topic)
	cfg.Hooks.OnError = func(_ context.Context, err error) {
		select {
		case reported <- err:
		default:
		}
	}
	a := startMember(t, "A", cfg, recorder(&log, "A", time.Millisecond))
	waitSwitched(t, 60*time.Second, group, topic, zkformat.ModeZooKeeper, parts, nil, a)
	conn := zkConn(t)
	if _, err := conn.Create(ctx, zkformat.CoordinationPath(group), []byte("kafka"), 0, nil); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-reported:
		if !strings.Contains(err.Error(), zkformat.CoordinationPath(group)) {
			t.Errorf("reported %v, want the mode znode named", err)
		}
		t.Logf("reported: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("a malformed mode znode was not reported")
	}
	time.Sleep(time.Second)
	if s := followersIn(t, group, zkformat.ModeZooKeeper, a); s != "" {
		t.Fatalf("left zookeeper mode on a malformed mode znode: %s", s)
	}
	setMode(t, group, zkformat.ModeKafka)
	waitSwitched(t, 60*time.Second, group, topic, zkformat.ModeKafka, parts, nil, a)
}

// A follow member's ZooKeeper session expires right after the toggle to
// kafka (while the members switch): it stops its handlers (nothing
// committed for them), opens a new session, reads the mode again and joins
// the Kafka group; after the switch back nothing is lost and no partition
// was processed by two members at overlapping times.
//
// The expiry is as a server's (as in TestS4SessionExpiry): ZooKeeper goes
// silent for A (its proxy holds everything) for longer than A's silence
// limit, so A has stopped its handlers, and only then is the session
// closed. (Closed while A still heard from the server, its znodes would be
// gone while its handlers run until it reconnects and learns of it, which
// no server does; and A's reconnect could take the session back from the
// closing connection.)
func TestFollowSessionExpiresDuringSwitch(t *testing.T) {
	cl := shared.Get(t)
	ctx := testCtx(t, 5*time.Minute)
	topic, group := uniq(t, "fe"), uniq(t, "g-fe")
	const parts = 6
	if err := cl.CreateTopic(ctx, topic, parts, 1); err != nil {
		t.Fatal(err)
	}
	var log plog
	var capture cluster.SessionCapture
	px, err := proxy.New(ctx, cl.ZooKeeperAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer px.Close()
	cfg := followConfig(group, topic)
	acfg := cfg
	acfg.ZooKeeper = px.Addr()
	acfg.ZooKeeperDialer = capture.Dialer
	a := startMember(t, "A", acfg, recorder(&log, "A", 5*time.Millisecond))
	b := startMember(t, "B", cfg, recorder(&log, "B", 5*time.Millisecond))
	c := startMember(t, "C", cfg, recorder(&log, "C", 5*time.Millisecond))
	waitSwitched(t, 60*time.Second, group, topic, zkformat.ModeZooKeeper, parts, nil, a, b, c)
	stopStream := stream(t, topic, parts, 30)
	time.Sleep(2 * time.Second)

	id, pw := capture.Credentials()
	setMode(t, group, zkformat.ModeKafka)
	time.Sleep(100 * time.Millisecond)
	px.Pause() // A stops its handlers after 3 s (half its 6 s session) of silence
	time.Sleep(3500 * time.Millisecond)
	if err := cl.ExpireSession(ctx, id, pw); err != nil {
		t.Fatal(err)
	}
	px.Resume()
	d := waitSwitched(t, 90*time.Second, group, topic, zkformat.ModeKafka, parts, nil, a, b, c)
	if nid, _ := capture.Credentials(); nid == id {
		t.Fatal("A still has the session that was expired")
	}
	t.Logf("switched to kafka with A's session expired in %s: A %v, B %v, C %v", d.Round(time.Millisecond), a.c.Owned(), b.c.Owned(), c.c.Owned())
	time.Sleep(2 * time.Second)
	setMode(t, group, zkformat.ModeZooKeeper)
	waitSwitched(t, 90*time.Second, group, topic, zkformat.ModeZooKeeper, parts, nil, a, b, c)
	time.Sleep(time.Second)

	produced := stopStream()
	finishFollow(t, &log, produced, group, topic, parts, "across the switches and the expiry", a, b, c)
}

// The upgrade story of a group with offsets in ZooKeeper: a zookeeper-mode
// member (ZooKeeper offsets only) and a follow member share the group; the
// switch is refused while the first is registered; it is replaced by a
// second follow member (a rolling restart), and the group is switched to
// kafka: the ZooKeeper offsets carry over, nothing is lost, no partition
// is processed twice at once, and Kafka's committed offsets end at the log
// end.
func TestFollowUpgradeFromZooKeeperOffsets(t *testing.T) {
	cl := shared.Get(t)
	ctx := testCtx(t, 5*time.Minute)
	topic, group := uniq(t, "fu"), uniq(t, "g-fu")
	const parts = 6
	if err := cl.CreateTopic(ctx, topic, parts, 1); err != nil {
		t.Fatal(err)
	}
	var log plog
	legacy := balanced.Config{Group: group, Topics: []string{topic}, Offsets: balanced.OffsetsZooKeeper, CommitInterval: 200 * time.Millisecond}
	l := startMember(t, "L", legacy, recorder(&log, "L", time.Millisecond))
	f1 := startMember(t, "F1", followConfig(group, topic), recorder(&log, "F1", time.Millisecond))
	waitKafkaSplit(t, 60*time.Second, group, topic, parts, nil, l, f1)
	stopStream := stream(t, topic, parts, 30)
	time.Sleep(2 * time.Second)

	kc := groupClient(t)
	_, err := groupstate.SetCoordination(ctx, zkConn(t), kc, group, groupstate.ModeKafka, false, nil)
	if !errors.Is(err, groupstate.ErrCannotFollow) || !strings.Contains(err.Error(), l.c.MemberID()) {
		t.Fatalf("switch with a zookeeper-mode member registered: %v", err)
	}
	l.Stop(t)
	f2 := startMember(t, "F2", followConfig(group, topic), recorder(&log, "F2", time.Millisecond))
	waitSwitched(t, 60*time.Second, group, topic, zkformat.ModeZooKeeper, parts, nil, f1, f2)
	time.Sleep(time.Second)
	if _, err := groupstate.SetCoordination(ctx, zkConn(t), kc, group, groupstate.ModeKafka, false, nil); err != nil {
		t.Fatalf("switch after the rolling restart: %v", err)
	}
	d := waitSwitched(t, 90*time.Second, group, topic, zkformat.ModeKafka, parts, nil, f1, f2)
	t.Logf("switched to kafka in %s: F1 %v, F2 %v", d.Round(time.Millisecond), f1.c.Owned(), f2.c.Owned())
	time.Sleep(2 * time.Second)

	produced := stopStream()
	finishFollow(t, &log, produced, group, topic, parts, "across the rolling restart and the switch", f1, f2)
}

// Follow mode in the pykafka layout: three members are switched to
// Kafka's group coordinator and back while messages flow. Offsets stay in
// Kafka only (no /offsets znode is ever written); owner znodes are
// pykafka's in both modes (kafkaSplit checks their values, the mirrors
// under owners/b'<t>' and that each is held by the member processing the
// partition); each switch waits at the border (into kafka mode once /ids
// is empty, back once the Kafka group is empty), so no generation -1 commit
// is refused. Nothing is lost, no partition is processed by two members at
// overlapping times, and Kafka's offsets end at the log end.
func TestFollowPykafkaLayoutSwitch(t *testing.T) {
	cl := shared.Get(t)
	ctx := testCtx(t, 5*time.Minute)
	topic, group := uniq(t, "fp"), uniq(t, "g-fp")
	const parts = 6
	if err := cl.CreateTopic(ctx, topic, parts, 1); err != nil {
		t.Fatal(err)
	}
	var log plog
	cfg := followConfig(group, topic)
	cfg.Layout = balanced.LayoutPykafka
	a := startMember(t, "A", cfg, recorder(&log, "A", time.Millisecond))
	b := startMember(t, "B", cfg, recorder(&log, "B", time.Millisecond))
	c := startMember(t, "C", cfg, recorder(&log, "C", time.Millisecond))
	waitSwitched(t, 60*time.Second, group, topic, zkformat.ModeZooKeeper, parts, nil, a, b, c)
	stopStream := stream(t, topic, parts, 30)
	time.Sleep(2 * time.Second)
	for _, mode := range []string{zkformat.ModeKafka, zkformat.ModeZooKeeper} {
		setMode(t, group, mode)
		d := waitSwitched(t, 90*time.Second, group, topic, mode, parts, nil, a, b, c)
		t.Logf("switched to %s in %s: A %v, B %v, C %v", mode, d.Round(time.Millisecond), a.c.Owned(), b.c.Owned(), c.c.Owned())
		time.Sleep(2 * time.Second)
	}
	produced := stopStream()
	finishFollow(t, &log, produced, group, topic, parts, "across two switches, pykafka layout", a, b, c)
	if o := ownership(t, group, topic); len(o) != 0 {
		t.Errorf("owner znodes left after every member left: %v", o)
	}
}
