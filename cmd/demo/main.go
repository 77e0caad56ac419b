// Command demo runs zkbalance's local cluster, scenarios and ops tools.
//
// Usage:
//
//	demo <command> [flags]
//
// Commands:
//
//	up       start a local ZooKeeper + Kafka, print where they are, stay until
//	         Ctrl-C or --for (--detach: in the background)
//	down     stop a 'demo up' started with --detach
//	produce  write sequence-numbered messages to a topic
//	consume  run one balanced group member, print assignments and throughput
//	status   show a consumer group: members, owners, offsets, lag (--json);
//	         --all lists the groups
//	scenario blocked-consume | slow-handler: run a seed scenario against the
//	         cluster, print a timeline and PASS/FAIL (--legacy-lock, or
//	         --peer pykafka with real pykafka 2.6.0 members, shows the old
//	         behaviour side by side)
//	migrate-offsets
//	         copy a group's offsets ZooKeeper → Kafka or back (dry run unless
//	         --apply)
//	version  print the pinned versions
//
// Every command has --help. Exit status is 0 on success, 1 on failure (with a
// one-line reason on stderr) and 2 on bad usage.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

type command struct {
	name, summary string
	run           func(ctx context.Context, args []string, stdout io.Writer) error
}

var commands = []command{
	{"up", "start a local ZooKeeper + Kafka and print their addresses and a registry summary", runUp},
	{"down", "stop a 'demo up' (e.g. one started with --detach) named by the env file", runDown},
	{"produce", "write N sequence-numbered messages to a topic (creating it if asked)", runProduce},
	{"consume", "run one balanced group member and print its assignments and throughput", runConsume},
	{"status", "show a consumer group (members, owners, offsets, lag) or list groups (--all)", runStatus},
	{"scenario", "run a seed scenario (blocked-consume, slow-handler) with a timeline and a PASS/FAIL line", runScenario},
	{"migrate-offsets", "copy a group's offsets between ZooKeeper and Kafka (dry run unless --apply)", runMigrateOffsets},
	{"version", "print the versions of the pinned ZooKeeper and Kafka", runVersion},
}

// errUsage marks command-line mistakes (exit status 2).
var errUsage = errors.New("usage")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range commands {
		if c.name != args[0] {
			continue
		}
		err := c.run(ctx, args[1:], stdout)
		switch {
		case err == nil, errors.Is(err, flag.ErrHelp):
			return 0
		case errors.Is(err, errUsage):
			fmt.Fprintf(stderr, "demo %s: %v\n", c.name, err)
			return 2
		default:
			fmt.Fprintf(stderr, "demo %s: %v\n", c.name, err)
			return 1
		}
	}
	fmt.Fprintf(stderr, "demo: unknown command %q\n", args[0])
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: demo <command> [flags]\n\ncommands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'demo <command> --help' for its flags.")
}

// newFlags makes a FlagSet whose parse errors are reported as usage errors.
func newFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("demo "+name, flag.ContinueOnError)
	return fs
}

func parseFlags(fs *flag.FlagSet, args []string) error {
	fs.SetOutput(os.Stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected arguments %q", errUsage, fs.Args())
	}
	return nil
}

func newLogger(json bool, level slog.Level) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if json {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}

func runVersion(_ context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("version")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "zkbalance demo; cluster: Apache Kafka 3.9.2 (ZooKeeper mode), Apache ZooKeeper 3.8.4")
	return nil
}
