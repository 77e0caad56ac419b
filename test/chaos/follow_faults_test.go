package chaos

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/zkbalance/zkbalance/balanced"
	"github.com/zkbalance/zkbalance/groupstate"
	"github.com/zkbalance/zkbalance/internal/zkformat"
	"github.com/zkbalance/zkbalance/partition"
	"github.com/zkbalance/zkbalance/scenario"
	"github.com/zkbalance/zkbalance/zkwatch"
)

// Faults in the middle of a coordination switch of a follow-mode group
// (balanced.CoordinationFollow; the mode znode toggled with
// groupstate.SetCoordination, as 'zkbalance coordination --apply' does).

const (
	// followKafkaSession is the members' Kafka group session timeout
	// (the brokers' minimum): how long the coordinator keeps a killed
	// member of the Kafka group.
	followKafkaSession = 6 * time.Second
	// followSettle bounds a switch with a fault in it: the ZooKeeper
	// session (6 s) and the Kafka session (6 s) of a killed member expire
	// one after the other at worst, then a rebalance.
	followSettle = 45 * time.Second
)

// followMemberArgs are test/member's flags of a follow-mode member here:
// commits every second, so that a member killed while processing has
// processed messages it has not committed.
var followMemberArgs = []string{"-coordination", string(balanced.CoordinationFollow), "-commit-interval", "1s",
	"-kafka-session-timeout", followKafkaSession.String(), "-heartbeat-interval", "1s"}

// kafkaClient is a Kafka client over PLAINTEXT for groupstate and the
// offset reads (never faulted).
func kafkaClient(t *testing.T) sarama.Client {
	t.Helper()
	sc := sarama.NewConfig()
	sc.Version = sarama.V2_1_0_0
	sc.Metadata.Retry.Max = 10
	sc.Metadata.Retry.Backoff = 250 * time.Millisecond
	client, err := sarama.NewClient(shared.Get(t).BrokerAddrs(), sc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close() })
	return client
}

// setCoordination toggles group's mode znode (refusing, as the tool does,
// while a member that cannot follow is in the group) and returns when it
// was written.
func setCoordination(t *testing.T, ctx context.Context, obs *zkwatch.Conn, kc sarama.Client, group, mode string) time.Time {
	t.Helper()
	if _, err := groupstate.SetCoordination(ctx, obs, kc, group, mode, false, nil); err != nil {
		t.Fatalf("switch to %s: %v", mode, err)
	}
	return time.Now()
}

// follower is what a follow member's follower znode says.
type follower struct {
	exists        bool
	mode, kafkaID string
}

func readFollower(ctx context.Context, obs *zkwatch.Conn, group, id string) (follower, error) {
	data, _, err := obs.Get(ctx, zkformat.FollowerPath(group, id))
	if isNoNode(err) {
		return follower{}, nil
	}
	if err != nil {
		return follower{}, err
	}
	mode, kid, err := zkformat.ParseFollower(data)
	if err != nil {
		return follower{}, err
	}
	return follower{exists: true, mode: mode, kafkaID: kid}, nil
}

// waitFollower polls member id's follower znode (every 5 ms: the kill
// points are moments of a switch) until ok says so, and returns it.
func waitFollower(t *testing.T, ctx context.Context, obs *zkwatch.Conn, group, id string, d time.Duration, what string, ok func(follower) bool) follower {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		f, err := readFollower(ctx, obs, group, id)
		if err != nil {
			t.Fatal(err)
		}
		if ok(f) {
			return f
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s (follower znode %+v)", what, d, f)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// followSettled is "" when the follow group is settled in mode with
// exactly the members live (their ZooKeeper member ids): each one's
// follower znode names mode (with a Kafka member id in kafka mode), and no
// other follower znode is left; in zookeeper mode they are the registered
// members and the Kafka group is empty; in kafka mode nobody is
// registered and the Kafka group is stable with exactly them; every owner
// znode of topic is held by one of them. Otherwise it says what is not.
func followSettled(ctx context.Context, obs *zkwatch.Conn, kc sarama.Client, group, topic string, partitions int, mode string, live []string) string {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	names, _, err := obs.Children(ctx, zkformat.FollowersPath(group))
	if err != nil {
		return err.Error()
	}
	if slices.Sort(names); !slices.Equal(names, slices.Sorted(slices.Values(live))) {
		return fmt.Sprintf("%d follower znodes, %d live members", len(names), len(live))
	}
	kafkaIDs := map[string]bool{}
	for _, id := range live {
		f, err := readFollower(ctx, obs, group, id)
		if err != nil {
			return err.Error()
		}
		if f.mode != mode || (mode == zkformat.ModeKafka && f.kafkaID == "") {
			return fmt.Sprintf("member %s: follower znode %+v", shortID(id), f)
		}
		kafkaIDs[f.kafkaID] = true
	}
	ids, _, err := obs.Children(ctx, "/consumers/"+group+"/ids")
	if err != nil && !isNoNode(err) {
		return err.Error()
	}
	want := live
	if mode == zkformat.ModeKafka {
		want = nil
	}
	if slices.Sort(ids); !slices.Equal(ids, slices.Sorted(slices.Values(want))) {
		return fmt.Sprintf("%d registered members in %s mode, want %d", len(ids), mode, len(want))
	}
	kg, err := groupstate.DescribeKafkaGroup(ctx, kc, group)
	if err != nil {
		return err.Error()
	}
	if mode == zkformat.ModeKafka {
		if kg.State != "Stable" || len(kg.Members) != len(live) {
			return fmt.Sprintf("kafka group %s with %d members, want Stable with %d", kg.State, len(kg.Members), len(live))
		}
		for _, m := range kg.Members {
			if !kafkaIDs[m.ID] {
				return fmt.Sprintf("kafka group member %s is no live follower", m.ID)
			}
		}
	} else if len(kg.Members) != 0 {
		return fmt.Sprintf("kafka group %s with %d members in zookeeper mode", kg.State, len(kg.Members))
	}
	dir := "/consumers/" + group + "/owners/" + topic
	owners, _, err := obs.Children(ctx, dir)
	if err != nil && !isNoNode(err) {
		return err.Error()
	}
	if len(owners) != partitions {
		return fmt.Sprintf("%d of %d partitions owned", len(owners), partitions)
	}
	for _, n := range owners {
		data, _, err := obs.Get(ctx, dir+"/"+n)
		if err != nil {
			return err.Error()
		}
		m, _, ok := partition.SplitThreadID(string(data))
		if !ok || !slices.Contains(live, m) {
			return fmt.Sprintf("partition %s owned by %q, no live member", n, data)
		}
	}
	return ""
}

// waitFollowSettled waits (at most followSettle) until followSettled
// holds and returns when it did, and what it waited for: each reason
// followSettled gave, with when it first gave it (numbers replaced by N).
func waitFollowSettled(t *testing.T, ctx context.Context, obs *zkwatch.Conn, kc sarama.Client, group, topic string, partitions int, mode string, live []string) (time.Time, string) {
	t.Helper()
	start := time.Now()
	deadline := start.Add(followSettle)
	var trace []string
	prev := ""
	for {
		t0 := time.Now()
		last := followSettled(ctx, obs, kc, group, topic, partitions, mode, live)
		if took := time.Since(t0); took > time.Second {
			trace = append(trace, fmt.Sprintf("+%s a check took %s", t0.Sub(start).Round(10*time.Millisecond), took.Round(10*time.Millisecond)))
		}
		if last == "" {
			return time.Now(), strings.Join(trace, "; ")
		}
		if r := digits.ReplaceAllString(last, "N"); r != prev {
			trace = append(trace, fmt.Sprintf("+%s %s", time.Since(start).Round(10*time.Millisecond), r))
			prev = r
		}
		if time.Now().After(deadline) {
			t.Fatalf("not settled in %s mode within %s: %s (waited for: %s)", mode, followSettle, last, strings.Join(trace, "; "))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// committedOffsets reads group's committed offset of every partition of
// topic in both stores and returns the higher (where a follow member
// starts): what a member killed just before had committed.
func committedOffsets(t *testing.T, ctx context.Context, obs *zkwatch.Conn, kc sarama.Client, group, topic string, partitions int) map[int32]int64 {
	t.Helper()
	out := map[int32]int64{}
	for p := range int32(partitions) {
		data, _, err := obs.Get(ctx, fmt.Sprintf("/consumers/%s/offsets/%s/%d", group, topic, p))
		switch {
		case isNoNode(err):
		case err != nil:
			t.Fatal(err)
		default:
			off, err := strconv.ParseInt(string(data), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			out[p] = off
		}
	}
	for p, off := range kafkaCommitted(t, kc, group, topic, partitions) {
		out[p] = max(out[p], off)
	}
	return out
}

// killedMember is a member killed in the middle of a switch: what it had
// processed but not committed at its death (partition -> offsets), which
// its successors process again.
type killedMember struct {
	name        string
	at          time.Time
	uncommitted map[int32][]int64
}

func (k killedMember) count() int {
	n := 0
	for _, offs := range k.uncommitted {
		n += len(offs)
	}
	return n
}

// killDuringSwitch kills m with SIGKILL and returns what it had processed
// and not committed, as the offsets committed in both stores 300 ms after
// the kill say (a commit it had sent lands meanwhile; nobody else commits
// its partitions before its sessions expire).
func killDuringSwitch(t *testing.T, ctx context.Context, obs *zkwatch.Conn, kc sarama.Client, m *memberProc, group, topic string, partitions int) killedMember {
	t.Helper()
	m.kill()
	k := killedMember{name: m.name, at: time.Now(), uncommitted: map[int32][]int64{}}
	time.Sleep(300 * time.Millisecond)
	committed := committedOffsets(t, ctx, obs, kc, group, topic, partitions)
	log, err := readLogFile(m.logPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range log.Records() {
		if r.Offset >= committed[r.TP.Partition] {
			k.uncommitted[r.TP.Partition] = append(k.uncommitted[r.TP.Partition], r.Offset)
		}
	}
	return k
}

// checkDuplicates fails unless every message processed more than once was
// processed, uncommitted, by a killed member and then once by a successor
// (or once more for each killed member that had it uncommitted), and each
// such message was processed again; it returns the duplicates.
func checkDuplicates(t *testing.T, log *scenario.Log, topic string, killed ...killedMember) int {
	t.Helper()
	count := map[int32]map[int64]int{}
	for _, r := range log.Records() {
		if count[r.TP.Partition] == nil {
			count[r.TP.Partition] = map[int64]int{}
		}
		count[r.TP.Partition][r.Offset]++
	}
	want := map[int32]map[int64]int{}
	for _, k := range killed {
		for p, offs := range k.uncommitted {
			if want[p] == nil {
				want[p] = map[int64]int{}
			}
			for _, o := range offs {
				want[p][o]++
			}
		}
	}
	dups, bad := 0, 0
	for _, p := range slices.Sorted(maps.Keys(count)) {
		for _, o := range slices.Sorted(maps.Keys(count[p])) {
			extra := count[p][o] - 1
			dups += extra
			if extra != want[p][o] {
				if bad++; bad <= 5 {
					t.Errorf("%s/%d@%d processed %d times; killed members had it processed and uncommitted %d times", topic, p, o, count[p][o], want[p][o])
				}
			}
		}
	}
	for p, offs := range want {
		for o := range offs {
			if count[p][o] == 0 {
				t.Errorf("%s/%d@%d: in a killed member's uncommitted set but not in the log", topic, p, o)
			}
		}
	}
	if bad > 5 {
		t.Errorf("... %d unexpected duplicate counts in all", bad)
	}
	return dups
}

// processedSince counts the records in m's processing log that started
// after since.
func processedSince(t *testing.T, m *memberProc, since time.Time) int {
	t.Helper()
	log, err := readLogFile(m.logPath)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range log.Records() {
		if r.Start.After(since) {
			n++
		}
	}
	return n
}

// killPoint is when, in a switch to mode, the victim is killed: as soon
// as its follower znode names mode (it has revoked and left the old mode:
// in zookeeper mode its owner znodes released and its /ids znode deleted,
// in kafka mode its offsets committed and the Kafka group left) and, if
// processing, once it processed a message in the new mode (in kafka mode,
// once it also joined a generation), with marks not yet committed.
type killPoint struct {
	mode       string
	processing bool
}

func (k killPoint) String() string {
	if k.processing {
		return "processing in " + k.mode + " mode"
	}
	return "entering " + k.mode + " mode"
}

// TestFollowMemberKilledDuringSwitch: four follow-mode member processes
// (test/member) consume a stream of one topic x 8 partitions (one message
// per partition every 200 ms) while the group is switched to Kafka's
// group coordinator and back, and one member is killed with SIGKILL in
// the middle of each switch (A on the way to kafka, B on the way back), at
// one of two points (killPoint):
//
//   - entering: as soon as its follower znode names the new mode: it has
//     revoked, committed and left the old mode and is joining the Kafka
//     group or registering in ZooKeeper, while the others switch too;
//   - processing: once it processed a message in the new mode (in kafka
//     mode in a generation that the others may not have joined yet), its
//     marks not committed yet (the members commit every second).
//
// Subtest processing-then-entering kills A processing and B entering,
// entering-then-processing the other way round.
//
// The survivors take over the killed member's partitions once its
// sessions expire (ZooKeeper's 6 s: its owner znodes and registration;
// Kafka's 6 s: its place in the group). Checked: each switch settles
// (every live member in the new mode, nobody else registered, followed or
// in the Kafka group, every partition owned by a live member); nothing is
// lost; no partition is processed by two members at overlapping times;
// every duplicate is a message a killed member had processed and not
// committed (the offsets committed in both stores just after its death
// say which), processed again once by a successor, and every such message
// was; at the end both stores hold the log end.
func TestFollowMemberKilledDuringSwitch(t *testing.T) {
	for _, tc := range []struct {
		name        string
		toKafka     killPoint
		toZooKeeper killPoint
	}{
		{"processing-then-entering", killPoint{zkformat.ModeKafka, true}, killPoint{zkformat.ModeZooKeeper, false}},
		{"entering-then-processing", killPoint{zkformat.ModeKafka, false}, killPoint{zkformat.ModeZooKeeper, true}},
	} {
		t.Run(tc.name, func(t *testing.T) { memberKilledDuringSwitch(t, tc.toKafka, tc.toZooKeeper) })
	}
}

func memberKilledDuringSwitch(t *testing.T, toKafka, toZooKeeper killPoint) {
	cl := shared.Get(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	dir := t.TempDir()
	bin := buildMember(t, dir)
	group := fmt.Sprintf("fkill-%d", time.Now().UnixNano()%1e6)
	topic := group + "-t"
	const partitions = 8
	if err := cl.CreateTopic(ctx, topic, partitions, 3); err != nil {
		t.Fatal(err)
	}
	obs := dialObserver(t, ctx)
	kc := kafkaClient(t)
	members := map[string]*memberProc{}
	var live []string
	for _, name := range []string{"A", "B", "C", "D"} {
		m, err := startMember(ctx, bin, dir, name, cl.ZooKeeperAddr(), cl.BrokerAddrs(), group, []string{topic}, session, followMemberArgs...)
		if err != nil {
			t.Fatal(err)
		}
		members[name] = m
		live = append(live, m.id)
		defer func() { _ = m.leave() }() // a no-op for a killed member
	}
	_, _ = waitFollowSettled(t, ctx, obs, kc, group, topic, partitions, zkformat.ModeZooKeeper, live)
	stream := startStream(ctx, t, topic, partitions)
	defer stream.stop()
	waitCaughtUpLogs(t, ctx, dir, topic, 30*time.Second, "before the switches")

	var killed []killedMember
	for _, step := range []struct {
		point  killPoint
		victim *memberProc
	}{{toKafka, members["A"]}, {toZooKeeper, members["B"]}} {
		v, point := step.victim, step.point
		toggled := setCoordination(t, ctx, obs, kc, group, point.mode)
		f := waitFollower(t, ctx, obs, group, v.id, 30*time.Second, v.name+" enters "+point.mode+" mode", func(f follower) bool {
			return f.mode == point.mode && (!point.processing || point.mode != zkformat.ModeKafka || f.kafkaID != "")
		})
		entered := time.Now()
		inMode := 0
		if point.processing {
			for inMode == 0 && time.Since(entered) < 10*time.Second {
				time.Sleep(5 * time.Millisecond)
				inMode = processedSince(t, v, entered)
			}
			if inMode == 0 {
				t.Fatalf("%s processed nothing within 10s of entering %s mode", v.name, point.mode)
			}
			time.Sleep(300 * time.Millisecond) // a few more, still within the commit interval
			inMode = processedSince(t, v, entered)
		}
		k := killDuringSwitch(t, ctx, obs, kc, v, group, topic, partitions)
		killed = append(killed, k)
		live = slices.DeleteFunc(live, func(x string) bool { return x == v.id })
		settled, waited := waitFollowSettled(t, ctx, obs, kc, group, topic, partitions, point.mode, live)
		joined := ""
		if f.kafkaID != "" {
			joined = " (joined the Kafka group)"
		}
		caughtUp := waitCaughtUpLogs(t, ctx, dir, topic, 30*time.Second, "after the switch to "+point.mode)
		log, err := readLogs(dir)
		if err != nil {
			t.Fatal(err)
		}
		pause, ptp := longestPause(log.Records(), toggled, caughtUp)
		t.Logf("to %s: %s killed %s, %s after the toggle: entered %s after it%s, processed %d message(s) in the mode, %d processed and not committed; settled with the other %d %s after the toggle, caught up %s after it; longest processing pause %s (partition %d); waited for: %s",
			point.mode, v.name, point, k.at.Sub(toggled).Round(time.Millisecond), entered.Sub(toggled).Round(time.Millisecond), joined,
			inMode, k.count(), len(live), settled.Sub(toggled).Round(time.Millisecond), caughtUp.Sub(toggled).Round(time.Millisecond),
			pause.Round(time.Millisecond), ptp.Partition, waited)
	}

	stream.stop()
	waitCaughtUpLogs(t, ctx, dir, topic, 60*time.Second, "at the end")
	checkCommittedAtEnd(t, ctx, obs, group, topic, partitions)
	checkKafkaCommittedAtEnd(t, ctx, kc, group, topic, partitions)
	for _, name := range []string{"C", "D"} {
		if m := members[name]; !m.alive() {
			t.Errorf("member %s exited: %s", name, m.stderr.String())
		}
	}
	log, err := readLogs(dir)
	if err != nil {
		t.Fatal(err)
	}
	an := log.Analyze(logEnds(t, ctx, topic))
	dups := checkDuplicates(t, log, topic, killed...)
	t.Logf("RESULT %d messages, %d processing records: %s; all %d duplicates processed and not committed by a killed member (A %d, B %d)",
		log.Processed(), len(log.Records()), an, dups, killed[0].count(), killed[1].count())
	if an.Lost != 0 || an.Overlaps != 0 {
		t.Errorf("lost %d, overlap %d (%s)", an.Lost, an.Overlaps, an.FirstOverlap)
	}
	for _, name := range []string{"C", "D"} {
		if err := members[name].leave(); err != nil {
			t.Error(err)
		}
	}
}

// checkKafkaCommittedAtEnd waits up to 30 s for the Kafka store's
// committed offsets of the group to reach the log end.
func checkKafkaCommittedAtEnd(t *testing.T, ctx context.Context, kc sarama.Client, group, topic string, partitions int) {
	t.Helper()
	ends := logEnds(t, ctx, topic)
	deadline := time.Now().Add(30 * time.Second)
	for {
		var behind []string
		for p, off := range kafkaCommitted(t, kc, group, topic, partitions) {
			if end := ends[balanced.TopicPartition{Topic: topic, Partition: p}]; off != end {
				behind = append(behind, fmt.Sprintf("%d: %d of %d", p, off, end))
			}
		}
		if len(behind) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("kafka committed offsets not at the log end within 30s: %s", strings.Join(behind, ", "))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// kafkaCommitted reads group's offsets of topic committed in Kafka (-1:
// none).
func kafkaCommitted(t *testing.T, kc sarama.Client, group, topic string, partitions int) map[int32]int64 {
	t.Helper()
	if err := kc.RefreshCoordinator(group); err != nil {
		t.Fatal(err)
	}
	coord, err := kc.Coordinator(group)
	if err != nil {
		t.Fatal(err)
	}
	req := &sarama.OffsetFetchRequest{Version: 5, ConsumerGroup: group}
	for p := range int32(partitions) {
		req.AddPartition(topic, p)
	}
	resp, err := coord.FetchOffset(req)
	if err != nil {
		t.Fatal(err)
	}
	out := map[int32]int64{}
	for p := range int32(partitions) {
		b := resp.GetBlock(topic, p)
		if b == nil || !errors.Is(b.Err, sarama.ErrNoError) {
			t.Fatalf("kafka offset of %s/%d: %+v", topic, p, b)
		}
		out[p] = b.Offset
	}
	return out
}

// coordinatorOf is the broker that is group's Kafka group coordinator (a
// FindCoordinator request).
func coordinatorOf(t *testing.T, kc sarama.Client, group string) int32 {
	t.Helper()
	if err := kc.RefreshCoordinator(group); err != nil {
		t.Fatal(err)
	}
	b, err := kc.Coordinator(group)
	if err != nil {
		t.Fatal(err)
	}
	return b.ID()
}

// TestFollowCoordinatorKilledDuringSwitch: three follow-mode members (in
// this process, under the race detector) consume a stream of one topic x
// 8 partitions (replication factor 3, like __consumer_offsets here) while
// the group is switched to Kafka's group coordinator and back; right after
// each toggle is written, the broker that is the group's coordinator (a
// FindCoordinator request just before) goes down, and is started again 3 s
// after it has left /brokers/ids:
//
//   - kill (this test): SIGKILL; the group coordinator and the partitions
//     it leads are unreachable until its ZooKeeper registration expires
//     (10 s) and other brokers take them over;
//   - stop (TestFollowCoordinatorStoppedDuringSwitch): SIGTERM, a
//     controlled shutdown that moves its leaderships (and so the group
//     coordinator) to the others first.
//
// On the way to kafka the members find no coordinator, or one that is
// loading the group, for a while and must keep trying to join; on the way
// back their last Kafka commits and LeaveGroup meet the outage, and in
// zookeeper mode their Kafka commits (offsets are kept in both stores)
// fail until it is over. Checked: each switch settles (every member in the
// new mode, the Kafka group stable with exactly them, or empty, every
// partition owned by a member), no member's Run returns, nothing is lost,
// no partition is processed by two members at overlapping times, and at
// the end both offset stores hold the log end. Duplicates are counted and
// logged (a member that stops its handlers as lost commits nothing).
func TestFollowCoordinatorKilledDuringSwitch(t *testing.T) {
	coordinatorRestartDuringSwitch(t, "kill")
}

// TestFollowCoordinatorStoppedDuringSwitch is
// TestFollowCoordinatorKilledDuringSwitch with a controlled shutdown
// (SIGTERM) of the coordinator's broker.
func TestFollowCoordinatorStoppedDuringSwitch(t *testing.T) {
	coordinatorRestartDuringSwitch(t, "stop")
}

func coordinatorRestartDuringSwitch(t *testing.T, fault string) {
	cl := shared.Get(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	group := fmt.Sprintf("fcoord-%s-%d", fault, time.Now().UnixNano()%1e6)
	topic := group + "-t"
	const partitions = 8
	if err := cl.CreateTopic(ctx, topic, partitions, 3); err != nil {
		t.Fatal(err)
	}
	obs := dialObserver(t, ctx)
	kc := kafkaClient(t)
	var plog scenario.Log
	logs := &logRecorder{}
	var members []*inprocMember
	var live []string
	for _, name := range []string{"A", "B", "C"} {
		m := startInproc(t, name, balanced.Config{
			Group: group, Topics: []string{topic}, ZooKeeper: cl.ZooKeeperAddr(), Brokers: cl.BrokerAddrs(),
			SessionTimeout: session, Coordination: balanced.CoordinationFollow, CommitInterval: 500 * time.Millisecond,
			KafkaSessionTimeout: followKafkaSession, HeartbeatInterval: time.Second,
		}, &plog, logs)
		members = append(members, m)
		live = append(live, m.c.MemberID())
	}
	_, _ = waitFollowSettled(t, ctx, obs, kc, group, topic, partitions, zkformat.ModeZooKeeper, live)
	stream := startTolerantStream(ctx, t, topic, partitions)
	defer stream.stop()
	waitCaughtUp(t, ctx, &plog, topic, 30*time.Second, "before the switches")

	for _, mode := range []string{zkformat.ModeKafka, zkformat.ModeZooKeeper} {
		coord := coordinatorOf(t, kc, group)
		t.Cleanup(func() { // the package's later tests need every broker
			if !cl.BrokerRunning(coord) {
				if err := cl.StartBroker(context.Background(), coord); err != nil {
					t.Errorf("restart broker %d after a failure: %v", coord, err)
				}
			}
		})
		toggled := setCoordination(t, ctx, obs, kc, group, mode)
		var err error
		if fault == "kill" {
			err = cl.KillBroker(ctx, coord)
		} else {
			err = cl.StopBroker(ctx, coord)
		}
		if err != nil {
			t.Fatalf("%s broker %d: %v", fault, coord, err)
		}
		gone := time.Now()
		time.Sleep(3 * time.Second)
		if err := cl.StartBroker(ctx, coord); err != nil {
			t.Fatalf("restart broker %d: %v", coord, err)
		}
		up := time.Now()
		settled, waited := waitFollowSettled(t, ctx, obs, kc, group, topic, partitions, mode, live)
		checkRunning(t, members)
		caughtUp := waitCaughtUp(t, ctx, &plog, topic, 60*time.Second, "after the switch to "+mode)
		pause, ptp := longestPause(plog.Records(), toggled, caughtUp)
		t.Logf("to %s: coordinator broker %d (%s) deregistered %s after the toggle, back %s after it; settled %s after the toggle (%s after the restart), caught up %s after it; longest processing pause %s (partition %d); new coordinator %d; waited for: %s; members logged: %s",
			mode, coord, fault, gone.Sub(toggled).Round(time.Millisecond), up.Sub(toggled).Round(time.Millisecond),
			settled.Sub(toggled).Round(time.Millisecond), settled.Sub(up).Round(time.Millisecond),
			caughtUp.Sub(toggled).Round(time.Millisecond), pause.Round(time.Millisecond), ptp.Partition,
			coordinatorOf(t, kc, group), waited, logs.summary(toggled, caughtUp))
	}

	stream.stop()
	waitCaughtUp(t, ctx, &plog, topic, 60*time.Second, "at the end")
	checkCommittedAtEnd(t, ctx, obs, group, topic, partitions)
	checkKafkaCommittedAtEnd(t, ctx, kc, group, topic, partitions)
	checkRunning(t, members)
	var lost int
	for _, m := range members {
		_, _, l := m.hooks()
		lost += len(l)
	}
	an := plog.Analyze(logEnds(t, ctx, topic))
	t.Logf("RESULT %d messages, %d processing records: %s; %d produce batches failed during the outages; %d OnLost calls",
		plog.Processed(), len(plog.Records()), an, stream.failures(), lost)
	if an.Lost != 0 || an.Overlaps != 0 {
		t.Errorf("lost %d, overlap %d (%s)", an.Lost, an.Overlaps, an.FirstOverlap)
	}
	for _, m := range members {
		if err := m.stop(); err != nil {
			t.Errorf("member %s: %v", m.name, err)
		}
	}
}

// longestPause is the longest time, within [from, to], that a partition
// went without a message starting to be processed while the stream kept
// producing to it (one message per partition every 200 ms), and which
// partition.
func longestPause(recs []scenario.Record, from, to time.Time) (time.Duration, balanced.TopicPartition) {
	starts := map[balanced.TopicPartition][]time.Time{}
	for _, r := range recs {
		starts[r.TP] = append(starts[r.TP], r.Start)
	}
	var longest time.Duration
	var at balanced.TopicPartition
	for tp, ts := range starts {
		slices.SortFunc(ts, func(a, b time.Time) int { return a.Compare(b) })
		prev := from
		for _, s := range ts {
			if s.Before(from) {
				continue
			}
			if s.After(to) {
				break
			}
			if d := s.Sub(prev); d > longest {
				longest, at = d, tp
			}
			prev = s
		}
	}
	return longest, at
}
