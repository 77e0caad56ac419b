package balancedtest_test

import (
	"context"
	"fmt"
	"strings"

	"github.com/zkbalance/zkbalance/balanced"
	"github.com/zkbalance/zkbalance/balanced/balancedtest"
)

// A handler is tested without a cluster: it consumes a fake partition of
// three messages, marks each and commits before an (imagined) external side
// effect; the partition is revoked once the handler asks for a fourth.
func ExamplePartition() {
	var seen []string
	handler := balanced.HandlerFunc(func(ctx context.Context, claim *balanced.Claim) error {
		for {
			m, err := claim.Next(ctx)
			if err != nil {
				return nil // revoked, lost or closed: return promptly
			}
			seen = append(seen, strings.ToUpper(string(m.Value)))
			claim.Mark(m)
			if err := claim.Commit(ctx); err != nil {
				return err
			}
		}
	})

	tp := balanced.TopicPartition{Topic: "orders", Partition: 3}
	p := balancedtest.NewPartition(tp, balancedtest.Messages(tp, "a", "b", "c"))
	err := handler.Consume(p.Context(), p.Claim())

	fmt.Println("err:", err)
	fmt.Println("seen:", seen)
	fmt.Println("marked:", p.Marked())
	fmt.Println("commits:", p.Commits())
	fmt.Println("ended by:", context.Cause(p.Context()))
	// Output:
	// err: <nil>
	// seen: [A B C]
	// marked: 3
	// commits: [1 2 3]
	// ended by: balanced: partition revoked
}

// Cancel simulates a revoke while the handler waits for messages.
func ExamplePartition_Cancel() {
	tp := balanced.TopicPartition{Topic: "orders", Partition: 0}
	p := balancedtest.NewPartition(tp, balancedtest.Messages(tp, "a"))
	p.EndWhenDrained(nil) // an idle partition: Next waits after the last message

	done := make(chan error)
	go func() {
		done <- balanced.EachMessage(func(ctx context.Context, m *balanced.Message) error { return nil }).
			Consume(p.Context(), p.Claim())
	}()
	p.Cancel(balanced.ErrRevoked)
	fmt.Println("err:", <-done)
	fmt.Println("cause:", context.Cause(p.Context()))
	// Output:
	// err: <nil>
	// cause: balanced: partition revoked
}
