package chaos

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zkbalance/zkbalance/balanced"
	"github.com/zkbalance/zkbalance/internal/cluster"
	"github.com/zkbalance/zkbalance/scenario"
	"github.com/zkbalance/zkbalance/zkwatch"
)

// brokerOutage is how long every broker stays unreachable in
// TestBrokersUnreachableMidRun: many times sarama's metadata retries
// (3 x 250 ms) and its consumer's retry backoff (2 s).
const brokerOutage = 10 * time.Second

// TestBrokersUnreachableMidRun (S9): three members (in this process, so
// under the race detector) consume a stream of one topic x 8 partitions
// when every broker becomes unreachable for all of them at once, twice,
// while ZooKeeper stays reachable and the harness keeps producing over
// PLAINTEXT:
//
//   - drop: a network partition between the members and every broker for
//     10 s (each broker proxy forwards nothing: requests in flight get no
//     answer, new connections are accepted but never reach a broker; at the
//     end all of them are reset);
//   - refuse: every broker looks down for 10 s (each proxy resets every
//     connection at once, and each new one as soon as it is made, so
//     sarama's fetches, leader lookups and metadata refreshes fail and are
//     retried again and again).
//
// The members find the brokers in /brokers/ids with Config.Listener
// PROXIED, so every address they use is a proxy's.
//
// The outages start once the group has settled (waitSettled: the owner
// znodes are the assignment of the three members, each member's last
// rebalance saw all three and claimed all it was assigned, and nothing
// changed for 2 s). The start itself may take more than one rebalance:
// the members register some milliseconds apart, and one that rebalances on
// a partial view of the group claims partitions that move to their final
// owners moments later. That is the protocol working, not what this test
// is about, so it is logged, not checked.
//
// Checked: nothing panics and no member's Run returns; from the settled
// group on no hook is called (no assignment, revoke or loss) and the owner
// znodes stay the very same znodes (value and creation zxid), so the group
// does not rebalance over a Kafka outage; after each outage everything
// produced meanwhile is consumed; at the end lost 0 and overlap 0, and the
// committed offsets equal the log end.
//
// Observed (the test logs the members' warnings of each outage and how
// long the catch-up took). During the drop nothing at all is logged:
// sarama's requests wait for their answers (its Net.ReadTimeout is 30 s)
// and no message arrives. When the drop ends and the proxies reset the
// connections they held, each partition logs one "fetch error" ("read:
// connection reset by peer"), sarama reconnects and the backlog produced
// meanwhile is consumed within 1-2 s. During the refusal each partition
// logs a "fetch error" per sarama retry, about every 2.5 s (its
// Consumer.Retry.Backoff of 2 s plus the failing leader lookup): the reset
// first, then "kafka: client has run out of available brokers to talk to"
// with the failed dials; consuming resumes within a second of the end.
// Neither outage reaches the ZooKeeper side: no rebalance, no revoke or
// loss, the handlers stay running (idle), the committed offsets just stop
// moving.
func TestBrokersUnreachableMidRun(t *testing.T) {
	cl := shared.Get(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	group := fmt.Sprintf("s9-brokers-%d", time.Now().UnixNano()%1e6)
	topic := group + "-t"
	const partitions = 8
	if err := cl.CreateTopic(ctx, topic, partitions, 3); err != nil {
		t.Fatal(err)
	}
	obs := dialObserver(t, ctx)
	var plog scenario.Log
	logs := &logRecorder{}
	var members []*inprocMember
	for _, name := range []string{"A", "B", "C"} {
		members = append(members, startInproc(t, name, balanced.Config{
			Group: group, Topics: []string{topic}, ZooKeeper: cl.ZooKeeperAddr(),
			Listener: cluster.ListenerProxied, SessionTimeout: session,
		}, &plog, logs))
	}
	// The members start together but register some milliseconds apart, so
	// the start may take more than one rebalance (a member rebalancing on a
	// partial view claims partitions it hands over moments later). The
	// outages start once the group has settled; from then on no hook may
	// be called.
	owners, _ := waitSettled(t, ctx, obs, group, topic, partitions, len(members), inprocSettled(topic, members))
	t.Logf("owners: %s", describeOwners(owners, members))
	settled := make([]int, len(members))
	for i, m := range members {
		calls := m.hookCalls()
		settled[i] = len(calls)
		t.Logf("member %s: hooks until the group settled: %v", m.name, calls)
	}

	stream := startStream(ctx, t, topic, partitions)
	defer stream.stop()
	waitCaughtUp(t, ctx, &plog, topic, 30*time.Second, "before the outages")

	for _, phase := range []struct {
		name string
		cut  func(id int32)
	}{
		{"drop", func(id int32) { cl.BrokerProxy(id).Drop(brokerOutage) }},
		{"refuse", func(id int32) { cl.BrokerProxy(id).Refuse(brokerOutage) }},
	} {
		atCut := plog.Processed()
		start := time.Now()
		for _, id := range cl.BrokerIDs() {
			phase.cut(id)
		}
		// Checked every second until just before the end, where what was
		// processed during the outage is counted.
		last := start.Add(brokerOutage - 200*time.Millisecond)
		for time.Now().Before(last) {
			next := time.Now().Add(time.Second)
			if next.After(last) {
				next = last
			}
			sleepUntil(ctx, next)
			checkOwnersUnchanged(t, ctx, obs, group, topic, owners, phase.name)
			checkRunning(t, members)
		}
		during := plog.Processed() - atCut
		sleepUntil(ctx, start.Add(brokerOutage))
		end := time.Now()
		caughtUp := waitCaughtUp(t, ctx, &plog, topic, 60*time.Second, "after the "+phase.name)
		t.Logf("%s: every broker unreachable for %s; %d messages processed meanwhile (fetched before); "+
			"caught up %s after the end; logged: %s", phase.name, brokerOutage, during,
			caughtUp.Sub(end).Round(10*time.Millisecond), logs.summary(start, caughtUp))
	}

	produced := stream.stop()
	waitCaughtUp(t, ctx, &plog, topic, 60*time.Second, "at the end")
	checkCommittedAtEnd(t, ctx, obs, group, topic, partitions)
	checkOwnersUnchanged(t, ctx, obs, group, topic, owners, "at the end")
	checkRunning(t, members)
	an := plog.Analyze(logEnds(t, ctx, topic))
	t.Logf("RESULT %d batches produced, %d messages in the log, %d processing records: %s",
		produced, plog.Processed(), len(plog.Records()), an)
	if an.Lost != 0 || an.Overlaps != 0 {
		t.Errorf("lost %d, overlap %d (%s)", an.Lost, an.Overlaps, an.FirstOverlap)
	}
	for i, m := range members {
		if after := m.hookCalls()[settled[i]:]; len(after) != 0 {
			t.Errorf("member %s: hooks called after the group settled: %v; want none (no partition moves over a broker outage)",
				m.name, after)
		}
	}
	for _, m := range members {
		if err := m.stop(); err != nil {
			t.Errorf("member %s: %v", m.name, err)
		}
	}
}

// TestZooKeeperUnreachableMidRun (S9): three member processes consume a
// stream of one topic x 8 partitions when ZooKeeper becomes unreachable for
// all of them at once (each member's ZooKeeper proxy drops everything),
// twice, while the brokers stay reachable (the members reach them directly)
// and the harness keeps producing:
//
//   - short: 3 s, half the 6 s session timeout. The same sessions come
//     back: the owner znodes must be the very same znodes afterwards (same
//     creation zxid and session), nobody re-registers, consuming resumes.
//   - long: 10 s, longer than the session. ZooKeeper expires every
//     session, so the member and owner znodes disappear during the cut;
//     afterwards every member must register again (same member id, new
//     session), the partitions are claimed again and consuming resumes.
//
// At the end: no member exited, lost 0, overlap 0, committed offsets equal
// the log end, and the ownership audit is clean.
//
// Observed (the test logs the members' warnings of each cut). A member's
// handlers keep running while ZooKeeper is silent for less than
// LostAfterDisconnect (half the session, 3 s, counted from the server's
// last answer, not from when the cut is noticed): the brokers are
// reachable, and the session is alive. Past that it logs "ZooKeeper silent
// too long; stopping handlers until it answers in the same session" and
// stops every handler. After the short cut the same session is back: the
// member logs "partitions lost" (OnLost) and, at Info, "ZooKeeper answers
// again in the same session; resuming", and restarts the handlers from the
// last committed offset; the owner znodes are untouched. During
// the long cut the server expires the sessions about 6 s in and the member
// and owner znodes vanish; on reconnect each member logs "zookeeper session
// expired", a "commit fenced: partition no longer ours; stopping its
// handler" for each commit its suspended partitions still attempted (all
// refused: nothing is written in the dead session's name), "partitions
// lost" and "zookeeper session lost; opening a new one", registers again
// under the same member id and rebalances. Messages processed but not yet
// committed before a cut are processed again: duplicates, never overlap.
func TestZooKeeperUnreachableMidRun(t *testing.T) {
	cl := shared.Get(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dir := t.TempDir()
	bin := buildMember(t, dir)
	group := fmt.Sprintf("s9-zk-%d", time.Now().UnixNano()%1e6)
	topic := group + "-t"
	const partitions = 8
	if err := cl.CreateTopic(ctx, topic, partitions, 3); err != nil {
		t.Fatal(err)
	}
	obs := dialObserver(t, ctx)
	actx, stopAudit := context.WithCancel(ctx)
	defer stopAudit()
	aud := startAudit(actx, cl.ZooKeeperAddr(), group, []string{topic}, session+5*time.Second) // the members' connect string, direct

	var members []*memberProc
	for _, name := range []string{"A", "B", "C"} {
		m, err := startMember(ctx, bin, dir, name, cl.ZooKeeperAddr(), cl.BrokerAddrs(), group, []string{topic}, session)
		if err != nil {
			t.Fatal(err)
		}
		members = append(members, m)
		defer func() { _ = m.leave() }() // a no-op after the leave at the end
	}
	owners, _ := waitSettled(t, ctx, obs, group, topic, partitions, len(members), nil)
	stream := startStream(ctx, t, topic, partitions)
	defer stream.stop()
	waitCaughtUpLogs(t, ctx, dir, topic, 30*time.Second, "before the cuts")

	// Short cut: the sessions survive.
	marks := stderrMarks(members)
	for _, m := range members {
		m.proxy.Drop(3 * time.Second)
	}
	sleepUntil(ctx, time.Now().Add(3*time.Second))
	end := time.Now()
	back := waitReconnected(t, members, end)
	caughtUp := waitCaughtUpLogs(t, ctx, dir, topic, 60*time.Second, "after the short cut")
	checkOwnersUnchanged(t, ctx, obs, group, topic, owners, "after the short cut")
	t.Logf("short cut (3 s): members connected again %s after the end, caught up %s after it; owner znodes unchanged; members logged: %s",
		back.Sub(end).Round(10*time.Millisecond), caughtUp.Sub(end).Round(10*time.Millisecond), stderrSummary(members, marks))

	// Long cut: the sessions expire.
	marks = stderrMarks(members)
	const long = session + 4*time.Second
	start := time.Now()
	for _, m := range members {
		m.proxy.Drop(long)
	}
	var expiredAfter time.Duration
	for time.Since(start) < long {
		ids, _, err := obs.Children(ctx, "/consumers/"+group+"/ids")
		if err != nil {
			t.Fatal(err)
		}
		if len(ids) == 0 && expiredAfter == 0 {
			expiredAfter = time.Since(start)
			if cur := readOwners(t, ctx, obs, group, topic); len(cur) != 0 {
				t.Errorf("every member's session expired but %d owner znodes remain", len(cur))
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	if expiredAfter == 0 {
		t.Fatalf("the members stayed registered through a %s cut (session %s)", long, session)
	}
	end = time.Now()
	after, ownersBack := waitSettled(t, ctx, obs, group, topic, partitions, len(members), nil)
	caughtUp = waitCaughtUpLogs(t, ctx, dir, topic, 60*time.Second, "after the long cut")
	for p, o := range after {
		if o.session == owners[p].session {
			t.Errorf("partition %d: owner znode in the expired session %x", p, o.session)
		}
	}
	t.Logf("long cut (%s): sessions expired %s into it; owners back %s and caught up %s after the end; members logged: %s",
		long, expiredAfter.Round(10*time.Millisecond), ownersBack.Sub(end).Round(10*time.Millisecond),
		caughtUp.Sub(end).Round(10*time.Millisecond), stderrSummary(members, marks))

	stream.stop()
	waitCaughtUpLogs(t, ctx, dir, topic, 60*time.Second, "at the end")
	checkCommittedAtEnd(t, ctx, obs, group, topic, partitions)
	for _, m := range members {
		if !m.alive() {
			t.Errorf("member %s exited: %s", m.name, m.stderr.String())
		}
	}
	log, err := readLogs(dir)
	if err != nil {
		t.Fatal(err)
	}
	an := log.Analyze(logEnds(t, ctx, topic))
	t.Logf("RESULT %d messages in the log, %d processing records: %s", log.Processed(), len(log.Records()), an)
	if an.Lost != 0 || an.Overlaps != 0 {
		t.Errorf("lost %d, overlap %d (%s)", an.Lost, an.Overlaps, an.FirstOverlap)
	}
	stopAudit()
	violations, stats := aud.result()
	t.Logf("ownership audit: %s; %d violations", stats, len(violations))
	for _, v := range violations {
		t.Errorf("audit: %s", v)
	}
	for _, m := range members {
		if err := m.leave(); err != nil {
			t.Error(err)
		}
	}
}

// waitReconnected waits until every member has a ZooKeeper connection
// accepted by its proxy after end that has carried an answer from the
// server (a cut ends with the reset of the connections it held; a new
// connection means the member reconnected), and returns when that was
// seen. The next cut must not start before, or it would also cut the
// reconnection and the session would expire early.
func waitReconnected(t *testing.T, members []*memberProc, end time.Time) time.Time {
	t.Helper()
	type base struct{ accepted, toClient int64 }
	at := make([]base, len(members))
	for i, m := range members {
		st := m.proxy.Stats()
		at[i] = base{st.Accepted, st.BytesToClient}
	}
	deadline := end.Add(30 * time.Second)
	for {
		done := true
		for i, m := range members {
			st := m.proxy.Stats()
			if st.Accepted <= at[i].accepted || st.Active == 0 || st.BytesToClient <= at[i].toClient {
				done = false
			}
		}
		if done {
			return time.Now()
		}
		if time.Now().After(deadline) {
			t.Fatalf("members not connected to ZooKeeper again within 30s of the cut's end")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// dialObserver opens the test's own ZooKeeper connection (direct, never
// faulted); it sets no watches (see audit).
func dialObserver(t *testing.T, ctx context.Context) *zkwatch.Conn {
	t.Helper()
	cl := shared.Get(t)
	obs, err := zkwatch.Dial(ctx, zkwatch.Config{Servers: cl.ZooKeeperAddr(), SessionTimeout: 30 * time.Second,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(obs.Close)
	return obs
}

// ownerZnode is what identifies one owner znode: its value, its creation
// zxid and the session it is ephemeral in.
type ownerZnode struct {
	value   string
	czxid   int64
	session int64
}

// readOwners reads the owner znodes of topic in a Scala-layout group.
func readOwners(t *testing.T, ctx context.Context, obs *zkwatch.Conn, group, topic string) map[int32]ownerZnode {
	t.Helper()
	dir := "/consumers/" + group + "/owners/" + topic
	names, _, err := obs.Children(ctx, dir)
	if err != nil && !isNoNode(err) {
		t.Fatalf("%s: %v", dir, err)
	}
	out := map[int32]ownerZnode{}
	for _, n := range names {
		data, st, err := obs.Get(ctx, dir+"/"+n)
		if isNoNode(err) {
			continue
		}
		if err != nil {
			t.Fatalf("%s/%s: %v", dir, n, err)
		}
		out[partitionOf(n)] = ownerZnode{value: string(data), czxid: st.Czxid, session: st.EphemeralOwner}
	}
	return out
}

func isNoNode(err error) bool { return errors.Is(err, zkwatch.ErrNoNode) }

// checkOwnersUnchanged fails unless the owner znodes are exactly want.
func checkOwnersUnchanged(t *testing.T, ctx context.Context, obs *zkwatch.Conn, group, topic string, want map[int32]ownerZnode, when string) {
	t.Helper()
	if got := readOwners(t, ctx, obs, group, topic); !maps.Equal(got, want) {
		t.Fatalf("%s: owner znodes changed:\n got %v\nwant %v", when, got, want)
	}
}

func describeOwners(owners map[int32]ownerZnode, members []*inprocMember) string {
	by := map[string][]int32{}
	for p, o := range owners {
		for _, m := range members {
			if strings.HasPrefix(o.value, m.c.MemberID()) {
				by[m.name] = append(by[m.name], p)
			}
		}
	}
	var parts []string
	for _, name := range slices.Sorted(maps.Keys(by)) {
		slices.Sort(by[name])
		parts = append(parts, fmt.Sprintf("%s %v", name, by[name]))
	}
	return strings.Join(parts, ", ")
}

// logEnds reads the log end of every partition of topic (over PLAINTEXT).
func logEnds(t *testing.T, ctx context.Context, topic string) map[balanced.TopicPartition]int64 {
	t.Helper()
	cl := shared.Get(t)
	leo, err := cl.LogEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	out := map[balanced.TopicPartition]int64{}
	for p, off := range leo {
		out[balanced.TopicPartition{Topic: topic, Partition: p}] = off
	}
	return out
}

func total(ends map[balanced.TopicPartition]int64) int {
	n := 0
	for _, e := range ends {
		n += int(e)
	}
	return n
}

// waitCaughtUp waits until every message in topic's log (as of the call)
// is in plog, and returns when that was seen.
func waitCaughtUp(t *testing.T, ctx context.Context, plog *scenario.Log, topic string, timeout time.Duration, when string) time.Time {
	t.Helper()
	return waitCaughtUpFn(t, ctx, topic, timeout, when, func() (int, error) { return plog.Processed(), nil })
}

// waitCaughtUpLogs is waitCaughtUp for member processes' logs in dir.
func waitCaughtUpLogs(t *testing.T, ctx context.Context, dir, topic string, timeout time.Duration, when string) time.Time {
	t.Helper()
	return waitCaughtUpFn(t, ctx, topic, timeout, when, func() (int, error) {
		l, err := readLogs(dir)
		if err != nil {
			return 0, err
		}
		return l.Processed(), nil
	})
}

func waitCaughtUpFn(t *testing.T, ctx context.Context, topic string, timeout time.Duration, when string, processed func() (int, error)) time.Time {
	t.Helper()
	want := total(logEnds(t, ctx, topic))
	deadline := time.Now().Add(timeout)
	for {
		n, err := processed()
		if err != nil {
			t.Fatal(err)
		}
		if n >= want {
			return time.Now()
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: processed %d of %d messages within %s", when, n, want, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// checkCommittedAtEnd waits up to 30 s for every committed offset of the
// group to reach the log end.
func checkCommittedAtEnd(t *testing.T, ctx context.Context, obs *zkwatch.Conn, group, topic string, partitions int) {
	t.Helper()
	ends := logEnds(t, ctx, topic)
	if len(ends) != partitions {
		t.Fatalf("%d partitions in the log ends", len(ends))
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		ok, err := committedAtEnd(ctx, obs, group, ends)
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("committed offsets not at the log end within 30s: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// msgStream produces one message to every partition of a topic every 200 ms
// (over PLAINTEXT: the broker proxies do not affect it) until stopped.
type msgStream struct {
	cancel   context.CancelFunc
	done     chan struct{}
	tolerant bool // count failed batches instead of failing the test
	mu       sync.Mutex
	batches  int
	failed   int
	err      error
	t        *testing.T
}

func startStream(ctx context.Context, t *testing.T, topic string, partitions int32) *msgStream {
	return newStream(ctx, t, topic, partitions, false)
}

// startTolerantStream is startStream for a run where brokers go down: a
// failed batch (some of its messages may be written) is counted, not an
// error; the checks cover every offset below the log end.
func startTolerantStream(ctx context.Context, t *testing.T, topic string, partitions int32) *msgStream {
	return newStream(ctx, t, topic, partitions, true)
}

func newStream(ctx context.Context, t *testing.T, topic string, partitions int32, tolerant bool) *msgStream {
	cl := shared.Get(t)
	ctx, cancel := context.WithCancel(ctx)
	s := &msgStream{cancel: cancel, done: make(chan struct{}), t: t, tolerant: tolerant}
	go func() { // owned by s: ends when stop cancels ctx
		defer close(s.done)
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for b := 0; ; b++ {
			msgs := make([]cluster.Message, partitions)
			for p := range msgs {
				msgs[p] = cluster.Message{Partition: int32(p), Value: []byte(fmt.Sprintf("b%d-p%d", b, p))}
			}
			_, err := cl.Produce(ctx, topic, msgs)
			s.mu.Lock()
			switch {
			case err == nil:
				s.batches++
			case ctx.Err() != nil:
			case s.tolerant:
				s.failed++
			case s.err == nil:
				s.err = err
			}
			s.mu.Unlock()
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return s
}

// stop ends the stream (idempotent) and returns the batches produced; a
// produce error fails the test.
func (s *msgStream) stop() int {
	s.cancel()
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		s.t.Errorf("stream: %v", s.err)
		s.err = nil
	}
	return s.batches
}

// failures is how many batches failed (a tolerant stream's).
func (s *msgStream) failures() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.failed
}

// inprocMember is a balanced.Consumer run by the test, recording into a
// shared processing log, its hooks and its logs.
type inprocMember struct {
	name   string
	c      *balanced.Consumer
	cancel context.CancelFunc
	exited chan struct{} // closed when Run has returned
	err    error         // Run's error, set before exited is closed

	mu    sync.Mutex
	calls []hookCall // every hook call, in order
}

// hookKind names one of the hooks.
type hookKind string

const (
	hookAssigned hookKind = "assigned"
	hookRevoked  hookKind = "revoked"
	hookLost     hookKind = "lost"
)

// hookCall is one call of OnAssigned, OnRevoked or OnLost.
type hookCall struct {
	kind hookKind
	tps  []balanced.TopicPartition
}

func (c hookCall) String() string { return fmt.Sprintf("%s %v", c.kind, c.tps) }

func startInproc(t *testing.T, name string, cfg balanced.Config, plog *scenario.Log, logs *logRecorder) *inprocMember {
	t.Helper()
	m := &inprocMember{name: name, exited: make(chan struct{})}
	record := func(kind hookKind) func(context.Context, []balanced.TopicPartition) {
		return func(_ context.Context, tps []balanced.TopicPartition) {
			m.mu.Lock()
			defer m.mu.Unlock()
			m.calls = append(m.calls, hookCall{kind: kind, tps: slices.Clone(tps)})
		}
	}
	cfg.Hooks = balanced.Hooks{OnAssigned: record(hookAssigned), OnRevoked: record(hookRevoked), OnLost: record(hookLost)}
	cfg.Logger = slog.New(&recordHandler{r: logs, attrs: []slog.Attr{slog.String("m", name)}})
	c, err := balanced.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	m.c = c
	ctx, cancel := context.WithCancel(context.Background())
	m.cancel = cancel
	go func() { // owned by m: ends when stop cancels ctx
		defer close(m.exited)
		m.err = c.Run(ctx, scenario.Recorder(plog, name, 0))
	}()
	t.Cleanup(func() { _ = m.stop() })
	return m
}

// stop cancels Run and waits up to 60 s for it; it returns Run's error.
func (m *inprocMember) stop() error {
	m.cancel()
	select {
	case <-m.exited:
		return m.err
	case <-time.After(60 * time.Second):
		return fmt.Errorf("run did not return within 60s of cancel")
	}
}

// hooks returns the partitions of each OnAssigned, OnRevoked and OnLost
// call so far.
func (m *inprocMember) hooks() (assigned, revoked, lost [][]balanced.TopicPartition) {
	for _, c := range m.hookCalls() {
		switch c.kind {
		case hookAssigned:
			assigned = append(assigned, c.tps)
		case hookRevoked:
			revoked = append(revoked, c.tps)
		case hookLost:
			lost = append(lost, c.tps)
		}
	}
	return assigned, revoked, lost
}

// hookCalls returns every hook call so far, in order.
func (m *inprocMember) hookCalls() []hookCall {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.calls)
}

// checkRunning fails if a member's Run has returned.
func checkRunning(t *testing.T, members []*inprocMember) {
	t.Helper()
	for _, m := range members {
		select {
		case <-m.exited:
			t.Fatalf("member %s: Run returned: %v", m.name, m.err)
		default:
		}
	}
}

// logRecorder keeps the members' log records at Info and above.
type logRecorder struct {
	mu   sync.Mutex
	recs []logRec
}

type logRec struct {
	at     time.Time
	level  slog.Level
	member string
	msg    string
	err    string
}

// summary counts the warnings between from and to by message, with the
// distinct error texts of each (numbers replaced by N: addresses, topics,
// partitions).
func (r *logRecorder) summary(from, to time.Time) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	type agg struct {
		n       int
		members map[string]bool
		errs    map[string]int
	}
	by := map[string]*agg{}
	for _, rec := range r.recs {
		if rec.at.Before(from) || rec.at.After(to) || rec.level < slog.LevelWarn {
			continue
		}
		key := rec.level.String() + " " + fmt.Sprintf("%q", rec.msg)
		a := by[key]
		if a == nil {
			a = &agg{members: map[string]bool{}, errs: map[string]int{}}
			by[key] = a
		}
		a.n++
		a.members[rec.member] = true
		if rec.err != "" {
			a.errs[digits.ReplaceAllString(rec.err, "N")]++
		}
	}
	if len(by) == 0 {
		return "no warnings"
	}
	var parts []string
	for _, key := range slices.Sorted(maps.Keys(by)) {
		a := by[key]
		s := fmt.Sprintf("%s x%d (%d members)", key, a.n, len(a.members))
		for _, e := range slices.Sorted(maps.Keys(a.errs)) {
			s += fmt.Sprintf("\n\t\t%dx err=%q", a.errs[e], e)
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "; ")
}

var digits = regexp.MustCompile(`[0-9]+`)

// recordHandler is a slog.Handler feeding a logRecorder.
type recordHandler struct {
	r     *logRecorder
	attrs []slog.Attr
}

func (h *recordHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelInfo }

func (h *recordHandler) Handle(_ context.Context, rec slog.Record) error {
	lr := logRec{at: rec.Time, level: rec.Level, msg: rec.Message}
	visit := func(a slog.Attr) bool {
		switch a.Key {
		case "m":
			lr.member = a.Value.String()
		case "err":
			lr.err = a.Value.String()
		}
		return true
	}
	for _, a := range h.attrs {
		visit(a)
	}
	rec.Attrs(visit)
	h.r.mu.Lock()
	h.r.recs = append(h.r.recs, lr)
	h.r.mu.Unlock()
	return nil
}

func (h *recordHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &recordHandler{r: h.r, attrs: append(slices.Clone(h.attrs), attrs...)}
}

func (h *recordHandler) WithGroup(string) slog.Handler { return h }

// stderrMarks records how much of each member's stderr has been seen.
func stderrMarks(members []*memberProc) []int {
	out := make([]int, len(members))
	for i, m := range members {
		out[i] = len(m.stderr.String())
	}
	return out
}

// stderrSummary counts the WARN and ERROR lines the members wrote to stderr
// since marks, by message.
func stderrSummary(members []*memberProc, marks []int) string {
	count := map[string]int{}
	who := map[string]map[string]bool{}
	for i, m := range members {
		s := m.stderr.String()
		if marks[i] > len(s) { // the tail buffer dropped its start
			marks[i] = 0
		}
		for line := range strings.SplitSeq(s[marks[i]:], "\n") {
			level := fieldOf(line, "level")
			if level != "WARN" && level != "ERROR" {
				continue
			}
			key := level + " " + fmt.Sprintf("%q", fieldOf(line, "msg"))
			count[key]++
			if who[key] == nil {
				who[key] = map[string]bool{}
			}
			who[key][m.name] = true
		}
	}
	if len(count) == 0 {
		return "no warnings"
	}
	var parts []string
	for _, key := range slices.Sorted(maps.Keys(count)) {
		parts = append(parts, fmt.Sprintf("%s x%d (%d members)", key, count[key], len(who[key])))
	}
	return strings.Join(parts, "; ")
}

// fieldOf extracts key's value from a slog text line (quoted or not).
func fieldOf(line, key string) string {
	var v string
	if rest, ok := strings.CutPrefix(line, key+"="); ok {
		v = rest
	} else if i := strings.Index(line, " "+key+"="); i >= 0 {
		v = line[i+len(key)+2:]
	} else {
		return ""
	}
	if strings.HasPrefix(v, `"`) {
		for j := 1; j < len(v); j++ {
			if v[j] == '\\' {
				j++
				continue
			}
			if v[j] == '"' {
				return v[1:j]
			}
		}
		return v[1:]
	}
	if j := strings.IndexByte(v, ' '); j >= 0 {
		return v[:j]
	}
	return v
}
