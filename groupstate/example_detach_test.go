package groupstate_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/zkbalance/zkbalance/groupstate"
	"github.com/zkbalance/zkbalance/zkwatch"
)

// PlanDetach says whether the members can be told to stop using
// ZooKeeper, and what blocks it.
func ExampleCoordination_PlanDetach() {
	st := &groupstate.Coordination{Group: "billing", Mode: groupstate.ModeKafka, ModeSet: true, Members: []groupstate.CoordinationMember{
		{ID: "billing_host1-1", Follower: true, Mode: "kafka", KafkaMemberID: "consumer-1-5e2a", CanFollow: true, InKafkaGroup: true},
		{ID: "billing_host2-1", Follower: true, Mode: "zookeeper", Registered: true, Layout: groupstate.LayoutScala, CanFollow: true},
	}}
	plan := st.PlanDetach()
	fmt.Println(groupstate.DetachBlockersText(plan.Blockers))
	st.Members = st.Members[:1]
	plan = st.PlanDetach()
	fmt.Println(len(plan.Blockers), plan.Steps[0])
	// Output:
	// billing_host2-1: registered in /ids: it takes partitions by ZooKeeper's assignment; switch the group to kafka and wait for it, or stop it
	// 0 write /consumers/billing/coordination = {"version":1,"mode":"kafka","zookeeper":"detached"}
}

// Detach a group in kafka mode from ZooKeeper. It needs a running
// cluster, so it has no checked output.
func ExampleSetDetach() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := zkwatch.Dial(ctx, zkwatch.Config{Servers: "zk1:2181/kafka"})
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	plan, err := groupstate.SetDetach(ctx, conn, nil, "billing", false, nil)
	if errors.Is(err, groupstate.ErrCannotDetach) {
		log.Fatalf("not detached: %v", err)
	}
	if err != nil {
		log.Fatal(err)
	}
	for _, step := range plan.Steps {
		fmt.Println(step)
	}
}
