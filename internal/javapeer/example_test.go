package javapeer_test

import (
	"context"
	"fmt"
	"time"

	"github.com/zkbalance/zkbalance/internal/javapeer"
)

// A Java member with the cooperative-sticky assignor that takes 10 ms per
// record: wait for its assignment and 100 records, then stop it (it commits
// and leaves the group).
func ExampleStart() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	m, err := javapeer.Start(ctx, javapeer.Args{
		Bootstrap: []string{"127.0.0.1:9092"},
		Group:     "g",
		Topics:    []string{"t"},
		Strategy:  javapeer.CooperativeSticky,
		Delay:     10 * time.Millisecond,
		ID:        "java-1",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer m.Stop() //nolint:errcheck
	if err := m.WaitAssigned(ctx); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("owns", m.Owned())
	if err := m.WaitMessages(ctx, 100); err != nil {
		fmt.Println(err)
		return
	}
	for _, e := range m.Messages()[:3] {
		fmt.Printf("%s:%d@%d took %s\n", e.Topic, e.Partition, e.Offset, e.End.Sub(e.Start))
	}
}
