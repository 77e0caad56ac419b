package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/zkbalance/zkbalance/groupstate"
	"github.com/zkbalance/zkbalance/internal/cli"
	"github.com/zkbalance/zkbalance/internal/zkformat"
)

// coordinationHelp is the --help of 'zkbalance coordination'.
var coordinationHelp = cli.Help{
	Usage: `zkbalance coordination --group G [--to kafka|zookeeper [--apply [--force]]] [--json] [flags]
zkbalance coordination --group G --detach-zookeeper [--apply [--force]] [--json] [flags]`,
	Description: `Shows or switches who coordinates consumer group G: ZooKeeper (the members'
registrations, as the Scala consumer and pykafka do) or Kafka's group
coordinator (so that Java KafkaConsumers can share the group). The group's
mode znode /consumers/G/coordination holds {"version":1,"mode":"zookeeper"}
or {"version":1,"mode":"kafka"}; absent means zookeeper.

zkbalance members run with 'consume --coordination follow' watch it and
switch live: each one revokes its partitions (handlers stopped, offsets
committed to both ZooKeeper and Kafka, or to Kafka only in a pykafka-layout
group, owner znodes released), leaves its mode (deregisters from
/consumers/G/ids, or leaves the Kafka group) and enters the other; a
partition is claimed in the new mode only once its old holder released its
owner znode, so no partition is ever processed by two members at once, and
offsets carry over. In a pykafka-layout group a member joins the Kafka group
only once no member is registered in /ids, and registers only once the
Kafka group is empty (Kafka refuses pykafka-style commits while its group
has members). Follow-mode members of either layout keep an ephemeral
/consumers/G/followers/<member-id> with the mode they are in.

Without --to it shows the mode and every member: registered in /ids, in
the Kafka group G (DescribeGroups), following (with the mode it is in; a
follower in kafka mode names its Kafka member id), and whether it can follow
a switch (a Scala or pykafka consumer, a Java KafkaConsumer, or a zkbalance
member not in follow mode cannot). --to MODE is a dry run: it prints what
would happen. --apply writes the mode znode. It refuses, naming them, while
a member cannot follow, unless --force: to kafka, a registered member that
is no follower (it would stay in zookeeper mode); to zookeeper, a member of
the Kafka group that is no follower (it would go on consuming what Kafka
assigns it, without owner znodes), or a Kafka group that cannot be read.

--detach-zookeeper, once the group is in kafka mode, tells its members to
stop using ZooKeeper, so that ZooKeeper can be decommissioned (and the
brokers moved to Kafka 4): the mode znode becomes
{"version":1,"mode":"kafka","zookeeper":"detached"}. Each follow member
keeps its Kafka membership and its partitions (no rebalance, no pause),
releases its owner znodes, commits offsets to Kafka only from then on,
deletes its follower znode and closes its ZooKeeper session; a follow member
started later runs detached at once. From then on Kafka's group coordinator
alone keeps the members apart. It is a dry run without --apply, and refuses,
naming them, unless the mode znode names kafka, no member is registered in
/consumers/G/ids and every follower is in kafka mode with its Kafka member
id (--force detaches anyway). A follow member of an older zkbalance reads
the value as plain kafka mode and goes on using ZooKeeper: 'coordination'
still lists it. Once detached, --to zookeeper is refused (the members no
longer watch ZooKeeper): --to kafka --apply re-attaches the mode znode,
members restarted in follow mode then use ZooKeeper again, and only then
can the group go back to zookeeper.

--json prints the state (group, mode, mode_set, mode_error,
zookeeper_detached, kafka_checked, kafka_error, members[]: id, registered,
layout, in_kafka_group, follower, mode, kafka_member_id, client_id, host,
can_follow, reason) or, with --to or --detach-zookeeper, the plan (from, to,
noop, detach_zookeeper, blockers[] as members[], steps[]).

` + cli.SecureConnectionHelp,
	Examples: `zkbalance coordination --group billing
zkbalance coordination --group billing --to kafka            # dry run
zkbalance coordination --group billing --to kafka --apply
zkbalance coordination --group billing --detach-zookeeper           # dry run
zkbalance coordination --group billing --detach-zookeeper --apply
zkbalance coordination --group billing --to zookeeper --apply`,
}

func runCoordination(ctx context.Context, fs *flag.FlagSet, args []string, stdout io.Writer) error {
	group := fs.String("group", "", "the consumer group (required)")
	to := fs.String("to", "", `the mode to switch to: "kafka" or "zookeeper" (dry run unless --apply)`)
	apply := fs.Bool("apply", false, "write the mode znode (default: dry run)")
	force := fs.Bool("force", false, "switch (or detach) even though a member cannot follow")
	detach := fs.Bool("detach-zookeeper", false, "tell the members of a group in kafka mode to stop using ZooKeeper (dry run unless --apply)")
	asJSON := fs.Bool("json", false, "print JSON instead of text")
	common := cli.AddCommonFlags(fs, time.Minute, "give up after this long")
	cf := cli.AddSecureClusterFlags(fs)
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	if *group == "" {
		return cli.Usagef("--group is required")
	}
	mode := strings.ToLower(*to)
	switch mode {
	case "", groupstate.ModeKafka, groupstate.ModeZooKeeper:
	case "zk":
		mode = groupstate.ModeZooKeeper
	default:
		return cli.Usagef("--to must be kafka or zookeeper (got %q)", *to)
	}
	if mode != "" && *detach {
		return cli.Usagef("--to and --detach-zookeeper exclude each other")
	}
	if mode == "" && !*detach && (*apply || *force) {
		return cli.Usagef("--apply and --force need --to or --detach-zookeeper")
	}
	ctx, cancel := context.WithTimeout(ctx, common.Timeout())
	defer cancel()
	cc, conn, client, err := openGroupTools(ctx, cf, common)
	if err != nil {
		return err
	}
	defer conn.Close()
	defer client.Close()
	st, err := groupstate.ReadCoordination(ctx, conn, client, *group)
	if err != nil {
		return err
	}
	if *detach {
		return runDetach(ctx, conn, client, st, cc.sec.ACL, *apply, *force, *asJSON, stdout)
	}
	if mode == "" {
		if *asJSON {
			return writeJSON(stdout, st)
		}
		return printCoordination(stdout, st)
	}
	if !*apply {
		plan, err := st.Plan(mode)
		if err != nil {
			return err
		}
		if *asJSON {
			return writeJSON(stdout, plan)
		}
		return printPlan(stdout, plan, false, *force)
	}
	plan, err := groupstate.SetCoordination(ctx, conn, client, *group, mode, *force, cc.sec.ACL)
	if errors.Is(err, groupstate.ErrCannotFollow) {
		return fmt.Errorf("refusing to switch group %s to %s: %s; pass --force to switch anyway", *group, mode, groupstate.BlockersText(plan.Blockers))
	}
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(stdout, plan)
	}
	return printPlan(stdout, plan, true, *force)
}

// printCoordination prints the mode and the members for people.
func printCoordination(w io.Writer, st *groupstate.Coordination) error {
	src := "mode znode absent: zookeeper"
	if st.ModeSet {
		src = "from /consumers/" + st.Group + "/coordination"
	}
	fmt.Fprintf(w, "group %s: coordination %s (%s)\n", st.Group, zkformat.CoordinationState{Mode: st.Mode, Detached: st.Detached}, src)
	printDetached(w, st)
	if st.ModeError != "" {
		fmt.Fprintf(w, "warning: the mode znode is malformed (members stay in their mode): %s\n", st.ModeError)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "MEMBER\tIN /ids\tIN KAFKA GROUP\tFOLLOWS\tMODE\tCAN FOLLOW")
	if len(st.Members) == 0 {
		fmt.Fprintln(tw, "(none)\t\t\t\t\t")
	}
	for _, m := range st.Members {
		mode := m.Mode
		if mode == "" {
			mode = "-"
		}
		can := "yes"
		if !m.CanFollow {
			can = "no: " + m.Reason
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", m.ID, yesNo(m.Registered), yesNo(m.InKafkaGroup), yesNo(m.Follower), mode, can)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if st.KafkaError != "" {
		fmt.Fprintf(w, "warning: the Kafka group's members could not be read: %s\n", st.KafkaError)
	}
	return nil
}

// printPlan prints what a switch did or would do.
func printPlan(w io.Writer, p groupstate.SwitchPlan, applied, force bool) error {
	verb := "would switch"
	if applied {
		verb = "switched"
	}
	if p.NoOp {
		verb = "already in"
	}
	if p.DetachZooKeeper {
		return printDetachPlan(w, p, applied, force)
	}
	fmt.Fprintf(w, "%s %s → %s\n", verb, p.From, p.To)
	for _, s := range p.Steps {
		fmt.Fprintf(w, "  - %s\n", s)
	}
	if len(p.Blockers) > 0 {
		switch {
		case applied:
			fmt.Fprintf(w, "forced past: %s\n", groupstate.BlockersText(p.Blockers))
		case force:
			fmt.Fprintf(w, "--apply --force would switch past: %s\n", groupstate.BlockersText(p.Blockers))
		default:
			fmt.Fprintf(w, "--apply would refuse: %s (--force to switch anyway)\n", groupstate.BlockersText(p.Blockers))
		}
	}
	return nil
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
