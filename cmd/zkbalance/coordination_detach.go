package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/IBM/sarama"

	"github.com/zkbalance/zkbalance/groupstate"
	"github.com/zkbalance/zkbalance/zkwatch"
)

// runDetach is 'coordination --detach-zookeeper': the plan (dry run) or
// SetDetach (--apply), which creates the mode znode, if missing, with acl.
func runDetach(ctx context.Context, conn *zkwatch.Conn, client sarama.Client, st *groupstate.Coordination, acl []zkwatch.ACL, apply, force, asJSON bool, stdout io.Writer) error {
	plan := st.PlanDetach()
	if apply {
		var err error
		plan, err = groupstate.SetDetach(ctx, conn, client, st.Group, force, acl)
		if errors.Is(err, groupstate.ErrCannotDetach) {
			return fmt.Errorf("refusing to detach group %s from zookeeper: %s; pass --force to detach anyway", st.Group, groupstate.DetachBlockersText(plan.Blockers))
		}
		if err != nil {
			return err
		}
	}
	if asJSON {
		return writeJSON(stdout, plan)
	}
	return printDetachPlan(stdout, plan, apply, force)
}

// printDetachPlan prints what detaching did or would do.
func printDetachPlan(w io.Writer, p groupstate.SwitchPlan, applied, force bool) error {
	switch {
	case p.NoOp:
		fmt.Fprintln(w, "already detached from zookeeper (kafka mode)")
	case applied:
		fmt.Fprintf(w, "detached from zookeeper (%s mode → kafka, zookeeper detached)\n", p.From)
	default:
		fmt.Fprintf(w, "would detach from zookeeper (%s mode → kafka, zookeeper detached)\n", p.From)
	}
	for _, s := range p.Steps {
		fmt.Fprintf(w, "  - %s\n", s)
	}
	if len(p.Blockers) > 0 {
		switch {
		case applied:
			fmt.Fprintf(w, "forced past: %s\n", groupstate.DetachBlockersText(p.Blockers))
		case force:
			fmt.Fprintf(w, "--apply --force would detach past: %s\n", groupstate.DetachBlockersText(p.Blockers))
		default:
			fmt.Fprintf(w, "--apply would refuse: %s (--force to detach anyway)\n", groupstate.DetachBlockersText(p.Blockers))
		}
	}
	return nil
}

// printDetached says, for a detached group, what that means and which
// members still use ZooKeeper.
func printDetached(w io.Writer, st *groupstate.Coordination) {
	if !st.Detached {
		return
	}
	fmt.Fprintln(w, "the members were told to stop using ZooKeeper: they take partitions from Kafka's group coordinator only, commit offsets to Kafka only, and hold no znodes")
	for _, m := range st.Members {
		if m.Follower || m.Registered {
			fmt.Fprintf(w, "warning: member %s still uses ZooKeeper (a follow member of an older zkbalance, one that has not seen the detach yet, or one not in follow mode)\n", m.ID)
		}
	}
}
