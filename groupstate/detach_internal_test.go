package groupstate

import (
	"strings"
	"testing"
)

func TestPlanDetach(t *testing.T) {
	kafkaFollower := func(id, kid string) CoordinationMember {
		return classifyMember(id, false, "", []byte(`{"version":1,"mode":"kafka","kafka_member_id":"`+kid+`"}`))
	}
	java := CoordinationMember{ID: "consumer-java-1", InKafkaGroup: true, KafkaMemberID: "consumer-java-1", Reason: "in the Kafka group without a follower znode"}
	for _, tc := range []struct {
		name     string
		c        Coordination
		blockers []string // IDs
		reason   string   // in the first blocker's reason
		noop     bool
		step     string // in the steps
	}{
		{name: "all followers in kafka, a java member",
			c:    Coordination{Group: "g", Mode: ModeKafka, ModeSet: true, Members: []CoordinationMember{kafkaFollower("a", "k-a"), kafkaFollower("b", "k-b"), java}},
			step: `write /consumers/g/coordination = {"version":1,"mode":"kafka","zookeeper":"detached"}`},
		{name: "mode znode absent",
			c:        Coordination{Group: "g", Mode: ModeZooKeeper, Members: []CoordinationMember{kafkaFollower("a", "k-a")}},
			blockers: []string{"(mode znode)"}, reason: "in zookeeper mode: switch it to kafka first"},
		{name: "mode znode malformed",
			c:        Coordination{Group: "g", Mode: ModeZooKeeper, ModeSet: true, ModeError: "bad", Members: []CoordinationMember{kafkaFollower("a", "k-a")}},
			blockers: []string{"(mode znode)"}, reason: "malformed (bad)"},
		{name: "a follower still in zookeeper mode",
			c: Coordination{Group: "g", Mode: ModeKafka, ModeSet: true, Members: []CoordinationMember{kafkaFollower("a", "k-a"),
				classifyMember("b", true, LayoutScala, []byte(`{"version":1,"mode":"zookeeper"}`))}},
			blockers: []string{"b"}, reason: "registered in /ids"},
		{name: "a follower between modes",
			c: Coordination{Group: "g", Mode: ModeKafka, ModeSet: true, Members: []CoordinationMember{
				classifyMember("b", false, "", []byte(`{"version":1,"mode":"zookeeper"}`))}},
			blockers: []string{"b"}, reason: "a follower in zookeeper mode"},
		{name: "a follower not joined yet",
			c: Coordination{Group: "g", Mode: ModeKafka, ModeSet: true, Members: []CoordinationMember{
				classifyMember("b", false, "", []byte(`{"version":1,"mode":"kafka"}`))}},
			blockers: []string{"b"}, reason: "not joined the Kafka group yet"},
		{name: "a legacy member",
			c: Coordination{Group: "g", Mode: ModeKafka, ModeSet: true, Members: []CoordinationMember{
				classifyMember("py", true, LayoutPykafka, nil)}},
			blockers: []string{"py"}, reason: "registered in /ids"},
		{name: "a malformed follower znode",
			c: Coordination{Group: "g", Mode: ModeKafka, ModeSet: true, Members: []CoordinationMember{
				classifyMember("x", false, "", []byte(`nope`))}},
			blockers: []string{"x"}, reason: "malformed"},
		{name: "detached already",
			c:    Coordination{Group: "g", Mode: ModeKafka, ModeSet: true, Detached: true, Members: []CoordinationMember{java}},
			noop: true, step: "nothing to write"},
		{name: "detached already, an old follower left",
			c:    Coordination{Group: "g", Mode: ModeKafka, ModeSet: true, Detached: true, Members: []CoordinationMember{kafkaFollower("old", "k-old")}},
			noop: true, step: "member old still uses zookeeper"},
	} {
		p := tc.c.PlanDetach()
		var ids []string
		for _, b := range p.Blockers {
			ids = append(ids, b.ID)
		}
		if strings.Join(ids, ",") != strings.Join(tc.blockers, ",") || p.NoOp != tc.noop || !p.DetachZooKeeper || p.To != ModeKafka {
			t.Errorf("%s: blockers %v noop %v; want %v noop %v (%+v)", tc.name, ids, p.NoOp, tc.blockers, tc.noop, p)
			continue
		}
		if tc.reason != "" && !strings.Contains(p.Blockers[0].Reason, tc.reason) {
			t.Errorf("%s: reason %q, want %q", tc.name, p.Blockers[0].Reason, tc.reason)
		}
		if tc.reason != "" && !strings.Contains(DetachBlockersText(p.Blockers), tc.blockers[0]+": ") {
			t.Errorf("%s: blockers text %q", tc.name, DetachBlockersText(p.Blockers))
		}
		if tc.step != "" && !strings.Contains(strings.Join(p.Steps, "\n"), tc.step) {
			t.Errorf("%s: steps %q lack %q", tc.name, p.Steps, tc.step)
		}
	}
}

func TestPlanAfterDetach(t *testing.T) {
	c := &Coordination{Group: "g", Mode: ModeKafka, ModeSet: true, Detached: true, KafkaChecked: true}
	p, err := c.Plan(ModeZooKeeper)
	if err != nil || len(p.Blockers) != 1 || !strings.Contains(p.Blockers[0].Reason, "no longer watch ZooKeeper") ||
		!strings.Contains(p.Blockers[0].Reason, "restart them in follow mode first") {
		t.Fatalf("plan to zookeeper after detach: %+v %v", p, err)
	}
	// To kafka re-attaches: a write, not a no-op, and no blocker.
	p, err = c.Plan(ModeKafka)
	if err != nil || p.NoOp || len(p.Blockers) != 0 ||
		!strings.Contains(strings.Join(p.Steps, "\n"), `= {"version":1,"mode":"kafka"} (re-attach`) {
		t.Fatalf("plan to kafka after detach: %+v %v", p, err)
	}
	// The Kafka group's members without a follower znode are said to be
	// detached members (among others).
	c.Members = mergeKafkaMembers(nil, []KafkaGroupMember{{MemberID: "zkbalance-1", ClientID: "zkbalance", Host: "/10.0.0.2"}})
	c.noteDetached()
	if r := c.Members[0].Reason; !strings.Contains(r, "a follow member detached from ZooKeeper") || !strings.Contains(r, `client id "zkbalance"`) {
		t.Errorf("reason of a detached member: %q", r)
	}
	// Not detached: to zookeeper is not blocked by it.
	c.Detached, c.Members = false, nil
	if p, _ := c.Plan(ModeZooKeeper); len(p.Blockers) != 0 {
		t.Errorf("plan to zookeeper, attached: %+v", p.Blockers)
	}
}
