package balanced_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zkbalance/zkbalance/balanced"
	"github.com/zkbalance/zkbalance/groupstate"
	"github.com/zkbalance/zkbalance/internal/javapeer"
	"github.com/zkbalance/zkbalance/internal/zkformat"
	"github.com/zkbalance/zkbalance/scenario"
	"github.com/zkbalance/zkbalance/zkwatch"
)

// detachWatch counts a follow member's revokes and losses and keeps the
// errors it reports, so that a detach can be shown not to disturb it.
type detachWatch struct {
	revokes, losses atomic.Int64
	mu              sync.Mutex
	errs            []string
}

func (d *detachWatch) hooks() balanced.Hooks {
	return balanced.Hooks{
		OnRevoked: func(context.Context, []balanced.TopicPartition) { d.revokes.Add(1) },
		OnLost:    func(context.Context, []balanced.TopicPartition) { d.losses.Add(1) },
		OnError: func(_ context.Context, err error) {
			d.mu.Lock()
			d.errs = append(d.errs, err.Error())
			d.mu.Unlock()
		},
	}
}

func (d *detachWatch) errors() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.errs)
}

// detachedSplit is "" when every partition is processed by exactly one
// of the members and the Java member (if java is not nil), each of them
// owning some, without looking at ZooKeeper.
func detachedSplit(parts int32, java func() []javapeer.TopicPartition, members ...*member) string {
	by := map[balanced.TopicPartition]string{}
	own := func(tp balanced.TopicPartition, who string) string {
		if o, dup := by[tp]; dup {
			return fmt.Sprintf("%s owned by %s and %s", tp, o, who)
		}
		by[tp] = who
		return ""
	}
	for _, m := range members {
		tps := m.c.Owned()
		if len(tps) == 0 {
			return fmt.Sprintf("member %s owns nothing", m.name)
		}
		for _, tp := range tps {
			if s := own(tp, m.name); s != "" {
				return s
			}
		}
	}
	if java != nil {
		jtps := java()
		if len(jtps) == 0 {
			return "the java member owns nothing"
		}
		for _, jtp := range jtps {
			if s := own(balanced.TopicPartition{Topic: jtp.Topic, Partition: jtp.Partition}, "java"); s != "" {
				return s
			}
		}
	}
	if len(by) != int(parts) {
		return fmt.Sprintf("%d of %d partitions owned: %v", len(by), parts, by)
	}
	return ""
}

// maxGap is the longest time between two messages of one partition
// processed one after the other (by their start) within [from, to).
func maxGap(recs []scenario.Record, from, to time.Time) time.Duration {
	last := map[balanced.TopicPartition]time.Time{}
	var gap time.Duration
	slices.SortFunc(recs, func(a, b scenario.Record) int { return a.Start.Compare(b.Start) })
	for _, r := range recs {
		if r.Start.Before(from) || !r.Start.Before(to) {
			continue
		}
		if l, ok := last[r.TP]; ok {
			gap = max(gap, r.Start.Sub(l))
		}
		last[r.TP] = r.Start
	}
	return gap
}

// zkLeftovers lists what the group still has in ZooKeeper that a detached
// group must not: owner znodes, follower znodes, /ids registrations.
func zkLeftovers(t testing.TB, group, topic string) string {
	ctx := testCtx(t, 20*time.Second)
	conn := zkConn(t)
	var out []string
	owners := "/consumers/" + group + "/owners/"
	for _, dir := range []string{owners + topic, owners + "b'" + topic + "'", zkformat.FollowersPath(group), "/consumers/" + group + "/ids"} {
		names, _, err := conn.Children(ctx, dir)
		if err != nil && !errors.Is(err, zkwatch.ErrNoNode) {
			return err.Error()
		}
		for _, n := range names {
			out = append(out, dir+"/"+n)
		}
	}
	return strings.Join(out, ", ")
}

// Three follow members under a continuous stream are switched to Kafka's
// group coordinator, then detached from ZooKeeper: each keeps its
// partitions and its Kafka membership (no revoke, no loss), releases its
// owner znodes, deletes its follower znode and closes its session. A
// fourth follow member started then runs detached at once and shares.
// Then ZooKeeper is stopped: they go on consuming, and a Java
// KafkaConsumer joins and shares the partitions with them. Over the whole run nothing
// is lost and no partition is processed by two members at overlapping
// times; the Kafka offsets end at the log end.
func TestFollowDetachZooKeeper(t *testing.T) {
	cl := shared.Get(t)
	ctx := testCtx(t, 6*time.Minute)
	topic, group := uniq(t, "fd"), uniq(t, "g-fd")
	const parts = 6
	if err := cl.CreateTopic(ctx, topic, parts, 1); err != nil {
		t.Fatal(err)
	}
	var log plog
	var ws [4]detachWatch
	var ms []*member
	for i, name := range []string{"A", "B", "C"} {
		cfg := followConfig(group, topic)
		cfg.Hooks = ws[i].hooks()
		ms = append(ms, startMember(t, name, cfg, recorder(&log, name, time.Millisecond)))
	}
	waitSwitched(t, 60*time.Second, group, topic, zkformat.ModeZooKeeper, parts, nil, ms...)
	stopStream := stream(t, topic, parts, 30)
	time.Sleep(time.Second)

	// Detaching is refused while the members are in zookeeper mode.
	kc := groupClient(t)
	if _, err := groupstate.SetDetach(ctx, zkConn(t), kc, group, false, nil); !errors.Is(err, groupstate.ErrCannotDetach) ||
		!strings.Contains(err.Error(), "(mode znode)") || !strings.Contains(err.Error(), "registered in /ids") {
		t.Fatalf("detach in zookeeper mode: %v", err)
	}
	setMode(t, group, zkformat.ModeKafka)
	d := waitSwitched(t, 90*time.Second, group, topic, zkformat.ModeKafka, parts, nil, ms...)
	t.Logf("switched to kafka in %s", d.Round(time.Millisecond))
	// Every follower names its Kafka member id once joined.
	deadline := time.Now().Add(30 * time.Second)
	var plan groupstate.SwitchPlan
	var err error
	for {
		plan, err = groupstate.SetDetach(ctx, zkConn(t), kc, group, false, nil)
		if err == nil || !errors.Is(err, groupstate.ErrCannotDetach) || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("detach: %v", err)
	}
	t0 := time.Now()
	var before [3]int64
	owned := map[string][]balanced.TopicPartition{}
	for i, m := range ms[:3] {
		before[i] = ws[i].revokes.Load() + ws[i].losses.Load()
		owned[m.name] = m.c.Owned()
	}
	t.Logf("detach written: %s", strings.Join(plan.Steps, "; "))

	var last string
	for time.Now().Before(t0.Add(30 * time.Second)) {
		last = ""
		for _, m := range ms {
			if h := m.c.Health(); !h.ZooKeeperDetached || h.SessionID != 0 || !h.Connected {
				last = fmt.Sprintf("%s: %+v", m.name, h)
				break
			}
		}
		if last == "" {
			last = zkLeftovers(t, group, topic)
		}
		if last == "" {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if last != "" {
		t.Fatalf("not detached within 30s: %s", last)
	}
	took := time.Since(t0)
	for i, m := range ms {
		if n := ws[i].revokes.Load() + ws[i].losses.Load(); n != before[i] {
			t.Errorf("%s was revoked or lost %d time(s) while detaching", m.name, n-before[i])
		}
		if got := m.c.Owned(); !slices.Equal(got, owned[m.name]) {
			t.Errorf("%s owned %v before detaching, %v after", m.name, owned[m.name], got)
		}
	}
	st, err := groupstate.ReadCoordination(ctx, zkConn(t), kc, group)
	if err != nil || !st.Detached || st.Mode != zkformat.ModeKafka {
		t.Fatalf("coordination after detach: %+v %v", st, err)
	}
	t.Logf("every member detached in %s (owner, follower and /ids znodes gone, sessions closed), partitions kept: %v", took.Round(time.Millisecond), owned)
	time.Sleep(2 * time.Second)
	gap := maxGap(log.Records(), t0, t0.Add(2*time.Second))
	t.Logf("longest processing gap of a partition in the 2s after the detach was written: %s (the stream writes every 100ms)", gap.Round(time.Millisecond))
	if gap > time.Second {
		t.Errorf("a partition paused %s while detaching", gap)
	}

	// The way back to zookeeper is refused: nobody watches it any more.
	if _, err := groupstate.SetCoordination(ctx, zkConn(t), kc, group, groupstate.ModeZooKeeper, false, nil); !errors.Is(err, groupstate.ErrCannotFollow) ||
		!strings.Contains(err.Error(), "no longer watch ZooKeeper") {
		t.Fatalf("switch back after detach: %v", err)
	}

	// A follow member started now runs detached at once: it joins the
	// Kafka group and shares, and leaves nothing in ZooKeeper.
	cfg := followConfig(group, topic)
	cfg.Hooks = ws[3].hooks()
	ms = append(ms, startMember(t, "D", cfg, recorder(&log, "D", time.Millisecond)))
	td := time.Now()
	for last = "x"; time.Since(td) < 60*time.Second; time.Sleep(50 * time.Millisecond) {
		if h := ms[3].c.Health(); !h.ZooKeeperDetached || h.SessionID != 0 {
			last = fmt.Sprintf("D: %+v", h)
		} else if last = detachedSplit(parts, nil, ms...); last == "" {
			last = zkLeftovers(t, group, topic)
		}
		if last == "" {
			break
		}
	}
	if last != "" {
		t.Fatalf("D did not join detached within 60s: %s", last)
	}
	t.Logf("D started detached and shares in %s: %v", time.Since(td).Round(time.Millisecond), ms[3].c.Owned())
	time.Sleep(time.Second)

	if err := cl.StopZooKeeper(); err != nil {
		t.Fatal(err)
	}
	zkStopped := time.Now()
	t.Cleanup(func() {
		if err := cl.StartZooKeeper(context.Background()); err != nil {
			t.Errorf("restart zookeeper: %v", err)
		}
	})
	n0 := log.Processed()
	time.Sleep(3 * time.Second)
	if n := log.Processed(); n <= n0 {
		t.Fatalf("nothing processed in the 3s after zookeeper stopped (%d)", n)
	}

	j, err := javapeer.Start(ctx, javapeer.Args{Bootstrap: cl.BrokerAddrs(), Group: group, Topics: []string{topic},
		Strategy: javapeer.Range, Delay: time.Millisecond, ID: "java-detach"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = j.Kill() })
	tj := time.Now()
	for last = "x"; time.Since(tj) < 60*time.Second; time.Sleep(50 * time.Millisecond) {
		if last = detachedSplit(parts, j.Owned, ms...); last == "" {
			break
		}
	}
	if last != "" {
		t.Fatalf("partitions not split with the java member within 60s: %s", last)
	}
	t.Logf("java joined with zookeeper stopped: split in %s: A %v, B %v, C %v, D %v, java %v", time.Since(tj).Round(time.Millisecond),
		ms[0].c.Owned(), ms[1].c.Owned(), ms[2].c.Owned(), ms[3].c.Owned(), j.Owned())
	time.Sleep(3 * time.Second)

	produced := stopStream()
	waitWithJava(&log, j, total(produced), 2*time.Minute)
	if err := j.Stop(); err != nil {
		t.Fatalf("java member: %v\n%s", err, j.Stderr(40))
	}
	for _, m := range ms {
		m.Stop(t)
	}
	t.Logf("zookeeper was stopped for %s", time.Since(zkStopped).Round(time.Millisecond))
	an := withJava(&log, j).Analyze(produced)
	t.Logf("produced %d across toggle, detach, zookeeper stop and java join; follow members processed %d, java %d; %s",
		total(produced), len(log.Records()), len(j.Messages()), an)
	javaVerdict(t, an, j)
	checkCommitted(t, group, topic, parts, produced)
	for i, m := range ms {
		for _, e := range ws[i].errors() {
			if strings.Contains(strings.ToLower(e), "zookeeper") || strings.Contains(e, "/consumers/") {
				t.Errorf("%s reported a ZooKeeper error after detaching: %s", m.name, e)
			}
		}
		t.Logf("%s: %d revoke(s), %d loss(es), errors %q", m.name, ws[i].revokes.Load(), ws[i].losses.Load(), ws[i].errors())
	}
}

// A forced detach of a group still in zookeeper mode: the follow member
// leaves zookeeper mode (revoke, release, deregister), joins the Kafka
// group, claims, and then drops ZooKeeper. Nothing is lost on the way and
// the Kafka offsets end at the log end. In both layouts: in the pykafka
// one the offset store is Kafka's alone, and after the detach its commits
// no longer check the (released) owner znode.
func TestFollowForcedDetachFromZooKeeperMode(t *testing.T) {
	for _, layout := range []balanced.Layout{balanced.LayoutScala, balanced.LayoutPykafka} {
		t.Run(string(layout), func(t *testing.T) { testFollowForcedDetach(t, layout) })
	}
}

func testFollowForcedDetach(t *testing.T, layout balanced.Layout) {
	cl := shared.Get(t)
	ctx := testCtx(t, 3*time.Minute)
	topic, group := uniq(t, "fz"), uniq(t, "g-fz")
	const parts = 4
	if err := cl.CreateTopic(ctx, topic, parts, 1); err != nil {
		t.Fatal(err)
	}
	var log plog
	cfg := followConfig(group, topic)
	cfg.Layout = layout
	a := startMember(t, "A", cfg, recorder(&log, "A", time.Millisecond))
	waitSwitched(t, 60*time.Second, group, topic, zkformat.ModeZooKeeper, parts, nil, a)
	stopStream := stream(t, topic, parts, 20)
	time.Sleep(time.Second)
	plan, err := groupstate.SetDetach(ctx, zkConn(t), groupClient(t), group, true, nil)
	if err != nil || len(plan.Blockers) == 0 {
		t.Fatalf("forced detach: %+v %v", plan, err)
	}
	t0 := time.Now()
	var last string
	for last = "x"; time.Since(t0) < 60*time.Second; time.Sleep(50 * time.Millisecond) {
		if h := a.c.Health(); !h.ZooKeeperDetached || h.SessionID != 0 {
			last = fmt.Sprintf("A: %+v", h)
		} else if last = detachedSplit(parts, nil, a); last == "" {
			last = zkLeftovers(t, group, topic)
		}
		if last == "" {
			break
		}
	}
	if last != "" {
		t.Fatalf("not detached within 60s: %s", last)
	}
	t.Logf("detached from zookeeper mode (forced) in %s", time.Since(t0).Round(time.Millisecond))
	time.Sleep(2 * time.Second)
	produced := stopStream()
	waitProcessed(t, &log, total(produced), 2*time.Minute)
	a.Stop(t)
	an := log.Analyze(produced)
	t.Logf("produced %d: %s", total(produced), an)
	// A detach does not stop a handler: no message is processed twice.
	if an.Lost != 0 || an.Overlaps != 0 || an.Duplicates != 0 {
		t.Fatalf("%s (%s)", an, an.FirstOverlap)
	}
	checkCommitted(t, group, topic, parts, produced)
}
