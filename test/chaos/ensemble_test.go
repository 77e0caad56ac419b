package chaos

import (
	"context"
	"fmt"
	"log/slog"
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

// ensembleShared is the ensemble tests' cluster: a 3-server ZooKeeper
// quorum with a proxy in front of every server, and one broker. Members
// connect with every server's proxy in their connect string
// (ProxiedZooKeeperConnect), so a test can cut one server off from them;
// the broker, the harness and the test's observer connect directly. It is
// started by the first ensemble test and closed by TestMain.
var ensembleShared = cluster.NewShared(cluster.Config{Brokers: 1, ZooKeeperServers: 3, ZooKeeperProxies: true})

// ensemblePartitions is the partition count of an ensemble test's topic.
const ensemblePartitions = 8

// ensembleRun is one ensemble test's group: member processes consuming one
// topic that a stream feeds with one message per partition every 100 ms.
type ensembleRun struct {
	t     *testing.T
	cl    *cluster.Cluster
	ctx   context.Context
	dir   string
	bin   string
	group string
	topic string
	obs   *zkwatch.Conn

	stream *cluster.Stream
	audit  *audit
	stopAu context.CancelFunc

	mu      sync.Mutex
	members []*memberProc // every member started, live or not
}

func newEnsembleRun(t *testing.T, prefix string) *ensembleRun {
	t.Helper()
	cl := ensembleShared.Get(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	if _, err := cl.ZooKeeperLeader(ctx); err != nil { // the quorum is complete
		t.Fatal(err)
	}
	r := &ensembleRun{t: t, cl: cl, ctx: ctx, dir: t.TempDir(),
		group: fmt.Sprintf("%s-%d", prefix, time.Now().UnixNano()%1e6)}
	r.topic = r.group + "-t"
	r.bin = buildMember(t, r.dir)
	if err := cl.CreateTopic(ctx, r.topic, ensemblePartitions, 1); err != nil {
		t.Fatal(err)
	}
	obs, err := zkwatch.Dial(ctx, zkwatch.Config{Servers: cl.ZooKeeperConnect(), SessionTimeout: 30 * time.Second,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(obs.Close)
	r.obs = obs
	actx, stop := context.WithCancel(ctx)
	r.stopAu = stop
	r.audit = startAudit(actx, cl.ZooKeeperConnect(), r.group, []string{r.topic}, session+5*time.Second)
	t.Cleanup(func() {
		stop()
		for _, m := range r.all() {
			if m.alive() {
				_ = m.leave()
			}
		}
		if t.Failed() {
			for _, m := range r.all() {
				t.Logf("member %s stderr (tail):\n%s", m.name, cluster.Tail([]byte(m.stderr.String()), 15))
			}
		}
	})
	return r
}

// join starts a member connected to every server of the ensemble through
// the servers' proxies.
func (r *ensembleRun) join(name string) *memberProc {
	r.t.Helper()
	m, err := startMemberConnect(r.bin, r.dir, name, r.cl.ProxiedZooKeeperConnect(), r.cl.BrokerAddrs(), r.group,
		[]string{r.topic}, session)
	if err != nil {
		r.t.Fatal(err)
	}
	r.mu.Lock()
	r.members = append(r.members, m)
	r.mu.Unlock()
	return m
}

func (r *ensembleRun) all() []*memberProc {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.members)
}

func (r *ensembleRun) live() []*memberProc {
	var out []*memberProc
	for _, m := range r.all() {
		if m.alive() {
			out = append(out, m)
		}
	}
	return out
}

// startStream starts the message stream: 8 messages (one per partition)
// every 100 ms.
func (r *ensembleRun) startStream() {
	r.stream = r.cl.StartStream(r.topic, ensemblePartitions, ensemblePartitions, 100*time.Millisecond)
	r.t.Cleanup(func() { _, _ = r.stream.Stop() })
}

// settled waits until the live members are registered and own their
// shares (waitSettled), and returns the owner znodes.
func (r *ensembleRun) settled() map[int32]ownerZnode {
	r.t.Helper()
	owners, _ := waitSettled(r.t, r.ctx, r.obs, r.group, r.topic, ensemblePartitions, len(r.live()), nil)
	return owners
}

// sessions maps every registered member id to the session its
// registration is ephemeral in.
func (r *ensembleRun) sessions() map[string]int64 {
	r.t.Helper()
	dir := "/consumers/" + r.group + "/ids"
	ids, _, err := r.obs.Children(r.ctx, dir)
	if err != nil {
		r.t.Fatal(err)
	}
	out := map[string]int64{}
	for _, id := range ids {
		_, st, err := r.obs.Get(r.ctx, dir+"/"+id)
		if err != nil {
			r.t.Fatal(err)
		}
		out[id] = st.EphemeralOwner
	}
	return out
}

// checkSessionsKept fails for every member registered in before and still
// alive whose registration is now in another session, and for every
// member that logged a session expiry.
func (r *ensembleRun) checkSessionsKept(before map[string]int64, when string) {
	r.t.Helper()
	now := r.sessions()
	for _, m := range r.live() {
		if was, ok := before[m.id]; ok && now[m.id] != was {
			r.t.Errorf("%s: member %s's session changed from 0x%x to 0x%x while a quorum was up", when, m.name, was, now[m.id])
		}
	}
	for _, m := range r.all() {
		if strings.Contains(m.stderr.String(), "zookeeper session expired") {
			r.t.Errorf("%s: member %s lost its session while a quorum was up", when, m.name)
		}
	}
}

// logEnds reads the topic's log ends.
func (r *ensembleRun) logEnds() map[balanced.TopicPartition]int64 {
	r.t.Helper()
	leo, err := r.cl.LogEndOffsets(r.ctx, r.topic)
	if err != nil {
		r.t.Fatal(err)
	}
	out := map[balanced.TopicPartition]int64{}
	for p, off := range leo {
		out[balanced.TopicPartition{Topic: r.topic, Partition: p}] = off
	}
	return out
}

// caughtUp waits until every message in the log (as of the call) is in
// the processing logs.
func (r *ensembleRun) caughtUp(timeout time.Duration, when string) {
	r.t.Helper()
	want := total(r.logEnds())
	deadline := time.Now().Add(timeout)
	for {
		l, err := readLogs(r.dir)
		if err != nil {
			r.t.Fatal(err)
		}
		if l.Processed() >= want {
			return
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("%s: processed %d of %d messages within %s", when, l.Processed(), want, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// finish stops the stream and checks the end state: everything processed
// and committed, lost 0, overlap 0, the ownership audit clean, no member
// died on its own.
func (r *ensembleRun) finish() *scenario.Log {
	r.t.Helper()
	if _, err := r.stream.Stop(); err != nil {
		r.t.Errorf("stream: %v", err)
	}
	r.settled()
	r.caughtUp(60*time.Second, "at the end")
	ends := r.logEnds()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ok, err := committedAtEnd(r.ctx, r.obs, r.group, ends)
		if ok {
			break
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("committed offsets not at the log end within 30s: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, m := range r.all() {
		if !m.alive() && m.cmd.ProcessState != nil && !m.cmd.ProcessState.Success() {
			r.t.Errorf("member %s exited: %s", m.name, m.stderr.String())
		}
	}
	log, err := readLogs(r.dir)
	if err != nil {
		r.t.Fatal(err)
	}
	an := log.Analyze(ends)
	r.t.Logf("RESULT %d messages, %d processing records: %s", total(ends), len(log.Records()), an)
	if an.Lost != 0 || an.Overlaps != 0 {
		r.t.Errorf("lost %d, overlap %d (%s)", an.Lost, an.Overlaps, an.FirstOverlap)
	}
	r.stopAu()
	violations, stats := r.audit.result()
	r.t.Logf("ownership audit: %s; %d violations", stats, len(violations))
	for _, v := range violations {
		r.t.Errorf("audit: %s", v)
	}
	return log
}

// partitionGaps is, per partition, the longest time within [from, to]
// between two consecutive starts of processing a message of it (from
// counts as a start): with the stream's one message per partition every
// 100 ms, the longest pause the partition saw. Pure.
func partitionGaps(recs []scenario.Record, from, to time.Time) map[balanced.TopicPartition]time.Duration {
	starts := map[balanced.TopicPartition][]time.Time{}
	for _, r := range recs {
		if !r.Start.Before(from) && !r.Start.After(to) {
			starts[r.TP] = append(starts[r.TP], r.Start)
		}
	}
	out := map[balanced.TopicPartition]time.Duration{}
	for tp, ts := range starts {
		slices.SortFunc(ts, func(a, b time.Time) int { return a.Compare(b) })
		prev := from
		for _, s := range ts {
			out[tp] = max(out[tp], s.Sub(prev))
			prev = s
		}
		out[tp] = max(out[tp], to.Sub(prev))
	}
	return out
}

// gapSummary is "p50 X, max Y (partition)" of gaps.
func gapSummary(gaps map[balanced.TopicPartition]time.Duration) (p50, longest time.Duration, s string) {
	var ds []time.Duration
	var at balanced.TopicPartition
	for tp, d := range gaps {
		ds = append(ds, d)
		if d > longest {
			longest, at = d, tp
		}
	}
	if len(ds) == 0 {
		return 0, 0, "no partitions"
	}
	slices.Sort(ds)
	p50 = ds[(len(ds)-1)/2]
	return p50, longest, fmt.Sprintf("p50 %s, max %s (%s), over %d partitions",
		p50.Round(time.Millisecond), longest.Round(time.Millisecond), at, len(ds))
}

// rollingRestart stops (SIGTERM) and restarts every ZooKeeper server in
// turn, each back in the quorum before the next goes, with pause after
// each; between(i) runs while server i is down.
func (r *ensembleRun) rollingRestart(pause time.Duration, between func(i int)) {
	r.t.Helper()
	for i := 1; i <= r.cl.ZooKeeperServers(); i++ {
		mode, _ := r.cl.ZooKeeperMode(i)
		t0 := time.Now()
		if err := r.cl.StopZooKeeperServer(i); err != nil {
			r.t.Fatal(err)
		}
		if between != nil {
			between(i)
		}
		time.Sleep(time.Second)
		if err := r.cl.StartZooKeeperServer(r.ctx, i); err != nil {
			r.t.Fatal(err)
		}
		leader, err := r.cl.ZooKeeperLeader(r.ctx)
		if err != nil {
			r.t.Fatal(err)
		}
		r.t.Logf("server %d (%s) restarted in %s; leader now %d", i, mode, time.Since(t0).Round(time.Millisecond), leader)
		time.Sleep(pause)
	}
}

// stoppedHandlers counts the members' "stopping handlers" warnings since
// marks (a member suspended its handlers because ZooKeeper was silent or
// unreachable for too long).
func stoppedHandlers(members []*memberProc, marks []int) int {
	n := 0
	for i, m := range members {
		s := m.stderr.String()
		if marks[i] > len(s) {
			marks[i] = 0
		}
		n += strings.Count(s[marks[i]:], "stopping handlers")
	}
	return n
}

// TestEnsembleRollingRestart: three members consume a stream while every
// server of the 3-server ensemble is restarted in turn (SIGTERM, 1 s down,
// back in the quorum, 3 s pause), twice: first with a steady group, measuring
// the longest processing gap per partition through the restarts; then while
// members join and leave (one joins while server 1 is down, one leaves while
// server 2 is down, one joins while server 3 is down). No member may lose
// its session (a quorum is always up), and at the end lost 0, overlap 0,
// committed offsets at the log end, the ownership audit clean.
func TestEnsembleRollingRestart(t *testing.T) {
	r := newEnsembleRun(t, "ens-roll")
	for _, name := range []string{"A", "B", "C"} {
		r.join(name)
	}
	r.settled()
	r.startStream()
	r.caughtUp(30*time.Second, "before the restarts")
	before := r.sessions()

	members := r.all()
	marks := stderrMarks(members)
	from := time.Now()
	r.rollingRestart(3*time.Second, nil)
	to := time.Now()
	r.caughtUp(30*time.Second, "after the steady rolling restart")
	log, err := readLogs(r.dir)
	if err != nil {
		t.Fatal(err)
	}
	_, longest, sum := gapSummary(partitionGaps(log.Records(), from, to))
	stops := stoppedHandlers(members, marks)
	t.Logf("RESULT rolling restart of a steady group (%s): longest processing gap per partition %s; handlers stopped %d times; members logged: %s",
		to.Sub(from).Round(time.Millisecond), sum, stops, stderrSummary(members, marks))
	r.checkSessionsKept(before, "steady rolling restart")
	// A server restart pauses no handler when the member reconnects to
	// another server before ZooKeeper has been silent for half the
	// session (3 s). (Measured before the handler stop was based on the
	// time since the last answer: every member stopped at every restart of
	// its server, gaps p50 1.19 s, max 1.21 s; after: no stop, p50 317 ms,
	// max 323 ms.)
	if stops != 0 || longest >= session/2 {
		t.Errorf("handlers stopped %d times, longest processing gap %s through the rolling restart, although every session survived", stops, longest)
	}

	// Again, while members join and leave.
	var joined []*memberProc
	r.rollingRestart(3*time.Second, func(i int) {
		switch i {
		case 1:
			joined = append(joined, r.join("D"))
		case 2:
			if err := members[0].leave(); err != nil {
				t.Error(err)
			}
		case 3:
			joined = append(joined, r.join("E"))
		}
	})
	r.settled()
	r.checkSessionsKept(before, "rolling restart with joins and leaves")
	r.finish()
}

// TestEnsembleLeaderKilledDuringJoins: two members consume a stream; four
// more start at once (a join storm) and 300 ms later the ZooKeeper leader
// is killed with SIGKILL; the two others elect a new leader and the
// killed server is started again 3 s later. Every member must keep (or, for
// a joiner, get) its session, the group settles with six members, and at
// the end lost 0, overlap 0, committed offsets at the log end, the
// ownership audit clean.
func TestEnsembleLeaderKilledDuringJoins(t *testing.T) {
	r := newEnsembleRun(t, "ens-leader")
	r.join("A")
	r.join("B")
	r.settled()
	r.startStream()
	r.caughtUp(30*time.Second, "before the join storm")
	before := r.sessions()
	leader, err := r.cl.ZooKeeperLeader(r.ctx)
	if err != nil {
		t.Fatal(err)
	}
	members := r.all()
	marks := stderrMarks(members)
	var wg sync.WaitGroup
	for _, name := range []string{"C", "D", "E", "F"} {
		wg.Go(func() { r.join(name) })
	}
	time.Sleep(300 * time.Millisecond)
	t0 := time.Now()
	if err := r.cl.KillZooKeeperServer(leader); err != nil {
		t.Fatal(err)
	}
	next, err := r.cl.ZooKeeperLeader(r.ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("leader %d killed during the join storm; server %d leads %s later", leader, next, time.Since(t0).Round(time.Millisecond))
	time.Sleep(3 * time.Second)
	if err := r.cl.StartZooKeeperServer(r.ctx, leader); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	settledAt := time.Now()
	r.settled()
	t.Logf("six members settled %s after the restart; the first two logged: %s",
		time.Since(settledAt).Round(time.Millisecond), stderrSummary(members, marks))
	r.checkSessionsKept(before, "leader killed during joins")
	r.finish()
}

// TestEnsembleServerCut: three members consume a stream while the server
// most of them are connected to is cut off from its clients by its proxy,
// twice: refused for 5 s (it looks down: every connection is reset, new
// ones too), then dropped for 10 s, longer than the session (a silent
// partition: nothing answers, nothing is reset until the end). Its clients
// move to the other servers in the same session; the servers never lose
// their quorum. At the end lost 0, overlap 0, committed offsets at the log
// end, the ownership audit clean, and the owner znodes are the very same
// znodes as before the cuts.
func TestEnsembleServerCut(t *testing.T) {
	r := newEnsembleRun(t, "ens-cut")
	for _, name := range []string{"A", "B", "C"} {
		r.join(name)
	}
	owners := r.settled()
	r.startStream()
	r.caughtUp(30*time.Second, "before the cuts")
	before := r.sessions()
	members := r.all()
	for _, cut := range []struct {
		name string
		d    time.Duration
		do   func(i int, d time.Duration)
	}{
		{"refused", 5 * time.Second, func(i int, d time.Duration) { r.cl.ZooKeeperProxy(i).Refuse(d) }},
		{"dropped", session + 4*time.Second, func(i int, d time.Duration) { r.cl.ZooKeeperProxy(i).Drop(d) }},
	} {
		busiest, conns := 0, -1
		for i := 1; i <= r.cl.ZooKeeperServers(); i++ {
			if n := r.cl.ZooKeeperProxy(i).Stats().Active; n > conns {
				busiest, conns = i, n
			}
		}
		marks := stderrMarks(members)
		from := time.Now()
		cut.do(busiest, cut.d)
		time.Sleep(cut.d + time.Second)
		r.caughtUp(30*time.Second, "after the "+cut.name+" cut")
		to := time.Now()
		log, err := readLogs(r.dir)
		if err != nil {
			t.Fatal(err)
		}
		_, _, sum := gapSummary(partitionGaps(log.Records(), from, to))
		t.Logf("server %d (%d member connections) %s for %s: processing gaps %s; handlers stopped %d times; members logged: %s",
			busiest, conns, cut.name, cut.d, sum, stoppedHandlers(members, marks), stderrSummary(members, marks))
		r.checkSessionsKept(before, cut.name+" cut")
	}
	checkOwnersUnchanged(t, r.ctx, r.obs, r.group, r.topic, owners, "after the cuts")
	r.finish()
}
