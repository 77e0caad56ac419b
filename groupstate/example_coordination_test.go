package groupstate_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/IBM/sarama"

	"github.com/zkbalance/zkbalance/groupstate"
	"github.com/zkbalance/zkbalance/zkwatch"
)

// Plan says what a switch would do, and which members block it.
func ExampleCoordination_Plan() {
	st := &groupstate.Coordination{Group: "billing", Mode: groupstate.ModeZooKeeper, Members: []groupstate.CoordinationMember{
		{ID: "billing_host1-1", Registered: true, Layout: groupstate.LayoutScala, Follower: true, Mode: "zookeeper", CanFollow: true},
		{ID: "billing_old-2", Registered: true, Layout: groupstate.LayoutScala, Reason: "not in follow mode"},
	}}
	plan, err := st.Plan(groupstate.ModeKafka)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(plan.From, "→", plan.To)
	fmt.Println(groupstate.BlockersText(plan.Blockers))
	// Output:
	// zookeeper → kafka
	// member billing_old-2 cannot follow (not in follow mode)
}

// Switch a group of follow-mode members to Kafka's group coordinator. It
// needs a running cluster, so it has no checked output.
func ExampleSetCoordination() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := zkwatch.Dial(ctx, zkwatch.Config{Servers: "zk1:2181/kafka"})
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	sc := sarama.NewConfig()
	sc.Version = sarama.V2_1_0_0
	client, err := sarama.NewClient([]string{"kafka1:9092"}, sc)
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	plan, err := groupstate.SetCoordination(ctx, conn, client, "billing", groupstate.ModeKafka, false, nil)
	if errors.Is(err, groupstate.ErrCannotFollow) {
		log.Fatalf("not switched: %v", err)
	}
	if err != nil {
		log.Fatal(err)
	}
	for _, step := range plan.Steps {
		fmt.Println(step)
	}
}
