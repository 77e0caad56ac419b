package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/zkbalance/zkbalance/groupstate"
	"github.com/zkbalance/zkbalance/internal/cli"
)

// resetHelp is the --help of 'zkbalance reset-offsets'.
var resetHelp = cli.Help{
	Usage: `zkbalance reset-offsets --group G (--topic T[:P,P...] ... | --all-topics)
    (--to-earliest | --to-latest | --to-offset N | --to-datetime TIME | --shift-by N)
    [--store zookeeper|kafka|dual] [--apply] [--force] [--json] [flags]`,
	Description: `Resets consumer group G's committed offsets, as kafka-consumer-groups
--reset-offsets does, in ZooKeeper (/consumers/G/offsets/<topic>/<partition>,
decimal ASCII, as the Scala consumer writes), in Kafka (an OffsetCommit for
the group with generation -1 and an empty member id, as an admin commit) or
in both (--store dual). Without --store the store is the one the group's
offsets are in, as 'zkbalance status' shows it (storage); a group with no
committed offset anywhere must name it.

Partitions: --topic T (every partition of T) or --topic T:0,2 (those), any
number of times, or --all-topics: every partition of every topic the group
has a committed offset for in the store.

New offset, exactly one of:
  --to-earliest      the log start (oldest offset still in the log)
  --to-latest        the log end (the next offset to be written)
  --to-offset N      N
  --to-datetime TIME the first offset whose timestamp is at or after TIME
                     (RFC 3339, e.g. 2026-12-01T00:00:00Z; Kafka's ListOffsets
                     by timestamp); the log end when no message is that late
  --shift-by N       the committed offset plus N (negative moves back); a
                     partition without a committed offset is an error
Every new offset is clamped to [log start, log end]; the NOTE column (and
"clamped" in JSON) says which were.

Without --apply it is a dry run: nothing is written. Either way it prints

  TOPIC  PARTITION  OLD-OFFSET  NEW-OFFSET  LOG-START  LOG-END  NOTE

("-" where nothing was committed; with --store dual OLD-OFFSET is the higher
of the two and NOTE shows both when they differ) and a summary line. A group
with live members (registered under /consumers/G/ids, or joined at Kafka's
group coordinator) is refused, naming them, since they would overwrite the
reset offsets; --force resets anyway (Kafka's coordinator still refuses an
admin commit to a group it coordinates with members).

--json prints {group, store, spec, dry_run, clamped, offsets[]: {topic,
partition, old_offset, zookeeper_offset, kafka_offset, new_offset, log_start,
log_end, clamped ("log-start" or "log-end", omitted when not), applied,
error (omitted when none)}}; offsets are -1 when absent.

` + cli.SecureConnectionHelp,
	Examples: `zkbalance reset-offsets --group billing --topic orders --to-earliest          # dry run: the plan
zkbalance reset-offsets --group billing --topic orders:0,1 --shift-by -100 --apply
zkbalance reset-offsets --group billing --all-topics --to-datetime 2026-12-01T00:00:00Z --apply
zkbalance reset-offsets --group billing --topic orders --to-offset 5000 --store dual --json
zkbalance reset-offsets --group billing --all-topics --to-latest --apply --force   # members are up`,
}

func runResetOffsets(ctx context.Context, fs *flag.FlagSet, args []string, stdout io.Writer) error {
	group := fs.String("group", "", "the consumer group (required)")
	var topics []string
	fs.Func("topic", "topic to reset, T or T:P,P,... (repeatable)", func(s string) error {
		topics = append(topics, s)
		return nil
	})
	allTopics := fs.Bool("all-topics", false, "reset every topic the group has committed offsets for")
	var specs []groupstate.ResetSpec
	fs.BoolFunc("to-earliest", "reset to the log start", func(s string) error {
		if on, err := strconv.ParseBool(s); err != nil || on {
			specs = append(specs, groupstate.ResetSpec{Kind: groupstate.ResetToEarliest})
		}
		return nil
	})
	fs.BoolFunc("to-latest", "reset to the log end", func(s string) error {
		if on, err := strconv.ParseBool(s); err != nil || on {
			specs = append(specs, groupstate.ResetSpec{Kind: groupstate.ResetToLatest})
		}
		return nil
	})
	fs.Func("to-offset", "reset to offset `N`", func(s string) error {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			return fmt.Errorf("%q is not a non-negative offset", s)
		}
		specs = append(specs, groupstate.ResetSpec{Kind: groupstate.ResetToOffset, Offset: n})
		return nil
	})
	fs.Func("to-datetime", "reset to the first offset at or after `TIME` (RFC 3339)", func(s string) error {
		tm, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return fmt.Errorf("%q is not an RFC 3339 time such as 2026-12-01T00:00:00Z", s)
		}
		if tm.UnixMilli() < 0 {
			return fmt.Errorf("%q is before 1970", s)
		}
		specs = append(specs, groupstate.ResetSpec{Kind: groupstate.ResetToDatetime, Time: tm})
		return nil
	})
	fs.Func("shift-by", "move the committed offsets by `N` (negative: back)", func(s string) error {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return fmt.Errorf("%q is not a whole number", s)
		}
		specs = append(specs, groupstate.ResetSpec{Kind: groupstate.ResetShiftBy, Offset: n})
		return nil
	})
	store := fs.String("store", "", `where the offsets are: "zookeeper", "kafka" or "dual" (default: where the group's offsets are)`)
	apply := fs.Bool("apply", false, "write the new offsets (default: dry run)")
	force := fs.Bool("force", false, "reset even though the group has live members")
	asJSON := fs.Bool("json", false, "print JSON (fields above) instead of a table")
	common := cli.AddCommonFlags(fs, time.Minute, "give up after this long")
	cf := cli.AddSecureClusterFlags(fs)
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	if *group == "" {
		return cli.Usagef("--group is required")
	}
	if (len(topics) > 0) == *allTopics {
		return cli.Usagef("pass --topic T[:P,P...] (repeatable) or --all-topics")
	}
	if len(specs) != 1 {
		return cli.Usagef("pass exactly one of --to-earliest, --to-latest, --to-offset, --to-datetime, --shift-by")
	}
	req := groupstate.ResetRequest{AllTopics: *allTopics, Spec: specs[0], DryRun: !*apply, Force: *force}
	for _, s := range topics {
		sel, err := groupstate.ParseTopicSelection(s)
		if err != nil {
			return cli.Usagef("--topic: %v", err)
		}
		req.Topics = append(req.Topics, sel)
	}
	switch strings.ToLower(*store) {
	case "":
	case "zookeeper", "zk":
		req.Store = groupstate.StorageZooKeeper
	case "kafka":
		req.Store = groupstate.StorageKafka
	case "dual":
		req.Store = groupstate.StorageDual
	default:
		return cli.Usagef("--store %q: want zookeeper, kafka or dual", *store)
	}
	ctx, cancel := context.WithTimeout(ctx, common.Timeout())
	defer cancel()
	cc, err := resolveCluster(cf, true, common.Logger(slog.LevelWarn))
	if err != nil {
		return err
	}
	conn, err := cc.dialOptionalZooKeeper(ctx)
	if err != nil {
		return err
	}
	if conn != nil {
		defer conn.Close()
	} else if req.Store == "" {
		req.Store = groupstate.StorageKafka // no ZooKeeper (Kafka 4)
	}
	client, err := cc.groupToolsKafka(ctx, conn)
	if err != nil {
		return err
	}
	defer client.Close()
	req.ACL = cc.sec.ACL
	res, err := groupstate.ResetOffsets(ctx, conn, client, *group, req)
	if res != nil {
		var perr error
		if *asJSON {
			perr = writeJSON(stdout, res)
		} else {
			perr = printReset(stdout, res)
		}
		if err == nil {
			err = perr
		}
	}
	return err
}

// printReset prints a ResetResult as a table and a summary line.
func printReset(w io.Writer, res *groupstate.ResetResult) error {
	var buf bytes.Buffer
	tw := tabwriter.NewWriter(&buf, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TOPIC\tPARTITION\tOLD-OFFSET\tNEW-OFFSET\tLOG-START\tLOG-END\tNOTE")
	written := 0
	for _, o := range res.Offsets {
		var notes []string
		if res.Store == groupstate.StorageDual && o.ZooKeeperOld != o.KafkaOld {
			notes = append(notes, "zookeeper "+dashOffset(o.ZooKeeperOld)+", kafka "+dashOffset(o.KafkaOld))
		}
		if o.Clamped != groupstate.ClampNone {
			notes = append(notes, "clamped to "+string(o.Clamped))
		}
		if o.Applied {
			written++
		}
		if o.Error != "" {
			notes = append(notes, "NOT WRITTEN: "+o.Error)
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%d\t%d\t%s\n", o.Topic, o.Partition, dashOffset(o.Old), o.New, o.LogStart, o.LogEnd, strings.Join(notes, "; "))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for line := range strings.Lines(buf.String()) {
		if _, err := io.WriteString(w, strings.TrimRight(line, " \n")+"\n"); err != nil {
			return err
		}
	}
	store := string(res.Store)
	if res.Store == groupstate.StorageDual {
		store = "zookeeper and kafka (dual)"
	}
	clamped := ""
	if res.Clamped > 0 {
		clamped = fmt.Sprintf(", %d clamped", res.Clamped)
	}
	var err error
	if res.DryRun {
		_, err = fmt.Fprintf(w, "dry run: %d offset(s) of group %s in %s would be reset (%s%s); pass --apply to write them\n",
			len(res.Offsets), res.Group, store, res.Spec, clamped)
	} else {
		_, err = fmt.Fprintf(w, "reset %d of %d offset(s) of group %s in %s (%s%s)\n",
			written, len(res.Offsets), res.Group, store, res.Spec, clamped)
	}
	return err
}

// dashOffset is an offset for the table, "-" when there is none.
func dashOffset(n int64) string {
	if n < 0 {
		return "-"
	}
	return strconv.FormatInt(n, 10)
}
