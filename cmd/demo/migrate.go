package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/zkbalance/zkbalance/groupstate"
)

const migrateHelp = `usage: demo migrate-offsets --group G [--to kafka|zookeeper] [--apply] [--force] [connection flags]

Copies consumer group G's committed offsets from one store to the other:
--to kafka copies /consumers/G/offsets into Kafka (OffsetCommit v2 to the
group coordinator, generation -1, as pykafka and the Scala consumer with
offsets.storage=kafka commit); --to zookeeper copies Kafka's offsets into
/consumers/G/offsets (decimal ASCII, as the Scala consumer writes). Every
partition with an offset in the source whose destination differs is copied;
the source wins even when the destination is higher.

Without --apply it is a dry run: nothing is written. Either way it prints one
line per partition it changes (or would change):

  <topic>/<partition>: <old> → <new>

where <old> is "none" when the destination has no offset (or a malformed
one), followed by a summary line. A group with registered members
(/consumers/G/ids) is refused, since they would overwrite the copied offsets,
unless --force is given. A source offset that cannot be read fails the
command before anything is written.

Connection: --zookeeper (with the Kafka chroot) and --brokers, default from
--env-file; without brokers they are read from /brokers/ids.

Flags:
`

func runMigrateOffsets(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("migrate-offsets")
	group := fs.String("group", "", "the consumer group (required)")
	to := fs.String("to", "kafka", `destination store: "kafka" (from ZooKeeper) or "zookeeper" (from Kafka)`)
	apply := fs.Bool("apply", false, "write the changes (default: dry run)")
	force := fs.Bool("force", false, "migrate even though members are registered")
	timeout := fs.Duration("timeout", time.Minute, "give up after this long")
	cf := addClusterFlags(fs)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), migrateHelp)
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *group == "" {
		return fmt.Errorf("%w: --group is required", errUsage)
	}
	var dir groupstate.Direction
	switch strings.ToLower(*to) {
	case "kafka":
		dir = groupstate.ZooKeeperToKafka
	case "zookeeper", "zk":
		dir = groupstate.KafkaToZooKeeper
	default:
		return fmt.Errorf("%w: --to %q: want kafka or zookeeper", errUsage, *to)
	}
	if *timeout <= 0 {
		return fmt.Errorf("%w: --timeout must be positive", errUsage)
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	conn, brokers, log, err := cf.dialGroupTools(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	client, err := groupToolsKafka(ctx, conn, brokers, log)
	if err != nil {
		return oneLine(err)
	}
	defer client.Close()

	changes, err := groupstate.MigrateOffsets(ctx, conn, client, *group, dir, !*apply, *force)
	for _, c := range changes {
		from := "none"
		if c.From >= 0 {
			from = fmt.Sprint(c.From)
		}
		note := ""
		if *apply && !c.Applied {
			note = " (not written)"
		}
		fmt.Fprintf(stdout, "%s/%d: %s → %d%s\n", c.Topic, c.Partition, from, c.To, note)
	}
	if err != nil {
		return oneLine(err)
	}
	switch {
	case len(changes) == 0:
		fmt.Fprintf(stdout, "nothing to change for group %s (%s)\n", *group, dir)
	case *apply:
		fmt.Fprintf(stdout, "wrote %d offset(s) of group %s (%s)\n", len(changes), *group, dir)
	default:
		fmt.Fprintf(stdout, "dry run: %d offset(s) of group %s would change (%s); pass --apply to write them\n", len(changes), *group, dir)
	}
	return nil
}
