package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/zkbalance/zkbalance/scenario"
)

// errScenarioFailed: the scenario ran and its checks failed (exit 1).
var errScenarioFailed = errors.New("scenario failed")

func runScenario(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(stdout, `usage: demo scenario <name> [flags]

scenarios (docs/SCENARIOS.md), run in-process against the cluster
of 'demo up' (or --zookeeper/--brokers); each prints a timeline and ends
with a PASS or FAIL line (exit status 0 or 1):

  blocked-consume  S1, seed 000: a member waits for data on an empty topic,
                   a newcomer joins and must get its share at once
                   (--legacy-lock first shows the old lock-holding members,
                   --peer pykafka real pykafka 2.6.0 members)
  slow-handler     S2, seed 002: slow handlers, a join and a leave: no
                   overlap, offsets advance, nobody expelled

Run 'demo scenario <name> --help' for its flags.
`)
		if len(args) == 0 {
			return fmt.Errorf("%w: name a scenario", errUsage)
		}
		return nil
	}
	name, args := args[0], args[1:]
	fs := newFlags("scenario " + name)
	cf := addClusterFlags(fs)
	metricsAddr := fs.String("metrics-addr", "", "serve the members' Prometheus metrics at http://ADDR/metrics while it runs")
	jsonLog := fs.Bool("log-json", false, "log as JSON")
	verbose := fs.Bool("v", false, "log the members' info lines too (default: warnings)")
	var run func(context.Context, scenario.Env) (bool, error)
	check := func() error { return nil } // flag combinations, after parsing
	switch name {
	case "blocked-consume":
		var o scenario.BlockedOptions
		p := fs.Int("partitions", 5, "partitions of the (empty) topic")
		fs.StringVar(&o.Group, "group", "", `name of the group and its topic (default "blocked-<n>"; the legacy run adds "-legacy")`)
		fs.IntVar(&o.Messages, "messages", 1000, "messages produced after the join")
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
					return fmt.Errorf("%w: --peer %q: want legacy, pykafka or both", errUsage, pr)
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
		var o scenario.SlowOptions
		p := fs.Int("partitions", 4, "partitions of the topic")
		fs.IntVar(&o.Messages, "messages", 200, "messages queued before the members start")
		fs.DurationVar(&o.Delay, "delay", 500*time.Millisecond, "handler time per message (the seed's is 15s)")
		run = func(ctx context.Context, env scenario.Env) (bool, error) {
			o.Partitions = int32(*p)
			res, err := scenario.SlowHandler(ctx, env, o)
			return res.Pass, err
		}
	default:
		return fmt.Errorf("%w: unknown scenario %q (blocked-consume, slow-handler)", errUsage, name)
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := check(); err != nil {
		return err
	}
	zkConnect, brokers, err := cf.resolve()
	if err != nil {
		return err
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	log := newLogger(*jsonLog, level)
	if len(brokers) == 0 {
		if brokers, err = bootstrapFromZooKeeper(ctx, zkConnect, log); err != nil {
			return err
		}
	}
	env := scenario.Env{ZooKeeper: zkConnect, Brokers: brokers, Out: stdout, Logger: log}
	if *metricsAddr != "" {
		reg := prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		stop, err := serveMetrics(*metricsAddr, reg, &lockedWriter{w: stdout}, log)
		if err != nil {
			return err
		}
		defer stop()
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
