package cluster_test

import (
	"context"
	"fmt"
	"time"

	"github.com/zkbalance/zkbalance/internal/cluster"
)

// A stream of 12 messages every 100ms, round-robin over 6 partitions, runs
// under a test's whole story; Stop returns each partition's log end as the
// stream left it, to judge the consumers' processing against.
func ExampleCluster_StartStream() {
	ctx := context.Background()
	cl, err := cluster.Start(ctx, cluster.Config{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cl.Close()
	if err := cl.CreateTopic(ctx, "orders", 6, 1); err != nil {
		fmt.Println(err)
		return
	}
	s := cl.StartStream("orders", 6, 12, 100*time.Millisecond)
	time.Sleep(time.Second) // the consumers under test run here
	ends, err := s.Stop()
	fmt.Println(len(ends), s.Sent(), err)
}
