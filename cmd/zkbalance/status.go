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
	Usage: `zkbalance status --group G [--topic T]... [--watch [interval]] [--json] [flags]
zkbalance status --all [--json] [flags]`,
	Description: `Shows a consumer group from both sides: as ZooKeeper holds it (Scala
high-level consumer, pykafka BalancedConsumer, wvanbergen port or zkbalance
in zookeeper mode: members under /consumers/G/ids, owner znodes, offsets) and
as Kafka's group coordinator describes it (KafkaConsumer, zkbalance in kafka
mode: state, assignor, members and their assignments). Which side has live
members is the group's coordination: zookeeper, kafka, or both during a
migration; the mode znode that 'zkbalance coordination' writes is shown
beside it ("mode znode: kafka (zookeeper detached)" once the members were
told to stop using ZooKeeper). For every partition of every topic the group
subscribes to, is assigned, or has owners or offsets for, it shows the
owners, the committed offset, the log-end offset and the lag (--json also
has ZooKeeper's and Kafka's offsets apart). --all lists the groups under
/consumers and the consumer groups Kafka knows. Nothing is written.

The partition table has kafka-consumer-groups' columns, for either
coordination:

  TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG OWNER STORE

CURRENT-OFFSET is the committed offset (the higher of ZooKeeper's and
Kafka's), STORE where it comes from (zookeeper, kafka, or both when they
hold the same), OWNER the owner znode values (a thread id "<member>-<n>";
"(gone)" when no registered member matches) and the Kafka members assigned
the partition. "-" is unknown or none; LAG is "-" when nothing is committed,
and the TOTAL line sums the LAG column.

--topic T (repeatable) shows only the partitions of those topics.

--watch [interval] (default 2s; "500ms", "5s" or seconds) redraws until
interrupted (Ctrl-C, SIGTERM: exit 0), with a LAG-CHANGE column: each
partition's lag minus its lag in the previous frame (+N: falling behind,
-N: catching up; "-" in the first frame). On a terminal the screen is
cleared before each frame; otherwise frames are appended, separated by a
blank line, each starting with a line "status at <RFC 3339 time>, every
<interval> (interrupt to stop)". A failed read after the first is shown as
the frame and the watch goes on. --timeout then bounds each read.

Without ZooKeeper (Kafka 4: pass --brokers and no --zookeeper) only Kafka's
side is shown.

--json prints one JSON object (with --watch, one per frame, separated by
a blank line; a failed read is {time, error}). Field names are stable; in
partitions[] offsets are -1 when absent or unknown, in rows[] unknown is
null.

  --group G:
    group              group name
    layout             ZooKeeper layout: "scala", "pykafka", "mixed", "unknown",
                       or "none" (no /consumers/G)
    storage            where offsets are: "zookeeper", "kafka", "dual" or "none"
    coordination       whose members are live: "zookeeper", "kafka", "both" or "none"
    coordination_mode  what the mode znode /consumers/G/coordination names, "zookeeper"
                       or "kafka" (omitted when absent or malformed; see 'zkbalance
                       coordination')
    zookeeper_detached the mode znode tells the members to stop using ZooKeeper
                       (omitted when not)
    in_zookeeper       whether /consumers/G exists
    members[]          one per /consumers/G/ids child, sorted by id:
      id               member id
      layout           "scala", "pykafka" or "unknown" (unparsable registration)
      subscription     topic (or regex) -> streams
      pattern          "static", "white_list", "black_list" (Scala only)
      topics[]         the topics the subscription resolves to
      timestamp        the registration's timestamp (RFC 3339), if any
      created          when the ids znode was created (RFC 3339)
      raw, error       the value and the parse error of an unparsable registration
    kafka              the group at Kafka's coordinator (omitted when Kafka was not asked):
      state            "Stable", "PreparingRebalance", "CompletingRebalance",
                       "Empty" (no member) or "Dead" (unknown to Kafka)
      protocol_type    "consumer", or "" for a group with only committed offsets
      protocol         the assignor ("range", "roundrobin", "cooperative-sticky", ...)
      members[]        sorted by id: {id, instance_id, client_id, host, topics[],
                       assignment: topic -> [partitions], error}
      error            the coordinator's error for the group (omitted when none)
    partitions[]       sorted by topic, then partition:
      topic, partition
      owners[]         owner znodes: {znode, value, member} (member "" when the
                       value matches no registered member)
      kafka_owners[]   Kafka members assigned the partition: {member, client_id, host}
      zookeeper_offset /consumers/G/offsets/<topic>/<partition>
      kafka_offset     Kafka's committed offset for group G
      committed        the effective committed offset (the higher of the two)
      source           "zookeeper", "kafka", "both" (equal) or "" (none)
      log_start        oldest offset still in the log
      log_end          next offset to be written
      lag              log_end - committed, or log_end - log_start without a commit
      error            what went wrong for this partition (omitted when nothing)
    totals             {members, partitions, owned, kafka_members, kafka_owned,
                       committed, log_end, lag, errors} (of the --topic
                       partitions; lag also counts log_end - log_start of
                       uncommitted partitions)
    rows[]             the partition table, sorted by topic, then partition:
      topic, partition
      current_offset   the effective committed offset, null when none
      log_end_offset   next offset to be written, null when unknown
      lag              log_end_offset - current_offset, null when either is null
      owner            the OWNER column's text, null when nobody owns it
      store            "zookeeper", "kafka" or "both", null when nothing is committed
      lag_change       (--watch) lag minus the previous frame's, omitted
                       when either is unknown
    time               when the frame was read (--watch only)
    warnings[]         problems not tied to one member or partition, and
                       --topic names with no partition in the group
                       (omitted when none)

  --all:
    groups[]           sorted by group: {group, members (in ZooKeeper), layout,
                       in_zookeeper, coordination, kafka_state ("" when Kafka
                       was not asked), kafka_members}
    warnings[]         e.g. Kafka could not be asked, or a group's znodes have an
                       ACL the --zk-user credentials do not match (omitted when none)

` + cli.SecureConnectionHelp,
	Examples: `zkbalance status --group billing --zookeeper zk1:2181/kafka
zkbalance status --group billing --topic orders --watch 5s   # Ctrl-C to stop
zkbalance status --group billing --json | jq '.rows[] | select(.lag > 1000)'
zkbalance status --group billing --brokers kafka1:9092      # no ZooKeeper (Kafka 4)
zkbalance status --all`,
}

func runStatus(ctx context.Context, fs *flag.FlagSet, args []string, stdout io.Writer) error {
	group := fs.String("group", "", "the consumer group to show")
	all := fs.Bool("all", false, "list every group under /consumers and every consumer group Kafka knows")
	asJSON := fs.Bool("json", false, "print JSON (fields above) instead of tables")
	var topics []string
	fs.Func("topic", "show only the partitions of topic `T` (repeatable)", func(s string) error {
		if s == "" {
			return errors.New("empty topic name")
		}
		topics = append(topics, s)
		return nil
	})
	var watch time.Duration
	fs.Func("watch", "redraw every `interval` (default 2s when given without =interval) until interrupted", func(s string) error {
		d, err := parseWatch(s)
		watch = d
		return err
	})
	common := cli.AddCommonFlags(fs, time.Minute, "give up after this long (with --watch: per redraw)")
	cf := cli.AddSecureClusterFlags(fs)
	if err := cli.Parse(fs, watchArgs(args)); err != nil {
		return err
	}
	if (*group == "") == !*all {
		return cli.Usagef("pass either --group G or --all")
	}
	if *all && (len(topics) > 0 || watch > 0) {
		return cli.Usagef("--topic and --watch go with --group, not --all")
	}
	timeout := common.Timeout()
	cc, err := resolveCluster(cf, true, common.Logger(slog.LevelWarn))
	if err != nil {
		return err
	}
	// The connections are set up within --timeout; with --watch they stay
	// open until the interrupt.
	dialCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := cc.dialOptionalZooKeeper(dialCtx)
	if err != nil {
		return err
	}
	if conn != nil {
		defer conn.Close()
	}

	if *all {
		return statusAll(dialCtx, conn, cc, stdout, *asJSON)
	}
	client, err := cc.groupToolsKafka(dialCtx, conn)
	if err != nil {
		return err
	}
	defer client.Close()
	read := func(ctx context.Context) (*groupstate.Status, error) {
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		st, err := groupstate.Read(ctx, conn, client, *group)
		if err != nil {
			return nil, err
		}
		return filterTopics(st, topics), nil
	}
	if watch > 0 {
		return watchStatus(ctx, stdout, watchConfig{interval: watch, json: *asJSON, terminal: isTerminal(stdout)}, read)
	}
	st, err := read(dialCtx)
	if err != nil {
		return err
	}
	rows := statusRows(st.Partitions)
	if *asJSON {
		return writeJSON(stdout, statusJSON{Status: st, Rows: rows})
	}
	return printGroupStatus(stdout, st, rows, false)
}

// statusJSON is what 'status --group G --json' prints: the snapshot's
// fields and the table's rows.
type statusJSON struct {
	*groupstate.Status
	Rows []statusRow `json:"rows"`
	// Time is when the frame was read (--watch only).
	Time *time.Time `json:"time,omitempty"`
}

// groupListEntry is one line of 'status --all'.
type groupListEntry struct {
	Group        string                      `json:"group"`
	Members      int                         `json:"members"`
	Layout       groupstate.Layout           `json:"layout"`
	InZooKeeper  bool                        `json:"in_zookeeper"`
	Coordination groupstate.LiveCoordination `json:"coordination"`
	KafkaState   string                      `json:"kafka_state"`
	KafkaMembers int                         `json:"kafka_members"`
}

// statusAll lists the groups of ZooKeeper (when conn is not nil) and of
// Kafka. With ZooKeeper, Kafka not answering is a warning.
func statusAll(ctx context.Context, conn *zkwatch.Conn, cc *clusterConn, w io.Writer, asJSON bool) error {
	client, kerr := cc.groupToolsKafka(ctx, conn)
	if kerr == nil {
		defer client.Close()
	}
	list, warnings, err := listGroups(ctx, conn, client, kerr)
	if err != nil {
		return err
	}
	if asJSON {
		return writeJSON(w, struct {
			Groups   []groupListEntry `json:"groups"`
			Warnings []string         `json:"warnings,omitempty"`
		}{list, warnings})
	}
	if len(list) == 0 {
		fmt.Fprintln(w, "no consumer groups")
	} else {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "GROUP\tMEMBERS\tLAYOUT\tCOORDINATION\tKAFKA-STATE\tKAFKA-MEMBERS")
		for _, e := range list {
			state := e.KafkaState
			if state == "" {
				state = "-"
			}
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%d\n", e.Group, e.Members, e.Layout, e.Coordination, state, e.KafkaMembers)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	for _, s := range warnings {
		fmt.Fprintln(w, "warning: "+s)
	}
	return nil
}

// listGroups is the list of 'status --all' (and of the ui page): the
// groups under /consumers (when conn is not nil) and the consumer groups
// Kafka knows, through client, or clientErr, why there is no client. With
// ZooKeeper, Kafka not answering is a warning.
func listGroups(ctx context.Context, conn *zkwatch.Conn, client sarama.Client, clientErr error) ([]groupListEntry, []string, error) {
	var warnings []string
	entries := map[string]*groupListEntry{}
	if conn != nil {
		names, err := groupstate.Groups(ctx, conn)
		if err != nil {
			return nil, nil, err
		}
		for _, g := range names {
			st, err := groupstate.Read(ctx, conn, nil, g)
			if errors.Is(err, groupstate.ErrNoGroup) {
				continue // deleted since the listing
			}
			if errors.Is(err, zkwatch.ErrNoAuth) {
				// A group with a digest ACL these credentials do not
				// match: listed, with a warning, not the end of the list.
				entries[g] = &groupListEntry{Group: g, Layout: groupstate.LayoutUnknown, InZooKeeper: true}
				warnings = append(warnings, fmt.Sprintf("group %s: not authenticated to read it in ZooKeeper (NOAUTH; see --zk-user)", g))
				continue
			}
			if err != nil {
				return nil, nil, err
			}
			entries[g] = &groupListEntry{Group: g, Members: len(st.Members), Layout: st.Layout, InZooKeeper: true}
		}
	}
	err := clientErr
	if err == nil {
		err = addKafkaGroups(ctx, client, entries)
	}
	if err != nil {
		if conn == nil || ctx.Err() != nil || cli.IsSecurityError(err) {
			return nil, nil, err // a wrong password or certificate is no outage to list around
		}
		warnings = append(warnings, fmt.Sprintf("kafka not consulted, only the groups under /consumers are listed: %v", err))
	}
	list := []groupListEntry{}
	for _, g := range slices.Sorted(maps.Keys(entries)) {
		e := entries[g]
		e.Coordination = groupstate.LiveCoordinationOf(e.Members > 0, e.KafkaMembers > 0)
		list = append(list, *e)
	}
	return list, warnings, nil
}

// addKafkaGroups describes every group of entries and every consumer
// group Kafka lists at its coordinator, adding the Kafka-only groups.
func addKafkaGroups(ctx context.Context, client sarama.Client, entries map[string]*groupListEntry) error {
	names, err := groupstate.KafkaGroups(ctx, client)
	if err != nil {
		return err
	}
	for _, g := range names {
		if entries[g] == nil {
			entries[g] = &groupListEntry{Group: g, Layout: groupstate.LayoutNone}
		}
	}
	for _, g := range slices.Sorted(maps.Keys(entries)) {
		kg, err := groupstate.DescribeKafkaGroup(ctx, client, g)
		if err != nil {
			return err
		}
		entries[g].KafkaState, entries[g].KafkaMembers = kg.State, len(kg.Members)
	}
	return nil
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// printGroupStatus prints the tables for people: the group's header
// lines, its members in ZooKeeper and at Kafka's coordinator, and rows
// (with the LAG-CHANGE column when change is set).
func printGroupStatus(w io.Writer, st *groupstate.Status, rows []statusRow, change bool) error {
	where := "offsets in " + string(st.Storage)
	if st.Storage == groupstate.StorageNone {
		where = "no committed offsets"
	}
	mode := ""
	if m := st.ModeText(); m != "" {
		mode = " (mode znode: " + m + ")"
	}
	fmt.Fprintf(w, "group %s: layout %s, %s, %d member(s), coordination %s%s\n\n", st.Group, st.Layout, where, len(st.Members), st.Coordination, mode)
	if st.InZooKeeper {
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
	} else {
		fmt.Fprintln(w, "not in zookeeper (no /consumers/"+st.Group+")")
	}
	fmt.Fprintln(w)
	if k := st.Kafka; k != nil {
		proto := k.ProtocolType
		if k.Protocol != "" {
			proto += "/" + k.Protocol
		}
		if proto == "" {
			proto = "-"
		}
		fmt.Fprintf(w, "kafka coordinator: state %s, protocol %s, %d member(s)\n", k.State, proto, len(k.Members))
		if len(k.Members) > 0 {
			tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "KAFKA-MEMBER\tCLIENT-ID\tHOST\tTOPICS\tASSIGNMENT")
			for _, m := range k.Members {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", m.ID, m.ClientID, m.Host, strings.Join(m.Topics, ","), assignmentText(m.Assignment))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
		}
		fmt.Fprintln(w)
	}
	if err := writeRows(w, rows, change); err != nil {
		return err
	}
	t := st.Totals
	fmt.Fprintf(w, "\nTOTAL: %d partition(s), %d owned, %d committed, log end %d, lag %d", t.Partitions, t.Owned, t.Committed, t.LogEnd, rowsTotalLag(rows))
	if st.Kafka != nil {
		fmt.Fprintf(w, "; %d assigned at kafka", t.KafkaOwned)
	}
	fmt.Fprintln(w)
	var notes []string
	for _, m := range st.Members {
		if m.Error != "" {
			notes = append(notes, fmt.Sprintf("member %s: %s", m.ID, m.Error))
		}
	}
	if st.Kafka != nil {
		for _, m := range st.Kafka.Members {
			if m.Error != "" {
				notes = append(notes, fmt.Sprintf("kafka member %s: %s", m.ID, m.Error))
			}
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

// assignmentText is "t:0,1 u:2", "-" when empty.
func assignmentText(a map[string][]int32) string {
	if len(a) == 0 {
		return "-"
	}
	var parts []string
	for _, t := range slices.Sorted(maps.Keys(a)) {
		ps := make([]string, len(a[t]))
		for i, p := range a[t] {
			ps[i] = fmt.Sprint(p)
		}
		parts = append(parts, t+":"+strings.Join(ps, ","))
	}
	return strings.Join(parts, " ")
}

// kafkaOwnersText is the client id and member id of the Kafka owners.
func kafkaOwnersText(owners []groupstate.KafkaOwner) string {
	if len(owners) == 0 {
		return "-"
	}
	var parts []string
	for _, o := range owners {
		parts = append(parts, o.Member)
	}
	return strings.Join(parts, ", ")
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
