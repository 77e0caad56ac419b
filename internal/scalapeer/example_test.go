package scalapeer_test

import (
	"context"
	"fmt"
	"time"

	"github.com/zkbalance/zkbalance/internal/scalapeer"
)

// A real Scala consumer with two streams that takes 10 ms per message:
// wait until it owns partitions and has processed 100 messages, then stop
// it (it commits to ZooKeeper, releases and closes its session).
func ExampleStart() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	m, err := scalapeer.Start(ctx, scalapeer.Args{
		ZooKeeper: "127.0.0.1:2181",
		Group:     "g",
		Topics:    []string{"t"},
		Strategy:  scalapeer.Range,
		Streams:   2,
		Delay:     10 * time.Millisecond,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer m.Stop() //nolint:errcheck
	if err := m.WaitOwned(ctx, func(owned []scalapeer.TopicPartition) bool { return len(owned) > 0 }); err != nil {
		fmt.Println(err)
		return
	}
	if err := m.WaitMessages(ctx, 100); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(m.ID(), "owns", m.Owned(), "committed", m.Committed())
}
