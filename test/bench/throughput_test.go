package bench_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/zkbalance/zkbalance/balanced"
	"github.com/zkbalance/zkbalance/internal/cluster"
	"github.com/zkbalance/zkbalance/internal/pykafka"
	"github.com/zkbalance/zkbalance/test/bench"
)

const (
	tputPartitions = 8
	messageBytes   = 1024
)

// Settings of each throughput contender, for the report.
var tputSetup = map[string]string{
	bench.RawSarama: "one sarama client, a PartitionConsumer per partition from the oldest offset, sarama defaults " +
		"(MaxWaitTime 500 ms, ChannelBufferSize 256, Fetch.Default 1 MiB), Version 2.1; commits nothing",
	bench.ZKBalance: "one balanced.Consumer with the defaults (Scala layout, scala-range, offsets in ZooKeeper committed every 1 s; " +
		"sarama MaxWaitTime 5 s, Fetch.MaxBytes 8 MiB in all, go-metrics discarded; one fetch loop per broker, fetching ahead), EachMessage, every message marked",
	bench.SaramaGroup: saramaGroupSetup,
	bench.Pykafka: "one BalancedConsumer, pure Python, defaults (queued_max_messages 2000, fetch_message_max_bytes 1 MiB, " +
		"fetch_wait_max_ms 100), auto-commit every 1 s, member.py --count-only (no line per message)",
}

// produceTput creates the topic (8 partitions) and writes n 1 KiB messages
// round-robin over its partitions.
func produceTput(ctx context.Context, cl *cluster.Cluster, n int) (string, error) {
	topic, err := createTopic(ctx, cl, "tput", tputPartitions)
	if err != nil {
		return "", err
	}
	value := make([]byte, messageBytes)
	for i := range value {
		value[i] = byte('a' + i%26)
	}
	const chunk = 20_000
	for done := 0; done < n; done += chunk {
		msgs := make([]cluster.Message, min(chunk, n-done))
		for i := range msgs {
			msgs[i] = cluster.Message{Partition: int32((done + i) % tputPartitions), Value: value}
		}
		if _, err := cl.Produce(ctx, topic, msgs); err != nil {
			return "", err
		}
	}
	return topic, nil
}

// stopCtx bounds a stop by a minute of its own: ctx may have ended already.
func stopCtx(ctx context.Context) context.Context {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	context.AfterFunc(ctx, cancel)
	return ctx
}

func tputRaw(ctx context.Context, cl *cluster.Cluster, topic string, n int) (float64, error) {
	sc := sarama.NewConfig()
	sc.Version = sarama.V2_1_0_0
	sc.ClientID = "bench-raw"
	client, err := sarama.NewClient(cl.BrokerAddrs(), sc)
	if err != nil {
		return 0, err
	}
	defer client.Close()
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		return 0, err
	}
	defer consumer.Close()
	c := bench.NewCounter(n)
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	for p := range int32(tputPartitions) {
		pc, err := consumer.ConsumePartition(topic, p, sarama.OffsetOldest)
		if err != nil {
			return 0, err
		}
		wg.Go(func() {
			defer pc.Close()
			for {
				select {
				case <-pc.Messages():
					c.Add()
				case <-ctx.Done():
					return
				}
			}
		})
	}
	if err := c.Wait(ctx); err != nil {
		return 0, err
	}
	return c.Rate(), nil
}

func tputZK(ctx context.Context, cl *cluster.Cluster, topic string, n int) (float64, error) {
	c := bench.NewCounter(n)
	m, err := startZK(cl, "tput", balanced.Config{Group: uniq("g-tput-zk"), Topics: []string{topic}},
		balanced.EachMessage(func(context.Context, *balanced.Message) error { c.Add(); return nil }))
	if err != nil {
		return 0, err
	}
	return measure(ctx, c, m)
}

func tputCG(ctx context.Context, cl *cluster.Cluster, topic string, n int) (float64, error) {
	c := bench.NewCounter(n)
	m, err := startCG(cl, 0, uniq("g-tput-sarama"), topic, &cgHandler{topic: topic, onMsg: func(*sarama.ConsumerMessage) { c.Add() }})
	if err != nil {
		return 0, err
	}
	return measure(ctx, c, m)
}

func tputPykafka(ctx context.Context, cl *cluster.Cluster, python, topic string, n int) (float64, error) {
	args := pyArgs(cl, topic, uniq("g-tput-pykafka"), "tput")
	args.CountOnly, args.CommitEvery = n, -1
	m, err := pykafka.Start(ctx, python, args)
	if err != nil {
		return 0, err
	}
	defer m.Kill() //nolint:errcheck // after Stop: a no-op
	done := func(evs []pykafka.Event) bool {
		return slices.ContainsFunc(evs, func(e pykafka.Event) bool { return e.Kind == pykafka.EventDone })
	}
	if err := m.Wait(ctx, done); err != nil {
		return 0, fmt.Errorf("%s: %w (errors: %s)\n%s", m, err, memberErrors(m), m.Stderr(20))
	}
	if err := m.Stop(); err != nil {
		return 0, err
	}
	for _, e := range m.Events() {
		if e.Kind == pykafka.EventDone && e.Elapsed > 0 {
			return float64(e.Count) / e.Elapsed.Seconds(), nil
		}
	}
	return 0, fmt.Errorf("%s: no done event with a duration", m)
}

// runThroughput produces the topic once and has every contender read it
// from the start to the end, rounds times, the contenders interleaved.
func (r *run) runThroughput(t *testing.T) {
	n := r.sizes.messages
	tp := bench.Throughput{Messages: n, Partitions: tputPartitions, MessageBytes: messageBytes}
	start := time.Now()
	pctx, cancel := context.WithTimeout(r.ctx, 30*time.Minute)
	topic, err := produceTput(pctx, r.cl, n)
	cancel()
	if err != nil {
		t.Errorf("throughput: produce: %v", err)
		for _, c := range r.columns() {
			tp.Rates = append(tp.Rates, bench.Rate{Contender: c, Err: "produce failed: " + err.Error()})
		}
		r.report.Throughput = tp
		return
	}
	t.Logf("throughput: %d x %d B produced to %s in %s", n, messageBytes, topic, time.Since(start).Round(time.Millisecond))
	type contender struct {
		name string
		fn   func(ctx context.Context) (float64, error)
	}
	var cs []contender
	for _, c := range r.columns() {
		var fn func(ctx context.Context) (float64, error)
		switch c {
		case bench.RawSarama:
			fn = func(ctx context.Context) (float64, error) { return tputRaw(ctx, r.cl, topic, n) }
		case bench.ZKBalance:
			fn = func(ctx context.Context) (float64, error) { return tputZK(ctx, r.cl, topic, n) }
		case bench.SaramaGroup:
			fn = func(ctx context.Context) (float64, error) { return tputCG(ctx, r.cl, topic, n) }
		case bench.Pykafka:
			fn = func(ctx context.Context) (float64, error) { return tputPykafka(ctx, r.cl, r.python, topic, n) }
		}
		cs = append(cs, contender{c, fn})
		tp.Rates = append(tp.Rates, bench.Rate{Contender: c, Setup: tputSetup[c]})
	}
	// The bound allows 2000 msgs/s plus start-up.
	bound := 2*time.Minute + time.Duration(n/2000)*time.Second
	for round := range r.sizes.rounds {
		for i, c := range cs {
			if tp.Rates[i].Err != "" || (c.name == bench.Pykafka && round >= r.sizes.pyRounds) {
				continue
			}
			cctx, cancel := context.WithTimeout(r.ctx, bound)
			t0 := time.Now()
			rate, err := c.fn(cctx)
			cancel()
			if err != nil {
				t.Errorf("throughput %s, round %d: %v", c.name, round, err)
				tp.Rates[i].Err = err.Error()
				continue
			}
			tp.Rates[i].PerSec = append(tp.Rates[i].PerSec, rate)
			t.Logf("throughput %s, round %d: %.0f msgs/s (%s in all)", c.name, round, rate, time.Since(t0).Round(time.Millisecond))
		}
	}
	r.report.Throughput = tp
}

// measure waits until c has counted every message, stops the member m and
// returns c's rate; the first error of the two wins.
func measure(ctx context.Context, c *bench.Counter, m interface{ stop(context.Context) error }) (float64, error) {
	werr := c.Wait(ctx)
	if err := m.stop(stopCtx(ctx)); err != nil && werr == nil {
		werr = err
	}
	if werr != nil {
		return 0, werr
	}
	return c.Rate(), nil
}
