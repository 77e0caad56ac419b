// Command demo runs zkbalance's local cluster and its seed scenarios.
//
// Usage:
//
//	demo <command> [flags]
//
// Commands:
//
//	up       start a local ZooKeeper + Kafka, print where they are, stay until
//	         Ctrl-C or --for (--detach: in the background); writes the
//	         addresses to .zkbalance.env
//	down     stop a 'demo up' started with --detach
//	scenario blocked-consume | slow-handler: run a seed scenario against the
//	         cluster, print a timeline and PASS/FAIL (--legacy-lock, or
//	         --peer pykafka with real pykafka 2.6.0 members, shows the old
//	         behaviour side by side)
//	version  print the pinned versions
//
// The ops commands (consume, produce, status, migrate-offsets) are in the
// zkbalance binary, which reads the .zkbalance.env file 'demo up' writes.
// Every command has --help. Exit status is 0 on success, 1 on failure (with
// a one-line reason on stderr) and 2 on bad usage.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/zkbalance/zkbalance/internal/cli"
)

var app = cli.App{
	Name:    "demo",
	Summary: "demo: zkbalance's local ZooKeeper + Kafka cluster and seed scenarios",
	Commands: []cli.Command{
		{Name: "up", Summary: "start a local ZooKeeper + Kafka and print their addresses and a registry summary", Help: upHelp, Run: runUp},
		{Name: "down", Summary: "stop a 'demo up' (e.g. one started with --detach) named by the env file", Help: downHelp, Run: runDown},
		{Name: "scenario", Summary: "run a seed scenario (blocked-consume, slow-handler) with a timeline and a PASS/FAIL line", Help: scenarioHelp, Run: runScenario},
		{Name: "version", Summary: "print the versions of the pinned ZooKeeper and Kafka", Help: versionHelp, Run: runVersion},
	},
	Footer: "The ops commands (consume, produce, status, migrate-offsets) are in the zkbalance\n" +
		"binary; it reads the " + cli.DefaultEnvFile + " file 'demo up' writes here.",
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := app.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

var versionHelp = cli.Help{
	Usage:       "demo version",
	Description: "Prints the versions of ZooKeeper and Kafka that 'demo up' starts, and of this build.",
	Examples:    "demo version",
}

func runVersion(_ context.Context, fs *flag.FlagSet, args []string, stdout io.Writer) error {
	cli.AddCommonFlags(fs, time.Minute, "accepted as by every command; version does no I/O")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "zkbalance demo %s; cluster: %s\n", cli.BuildVersion(), cli.TestedAgainst)
	return nil
}
