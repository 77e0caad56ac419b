package groupstate_test

import (
	"fmt"
	"log"

	"github.com/zkbalance/zkbalance/groupstate"
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
