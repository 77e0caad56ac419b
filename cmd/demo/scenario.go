package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/zkbalance/zkbalance/internal/cli"
	"github.com/zkbalance/zkbalance/scenario"
)

// errScenarioFailed: the scenario ran and its checks failed (exit 1).
var errScenarioFailed = errors.New("scenario failed")

// scenarioHelp is the --help of 'demo scenario'.
var scenarioHelp = cli.Help{
	Usage: "demo scenario <blocked-consume|slow-handler|migrate> [flags]",
	Description: `Runs a seed scenario (docs/SCENARIOS.md) in-process against the cluster of 'demo up' (or
--zookeeper/--brokers); each prints a timeline and ends with a PASS or FAIL
line (exit status 0 or 1):

  blocked-consume  S1, seed 000: a member waits for data on an empty topic,
                   a newcomer joins and must get its share at once
                   (--legacy-lock first shows the old lock-holding members,
                   --peer pykafka real pykafka ` + scenario.PykafkaVersion + ` members)
  slow-handler     S2, seed 002: slow handlers, a join and a leave: no
                   overlap, offsets advance, nobody expelled
  migrate          follow-mode members switch live zookeeper -> kafka ->
                   zookeeper while messages flow: lost 0, overlap 0, and
                   the pause in processing around each switch

Run 'demo scenario <name> --help' for its flags.`,
	Examples: `demo scenario blocked-consume --legacy-lock
demo scenario blocked-consume --peer pykafka
demo scenario slow-handler --count 100 --delay 250ms
demo scenario migrate`,
}

var blockedHelp = cli.Help{
	Usage: "demo scenario blocked-consume [--legacy-lock | --peer legacy,pykafka] [flags]",
	Description: `S1, seed 000: member A consumes an empty topic of --partitions partitions
and waits for data for --idle; newcomer B joins and must get its share at
once; then --count messages are produced and every one must be processed once
(lost 0, duplicates 0, overlap 0). With --legacy-lock (or --peer legacy)
the same join runs first with legacy members whose consume() holds the
rebalance lock while it waits, and with --peer pykafka with real pykafka
` + scenario.PykafkaVersion + ` members (needs python3; a cached virtualenv, installed from PyPI on
first use): their newcomer fails with PartitionOwnedError.

` + cli.ConnectionHelp,
	Examples: `demo scenario blocked-consume
demo scenario blocked-consume --legacy-lock --group demo-blocked
demo scenario blocked-consume --peer pykafka --legacy-retries 3`,
}

var slowHelp = cli.Help{
	Usage: "demo scenario slow-handler [--count N] [--delay D] [flags]",
	Description: `S2, seed 002: --count messages are queued on a topic of --partitions partitions,
members with handlers that take --delay per message start, one joins and
one leaves while they work: no partition is processed by two members at
once, committed offsets advance, and no member is expelled.

` + cli.ConnectionHelp,
	Examples: `demo scenario slow-handler
demo scenario slow-handler --count 100 --delay 250ms --metrics-addr 127.0.0.1:9100`,
}

var migrateHelp = cli.Help{
	Usage: "demo scenario migrate [--partitions N] [--members N] [--dwell D] [flags]",
	Description: `The migration story, live: a stream of one message per partition every
--interval to a topic of --partitions partitions, --members zkbalance
members in follow mode (Coordination follow) consuming it in zookeeper
mode; the group's mode znode is toggled to kafka (what 'zkbalance
coordination --to kafka --apply' does) and, after --dwell, back to
zookeeper: the same members switch live. The timeline shows the toggle
written and each member in the new mode and owning again; the verdict:
lost 0, overlap 0 (no partition processed by two members at overlapping
times) and, per switch, the longest pause in processing per partition
(p50 and max over the partitions).

` + cli.ConnectionHelp,
	Examples: `demo scenario migrate
demo scenario migrate --partitions 16 --members 4 --dwell 10s`,
}

func runScenario(ctx context.Context, fs *flag.FlagSet, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return cli.Usagef("name a scenario: blocked-consume, slow-handler or migrate (see --help)")
	}
	if strings.HasPrefix(args[0], "-") {
		if err := cli.Parse(fs, args); err != nil {
			return err
		}
	}
	name, args := args[0], args[1:]
	var run func(context.Context, scenario.Env) (bool, error)
	check := func() error { return nil } // flag combinations, after parsing
	switch name {
	case "blocked-consume":
		fs = cli.NewFlagSet("demo scenario "+name, blockedHelp)
		var o scenario.BlockedOptions
		p := fs.Int("partitions", 5, "partitions of the (empty) topic")
		fs.StringVar(&o.Group, "group", "", `name of the group and its topic (default "blocked-<n>"; the legacy run adds "-legacy")`)
		fs.IntVar(&o.Messages, "count", 1000, "messages produced after the join")
		fs.DurationVar(&o.Idle, "idle", 2*time.Second, "how long the first member waits for data before the newcomer joins")
		fs.BoolVar(&o.Legacy, "legacy-lock", false, "first run the same join with legacy members whose consume() holds the rebalance lock while it waits (= --peer legacy)")
		peer := fs.String("peer", "", "first run the same join with these members: legacy (as --legacy-lock), pykafka (real pykafka "+
			scenario.PykafkaVersion+" members: needs python3; a cached virtualenv, installed from PyPI on first use), or legacy,pykafka")
		fs.IntVar(&o.LegacyRetries, "legacy-retries", 5, "the legacy or pykafka newcomer's claim attempts (pykafka: rebalance_max_retries)")
		fs.DurationVar(&o.LegacyBackoff, "legacy-backoff", 500*time.Millisecond, "between them (pykafka: rebalance_backoff_ms, 2s)")
		check = func() error {
			for _, pr := range strings.Split(*peer, ",") {
				switch pr {
				case "":
				case "legacy":
					o.Legacy = true
				case "pykafka":
					o.Pykafka = true
				default:
					return cli.Usagef("--peer %q: want legacy, pykafka or both", pr)
				}
			}
			return nil
		}
		run = func(ctx context.Context, env scenario.Env) (bool, error) {
			o.Partitions = int32(*p)
			res, err := scenario.BlockedConsume(ctx, env, o)
			return res.Pass, err
		}
	case "slow-handler":
		fs = cli.NewFlagSet("demo scenario "+name, slowHelp)
		var o scenario.SlowOptions
		p := fs.Int("partitions", 4, "partitions of the topic")
		fs.IntVar(&o.Messages, "count", 200, "messages queued before the members start")
		fs.DurationVar(&o.Delay, "delay", 500*time.Millisecond, "handler time per message (the seed's is 15s)")
		run = func(ctx context.Context, env scenario.Env) (bool, error) {
			o.Partitions = int32(*p)
			res, err := scenario.SlowHandler(ctx, env, o)
			return res.Pass, err
		}
	case "migrate":
		fs = cli.NewFlagSet("demo scenario "+name, migrateHelp)
		var o scenario.MigrateOptions
		p := fs.Int("partitions", 8, "partitions of the topic")
		fs.IntVar(&o.Members, "members", 3, "follow-mode members")
		fs.DurationVar(&o.Interval, "interval", 50*time.Millisecond, "one message per partition every interval")
		fs.DurationVar(&o.Dwell, "dwell", 4*time.Second, "time in each mode between the switches")
		fs.DurationVar(&o.Delay, "delay", 2*time.Millisecond, "handler time per message")
		check = func() error {
			if *p < 1 || o.Members < 1 || o.Interval <= 0 || o.Dwell <= 0 || o.Delay < 0 {
				return cli.Usagef("--partitions and --members must be at least 1, --interval and --dwell positive, --delay not negative")
			}
			return nil
		}
		run = func(ctx context.Context, env scenario.Env) (bool, error) {
			o.Partitions = int32(*p)
			res, err := scenario.Migrate(ctx, env, o)
			return res.Pass, err
		}
	default:
		return cli.Usagef("unknown scenario %q (blocked-consume, slow-handler, migrate)", name)
	}
	cf := cli.AddClusterFlags(fs)
	metricsAddr := fs.String("metrics-addr", "", "serve the members' Prometheus metrics at http://ADDR/metrics while it runs")
	common := cli.AddCommonFlags(fs, 10*time.Minute, "give up (exit 1) when the scenario has not finished within this long")
	verbose := fs.Bool("v", false, "log the members' info lines too (default: warnings)")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	if err := check(); err != nil {
		return err
	}
	zkConnect, brokers, err := cf.Resolve()
	if err != nil {
		return err
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	log := common.Logger(level)
	ctx, cancel := context.WithTimeout(ctx, common.Timeout())
	defer cancel()
	if len(brokers) == 0 {
		if brokers, err = cli.BootstrapFromZooKeeper(ctx, zkConnect, log); err != nil {
			return err
		}
	}
	env := scenario.Env{ZooKeeper: zkConnect, Brokers: brokers, Out: stdout, Logger: log}
	if *metricsAddr != "" {
		reg := cli.NewRegistry()
		url, stop, err := cli.ServeMetrics(*metricsAddr, reg, log)
		if err != nil {
			return err
		}
		defer stop()
		fmt.Fprintf(stdout, "metrics at %s\n", url)
		env.Registerer = reg
	}
	pass, err := run(ctx, env)
	if err != nil {
		return err
	}
	if !pass {
		return errScenarioFailed
	}
	return nil
}
