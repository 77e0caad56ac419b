// Command zkbalance is the ops tool for ZooKeeper-coordinated balanced
// Kafka consumer groups on real clusters (groups of the Scala high-level
// consumer, pykafka's BalancedConsumer, their Go ports and zkbalance).
//
// Usage:
//
//	zkbalance <command> [flags]
//
// Commands:
//
//	consume          run one balanced group member; --print writes a line per
//	                 processed message (kcat-style --format) before marking it
//	produce          write sequence-numbered test messages to a topic
//	status           show a consumer group: members, owners, offsets, lag
//	                 (--json); --all lists the groups
//	migrate-offsets  copy a group's offsets ZooKeeper → Kafka or back (dry run
//	                 unless --apply)
//	reset-offsets    set a group's offsets to the earliest, latest, an offset, a
//	                 time or shifted, in ZooKeeper, Kafka or both (dry run
//	                 unless --apply)
//	coordination     show or switch who coordinates a group (ZooKeeper or
//	                 Kafka's group coordinator; dry run unless --apply)
//	ui               serve a live page of the groups: members, partitions,
//	                 offsets, lag and a lag chart (--listen 127.0.0.1:8080)
//	version          print the build's version
//
// Every command has --help with its flags and examples. The cluster is
// named by --zookeeper (with Kafka's chroot) and --brokers, or
// $ZKBALANCE_ZOOKEEPER and $ZKBALANCE_BROKERS, or, as a convenience for the
// local cluster of 'demo up', the .zkbalance.env file it writes in the
// current directory. Exit status is 0 on success, 1 on failure (with a
// one-line reason on stderr) and 2 on bad usage.
//
// Secured clusters: --zk-user authenticates to ZooKeeper (digest), with
// --zk-acl for the znodes a command creates; --sasl-user and
// --sasl-mechanism (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512) to Kafka; --tls,
// --tls-ca, --tls-cert, --tls-key and --tls-server-name encrypt the Kafka
// connections; --listener picks the brokers' endpoint. Passwords come
// from --zk-password-file and --sasl-password-file, or from
// $ZKBALANCE_ZK_PASSWORD and $ZKBALANCE_SASL_PASSWORD, never from the
// command line. Every command also has --log-json and --timeout.
//
// Install it with
//
//	go install github.com/zkbalance/zkbalance/cmd/zkbalance@latest
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/zkbalance/zkbalance/internal/cli"
)

var app = cli.App{
	Name:    "zkbalance",
	Summary: "zkbalance: ops tool for ZooKeeper-coordinated balanced Kafka consumer groups",
	Commands: []cli.Command{
		{Name: "consume", Summary: "run one balanced group member; --print writes a line per processed message", Help: consumeHelp, Run: runConsume},
		{Name: "produce", Summary: "write N sequence-numbered test messages to a topic", Help: produceHelp, Run: runProduce},
		{Name: "status", Summary: "show a consumer group (members, owners, offsets, lag) or list groups (--all)", Help: statusHelp, Run: runStatus},
		{Name: "migrate-offsets", Summary: "copy a group's offsets between ZooKeeper and Kafka (dry run unless --apply)", Help: migrateHelp, Run: runMigrateOffsets},
		{Name: "reset-offsets", Summary: "reset a group's offsets (earliest, latest, offset, datetime, shift; dry run unless --apply)", Help: resetHelp, Run: runResetOffsets},
		{Name: "coordination", Summary: "show or switch a group's coordination, zookeeper or kafka (dry run unless --apply)", Help: coordinationHelp, Run: runCoordination},
		{Name: "ui", Summary: "serve a live web page of the groups: members, partitions, lag and a lag chart", Help: uiHelp, Run: runUI},
		{Name: "version", Summary: "print the build's version", Help: versionHelp, Run: runVersion},
	},
	Footer: "Connection: --zookeeper and --brokers, else $" + cli.EnvZooKeeper + " and $" + cli.EnvBrokers + ",\n" +
		"else the " + cli.DefaultEnvFile + " file 'demo up' writes (see any command's --help).\n" +
		"Secured clusters: --zk-user, --sasl-user, --tls-ca, --tls-cert, --listener; passwords from\n" +
		"--zk-password-file / --sasl-password-file or $" + cli.EnvZKPassword + " / $" + cli.EnvSASLPassword + ".",
	Explain: cli.ExplainSecurity,
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := app.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
