package balanced_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"

	"github.com/zkbalance/zkbalance/balanced"
)

// A member of group "billing" consuming two topics with a per-message
// function. Run blocks until Ctrl-C, then leaves the group cleanly.
func ExampleConsumer_Run() {
	c, err := balanced.New(balanced.Config{
		Group:     "billing",
		Topics:    []string{"orders", "refunds"},
		ZooKeeper: "zk1:2181,zk2:2181/kafka",
		Hooks: balanced.Hooks{
			OnAssigned: func(_ context.Context, tps []balanced.TopicPartition) { slog.Info("assigned", "partitions", tps) },
			OnRevoked:  func(_ context.Context, tps []balanced.TopicPartition) { slog.Info("revoked", "partitions", tps) },
		},
	})
	if err != nil {
		slog.Error("config", "err", err)
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	err = c.Run(ctx, balanced.EachMessage(func(ctx context.Context, m *balanced.Message) error {
		// Process m. Honour ctx: it is cancelled when the partition moves away.
		return nil
	}))
	if err != nil {
		slog.Error("consumer stopped", "err", err)
	}
}

// A handler that owns a whole partition: it sees the partition's messages in
// order and learns through its context why the partition was taken away.
func ExampleHandlerFunc() {
	h := balanced.HandlerFunc(func(ctx context.Context, claim *balanced.Claim) error {
		for {
			select {
			case <-ctx.Done():
				if errors.Is(context.Cause(ctx), balanced.ErrSessionExpired) {
					// Lost: nothing after the last commit counts; another
					// member will process it again.
				}
				return nil
			case m, ok := <-claim.Messages():
				if !ok {
					return nil
				}
				_ = m // process
				claim.Mark(m)
			}
		}
	})
	_ = h
}

// Configuration errors name the field and wrap ErrInvalidConfig.
func ExampleNew() {
	_, err := balanced.New(balanced.Config{Group: "g", ZooKeeper: "zk:2181"})
	fmt.Println(errors.Is(err, balanced.ErrInvalidConfig))
	fmt.Println(err)
	// Output:
	// true
	// balanced: invalid config: Topics: set exactly one of Topics and TopicPattern
}
