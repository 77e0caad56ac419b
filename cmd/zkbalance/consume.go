package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/zkbalance/zkbalance/balanced"
	"github.com/zkbalance/zkbalance/internal/cli"
	"github.com/zkbalance/zkbalance/internal/ctxsleep"
	"github.com/zkbalance/zkbalance/internal/kcatfmt"
)

// consumeHelp is the --help of 'zkbalance consume'.
var consumeHelp = cli.Help{
	Usage: "zkbalance consume --group G (--topics T1,T2 | --pattern RE) [--print [--format F]] [flags]",
	Description: `Runs one member of a ZooKeeper-coordinated consumer group (wire-compatible
with the Scala high-level consumer and pykafka's BalancedConsumer): it
registers, takes its share of the partitions, consumes them and commits the
offsets of processed messages (every second, on revoke and on leave) until
Ctrl-C, SIGTERM or --for, then leaves the group cleanly.

--coordination kafka joins through Kafka's group coordinator instead (Java
KafkaConsumers with the same assignor can share the group; owner znodes are
still claimed). --coordination follow lets the group's mode znode decide
and switches live when 'zkbalance coordination --apply' changes it (offsets
are then kept in both ZooKeeper and Kafka; with --layout pykafka in Kafka
only, as pykafka keeps them).

Without --print, processing a message is just --delay, and stdout gets the
member's assignments ("<time> assigned|revoked|lost t/p,...") and a
throughput line every second; while the member owns nothing the line says
why instead ("<time> idle: <reason>"): waiting for ZooKeeper, waiting for
a topic to be created, partitions held by another member (claims
waiting), or more members than partitions. A wrong --zookeeper or
--brokers address fails within seconds, naming the dial error.

With --print (or --format), printing IS the processing: each message's line
is written to stdout with one unbuffered write before the message is marked
for commit, so even after a kill -9 every message at an offset below the
group's committed offset has its line on stdout (at least once: a message
after the last commit can be printed again by the next owner). stdout then
carries only these lines; assignments and throughput go to stderr. The
default format is "` + kcatfmt.Default + `", i.e. one "<topic> <partition>
<offset> <key>" line per message. --format takes kcat's -f syntax (no newline
is added: end it with \n):

` + kcatfmt.Help + `

` + cli.SecureConnectionHelp,
	Examples: `zkbalance consume --group billing --topics orders --zookeeper zk1:2181/kafka
zkbalance consume --group billing --topics orders --print >> processed.txt
zkbalance consume --group billing --pattern '^orders-.*' --format '%t/%p@%o %k=%s\n'
zkbalance consume --group billing --topics orders --layout pykafka   # share the group with pykafka members
zkbalance consume --group billing --topics orders --coordination follow   # switchable: see 'zkbalance coordination'
zkbalance consume --group billing --topics orders --layout pykafka --coordination follow   # a pykafka group, switchable
zkbalance consume --group billing --topics orders --delay 10ms --for 1m --metrics-addr 127.0.0.1:9100`,
}

// runConsume runs one balanced member and reports its assignment changes
// and throughput, or prints every message it processes.
func runConsume(ctx context.Context, fs *flag.FlagSet, args []string, stdout io.Writer) error {
	cf := cli.AddSecureClusterFlags(fs)
	common := cli.AddCommonFlags(fs, 30*time.Second, "give up when ZooKeeper or Kafka cannot be connected to within this long (the first connection; later outages are waited out)")
	group := fs.String("group", "", "consumer group id (required)")
	topics := fs.String("topics", "", "topics to consume, comma-separated (this or --pattern)")
	pattern := fs.String("pattern", "", "regular expression of the topics to consume (this or --topics)")
	assignor := fs.String("assignor", "", "partition assignor: scala-range, scala-roundrobin, pykafka-range, pykafka-roundrobin, sticky (default: scala-range, pykafka-range for --layout pykafka)")
	coordination := fs.String("coordination", "zookeeper", "who assigns the partitions: zookeeper (the registrations), kafka (Kafka's group coordinator, so Java KafkaConsumers can join) or follow (the group's mode znode decides; see 'zkbalance coordination')")
	offsets := fs.String("offsets", "", "where offsets are kept: zookeeper, kafka or dual (default: zookeeper, kafka for --layout pykafka)")
	initial := fs.String("initial", "oldest", "where a partition without a stored offset starts: oldest or newest")
	layout := fs.String("layout", "scala", "ZooKeeper layout of the group: scala or pykafka")
	delay := fs.Duration("delay", 0, "time spent on each message, to simulate slow work")
	forDur := fs.Duration("for", 0, "leave the group and stop after this long (0: until Ctrl-C or SIGTERM)")
	metricsAddr := fs.String("metrics-addr", "", `serve Prometheus metrics at http://HOST:PORT/metrics (e.g. "127.0.0.1:9100"; empty: don't)`)
	memberID := fs.String("member-id", "", "member id (default: generated)")
	printMsgs := fs.Bool("print", false, "write a line per processed message to stdout before marking it (format: --format)")
	format := fs.String("format", "", "kcat-style format of each message line; implies --print (default '"+kcatfmt.Default+"')")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	var initialOffset int64
	switch *initial {
	case "oldest":
		initialOffset = sarama.OffsetOldest
	case "newest":
		initialOffset = sarama.OffsetNewest
	default:
		return cli.Usagef("--initial must be oldest or newest (got %q)", *initial)
	}
	if *delay < 0 || *forDur < 0 {
		return cli.Usagef("--delay and --for must not be negative")
	}
	var msgFmt kcatfmt.Format
	if *format != "" || *printMsgs {
		f := *format
		if f == "" {
			f = kcatfmt.Default
		}
		var err error
		if msgFmt, err = kcatfmt.Parse(f); err != nil {
			return cli.Usagef("--format: %v", err)
		}
	}
	log := common.Logger(slog.LevelInfo)
	cc, err := resolveCluster(cf, false, log)
	if err != nil {
		return err
	}
	// With --print, stdout holds the message lines only.
	var lines *cli.LockedWriter
	report := stdout
	if msgFmt != nil {
		lines = cli.NewLockedWriter(stdout)
		report = os.Stderr
	}
	out := cli.NewLockedWriter(report)
	owned := &ownedSet{m: map[balanced.TopicPartition]bool{}}
	reportHook := func(verb string, tps []balanced.TopicPartition) {
		names := make([]string, len(tps))
		for i, tp := range tps {
			names[i] = tp.String()
		}
		out.Printf("%s %s %s\n", time.Now().Format(clockFormat), verb, strings.Join(names, ","))
	}
	cfg := balanced.Config{
		Group:          *group,
		Topics:         cli.SplitList(*topics),
		TopicPattern:   *pattern,
		ZooKeeper:      cc.zookeeper,
		Brokers:        cc.brokers,
		ConnectTimeout: common.Timeout(),
		Layout:         balanced.Layout(*layout),
		MemberID:       *memberID,
		Assignor:       *assignor,
		Offsets:        balanced.OffsetStorage(*offsets),
		Coordination:   balanced.Coordination(*coordination),
		InitialOffset:  initialOffset,
		Logger:         log,
		Hooks: balanced.Hooks{
			OnAssigned: func(_ context.Context, tps []balanced.TopicPartition) {
				owned.add(tps)
				reportHook("assigned", tps)
			},
			OnRevoked: func(_ context.Context, tps []balanced.TopicPartition) {
				owned.remove(tps)
				reportHook("revoked", tps)
			},
			OnLost: func(_ context.Context, tps []balanced.TopicPartition) {
				owned.remove(tps)
				reportHook("lost", tps)
			},
		},
	}
	cc.sec.ApplyBalanced(&cfg)
	var reg *prometheus.Registry
	if *metricsAddr != "" {
		reg = cli.NewRegistry()
		cfg.Registerer = reg
	}
	c, err := balanced.New(cfg)
	if err != nil {
		if errors.Is(err, balanced.ErrInvalidConfig) {
			return fmt.Errorf("%w: %w", cli.ErrUsage, flagError(err, consumeFlags))
		}
		return err
	}
	if reg != nil {
		url, stop, err := cli.ServeMetrics(*metricsAddr, reg, log)
		if err != nil {
			return err
		}
		defer stop()
		out.Printf("metrics at %s\n", url)
	}

	if *forDur > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *forDur)
		defer cancel()
	}
	// A failed write of a message line stops the member: the message is
	// not marked, and the command fails with the write error.
	ctx, stopRun := context.WithCancelCause(ctx)
	defer stopRun(nil)
	var total atomic.Int64
	h := balanced.EachMessage(func(ctx context.Context, m *balanced.Message) error {
		if *delay > 0 && !ctxsleep.Sleep(ctx, *delay) {
			return context.Cause(ctx) // not processed: not marked
		}
		if lines != nil {
			if err := writeLine(lines, msgFmt.Append(nil, m)); err != nil {
				err = fmt.Errorf("print %s/%d@%d: %w", m.Topic, m.Partition, m.Offset, err)
				stopRun(err)
				return err // not printed: not marked
			}
		}
		total.Add(1)
		return nil
	})
	// A wrong ZooKeeper address is said within cli.FailFast (the member
	// itself would wait ConnectTimeout for ZooKeeper to come up).
	pctx, pcancel := context.WithTimeout(ctx, common.Timeout())
	probe, err := cc.dialZooKeeper(pctx)
	pcancel()
	if err != nil {
		if ctx.Err() != nil {
			return nil // stopped while connecting
		}
		return err
	}
	probe.Close()
	log.Info("joining", "group", *group, "member", c.MemberID(), "zookeeper", cc.zookeeper)
	start := time.Now()
	runErr := make(chan error, 1)
	go func() { runErr <- c.Run(ctx, h) }() // owned here: always received below
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	last := int64(0)
	warnedMissing := map[string]bool{}
	for {
		select {
		case now := <-tick.C:
			n := total.Load()
			h := c.Health()
			for _, t := range h.MissingTopics {
				if !warnedMissing[t] {
					warnedMissing[t] = true
					log.Warn("topic does not exist; waiting for it to be created", "topic", t)
				}
			}
			own := owned.len()
			switch {
			case own == 0 && n == last && ctx.Err() != nil:
				// Run is leaving: the reasons below describe a member
				// that wants partitions.
				out.Printf("%s leaving the group total=%d owned=0\n", now.Format(clockFormat), n)
			case own == 0 && n == last:
				out.Printf("%s idle: %s total=%d owned=0\n", now.Format(clockFormat), idleReason(h), n)
			default:
				out.Printf("%s %d msgs/s total=%d owned=%d\n", now.Format(clockFormat), n-last, n, own)
			}
			last = n
		case err := <-runErr:
			n := total.Load()
			elapsed := time.Since(start)
			out.Printf("consumed %d messages in %s: %.0f msgs/s\n", n, elapsed.Round(time.Millisecond), perSecond(int(n), elapsed))
			if cause := context.Cause(ctx); err == nil && cause != nil && !errors.Is(cause, context.Canceled) && !errors.Is(cause, context.DeadlineExceeded) {
				return cause // a failed print
			}
			return err
		}
	}
}

// writeLine writes one message's line: one Write of the whole line,
// flushed if the writer buffers (see cli.LockedWriter), so that the line is
// out of this process before the message is marked.
func writeLine(w *cli.LockedWriter, line []byte) error {
	_, err := w.Write(line)
	return err
}

// ownedSet tracks the partitions the hooks reported as held.
type ownedSet struct {
	mu sync.Mutex
	m  map[balanced.TopicPartition]bool
}

func (s *ownedSet) add(tps []balanced.TopicPartition) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, tp := range tps {
		s.m[tp] = true
	}
}

func (s *ownedSet) remove(tps []balanced.TopicPartition) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, tp := range tps {
		delete(s.m, tp)
	}
}

func (s *ownedSet) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}
