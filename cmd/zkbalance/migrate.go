package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/zkbalance/zkbalance/groupstate"
	"github.com/zkbalance/zkbalance/internal/cli"
)

// migrateHelp is the --help of 'zkbalance migrate-offsets'.
var migrateHelp = cli.Help{
	Usage: "zkbalance migrate-offsets --group G [--to kafka|zookeeper] [--apply] [--force] [--json] [flags]",
	Description: `Copies consumer group G's committed offsets from one store to the other:
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

--json prints {group, source, destination ("zookeeper" or "kafka"),
dry_run, changes[]: {topic, partition, from (-1 when the destination had
none), from_error (omitted when none), to, applied}, error (omitted when
none)} instead; a failed --apply prints it too, with the changes that were
written marked applied, and exits 1.

` + cli.SecureConnectionHelp,
	Examples: `zkbalance migrate-offsets --group billing --to kafka            # dry run: what would change
zkbalance migrate-offsets --group billing --to kafka --apply    # write it
zkbalance migrate-offsets --group billing --to zookeeper --apply --force
zkbalance migrate-offsets --group billing --to kafka --json | jq '.changes | length'`,
}

func runMigrateOffsets(ctx context.Context, fs *flag.FlagSet, args []string, stdout io.Writer) error {
	group := fs.String("group", "", "the consumer group (required)")
	to := fs.String("to", "kafka", `destination store: "kafka" (from ZooKeeper) or "zookeeper" (from Kafka)`)
	apply := fs.Bool("apply", false, "write the changes (default: dry run)")
	force := fs.Bool("force", false, "migrate even though members are registered")
	asJSON := fs.Bool("json", false, "print JSON (fields above) instead of lines")
	common := cli.AddCommonFlags(fs, time.Minute, "give up after this long")
	cf := cli.AddSecureClusterFlags(fs)
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	if *group == "" {
		return cli.Usagef("--group is required")
	}
	var dir groupstate.Direction
	switch strings.ToLower(*to) {
	case "kafka":
		dir = groupstate.ZooKeeperToKafka
	case "zookeeper", "zk":
		dir = groupstate.KafkaToZooKeeper
	default:
		return cli.Usagef("--to %q: want kafka or zookeeper", *to)
	}
	ctx, cancel := context.WithTimeout(ctx, common.Timeout())
	defer cancel()
	cc, conn, client, err := openGroupTools(ctx, cf, common)
	if err != nil {
		return err
	}
	defer conn.Close()
	defer client.Close()

	changes, err := groupstate.MigrateOffsetsACL(ctx, conn, client, *group, dir, !*apply, *force, cc.sec.ACL)
	if *asJSON {
		return printMigrateJSON(stdout, *group, dir, !*apply, changes, err)
	}
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
		return err
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

// migrateJSON is what 'migrate-offsets --json' prints.
type migrateJSON struct {
	Group       string              `json:"group"`
	Source      string              `json:"source"`
	Destination string              `json:"destination"`
	DryRun      bool                `json:"dry_run"`
	Changes     []groupstate.Change `json:"changes"`
	Error       string              `json:"error,omitempty"`
}

// printMigrateJSON prints the changes as JSON and returns err: a failed
// migration still prints what was (or would have been) changed; a
// failure before any change was known (no such group, live members) prints
// nothing and leaves stderr to say why.
func printMigrateJSON(w io.Writer, group string, dir groupstate.Direction, dryRun bool, changes []groupstate.Change, err error) error {
	if err != nil && len(changes) == 0 {
		return err
	}
	out := migrateJSON{Group: group, Source: "zookeeper", Destination: "kafka", DryRun: dryRun, Changes: changes}
	if dir == groupstate.KafkaToZooKeeper {
		out.Source, out.Destination = "kafka", "zookeeper"
	}
	if out.Changes == nil {
		out.Changes = []groupstate.Change{}
	}
	if err != nil {
		out.Error = err.Error()
	}
	if perr := writeJSON(w, out); perr != nil && err == nil {
		return perr
	}
	return err
}
