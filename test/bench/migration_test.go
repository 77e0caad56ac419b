package bench_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/zkbalance/zkbalance/balanced"
	"github.com/zkbalance/zkbalance/groupstate"
	"github.com/zkbalance/zkbalance/internal/balancedhook"
	"github.com/zkbalance/zkbalance/internal/cluster"
	"github.com/zkbalance/zkbalance/test/bench"
	"github.com/zkbalance/zkbalance/zkwatch"
)

// switcher moves a running group (g.members, started with its method's
// before config) from ZooKeeper coordination to Kafka coordination. It
// returns when the switch is done as far as it can tell (new members
// started, or the mode written and taken up); the measurement then waits
// for every partition to be processed again. It may replace g.members and
// records its parts with g.step.
type switcher func(ctx context.Context, g *gapGroup) error

// migrationMethod is one row of the migration table: how the group runs
// before the switch, and the switch.
type migrationMethod struct {
	short   string // its -bench.migration-methods name
	name    string
	setup   string
	before  func(*balanced.Config) // the members' config before the switch
	switch_ switcher
}

// migrationMethods are the measured rows, in the table's order.
var migrationMethods = []migrationMethod{{
	short: "old",
	name:  bench.MethodOldWay,
	setup: "before: Coordination zookeeper, LayoutScala, scala-range, Offsets zookeeper; after: Coordination kafka, KafkaStrategy range, " +
		"Offsets kafka (defaults: HeartbeatInterval 3 s, KafkaSessionTimeout 10 s); CommitInterval 1 s both",
	before:  func(*balanced.Config) {},
	switch_: switchOldWay,
}, {
	short: "toggle",
	name:  bench.MethodToggle,
	setup: "Coordination follow (LayoutScala; scala-range in zookeeper mode, KafkaStrategy range in kafka mode; " +
		"offsets in both stores); the switch writes the group's mode znode (groupstate.SetCoordination, as `zkbalance coordination --to kafka --apply`)",
	before:  func(c *balanced.Config) { c.Coordination = balanced.CoordinationFollow },
	switch_: switchToggle,
}}

// kafkaGenerationOf is balanced's test hook for a member's current Kafka
// group generation.
var kafkaGenerationOf = balancedhook.KafkaGeneration.(func(*balanced.Consumer) (int32, string, bool))

// switchToggle writes the group's mode znode (kafka) while the follow-mode
// members run, and returns once every member is in one Kafka generation:
// they switch live, the same processes, without a restart.
func switchToggle(ctx context.Context, g *gapGroup) error {
	t0 := time.Now()
	sc := sarama.NewConfig()
	sc.Version = sarama.V2_1_0_0
	client, err := sarama.NewClient(g.cl.BrokerAddrs(), sc)
	if err != nil {
		return fmt.Errorf("kafka client: %w", err)
	}
	defer client.Close()
	if _, err := groupstate.SetCoordination(ctx, g.obs, client, g.group, groupstate.ModeKafka, false, nil); err != nil {
		return fmt.Errorf("toggle: %w", err)
	}
	g.step("write the mode znode", time.Since(t0))
	for {
		gens := map[int32]int{}
		for _, m := range g.members {
			if id, _, ok := kafkaGenerationOf(m.c); ok {
				gens[id]++
			}
		}
		for _, n := range gens {
			if n == len(g.members) {
				g.step("every member in one kafka generation", time.Since(t0))
				return nil
			}
		}
		if err := sleepCtx(ctx, 10*time.Millisecond); err != nil {
			return fmt.Errorf("members in kafka generations %v of %d: %w", gens, len(g.members), err)
		}
	}
}

// switchOldWay: stop every member (Run's context cancelled: handlers
// stopped, marks committed to ZooKeeper, owner and ids znodes deleted),
// copy the offsets to Kafka with groupstate.MigrateOffsets as
// `zkbalance migrate-offsets` does, start as many members with
// Coordination kafka in the same group.
func switchOldWay(ctx context.Context, g *gapGroup) error {
	n := len(g.members)
	t0 := time.Now()
	err := stopZK(ctx, g.members)
	g.members = nil
	if err != nil {
		return fmt.Errorf("stop: %w", err)
	}
	g.step("stop all", time.Since(t0))

	t0 = time.Now()
	sc := sarama.NewConfig()
	sc.Version = sarama.V2_1_0_0
	client, err := sarama.NewClient(g.cl.BrokerAddrs(), sc)
	if err != nil {
		return fmt.Errorf("kafka client: %w", err)
	}
	defer client.Close()
	changes, err := groupstate.MigrateOffsets(ctx, g.obs, client, g.group, groupstate.ZooKeeperToKafka, false, false)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	g.step(fmt.Sprintf("migrate %d offsets", len(changes)), time.Since(t0))

	g.startedAt = time.Now()
	for range n {
		if err := g.start(func(c *balanced.Config) {
			c.Coordination = balanced.CoordinationKafka
			c.Offsets = balanced.OffsetsKafka
		}); err != nil {
			return fmt.Errorf("start kafka-mode members: %w", err)
		}
	}
	return nil
}

// warmCoordinator looks up group's coordinator (FindCoordinator, retried
// by sarama), so that Kafka has created its offsets topic before anything
// is measured: on a fresh cluster the first lookup creates it, which a
// group in production never waits for.
func warmCoordinator(ctx context.Context, cl *cluster.Cluster, group string) error {
	sc := sarama.NewConfig()
	sc.Version = sarama.V2_1_0_0
	sc.Metadata.Retry.Max = 20
	client, err := sarama.NewClient(cl.BrokerAddrs(), sc)
	if err != nil {
		return fmt.Errorf("kafka client: %w", err)
	}
	defer client.Close()
	for {
		if _, err = client.Coordinator(group); err == nil {
			return nil
		}
		if serr := sleepCtx(ctx, 200*time.Millisecond); serr != nil {
			return fmt.Errorf("coordinator of %s: %w (%w)", group, err, serr)
		}
	}
}

// recorder is every message the handlers processed, per partition.
type recorder struct {
	parts []recPart
}

type recPart struct {
	mu   sync.Mutex
	recs []bench.Processed
}

func newRecorder(parts int) *recorder { return &recorder{parts: make([]recPart, parts)} }

func (r *recorder) add(p int32, offset int64, at time.Time) {
	x := &r.parts[p]
	x.mu.Lock()
	x.recs = append(x.recs, bench.Processed{Offset: offset, At: at})
	x.mu.Unlock()
}

// get is a copy of partition p's records.
func (r *recorder) get(p int) []bench.Processed {
	x := &r.parts[p]
	x.mu.Lock()
	defer x.mu.Unlock()
	return slices.Clone(x.recs)
}

// waitAll polls (every 10 ms) until ok holds for every partition's records.
func (r *recorder) waitAll(ctx context.Context, what string, ok func(p int, recs []bench.Processed) bool) error {
	for {
		missing := 0
		for p := range r.parts {
			if !ok(p, r.get(p)) {
				missing++
			}
		}
		if missing == 0 {
			return nil
		}
		if err := sleepCtx(ctx, 10*time.Millisecond); err != nil {
			return fmt.Errorf("%s: %d of %d partitions not yet: %w", what, missing, len(r.parts), err)
		}
	}
}

// processedSince: a message processed at or after t.
func processedSince(t time.Time) func(int, []bench.Processed) bool {
	return func(_ int, recs []bench.Processed) bool {
		return slices.ContainsFunc(recs, func(x bench.Processed) bool { return !x.At.Before(t) })
	}
}

// gapGroup is a group of in-process zkbalance members on one topic under a
// steady produce stream, every message recorded.
type gapGroup struct {
	cl        *cluster.Cluster
	obs       *zkwatch.Conn
	topic     string
	group     string
	rec       *recorder
	members   []*zkMember
	seq       int
	steps     []bench.Step
	startedAt time.Time // when a switch started new members, if it did
}

func (g *gapGroup) step(name string, d time.Duration) {
	g.steps = append(g.steps, bench.Step{Name: name, Took: d})
}

// start starts one member; tweak sets its coordination.
func (g *gapGroup) start(tweak func(*balanced.Config)) error {
	g.seq++
	cfg := balanced.Config{Group: g.group, Topics: []string{g.topic}}
	tweak(&cfg)
	h := balanced.EachMessage(func(_ context.Context, m *balanced.Message) error {
		g.rec.add(m.Partition, m.Offset, time.Now())
		return nil
	})
	m, err := startZK(g.cl, fmt.Sprintf("gap-%d", g.seq), cfg, h)
	if err != nil {
		return err
	}
	g.members = append(g.members, m)
	return nil
}

// stream produces one small message to every partition each interval
// until ctx is done, from its own goroutine (stopped and waited for by the
// returned function, which reports what was sent).
func stream(ctx context.Context, cl *cluster.Cluster, topic string, parts int, interval time.Duration) (stop func() (sent int, took time.Duration, err error), err error) {
	sc := sarama.NewConfig()
	sc.Version = sarama.V2_1_0_0
	sc.Producer.Partitioner = sarama.NewManualPartitioner
	sc.Producer.Return.Successes = true
	p, err := sarama.NewSyncProducer(cl.BrokerAddrs(), sc)
	if err != nil {
		return nil, fmt.Errorf("producer: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	var (
		sent    int
		sendErr error
		start   = time.Now()
		done    = make(chan struct{})
	)
	go func() {
		defer close(done)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		value := []byte("gap")
		for {
			msgs := make([]*sarama.ProducerMessage, parts)
			for i := range msgs {
				msgs[i] = &sarama.ProducerMessage{Topic: topic, Partition: int32(i), Value: sarama.ByteEncoder(value)}
			}
			if err := p.SendMessages(msgs); err != nil {
				var perrs sarama.ProducerErrors
				if errors.As(err, &perrs) {
					sent += len(msgs) - len(perrs)
				}
				if sendErr == nil {
					sendErr = err
				}
			} else {
				sent += len(msgs)
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return func() (int, time.Duration, error) {
		cancel()
		<-done
		took := time.Since(start)
		if err := p.Close(); err != nil && sendErr == nil {
			sendErr = err
		}
		return sent, took, sendErr
	}, nil
}

// runMigration measures every migration method.
func (r *run) runMigration(t *testing.T) {
	for _, m := range migrationMethods {
		if !r.sizes.migrationMethods[m.short] {
			continue
		}
		x := r.measureMigration(t, m)
		t.Logf("migration %s %d x %d: gap p50 %s p99 %s max %s (floor p50 %s p99 %s), switch %s %v, lost %d, duplicates %d, err %q",
			m.name, x.Members, x.Partitions, bench.Percentile(x.Gaps, .5), bench.Percentile(x.Gaps, .99), bench.Percentile(x.Gaps, 1),
			bench.Percentile(x.Floor, .5), bench.Percentile(x.Floor, .99), x.Switch.Round(time.Millisecond), x.Steps, x.Lost, x.Duplicates, x.Err)
		r.report.Migration = append(r.report.Migration, x)
	}
}

// measureMigration: a new topic and group; the stream starts; M members
// (m.before) start and process every partition; after a steady second a
// no-op switch gives the floor; then m's switch; then every partition
// processed again; the stream stops, everything produced is processed and
// counted.
func (r *run) measureMigration(t *testing.T, m migrationMethod) (x bench.Migration) {
	s := r.sizes
	x = bench.Migration{Method: m.name, Setup: m.setup, Members: s.migrationMembers, Partitions: s.migrationPartitions, Interval: s.migrationInterval}
	bound := *flagJoinTimeout
	ctx, cancel := context.WithTimeout(r.ctx, 4*bound)
	defer cancel()
	fail := func(format string, args ...any) bench.Migration {
		x.Err = fmt.Sprintf(format, args...)
		return x
	}
	topic, err := createTopic(ctx, r.cl, "gap", x.Partitions)
	if err != nil {
		return fail("create topic: %v", err)
	}
	g := &gapGroup{cl: r.cl, obs: r.obs, topic: topic, group: uniq("g-gap"), rec: newRecorder(x.Partitions)}
	if err := warmCoordinator(ctx, r.cl, g.group); err != nil {
		return fail("%v", err)
	}
	defer func() {
		if err := stopZK(stopCtx(ctx), g.members); err != nil {
			t.Logf("migration: stopping the members: %v", err)
		}
	}()
	stop, err := stream(ctx, r.cl, topic, x.Partitions, x.Interval)
	if err != nil {
		return fail("%v", err)
	}
	stopped := false
	stopStream := func() {
		if stopped {
			return
		}
		stopped = true
		n, took, err := stop()
		x.Produced, x.ProduceTime = n, took
		if err != nil {
			x.Note = appendNote(x.Note, "the producer reported: "+err.Error())
		}
	}
	defer stopStream()

	formed := time.Now()
	for range x.Members {
		if err := g.start(m.before); err != nil {
			return fail("start: %v", err)
		}
	}
	wctx, wcancel := context.WithTimeout(ctx, bound)
	err = g.rec.waitAll(wctx, "the group did not process every partition", processedSince(time.Time{}))
	wcancel()
	if err != nil {
		return fail("%v", err)
	}
	t.Logf("migration %s: %d members process all %d partitions after %s", m.name, x.Members, x.Partitions, time.Since(formed).Round(time.Millisecond))
	if err := sleepCtx(ctx, time.Second); err != nil {
		return fail("%v", err)
	}

	// The floor: a switch that does nothing.
	t0 := time.Now()
	wctx, wcancel = context.WithTimeout(ctx, bound)
	err = g.rec.waitAll(wctx, "steady stream", processedSince(t0))
	wcancel()
	if err != nil {
		return fail("%v", err)
	}
	for p := range x.Partitions {
		if d, ok := bench.Gap(g.rec.get(p), t0, t0); ok {
			x.Floor = append(x.Floor, d)
		}
	}

	// The switch.
	begin := time.Now()
	sctx, scancel := context.WithTimeout(ctx, bound)
	err = m.switch_(sctx, g)
	scancel()
	end := time.Now()
	x.Switch = end.Sub(begin)
	if err != nil {
		x.Steps = g.steps
		return fail("switch: %v", err)
	}
	wctx, wcancel = context.WithTimeout(ctx, bound)
	err = g.rec.waitAll(wctx, "not every partition processed after the switch", processedSince(end))
	wcancel()
	if !g.startedAt.IsZero() {
		last := g.startedAt
		for p := range x.Partitions {
			recs := g.rec.get(p)
			if i := slices.IndexFunc(recs, func(x bench.Processed) bool { return !x.At.Before(g.startedAt) }); i >= 0 {
				if recs[i].At.After(last) { // the first the new members processed
					last = recs[i].At
				}
			}
		}
		g.step("start → every partition processed", last.Sub(g.startedAt))
	}
	x.Steps = g.steps
	for p := range x.Partitions {
		if d, ok := bench.Gap(g.rec.get(p), begin, end); ok {
			x.Gaps = append(x.Gaps, d)
		}
	}
	if err != nil {
		return fail("%v", err)
	}

	// Everything produced is processed: lost and duplicates.
	stopStream()
	ends, err := r.cl.LogEndOffsets(ctx, topic)
	if err != nil {
		return fail("log end offsets: %v", err)
	}
	wctx, wcancel = context.WithTimeout(ctx, bound)
	err = g.rec.waitAll(wctx, "not everything produced was processed", func(p int, recs []bench.Processed) bool {
		return ends[int32(p)] == 0 || slices.ContainsFunc(recs, func(x bench.Processed) bool { return x.Offset == ends[int32(p)]-1 })
	})
	wcancel()
	for p := range x.Partitions {
		lost, dups := bench.Delivery(g.rec.get(p), ends[int32(p)], begin)
		x.Lost += lost
		x.Duplicates += dups
	}
	if err != nil {
		return fail("%v", err)
	}
	return x
}

// migrationMethod is the migration section's method text.
func (r *run) migrationMethod() []string {
	s := r.sizes
	out := []string{
		fmt.Sprintf("Each method: a new topic of %d partitions and a new group. A producer in the test process sends one 3-byte message to every partition every %s "+
			"(%.0f msgs/s in all; one SendMessages of %d messages per tick, so a partition's messages are about %s apart) from before the members start until the end. "+
			"%d zkbalance members in the test process (each its own ZooKeeper session and Kafka clients) start in the method's before configuration; "+
			"every handler (EachMessage, every message marked) records the partition, the offset and the time it saw the message, in memory.",
			s.migrationPartitions, s.migrationInterval, float64(s.migrationPartitions)/s.migrationInterval.Seconds(), s.migrationPartitions, s.migrationInterval, s.migrationMembers),
		"Before the members start, the group's coordinator is looked up once, so that Kafka's offsets topic exists (a fresh cluster creates it on first use). " +
			"Once every partition was processed, and a second later, the floor: the gap (below) of a switch that does nothing, taken on the same group — " +
			"the stream's own spacing and the fetch wait, under which no switch can go.",
		"Then the switch function runs (begin: its call; end: its return) and the test waits until every partition has a message processed after the end. " +
			"A partition's gap is the longest time between two consecutive processed messages of the partition (in processing order) from the last one processed " +
			"before the begin up to the first one processed after the end: for a switch that stops every member and starts new ones, the time between the last " +
			"message the old members processed and the first the new ones did. p50, p99 (nearest rank: at 256 partitions the 254th) and max are over the partitions.",
		"Old way: stop every member (Run's context cancelled; each stops its handlers, commits its marks to ZooKeeper, deletes its owner and ids znodes, closes its session; all " +
			"concurrently), then groupstate.MigrateOffsets ZooKeeper → Kafka (what `zkbalance migrate-offsets` runs; a new sarama client; it refuses while ids are registered), " +
			"then start as many members with Coordination kafka in the same group (the switch returns when they are started; their joins, syncs, owner claims and offset " +
			"reads are in the gap). \"start → every partition processed\" is from their start to the last partition's first processed message. " +
			"The steps run back to back in the test; done by hand, the operator's time between them adds to every gap.",
		"Toggle: the same members, started with Coordination follow, keep running; the switch writes the group's mode znode to kafka " +
			"(groupstate.SetCoordination, what `zkbalance coordination --to kafka --apply` runs; it checks that every registered member can follow) " +
			"and returns when every member is in one Kafka group generation. Each member, on seeing the znode, revokes its partitions " +
			"(handlers stopped, marks committed, owner znodes released), deregisters, joins the Kafka group, claims the owner znodes of what Kafka assigned it " +
			"and reads each start offset (the higher of the ZooKeeper and Kafka stores) only then; all of that is in the gap.",
		"Then the producer stops; the test waits until every partition's last produced offset (the log end) was processed. lost = offsets below the log end that no " +
			"handler processed; duplicates = messages processed at or after the switch began whose offset had been processed before (a stop that commits its marks " +
			"and a faithful copy of the offsets give 0).",
		"The brokers run with group.initial.rebalance.delay.ms 0 (the harness's setting; -bench.initial-rebalance-delay changes it). With Kafka's default, 3 s, " +
			"the coordinator holds the first JoinGroup into the empty group 3 s and once more as members keep arriving: both methods join an empty group, " +
			"and the toggle's gap was p50 7.0 s, p99 7.4 s with it (one run).",
		"The goal (issue 13) is for the live toggle (members of Coordination follow switch when the group's mode znode says kafka): p99 ≤ 1 s at 16 × 256. " +
			"The old way is the baseline it is compared with.",
	}
	for _, m := range migrationMethods {
		out = append(out, fmt.Sprintf("Settings, %s: %s.", m.name, m.setup))
	}
	return out
}
