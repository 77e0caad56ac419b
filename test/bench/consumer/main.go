// Command consumer is one benchmark contender as its own process, for the
// CPU and memory rows of test/bench: it reads -count messages of -topic
// from the oldest offset with one of three consumers, exits, and lets the
// parent read the process's CPU time and peak RSS (getrusage).
//
//	consumer -contender zkbalance|raw|group -zookeeper Z -brokers B -topic T -partitions P -count N -group G
//
// zkbalance: a balanced.Consumer with the defaults (Scala layout,
// scala-range, offsets in ZooKeeper every 1 s), EachMessage, every message
// marked. raw: one sarama client, a PartitionConsumer per partition, sarama
// defaults, commits nothing. group: a sarama ConsumerGroup (range, eager),
// MarkMessage per message, auto-commit 1 s. All with sarama Version 2.1.
//
// It prints "done <seconds from the first message to the last>" on stdout
// once it has counted -count messages, then stops the consumer cleanly,
// prints "hwm <kB>" (its VmHWM, the peak RSS of its own address space) and
// exits 0; on an error it prints it on stderr and exits 1.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"runtime/pprof"
	"strings"
	"sync"
	"time"

	"github.com/IBM/sarama"

	"github.com/zkbalance/zkbalance/balanced"
	"github.com/zkbalance/zkbalance/test/bench"
)

func main() {
	contender := flag.String("contender", "", "zkbalance, raw or group")
	zk := flag.String("zookeeper", "", "ZooKeeper connect string (zkbalance)")
	brokers := flag.String("brokers", "", "Kafka bootstrap addresses, comma-separated")
	topic := flag.String("topic", "", "topic")
	partitions := flag.Int("partitions", 0, "partitions of the topic (raw)")
	count := flag.Int64("count", 0, "messages to read")
	group := flag.String("group", "", "group (zkbalance, group)")
	timeout := flag.Duration("timeout", 30*time.Minute, "give up after this long")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	flag.Parse()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "consumer: cpuprofile:", err)
			os.Exit(2)
		}
		defer func() { pprof.StopCPUProfile(); _ = f.Close() }()
	}
	if *count <= 0 || *topic == "" || *brokers == "" {
		fmt.Fprintln(os.Stderr, "consumer: -count, -topic and -brokers are required")
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	c := bench.NewCounter(int(*count))
	bs := strings.Split(*brokers, ",")
	var err error
	switch *contender {
	case "zkbalance":
		err = runZK(ctx, c, *zk, bs, *group, *topic)
	case "raw":
		err = runRaw(ctx, c, bs, *topic, *partitions)
	case "group":
		err = runGroup(ctx, c, bs, *group, *topic)
	default:
		err = fmt.Errorf("unknown -contender %q", *contender)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "consumer:", err)
		os.Exit(1)
	}
	// The peak RSS of this program's own address space: getrusage's
	// ru_maxrss of a child also counts the parent's, copied at fork.
	if status, err := os.ReadFile("/proc/self/status"); err == nil {
		for line := range strings.SplitSeq(string(status), "\n") {
			if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
				fmt.Printf("hwm %s\n", strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			}
		}
	}
}

// tally counts a message and prints "done <seconds>" at the last one.
func tally(c *bench.Counter) {
	if c.Add() {
		fmt.Printf("done %.3f\n", c.Seconds())
	}
}

func saramaConfig(id string) *sarama.Config {
	sc := sarama.NewConfig()
	sc.Version = sarama.V2_1_0_0
	sc.ClientID = id
	return sc
}

func runZK(ctx context.Context, c *bench.Counter, zk string, brokers []string, group, topic string) error {
	cons, err := balanced.New(balanced.Config{
		ZooKeeper: zk, Brokers: brokers, Group: group, Topics: []string{topic},
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})),
	})
	if err != nil {
		return err
	}
	rctx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan error, 1)
	go func() {
		done <- cons.Run(rctx, balanced.EachMessage(func(context.Context, *balanced.Message) error { tally(c); return nil }))
	}()
	select {
	case <-c.Done():
	case err := <-done:
		return fmt.Errorf("Run returned early: %w", err)
	case <-ctx.Done():
		stop()
		<-done
		return c.Wait(ctx)
	}
	stop()
	return <-done
}

func runRaw(ctx context.Context, c *bench.Counter, brokers []string, topic string, partitions int) error {
	client, err := sarama.NewClient(brokers, saramaConfig("bench-cpu-raw"))
	if err != nil {
		return err
	}
	defer client.Close()
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		return err
	}
	defer consumer.Close()
	rctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	for p := range int32(partitions) {
		pc, err := consumer.ConsumePartition(topic, p, sarama.OffsetOldest)
		if err != nil {
			return err
		}
		wg.Go(func() {
			defer pc.Close()
			for {
				select {
				case <-pc.Messages():
					tally(c)
				case <-rctx.Done():
					return
				}
			}
		})
	}
	return c.Wait(ctx)
}

type cgHandler struct{ c *bench.Counter }

func (cgHandler) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (cgHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }
func (h cgHandler) ConsumeClaim(s sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for m := range claim.Messages() {
		tally(h.c)
		s.MarkMessage(m, "")
	}
	return nil
}

func runGroup(ctx context.Context, c *bench.Counter, brokers []string, group, topic string) error {
	sc := saramaConfig("bench-cpu-group")
	sc.Consumer.Offsets.Initial = sarama.OffsetOldest
	g, err := sarama.NewConsumerGroup(brokers, group, sc)
	if err != nil {
		return err
	}
	rctx, cancel := context.WithCancel(ctx)
	loop := make(chan struct{})
	go func() {
		defer close(loop)
		for rctx.Err() == nil {
			err := g.Consume(rctx, []string{topic}, cgHandler{c})
			if errors.Is(err, sarama.ErrClosedConsumerGroup) {
				return
			}
			if err != nil {
				select {
				case <-rctx.Done():
				case <-time.After(100 * time.Millisecond):
				}
			}
		}
	}()
	werr := c.Wait(ctx)
	cancel()
	<-loop
	if err := g.Close(); err != nil && werr == nil {
		werr = err
	}
	return werr
}
