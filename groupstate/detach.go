package groupstate

import (
	"context"
	"errors"
	"fmt"

	"github.com/IBM/sarama"

	"github.com/zkbalance/zkbalance/internal/zkformat"
	"github.com/zkbalance/zkbalance/zkwatch"
)

// ErrCannotDetach: SetDetach was asked to detach a group from ZooKeeper
// while it is not in kafka mode or a member still uses ZooKeeper, without
// force.
var ErrCannotDetach = errors.New("groupstate: the group cannot be detached from zookeeper")

// PlanDetach says what detaching the group's members from ZooKeeper would
// do (pure): the mode znode then holds
// {"version":1,"mode":"kafka","zookeeper":"detached"}, and each follow
// member keeps its Kafka membership and partitions but stops claiming owner
// znodes, releases those it holds, commits offsets to Kafka only, deletes
// its follower znode and closes its ZooKeeper session; a follow member
// started later does the same at once.
//
// It is blocked (SetDetach refuses unless forced) unless every member is
// coordinated by Kafka: the mode znode names kafka (and parses), no member
// is registered in /ids, and every follower is in kafka mode and has
// joined the Kafka group (its znode names a Kafka member id). Then
// Kafka's generation fencing and eager revoke keep the members apart
// without the owner znodes; while any member still took partitions by
// ZooKeeper's assignment, only the owner znodes would.
func (c *Coordination) PlanDetach() SwitchPlan {
	p := SwitchPlan{From: c.Mode, To: ModeKafka, DetachZooKeeper: true, NoOp: c.Detached}
	switch {
	case c.ModeError != "":
		p.Blockers = append(p.Blockers, CoordinationMember{ID: "(mode znode)",
			Reason: "it is malformed (" + c.ModeError + "): switch the group to kafka first (coordination --to kafka --apply)"})
	case c.Mode != ModeKafka:
		p.Blockers = append(p.Blockers, CoordinationMember{ID: "(mode znode)",
			Reason: fmt.Sprintf("the group is in %s mode: switch it to kafka first (coordination --to kafka --apply) and wait until every follower is in kafka mode", c.Mode)})
	}
	for _, m := range c.Members {
		if why := detachBlocker(m); why != "" {
			b := m
			b.Reason = why
			p.Blockers = append(p.Blockers, b)
		}
	}
	if p.NoOp {
		p.Steps = append(p.Steps, "the mode znode says zookeeper detached already: nothing to write")
		for _, m := range c.Members {
			if m.Follower || m.Registered {
				p.Steps = append(p.Steps, fmt.Sprintf("member %s still uses zookeeper: a follow member that predates detaching, or one that has not seen the mode znode yet; stop it or restart it in follow mode", m.ID))
			}
		}
		return p
	}
	p.Steps = append(p.Steps, fmt.Sprintf("write %s = %s", zkformat.CoordinationPath(c.Group),
		zkformat.EncodeCoordination(zkformat.CoordinationState{Mode: ModeKafka, Detached: true})))
	for _, m := range c.Members {
		switch {
		case m.Follower && m.CanFollow:
			p.Steps = append(p.Steps, fmt.Sprintf("member %s keeps its Kafka membership and its partitions (no rebalance), stops claiming owner znodes and releases its own, commits offsets to Kafka only, deletes its follower znode and closes its ZooKeeper session", m.ID))
		case m.InKafkaGroup && !m.Follower:
			p.Steps = append(p.Steps, fmt.Sprintf("member %s of the Kafka group stays as it is (it uses no ZooKeeper)", m.ID))
		default:
			p.Steps = append(p.Steps, fmt.Sprintf("member %s stays as it is (%s)", m.ID, detachBlocker(m)))
		}
	}
	p.Steps = append(p.Steps, "from then on Kafka's group coordinator alone keeps the members apart (generation fencing, eager revoke) and offsets are in Kafka only: the group no longer needs ZooKeeper; follow members started later detach at once")
	return p
}

// detachBlocker says why member m keeps the group from being detached
// ("" when it does not).
func detachBlocker(m CoordinationMember) string {
	switch {
	case m.Registered:
		return "registered in /ids: it takes partitions by ZooKeeper's assignment; switch the group to kafka and wait for it, or stop it"
	case m.Follower && !m.CanFollow:
		return m.Reason
	case m.Follower && m.Mode != ModeKafka:
		return fmt.Sprintf("a follower in %s mode: wait until it has switched to kafka", m.Mode)
	case m.Follower && m.KafkaMemberID == "":
		return "a follower in kafka mode that has not joined the Kafka group yet: wait until it has"
	}
	return ""
}

// detachedBlockers is what blocks a switch of a detached group to mode:
// to zookeeper, that the members no longer watch ZooKeeper.
func (c *Coordination) detachedBlockers(mode string) []CoordinationMember {
	if !c.Detached || mode != ModeZooKeeper {
		return nil
	}
	return []CoordinationMember{{ID: "(group " + c.Group + ")",
		Reason: "it is detached from ZooKeeper: its members no longer watch ZooKeeper and would not switch; restart them in follow mode first (after 'coordination --to kafka --apply' re-attaches the group, so that they use ZooKeeper again), then switch"}}
}

// reattachSteps are the first steps of a switch of a detached group.
func (c *Coordination) reattachSteps(mode string) []string {
	return []string{
		fmt.Sprintf("write %s = %s (re-attach: the group is detached from zookeeper now)", zkformat.CoordinationPath(c.Group), zkformat.EncodeMode(mode)),
		"members running detached do not see it (they no longer watch ZooKeeper): they go on as they are until restarted; follow members started from now on use ZooKeeper again (owner znodes, offsets in both stores)",
	}
}

// SetDetach writes the group's mode znode with zookeeper detached after
// checking PlanDetach: it refuses with ErrCannotDetach, naming the
// culprits, unless force. client (for the Kafka group's members, which the
// plan lists) may be nil. It returns the plan it followed.
func SetDetach(ctx context.Context, conn *zkwatch.Conn, client sarama.Client, group string, force bool, acl []zkwatch.ACL) (SwitchPlan, error) {
	c, err := ReadCoordination(ctx, conn, client, group)
	if err != nil {
		return SwitchPlan{}, err
	}
	p := c.PlanDetach()
	if len(p.Blockers) > 0 && !force {
		return p, fmt.Errorf("%w: %s", ErrCannotDetach, DetachBlockersText(p.Blockers))
	}
	if p.NoOp {
		return p, nil
	}
	return p, writeModeZnode(ctx, conn, group, zkformat.EncodeCoordination(zkformat.CoordinationState{Mode: ModeKafka, Detached: true}), acl)
}

// DetachBlockersText names what keeps a group from being detached, and
// why.
func DetachBlockersText(ms []CoordinationMember) string {
	s := ""
	for i, m := range ms {
		if i > 0 {
			s += "; "
		}
		s += fmt.Sprintf("%s: %s", m.ID, m.Reason)
	}
	return s
}

// noteDetached says, in a detached group, why the Kafka group's members
// that have no follower znode cannot follow (pure): detached follow
// members have none.
func (c *Coordination) noteDetached() {
	if !c.Detached {
		return
	}
	for i, m := range c.Members {
		if m.InKafkaGroup && !m.Follower {
			c.Members[i].Reason = fmt.Sprintf("in the Kafka group, client id %q, host %s: a follow member detached from ZooKeeper (it no longer watches the mode znode), a Java KafkaConsumer or zkbalance in kafka mode; it stays in the Kafka group", m.ClientID, m.Host)
		}
	}
}
