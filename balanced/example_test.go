package balanced_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"time"

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

// A handler that pulls messages with Next (no channel, no extra goroutine)
// and processes them in batches of up to 100, or whatever has arrived when
// the partition has been quiet for a second. Marks are committed at a revoke,
// so the next owner reprocesses at most the batch in progress.
func ExampleClaim_Next() {
	process := func([]*balanced.Message) {}
	h := balanced.HandlerFunc(func(ctx context.Context, claim *balanced.Claim) error {
		var batch []*balanced.Message
		flush := func() {
			if len(batch) > 0 {
				process(batch)
				claim.Mark(batch[len(batch)-1])
				batch = batch[:0]
			}
		}
		for {
			wait, cancel := context.WithTimeout(ctx, time.Second)
			m, err := claim.Next(wait)
			cancel()
			switch {
			case err == nil:
				if batch = append(batch, m); len(batch) == 100 {
					flush()
				}
			case errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
				flush() // quiet for a second
			default:
				return err // revoked, lost, closing, or fetching stopped (restarted while owned)
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

// Hooks.OnError sees the failures the consumer handles by itself (it logs
// them and retries or rebalances); errors.As finds the partition and the
// operation, errors.Is the sentinel. Health serves a readiness probe.
func ExampleHooks() {
	onError := func(_ context.Context, err error) {
		var pe *balanced.PartitionError
		switch {
		case errors.Is(err, balanced.ErrNotOwner):
			fmt.Println("fenced:", err) // the partition moved away; the consumer rebalances
		case errors.As(err, &pe):
			fmt.Printf("%s failed on %s/%d\n", pe.Op, pe.TopicPartition.Topic, pe.TopicPartition.Partition)
		default:
			fmt.Println("consumer:", err)
		}
	}
	c, err := balanced.New(balanced.Config{
		Group: "billing", Topics: []string{"orders"}, ZooKeeper: "zk1:2181/kafka",
		Hooks: balanced.Hooks{OnError: onError},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	ready := func() bool { h := c.Health(); return h.Connected && h.RebalanceErr == nil }
	fmt.Println("ready before Run:", ready())

	// What OnError is called with, for example:
	tp := balanced.TopicPartition{Topic: "orders", Partition: 3}
	onError(context.Background(), &balanced.PartitionError{Op: "fetch", TopicPartition: tp, Err: errors.New("broker down")})
	onError(context.Background(), &balanced.PartitionError{Op: "commit", TopicPartition: tp,
		Err: fmt.Errorf("owner znode gone: %w", balanced.ErrNotOwner)})
	// Output:
	// ready before Run: false
	// fetch failed on orders/3
	// fenced: balanced: commit orders/3: owner znode gone: balanced: partition not owned by this member
}

// A member coordinated by Kafka's group coordinator instead of ZooKeeper's
// registrations: Java KafkaConsumers of group "billing" with the same eager
// assignor share the partitions with it, while it still holds each
// partition's owner znode in ZooKeeper while it processes it. Offsets are
// kept in Kafka; other storages are refused.
func ExampleCoordination() {
	cfg := balanced.Config{
		Group:         "billing",
		Topics:        []string{"orders"},
		ZooKeeper:     "zk1:2181/kafka",
		Coordination:  balanced.CoordinationKafka,
		KafkaStrategy: balanced.KafkaSticky, // Java: org.apache.kafka.clients.consumer.StickyAssignor
	}
	if _, err := balanced.New(cfg); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("ok")
	cfg.Offsets = balanced.OffsetsZooKeeper
	_, err := balanced.New(cfg)
	fmt.Println(errors.Is(err, balanced.ErrInvalidConfig))
	// Output:
	// ok
	// true
}

// A kafka-mode member for Kafka 4 (KRaft), which has no ZooKeeper: leave
// ZooKeeper empty and list the brokers. Only kafka mode runs without
// ZooKeeper, and it needs a sarama Version Kafka 4 accepts (2.1 or later,
// the default).
func ExampleCoordination_withoutZooKeeper() {
	cfg := balanced.Config{
		Group:        "billing",
		Topics:       []string{"orders"},
		Brokers:      []string{"kafka1:9092", "kafka2:9092"},
		Coordination: balanced.CoordinationKafka,
	}
	if _, err := balanced.New(cfg); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("ok")
	cfg.Coordination = balanced.CoordinationZooKeeper
	_, err := balanced.New(cfg)
	fmt.Println(err)
	// Output:
	// ok
	// balanced: invalid config: ZooKeeper: required (only CoordinationKafka with Brokers runs without ZooKeeper)
}

// A member that follows the group's mode znode: it runs in zookeeper mode
// until `zkbalance coordination --group billing --to kafka --apply` writes
// the znode, then switches to Kafka's group coordinator (and back). Offsets
// are kept in both ZooKeeper and Kafka.
func ExampleCoordination_follow() {
	cfg := balanced.Config{
		Group:        "billing",
		Topics:       []string{"orders"},
		ZooKeeper:    "zk1:2181/kafka",
		Coordination: balanced.CoordinationFollow,
	}
	if _, err := balanced.New(cfg); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("ok")
	cfg.Offsets = balanced.OffsetsKafka
	_, err := balanced.New(cfg)
	fmt.Println(errors.Is(err, balanced.ErrInvalidConfig))
	// Output:
	// ok
	// true
}
