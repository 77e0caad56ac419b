package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/IBM/sarama"

	"github.com/zkbalance/zkbalance/groupstate"
	"github.com/zkbalance/zkbalance/internal/cli"
	"github.com/zkbalance/zkbalance/zkwatch"
)

// statusHelp is the --help of 'zkbalance status'.
var statusHelp = cli.Help{
	Usage: `zkbalance status --group G [--json] [flags]
zkbalance status --all [--json] [flags]`,
	Description: `Shows a ZooKeeper-coordinated consumer group (Scala high-level consumer,
pykafka BalancedConsumer, wvanbergen port or zkbalance): its members, and for
every partition of every topic it subscribes to or has owners or offsets for,
the owner, the committed offset (ZooKeeper, Kafka, and the effective one: the
higher), the log-end offset and the lag. --all lists the groups under
/consumers with their member count and layout. Nothing is written.

--json prints one JSON object. Field names are stable; offsets are -1 when
absent or unknown.

  --group G:
    group              group name
    layout             "scala", "pykafka", "mixed" or "unknown"
    storage            where offsets are: "zookeeper", "kafka", "dual" or "none"
    members[]          one per /consumers/G/ids child, sorted by id:
      id               member id
      layout           "scala", "pykafka" or "unknown" (unparsable registration)
      subscription     topic (or regex) -> streams
      pattern          "static", "white_list", "black_list" (Scala only)
      topics[]         the topics the subscription resolves to
      timestamp        the registration's timestamp (RFC 3339), if any
      created          when the ids znode was created (RFC 3339)
      raw, error       the value and the parse error of an unparsable registration
    partitions[]       sorted by topic, then partition:
      topic, partition
      owners[]         owner znodes: {znode, value, member} (member "" when the
                       value matches no registered member)
      zookeeper_offset /consumers/G/offsets/<topic>/<partition>
      kafka_offset     Kafka's committed offset for group G
      committed        the effective committed offset (the higher of the two)
      source           "zookeeper", "kafka", "both" (equal) or "" (none)
      log_start        oldest offset still in the log
      log_end          next offset to be written
      lag              log_end - committed, or log_end - log_start without a commit
      error            what went wrong for this partition (omitted when nothing)
    totals             {members, partitions, owned, committed, log_end, lag, errors}
    warnings[]         problems not tied to one member or partition (omitted when none)

  --all:
    groups[]           {group, members, layout}, sorted by group

` + cli.ConnectionHelp,
	Examples: `zkbalance status --group billing --zookeeper zk1:2181/kafka
zkbalance status --group billing --json | jq .totals.lag
zkbalance status --all`,
}

func runStatus(ctx context.Context, fs *flag.FlagSet, args []string, stdout io.Writer) error {
	group := fs.String("group", "", "the consumer group to show")
	all := fs.Bool("all", false, "list every group under /consumers with its member count and layout")
	asJSON := fs.Bool("json", false, "print JSON (fields above) instead of tables")
	timeout := fs.Duration("timeout", time.Minute, "give up after this long")
	cf := cli.AddClusterFlags(fs)
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	if (*group == "") == !*all {
		return cli.Usagef("pass either --group G or --all")
	}
	if *timeout <= 0 {
		return cli.Usagef("--timeout must be positive")
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	conn, brokers, log, err := dialGroupTools(ctx, cf)
	if err != nil {
		return err
	}
	defer conn.Close()

	if *all {
		return statusAll(ctx, conn, stdout, *asJSON)
	}
	client, err := groupToolsKafka(ctx, conn, brokers, log)
	if err != nil {
		return err
	}
	defer client.Close()
	st, err := groupstate.Read(ctx, conn, client, *group)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(stdout, st)
	}
	return printGroupStatus(stdout, st)
}

// groupListEntry is one line of 'status --all'.
type groupListEntry struct {
	Group   string            `json:"group"`
	Members int               `json:"members"`
	Layout  groupstate.Layout `json:"layout"`
}

// statusAll lists the groups; it needs ZooKeeper only.
func statusAll(ctx context.Context, conn *zkwatch.Conn, w io.Writer, asJSON bool) error {
	names, err := groupstate.Groups(ctx, conn)
	if err != nil {
		return err
	}
	list := []groupListEntry{}
	for _, g := range names {
		st, err := groupstate.Read(ctx, conn, nil, g)
		if errors.Is(err, groupstate.ErrNoGroup) {
			continue // deleted since the listing
		}
		if err != nil {
			return err
		}
		list = append(list, groupListEntry{Group: g, Members: len(st.Members), Layout: st.Layout})
	}
	if asJSON {
		return writeJSON(w, struct {
			Groups []groupListEntry `json:"groups"`
		}{list})
	}
	if len(list) == 0 {
		_, err := fmt.Fprintln(w, "no consumer groups under /consumers")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "GROUP\tMEMBERS\tLAYOUT")
	for _, e := range list {
		fmt.Fprintf(tw, "%s\t%d\t%s\n", e.Group, e.Members, e.Layout)
	}
	return tw.Flush()
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// printGroupStatus prints the tables for people.
func printGroupStatus(w io.Writer, st *groupstate.Status) error {
	where := "offsets in " + string(st.Storage)
	if st.Storage == groupstate.StorageNone {
		where = "no committed offsets"
	}
	fmt.Fprintf(w, "group %s: layout %s, %s, %d member(s)\n\n", st.Group, st.Layout, where, len(st.Members))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "MEMBER\tLAYOUT\tSUBSCRIPTION\tREGISTERED")
	if len(st.Members) == 0 {
		fmt.Fprintln(tw, "(none)\t\t\t")
	}
	for _, m := range st.Members {
		when := "-"
		switch {
		case !m.Timestamp.IsZero():
			when = m.Timestamp.UTC().Format(time.RFC3339)
		case !m.Created.IsZero():
			when = m.Created.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", m.ID, m.Layout, subscriptionText(m), when)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TOPIC\tPARTITION\tOWNER\tCOMMITTED(SOURCE)\tLOG-END\tLAG")
	for _, p := range st.Partitions {
		committed := "-"
		if p.Committed >= 0 {
			committed = fmt.Sprintf("%d (%s)", p.Committed, p.Source)
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\n", p.Topic, p.Partition, ownersText(p.Owners), committed,
			offsetText(p.LogEnd), offsetText(p.Lag))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	t := st.Totals
	fmt.Fprintf(w, "\nTOTAL: %d partition(s), %d owned, %d committed, log end %d, lag %d\n", t.Partitions, t.Owned, t.Committed, t.LogEnd, t.Lag)
	var notes []string
	for _, m := range st.Members {
		if m.Error != "" {
			notes = append(notes, fmt.Sprintf("member %s: %s", m.ID, m.Error))
		}
	}
	for _, p := range st.Partitions {
		if p.Error != "" {
			notes = append(notes, fmt.Sprintf("%s/%d: %s", p.Topic, p.Partition, p.Error))
		}
	}
	for _, s := range st.Warnings {
		notes = append(notes, "warning: "+s)
	}
	if len(notes) > 0 {
		fmt.Fprintln(w)
		for _, n := range notes {
			fmt.Fprintln(w, n)
		}
	}
	return nil
}

// subscriptionText is "a×2, b" for a static subscription, "white_list
// a.* ×1 → a1, a2" for a pattern and "(unparsable)" for a broken one.
func subscriptionText(m groupstate.Member) string {
	if m.Layout == groupstate.LayoutUnknown {
		return "(unparsable, see below)"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m.Subscription)) {
		if n := m.Subscription[k]; n != 1 {
			parts = append(parts, fmt.Sprintf("%s×%d", k, n))
		} else {
			parts = append(parts, k)
		}
	}
	s := strings.Join(parts, ", ")
	if m.Pattern == "white_list" || m.Pattern == "black_list" {
		s = m.Pattern + " " + s + " → " + strings.Join(m.Topics, ", ")
	}
	return s
}

// ownersText is the owner values; a value that matches no registered
// member is marked with "(gone)".
func ownersText(owners []groupstate.Owner) string {
	if len(owners) == 0 {
		return "-"
	}
	var parts []string
	for _, o := range owners {
		s := o.Value
		if strings.Contains(o.Znode, "-") { // pykafka: the znode carries the leader
			s += " [" + o.Znode + "]"
		}
		if o.Member == "" {
			s += " (gone)"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ", ")
}

func offsetText(n int64) string {
	if n < 0 {
		return "?"
	}
	return fmt.Sprint(n)
}

// dialGroupTools resolves the cluster flags and connects to ZooKeeper for
// the group tools (status, migrate-offsets); they log warnings only.
func dialGroupTools(ctx context.Context, cf *cli.ClusterFlags) (*zkwatch.Conn, []string, *slog.Logger, error) {
	zkConnect, brokers, err := cf.Resolve()
	if err != nil {
		return nil, nil, nil, err
	}
	log := cli.NewLogger(false, slog.LevelWarn)
	conn, err := zkwatch.Dial(ctx, zkwatch.Config{Servers: zkConnect, Logger: log})
	if err != nil {
		return nil, nil, nil, err
	}
	return conn, brokers, log, nil
}

// groupToolsKafka opens a Kafka client for the status and migrate-offsets
// commands: to brokers, or when none are given to the PLAINTEXT endpoints
// registered in /brokers/ids.
func groupToolsKafka(ctx context.Context, conn *zkwatch.Conn, brokers []string, log *slog.Logger) (sarama.Client, error) {
	if len(brokers) == 0 {
		var err error
		if brokers, err = cli.BrokersFromZooKeeper(ctx, conn, log); err != nil {
			return nil, err
		}
	}
	sc := sarama.NewConfig()
	sc.Version = sarama.V2_1_0_0
	sc.ClientID = "zkbalance-cli"
	sc.Net.DialTimeout = 10 * time.Second
	sc.Metadata.Retry.Max = 5
	sc.Metadata.Retry.Backoff = 200 * time.Millisecond
	type result struct {
		c   sarama.Client
		err error
	}
	ch := make(chan result, 1)
	go func() { // ends with NewClient; the select below or the closer takes its result
		c, err := sarama.NewClient(brokers, sc)
		ch <- result{c, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			return nil, fmt.Errorf("kafka client for %v: %w", brokers, r.err)
		}
		return r.c, nil
	case <-ctx.Done():
		go func() { // closes a client that arrives too late
			if r := <-ch; r.c != nil {
				_ = r.c.Close()
			}
		}()
		return nil, fmt.Errorf("kafka client for %v: %w", brokers, context.Cause(ctx))
	}
}
