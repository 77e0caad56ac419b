package bench_test

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zkbalance/zkbalance/internal/cluster"
	"github.com/zkbalance/zkbalance/internal/ctxsleep"
	"github.com/zkbalance/zkbalance/partition"
)

// shared is the package's real ZooKeeper + 3 Kafka brokers, shared by every
// contender; TestMain makes it once the flags are parsed.
var shared *cluster.Shared

const brokers = 3

func TestMain(m *testing.M) {
	flag.Parse()
	cfg := cluster.Config{Brokers: brokers}
	if d := *flagInitialDelay; d >= 0 {
		cfg.BrokerProps = map[string]string{"group.initial.rebalance.delay.ms": strconv.FormatInt(d.Milliseconds(), 10)}
	}
	shared = cluster.NewShared(cfg)
	shared.Main(m)
}

// Flags. Zero values take the smoke size, or the size with
// -bench.full.
var (
	flagFull            = flag.Bool("bench.full", false, "the issue's sizes (make bench): 1M messages x 9 rounds (pykafka 3), 20 joins at 4,16,32 x 256, writes at 16 x 256, RSS at 1000 partitions, migration at 16 x 256")
	flagMessages        = flag.Int("bench.messages", 0, "throughput: 1 KiB messages over 8 partitions (smoke 10000, full 1000000)")
	flagRounds          = flag.Int("bench.rounds", 0, "throughput: rounds, the contenders interleaved; the median is reported (smoke 1, full 9)")
	flagPyRounds        = flag.Int("bench.pykafka-rounds", 0, "throughput: pykafka takes part in the first this many rounds only (about 90 s a round at 1M; smoke 1, full 3)")
	flagJoins           = flag.Int("bench.joins", 0, "latency: joins per contender and group size (smoke 2, full 20)")
	flagMembers         = flag.String("bench.members", "", "latency: steady group sizes, comma-separated (smoke 3, full 4,16,32)")
	flagPartitions      = flag.Int("bench.partitions", 0, "latency and writes: partitions of the topic (smoke 32, full 256)")
	flagWritesMembers   = flag.Int("bench.writes-members", 0, "writes: steady members before the join (smoke 4, full 16)")
	flagRSSPartitions   = flag.Int("bench.rss-partitions", 0, "rss: partitions the member owns (smoke 50, full 1000)")
	flagRSSBurst        = flag.Int("bench.rss-burst", 0, "rss: 1 KiB messages per partition consumed before the second reading (smoke 10, full 100)")
	flagRSSIdle         = flag.Duration("bench.rss-idle", 0, "rss: idle time after owning every partition (smoke 1s, full 10s)")
	flagRSSIdleParts    = flag.Int("bench.rss-idle-partitions", 0, "rss: partitions an idle member owns in the idle rounds (smoke 100, full 4096)")
	flagRSSIdleRounds   = flag.Int("bench.rss-idle-rounds", 0, "rss: idle rounds, a new member and group each (smoke 1, full 3)")
	flagRSSProfile      = flag.String("bench.rss-profile", "", "rss: write the zkbalance member's heap and goroutine profiles into this directory, idle.* at the idle reading and idle-burst.* after the burst, idle<partitions>-<round>.* in the idle rounds (test/member -profile)")
	flagMigMembers      = flag.Int("bench.migration-members", 0, "migration: members of the group switched to Kafka coordination (smoke 4, full 16)")
	flagMigPartitions   = flag.Int("bench.migration-partitions", 0, "migration: partitions of its topic (smoke 32, full 256)")
	flagMigInterval     = flag.Duration("bench.migration-interval", 100*time.Millisecond, "migration: the stream sends one message to every partition this often")
	flagInitialDelay    = flag.Duration("bench.initial-rebalance-delay", -1, "the brokers' group.initial.rebalance.delay.ms (negative: the harness's 0; Kafka's default is 3s): how long the group coordinator holds the first JoinGroup into an empty group for more members")
	flagMigMethods      = flag.String("bench.migration-methods", "", "migration: comma-separated subset of old,toggle (default both)")
	flagPykafka         = flag.Bool("bench.pykafka", true, "include the pykafka contender")
	flagSaramaGroup     = flag.Bool("bench.sarama-group", true, "include the sarama ConsumerGroup contender")
	flagOut             = flag.String("bench.out", "", "write the report (Markdown) to this file (default: the test's temporary directory)")
	flagJoinTimeout     = flag.Duration("bench.join-timeout", 2*time.Minute, "latency: bound of each join, and of the settling after the leave")
	flagOnly            = flag.String("bench.only", "", "comma-separated subset of throughput,latency,writes,rss,migration,roundtrips,cpu,curve (default all)")
	flagCPUMessages     = flag.Int("bench.cpu-messages", 0, "cpu: 1 KiB messages over 8 partitions each contender's process reads (smoke 20000, full 1000000)")
	flagCPURounds       = flag.Int("bench.cpu-rounds", 0, "cpu: rounds, the contenders interleaved (smoke 1, full 5)")
	flagCPUProfile      = flag.String("bench.cpu-profile", "", "cpu: write each consumer process's CPU profile into this directory (<contender>-<n>.cpu.pb.gz)")
	flagBacklogParts    = flag.Int("bench.backlog-partitions", 0, "cpu: partitions of the backlog a zkbalance member process catches up (smoke 50, full 1000)")
	flagBacklogPerPart  = flag.Int("bench.backlog-messages", 0, "cpu: 1 KiB messages per backlog partition (smoke 20, full 1049: just over 1 GiB over 1000 partitions; 1024 would be 1000 MiB)")
	flagBacklogRounds   = flag.Int("bench.backlog-rounds", 0, "cpu: rounds of the backlog, a new member process each (smoke 1, full 3)")
	flagCurveMembers    = flag.String("bench.curve-members", "", "curve: steady group sizes, comma-separated (smoke 2, full 4,16,64)")
	flagCurvePartitions = flag.String("bench.curve-partitions", "", "curve: topic sizes, comma-separated (smoke 16, full 256,1024,4096)")
	flagCurveJoins      = flag.Int("bench.curve-joins", 0, "curve: joins per assignor and size (smoke 1, full 8)")
	flagCurveAssignors  = flag.String("bench.curve-assignors", "scala-range,sticky", "curve: assignors")
	flagRTT             = flag.Duration("bench.rtt", 10*time.Millisecond, "roundtrips: the round trip a proxy adds between the members and ZooKeeper (half each way)")
	flagRTTMembers      = flag.Int("bench.rtt-members", 0, "roundtrips: steady members (smoke 3, full 16); the topic has -bench.partitions")
	flagRTTJoins        = flag.Int("bench.rtt-joins", 0, "roundtrips: joins per contender, each without and with the delay (smoke 1, full 10; pykafka only with -bench.full)")
	flagLatencyAssignor = flag.String("bench.latency-assignors", "scala-range,sticky", "latency: zkbalance assignors (the first is the one the targets judge)")
	flagWritesAssignor  = flag.String("bench.writes-assignors", "", "writes: zkbalance assignors (smoke "+strings.Join(smokeWritesAssignors, ",")+"; full all: "+strings.Join(partition.Names(), ",")+")")
)

// smokeWritesAssignors: one assignor of each layout and sticky.
var smokeWritesAssignors = []string{partition.ScalaRange, partition.Sticky, partition.PykafkaRange}

// sizes are the resolved flags.
type sizes struct {
	messages, rounds, pyRounds, joins, partitions, writesMembers        int
	members                                                             []int
	rssPartitions, rssBurst, rssIdleParts, rssIdleRounds                int
	rssIdle                                                             time.Duration
	migrationMembers, migrationPartitions                               int
	migrationInterval                                                   time.Duration
	migrationMethods                                                    map[string]bool
	rttMembers, rttJoins                                                int
	cpuMessages, cpuRounds, backlogParts, backlogPerPart, backlogRounds int
	curveMembers, curvePartitions                                       []int
	curveJoins                                                          int
	curveAssignors                                                      []string
	latencyAssignors, writesAssignors                                   []string
	only                                                                map[string]bool
}

func resolve(t *testing.T) sizes {
	pick := func(v, smoke, full int) int {
		if v > 0 {
			return v
		}
		if *flagFull {
			return full
		}
		return smoke
	}
	s := sizes{
		messages:      pick(*flagMessages, 10_000, 1_000_000),
		rounds:        pick(*flagRounds, 1, 9),
		pyRounds:      pick(*flagPyRounds, 1, 3),
		joins:         pick(*flagJoins, 2, 20),
		partitions:    pick(*flagPartitions, 32, 256),
		writesMembers: pick(*flagWritesMembers, 4, 16),
		rssPartitions: pick(*flagRSSPartitions, 50, 1000),
		rssBurst:      pick(*flagRSSBurst, 10, 100),
		rssIdle:       *flagRSSIdle,
		rssIdleParts:  pick(*flagRSSIdleParts, 100, 4096),
		rssIdleRounds: pick(*flagRSSIdleRounds, 1, 3),

		migrationMembers:    pick(*flagMigMembers, 4, 16),
		migrationPartitions: pick(*flagMigPartitions, 32, 256),
		migrationInterval:   *flagMigInterval,

		rttMembers: pick(*flagRTTMembers, 3, 16),
		rttJoins:   pick(*flagRTTJoins, 1, 10),

		cpuMessages:    pick(*flagCPUMessages, 20_000, 1_000_000),
		cpuRounds:      pick(*flagCPURounds, 1, 5),
		backlogParts:   pick(*flagBacklogParts, 50, 1000),
		backlogPerPart: pick(*flagBacklogPerPart, 20, 1049),
		backlogRounds:  pick(*flagBacklogRounds, 1, 3),
		curveJoins:     pick(*flagCurveJoins, 1, 8),
	}
	if *flagRTT <= 0 {
		t.Fatalf("-bench.rtt: must be positive, got %s", *flagRTT)
	}
	if s.migrationInterval <= 0 {
		t.Fatalf("-bench.migration-interval: must be positive, got %s", s.migrationInterval)
	}
	if s.rssIdle <= 0 {
		s.rssIdle = time.Second
		if *flagFull {
			s.rssIdle = 10 * time.Second
		}
	}
	sizeList := func(name, v, smoke, full string) []int {
		if v == "" {
			v = smoke
			if *flagFull {
				v = full
			}
		}
		var out []int
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 1 {
				t.Fatalf("-bench.%s: bad size %q", name, f)
			}
			out = append(out, n)
		}
		return out
	}
	s.members = sizeList("members", *flagMembers, "3", "4,16,32")
	s.curveMembers = sizeList("curve-members", *flagCurveMembers, "2", "4,16,64")
	s.curvePartitions = sizeList("curve-partitions", *flagCurvePartitions, "16", "256,1024,4096")
	list := func(v string, def []string) []string {
		if v == "" {
			return def
		}
		var out []string
		for _, a := range strings.Split(v, ",") {
			if a = strings.TrimSpace(a); a != "" {
				out = append(out, a)
			}
		}
		return out
	}
	s.latencyAssignors = list(*flagLatencyAssignor, []string{partition.ScalaRange})
	s.curveAssignors = list(*flagCurveAssignors, []string{partition.ScalaRange})
	s.writesAssignors = list(*flagWritesAssignor, smokeWritesAssignors)
	if *flagFull && *flagWritesAssignor == "" {
		s.writesAssignors = partition.Names()
	}
	for _, a := range slices.Concat(s.latencyAssignors, s.writesAssignors, s.curveAssignors) {
		if _, err := partition.Lookup(a); err != nil {
			t.Fatal(err)
		}
	}
	s.only = map[string]bool{}
	for _, p := range list(*flagOnly, []string{"throughput", "latency", "writes", "rss", "migration", "roundtrips", "cpu", "curve"}) {
		switch p {
		case "throughput", "latency", "writes", "rss", "migration", "roundtrips", "cpu", "curve":
			s.only[p] = true
		default:
			t.Fatalf("-bench.only: unknown part %q", p)
		}
	}
	s.migrationMethods = map[string]bool{}
	for _, m := range list(*flagMigMethods, []string{"old", "toggle"}) {
		switch m {
		case "old", "toggle":
			s.migrationMethods[m] = true
		default:
			t.Fatalf("-bench.migration-methods: unknown method %q (old, toggle)", m)
		}
	}
	return s
}

// flagLine lists the bench flags of this run, for the report.
func flagLine() string {
	var parts []string
	flag.VisitAll(func(f *flag.Flag) {
		if strings.HasPrefix(f.Name, "bench.") && f.Value.String() != f.DefValue {
			parts = append(parts, fmt.Sprintf("-%s=%s", f.Name, f.Value))
		}
	})
	if len(parts) == 0 {
		return "(defaults: the smoke sizes)"
	}
	return strings.Join(parts, " ")
}

// logLevel of the members' logs on stderr: ZKBALANCE_BENCH_LOG (debug,
// info, warn, error), default error.
func logLevel() slog.Level {
	var l slog.Level
	if err := l.UnmarshalText([]byte(os.Getenv("ZKBALANCE_BENCH_LOG"))); err != nil {
		return slog.LevelError
	}
	return l
}

func memberLogger(name string) *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: logLevel()})).With("m", name)
}

var uniqSeq struct {
	sync.Mutex
	n int
}

// uniq makes a topic or group name unique within the cluster.
func uniq(prefix string) string {
	uniqSeq.Lock()
	defer uniqSeq.Unlock()
	uniqSeq.n++
	return fmt.Sprintf("%s-%d-%d", prefix, time.Now().UnixNano()%1e9, uniqSeq.n)
}

// createTopic creates a topic named after prefix with replication 1. On a
// loaded machine the admin request can time out after the broker created
// the topic, so a failed attempt is retried under a new name (3 attempts).
func createTopic(ctx context.Context, cl *cluster.Cluster, prefix string, parts int) (string, error) {
	var err error
	for range 3 {
		name := uniq(prefix)
		cctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		err = cl.CreateTopic(cctx, name, int32(parts), 1)
		cancel()
		if err == nil || ctx.Err() != nil {
			return name, err
		}
	}
	return "", err
}

// sleepCtx sleeps d or until ctx is done (then its cause).
func sleepCtx(ctx context.Context, d time.Duration) error {
	if !ctxsleep.Sleep(ctx, d) {
		return context.Cause(ctx)
	}
	return nil
}
