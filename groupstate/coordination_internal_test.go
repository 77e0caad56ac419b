package groupstate

import (
	"strings"
	"testing"
)

func TestClassifyMember(t *testing.T) {
	for _, tc := range []struct {
		name       string
		registered bool
		layout     Layout
		follower   []byte
		can        bool
		mode       string
		reason     string
	}{
		{"follower in zookeeper mode", true, LayoutScala, []byte(`{"version":1,"mode":"zookeeper"}`), true, "zookeeper", ""},
		{"follower in kafka mode", false, "", []byte(`{"version":1,"mode":"kafka"}`), true, "kafka", ""},
		{"scala consumer", true, LayoutScala, nil, false, "", "not in follow mode"},
		{"pykafka", true, LayoutPykafka, nil, false, "", "pykafka"},
		{"unparsable", true, LayoutUnknown, nil, false, "", "unparsable"},
		{"malformed follower", true, LayoutScala, []byte(`x`), false, "", "malformed"},
	} {
		m := classifyMember("m1", tc.registered, tc.layout, tc.follower)
		if m.CanFollow != tc.can || m.Mode != tc.mode || !strings.Contains(m.Reason, tc.reason) || m.Follower != (tc.follower != nil) {
			t.Errorf("%s: %+v", tc.name, m)
		}
	}
}

func TestPlan(t *testing.T) {
	c := &Coordination{Group: "g", Mode: ModeZooKeeper, Members: []CoordinationMember{
		classifyMember("a", true, LayoutScala, []byte(`{"version":1,"mode":"zookeeper"}`)),
		classifyMember("legacy", true, LayoutScala, nil),
	}}
	p, err := c.Plan(ModeKafka)
	if err != nil || p.NoOp || len(p.Blockers) != 1 || p.Blockers[0].ID != "legacy" {
		t.Fatalf("plan to kafka: %+v %v", p, err)
	}
	if !strings.Contains(BlockersText(p.Blockers), "member legacy cannot follow") {
		t.Errorf("blockers text: %s", BlockersText(p.Blockers))
	}
	if !strings.Contains(strings.Join(p.Steps, "\n"), `write /consumers/g/coordination = {"version":1,"mode":"kafka"}`) ||
		!strings.Contains(strings.Join(p.Steps, "\n"), "member a revokes its partitions") {
		t.Errorf("steps: %q", p.Steps)
	}
	// Back to zookeeper: a legacy member is in zookeeper mode anyway, but
	// the Kafka group must have been read.
	c.Mode, c.ModeSet = ModeKafka, true
	if p, _ := c.Plan(ModeZooKeeper); len(p.Blockers) != 1 || !strings.Contains(p.Blockers[0].Reason, "could not be read") {
		t.Errorf("plan to zookeeper without the kafka group: %+v", p)
	}
	c.KafkaChecked = true
	if p, _ := c.Plan(ModeZooKeeper); len(p.Blockers) != 0 || p.NoOp {
		t.Errorf("plan to zookeeper: %+v", p)
	}
	// A Java consumer in the Kafka group blocks the way back.
	c.Members[0] = classifyMember("a", false, "", []byte(`{"version":1,"mode":"kafka","kafka_member_id":"k-a"}`))
	c.Members = mergeKafkaMembers(c.Members, []KafkaGroupMember{{MemberID: "k-a"}, {MemberID: "consumer-java-1", ClientID: "java", Host: "/10.0.0.1"}})
	if len(c.Members) != 3 || c.Members[0].ID != "a" || !c.Members[0].InKafkaGroup || c.Members[1].ID != "consumer-java-1" {
		t.Fatalf("merged: %+v", c.Members)
	}
	p, _ = c.Plan(ModeZooKeeper)
	if len(p.Blockers) != 1 || p.Blockers[0].ID != "consumer-java-1" || !strings.Contains(p.Blockers[0].Reason, `client id "java"`) {
		t.Errorf("plan to zookeeper with a java member: %+v", p.Blockers)
	}
	if p, _ := c.Plan(ModeKafka); !p.NoOp {
		t.Errorf("plan to the current mode: %+v", p)
	}
	if _, err := c.Plan("follow"); err == nil {
		t.Error("plan to an unknown mode: no error")
	}
}

// A pykafka-layout group: a follower (pykafka registration and follower
// znode) can follow, a real pykafka member (no follower znode) blocks the
// switch to kafka; the steps speak of Kafka-only offsets.
func TestPlanPykafka(t *testing.T) {
	c := &Coordination{Group: "g", Mode: ModeZooKeeper, Members: []CoordinationMember{
		classifyMember("host:f1", true, LayoutPykafka, []byte(`{"version":1,"mode":"zookeeper"}`)),
		classifyMember("host:py", true, LayoutPykafka, nil),
	}}
	if !c.Members[0].CanFollow || c.Members[1].CanFollow || !strings.Contains(c.Members[1].Reason, "pykafka member") {
		t.Fatalf("members: %+v", c.Members)
	}
	p, err := c.Plan(ModeKafka)
	if err != nil || len(p.Blockers) != 1 || p.Blockers[0].ID != "host:py" {
		t.Fatalf("plan: %+v %v", p, err)
	}
	steps := strings.Join(p.Steps, "\n")
	if !strings.Contains(steps, "member host:f1 revokes its partitions (handlers stopped, offsets committed to Kafka (pykafka layout)") ||
		!strings.Contains(steps, "start from the offset committed in Kafka") || strings.Contains(steps, "ZooKeeper and Kafka") {
		t.Errorf("steps: %s", steps)
	}
}

func TestPlanLayout(t *testing.T) {
	reg := func(l Layout) CoordinationMember { return CoordinationMember{Registered: true, Layout: l} }
	for _, tc := range []struct {
		name string
		ms   []CoordinationMember
		want Layout
	}{
		{"none registered", []CoordinationMember{{Follower: true}}, LayoutUnknown},
		{"scala", []CoordinationMember{reg(LayoutScala), {Follower: true}}, LayoutScala},
		{"pykafka", []CoordinationMember{reg(LayoutPykafka), reg(LayoutPykafka)}, LayoutPykafka},
		{"mixed", []CoordinationMember{reg(LayoutPykafka), reg(LayoutScala)}, LayoutUnknown},
		{"unparsable ignored", []CoordinationMember{reg(LayoutUnknown), reg(LayoutPykafka)}, LayoutPykafka},
	} {
		if got := planLayout(tc.ms); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}
