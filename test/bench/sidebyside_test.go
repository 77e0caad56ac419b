package bench_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zkbalance/zkbalance/internal/cluster"
	"github.com/zkbalance/zkbalance/internal/pykafka"
	"github.com/zkbalance/zkbalance/partition"
	"github.com/zkbalance/zkbalance/test/bench"
	"github.com/zkbalance/zkbalance/zkwatch"
)

// run is one TestSideBySide run.
type run struct {
	ctx    context.Context
	cl     *cluster.Cluster
	sizes  sizes
	obs    *zkwatch.Conn // read-only observer (no chroot)
	python string        // the pykafka venv's interpreter; "" without pykafka
	report *bench.Report
}

// columns are the contenders this run includes.
func (r *run) columns() []string {
	var out []string
	for _, c := range bench.Columns {
		if (c == bench.Pykafka && r.python == "") || (c == bench.SaramaGroup && !*flagSaramaGroup) {
			continue
		}
		out = append(out, c)
	}
	return out
}

// TestSideBySide measures zkbalance beside raw sarama, sarama's
// ConsumerGroup and pykafka's BalancedConsumer against this package's
// cluster and writes the report (BENCHMARKS.md). By default it runs the
// smoke sizes, as part of make test, and asserts that every row was
// measured, not the figures; make bench runs it with -bench.full.
func TestSideBySide(t *testing.T) {
	cl := shared.Get(t)
	s := resolve(t)
	r := &run{ctx: t.Context(), cl: cl, sizes: s, report: &bench.Report{Date: time.Now().UTC(), Method: map[string][]string{}}}
	started := time.Now()
	load := bench.LoadAvg()
	dctx, cancel := context.WithTimeout(r.ctx, 30*time.Second)
	obs, err := zkwatch.Dial(dctx, zkwatch.Config{Servers: cl.ZooKeeperAddr(), Logger: memberLogger("observer")})
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(obs.Close)
	r.obs = obs

	facts := []bench.Fact{{"date", r.report.Date.Format("2006-01-02 15:04 MST")}}
	facts = append(facts, bench.MachineFacts()...)
	facts = append(facts, bench.GoFacts()...)
	vctx, cancel := context.WithTimeout(r.ctx, 15*time.Minute)
	facts = append(facts, bench.ClusterFacts(vctx, brokers)...)
	if *flagPykafka {
		// Made once per machine in the harness cache (PyPI on first use).
		t0 := time.Now()
		r.python, err = pykafka.Venv(vctx, pykafka.V28)
		if err != nil {
			cancel()
			t.Fatalf("pykafka venv: %v", err)
		}
		t.Logf("pykafka %s venv ready in %s: %s", pykafka.V28, time.Since(t0).Round(time.Millisecond), r.python)
		pf, err := bench.PythonFacts(vctx, r.python)
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		facts = append(facts, pf...)
	}
	cancel()

	for _, part := range []struct {
		name string
		fn   func(*testing.T)
	}{{"throughput", r.runThroughput}, {"latency", r.runLatencyAll}, {"writes", r.runWrites}, {"rss", r.runRSS}, {"migration", r.runMigration}, {"roundtrips", r.runRoundTrips}, {"cpu", r.runCPU}, {"curve", r.runCurve}} {
		if s.only[part.name] {
			t0 := time.Now()
			part.fn(t)
			t.Logf("%s measured in %s", part.name, time.Since(t0).Round(time.Millisecond))
		}
	}

	race := "off"
	if raceEnabled {
		race = "on (figures are not comparable to a run without it)"
	}
	facts = append(facts,
		bench.Fact{"run", fmt.Sprintf("`go test -run TestSideBySide ./test/bench/ %s`; race detector %s; took %s",
			flagLine(), race, time.Since(started).Round(time.Second))},
		bench.Fact{"load average", fmt.Sprintf("%s at the start, %s at the end (1, 5, 15 min; the machine may be shared)", load, bench.LoadAvg())},
	)
	r.report.Facts = facts
	r.method()

	var md bytes.Buffer
	if err := r.report.WriteMarkdown(&md); err != nil {
		t.Fatal(err)
	}
	out := *flagOut
	if out == "" {
		out = filepath.Join(t.TempDir(), "BENCHMARKS.md")
	}
	if err := os.WriteFile(out, md.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("report written to %s:\n%s", out, md.String())
	for _, m := range r.report.Missing() {
		t.Errorf("not measured: %s", m)
	}
}

// runLatencyAll measures every contender at every group size, on one
// empty topic (a new group each).
func (r *run) runLatencyAll(t *testing.T) {
	parts := r.sizes.partitions
	topic, err := createTopic(r.ctx, r.cl, "join", parts)
	for _, n := range r.sizes.members {
		add := func(l bench.Latency, g joinGroup) {
			if err != nil {
				l.Err = "create topic: " + err.Error()
			} else {
				start := time.Now()
				l = runLatency(t, r.ctx, l, g, r.sizes.joins)
				t.Logf("latency %s (%s) %d x %d: %d of %d joins converged, p50 %s, p99 %s (%s in all)", l.Contender, l.Variant, n, parts,
					l.Converged(), l.Attempted, bench.Percentile(l.Fetching, .5), bench.Percentile(l.Fetching, .99), time.Since(start).Round(time.Second))
			}
			r.report.Latency = append(r.report.Latency, l)
		}
		for _, a := range r.sizes.latencyAssignors {
			l := bench.Latency{Contender: bench.ZKBalance, Variant: a, Members: n, Partitions: parts,
				Setup: "defaults (SessionTimeout 6 s, RebalanceDelay 20 ms, claim backoff 50 ms doubling to 2 s)"}
			if err != nil {
				add(l, nil)
				continue
			}
			g, gerr := newZKGroup(r.ctx, r.cl, r.obs, a, topic, parts)
			if gerr != nil {
				l.Err = gerr.Error()
				r.report.Latency = append(r.report.Latency, l)
				continue
			}
			add(l, g)
		}
		if slices.Contains(r.columns(), bench.SaramaGroup) {
			add(bench.Latency{Contender: bench.SaramaGroup, Variant: "range (eager)", Members: n, Partitions: parts,
				Setup: "sarama defaults (Heartbeat.Interval 3 s, Session.Timeout 10 s, Rebalance.Timeout 60 s)"},
				&cgGroup{cl: r.cl, topic: topic, parts: parts})
		}
		if r.python != "" {
			add(bench.Latency{Contender: bench.Pykafka, Variant: partition.PykafkaRange, Members: n, Partitions: parts, Setup: pykafkaSetup},
				&pyGroup{cl: r.cl, python: r.python, topic: topic, parts: parts})
		}
	}
}

// method writes the per-section notes.
func (r *run) method() {
	s := r.sizes
	m := r.report.Method
	m["throughput"] = []string{
		fmt.Sprintf("One topic of %d partitions (replication 1, spread over the %d brokers) is produced once with %d messages of %d B; "+
			"each contender then reads it from the oldest offset to the end with one member in a new group.", tputPartitions, brokers, s.messages, messageBytes),
		"msgs/s = messages / (time of the last message − time of the first), so start-up, group join and offset lookup are not counted. " +
			"The Go contenders run in the test process and count in their handler (zkbalance: EachMessage; ConsumerGroup: ConsumeClaim; raw: a goroutine per PartitionConsumer); " +
			"pykafka runs as a process and times itself (time.time() when consume() returns a message).",
		fmt.Sprintf("%d round(s), the contenders interleaved in the order of the table (pykafka, at about 90 s a round, only in the first %d); the median is reported. "+
			"Rates vary by ±40 %% between rounds on this shared 2-core machine (the brokers run on it too), so the table also gives zkbalance's rate over raw sarama's within each round, "+
			"where both ran a few seconds apart.", s.rounds, min(s.pyRounds, s.rounds)),
	}
	m["latency"] = []string{
		fmt.Sprintf("Each contender and size: a new group of M members on one empty topic of %d partitions, settled; then %d times: one member joins, "+
			"measured from its start until every partition is owned by the member the assignor gives it and fetching; the joiner leaves and the group settles (not measured) before the next join.", s.partitions, s.joins),
		"zkbalance: members in the test process (each its own ZooKeeper session and Kafka clients). Start: before balanced.New. Done: the set of partitions each member fetches (its fetch " +
			"started in a broker fetch loop) equals its share of the assignor's answer for the members, computed with the current sets as previous owners (for sticky: the current " +
			"assignment is the assignor's fixed point), polled every 2 ms. \"owned\": the same with Owned() (owner znode claimed, handler started).",
		"sarama ConsumerGroup: members in the test process (each its own client). Start: before sarama.NewConsumerGroup. Done: every member has a session of one new " +
			"generation whose ConsumeClaim calls have all started (sarama starts a claim's handler after its PartitionConsumer) and the claims cover every partition once. " +
			"The other members learn of a join at their next heartbeat (every 3 s by default).",
		"pykafka: member processes. Start: the joiner's paths line, printed just before BalancedConsumer.start() (the interpreter's start, the imports and the KafkaClient's " +
			"bootstrap are not counted). Done: every member's last post_rebalance_callback set (called after its new internal SimpleConsumer was started; pykafka reports only " +
			"changed sets) is complete and disjoint with the others', replayed in the order the lines were read from the pipes (polled every 20 ms).",
		fmt.Sprintf("p99 is nearest-rank: with 20 joins it is the slowest. A join that does not converge within %s counts as not converged and the group is "+
			"re-formed (a new group) before the next one; %d consecutive failures end the size.", *flagJoinTimeout, maxConsecutiveFailures),
	}
	m["writes"] = []string{
		fmt.Sprintf("zkbalance members in the test process; for each assignor a new group of %d members on a topic of %d partitions, settled (converged and no owner write for 1 s); "+
			"then one member joins, and after convergence and another quiet second the owner directory is read again.", s.writesMembers, s.partitions),
		"owner creates = znodes that are new or re-created (czxid changed), deletes = znodes gone or re-created; writes = the change of the owner directory's cversion, " +
			"which ZooKeeper bumps on every child create and delete, so a partition claimed and released in between is counted too.",
		"moved = partitions whose owner value changed; fewest possible = ⌊P/(M+1)⌋, the joiner's share; minimum writes = a delete and a create per moved partition " +
			"and owner directory. The pykafka layout writes each claim twice (owners/<t> and pykafka's Python 3 path owners/b'<t>', issue #888), so its minimum is 4 per move.",
	}
	m["rss"] = []string{
		fmt.Sprintf("zkbalance: test/member built without the race detector, one process in a new group owning every partition of a new topic of %d partitions; "+
			"VmRSS from /proc/<pid>/status after it owns them all and idled %s; then %d messages of 1 KiB per partition are produced (partition-major) and consumed "+
			"(every message appended to its processing log), VmRSS again and the peak VmHWM.", s.rssPartitions, s.rssIdle, s.rssBurst),
		fmt.Sprintf("zkbalance idle rounds: in each of %d round(s) the same with a new group on one topic of %d partitions that gets no messages: VmRSS after the member owns them all and idled %s, "+
			"and its peak VmHWM by then; judged on the median.", s.rssIdleRounds, s.rssIdleParts, s.rssIdle),
		"pykafka, for comparison: member.py with its defaults (queued_max_messages 2000 per partition), the same procedure; the burst is known consumed from the group's " +
			"committed offsets (auto-commit every 1 s), and the process prints no line per message.",
	}
	if !slices.Contains(r.columns(), bench.Pykafka) {
		m["rss"] = m["rss"][:2]
	}
	m["migration"] = r.migrationMethod()
	m["roundtrips"] = r.roundTripsMethod()
	m["cpu"] = r.cpuMethod()
	m["curve"] = r.curveMethod()
	for k, v := range m {
		for i := range v {
			v[i] = strings.TrimSpace(v[i])
		}
		m[k] = v
	}
}
