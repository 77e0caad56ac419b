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

// PlanReset is the pure part of ResetOffsets: old offsets, log ranges and a
// spec in, new offsets out, clamped to each log's range.
func ExamplePlanReset() {
	sel, err := groupstate.ParseTopicSelection("orders:0,1")
	if err != nil {
		log.Fatal(err)
	}
	in := []groupstate.ResetInput{
		{Topic: sel.Topic, Partition: sel.Partitions[0], Old: 120, LogStart: 100, LogEnd: 500},
		{Topic: sel.Topic, Partition: sel.Partitions[1], Old: 140, LogStart: 110, LogEnd: 480},
	}
	plan, err := groupstate.PlanReset(groupstate.ResetSpec{Kind: groupstate.ResetShiftBy, Offset: -25}, in)
	if err != nil {
		log.Fatal(err)
	}
	for _, p := range plan {
		note := ""
		if p.Clamped != groupstate.ClampNone {
			note = " (clamped to the " + string(p.Clamped) + ")"
		}
		fmt.Printf("%s/%d: %d → %d%s\n", p.Topic, p.Partition, p.Old, p.New, note)
	}
	// Output:
	// orders/0: 120 → 100 (clamped to the log-start)
	// orders/1: 140 → 115
}

// Rewind a stopped group by an hour in whichever store holds its offsets:
// the plan first, then the write. It needs a running cluster, so it has no
// checked output.
func ExampleResetOffsets() {
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

	req := groupstate.ResetRequest{
		AllTopics: true,
		Spec:      groupstate.ResetSpec{Kind: groupstate.ResetToDatetime, Time: time.Now().Add(-time.Hour)},
		DryRun:    true,
	}
	plan, err := groupstate.ResetOffsets(ctx, conn, client, "billing", req)
	if errors.Is(err, groupstate.ErrLiveMembers) {
		log.Fatal("stop the group's members first: ", err)
	}
	if err != nil {
		log.Fatal(err)
	}
	for _, o := range plan.Offsets {
		fmt.Printf("%s/%d: %d → %d\n", o.Topic, o.Partition, o.Old, o.New)
	}
	req.DryRun = false
	if _, err := groupstate.ResetOffsets(ctx, conn, client, "billing", req); err != nil {
		log.Fatal(err)
	}
}
