package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"time"

	"github.com/IBM/sarama"

	"github.com/zkbalance/zkbalance/internal/cli"
)

// maxProduceSize keeps a record below the brokers' default message.max.bytes
// (1 MiB) with room for the record overhead.
const maxProduceSize = 1000 * 1000

// produceHelp is the --help of 'zkbalance produce'.
var produceHelp = cli.Help{
	Usage: "zkbalance produce --topic T [--count N] [--size B] [--rate R] [--keys K | --partition P] [flags]",
	Description: `Writes --count test messages to a topic with acks from all in-sync replicas,
printing progress every second and a summary at the end. Every value starts
with "seq=<n> " (n counting from 0) and is padded with '.' to --size bytes,
so that a consumer can check what it got. Without --keys, messages have no
key and go to the partitions round robin; with --keys K they are keyed
key-0 .. key-(K-1) in turn and partitioned by key hash. A missing topic is
an error unless --create-partitions creates it.

` + cli.SecureConnectionHelp,
	Examples: `zkbalance produce --topic orders --count 100000 --create-partitions 8 --replication 3
zkbalance produce --topic orders --count 1000 --rate 100 --keys 16
zkbalance produce --topic orders --count 10 --partition 2 --brokers kafka1:9092 --zookeeper zk1:2181/kafka`,
}

// runProduce writes --count messages to a topic. Every value starts with
// "seq=<n> " (n counting from 0) and is padded to --size bytes, so that a
// consumer can check what it got.
func runProduce(ctx context.Context, fs *flag.FlagSet, args []string, stdout io.Writer) error {
	cf := cli.AddSecureClusterFlags(fs)
	common := cli.AddCommonFlags(fs, 30*time.Second, "give up when the brokers cannot be found, connected to or the topic created within this long")
	topic := fs.String("topic", "", "topic to write to (required)")
	n := fs.Int("count", 1000, "number of messages to write")
	size := fs.Int("size", 100, `value size in bytes (at least the "seq=<n> " prefix)`)
	rate := fs.Float64("rate", 0, "messages per second (0: as fast as possible)")
	keys := fs.Int("keys", 0, "use keys key-0..key-(K-1) round robin, partitioned by key hash (0: no key, partitions round robin)")
	createPartitions := fs.Int("create-partitions", 0, "create --topic with this many partitions first if it does not exist (0: don't create)")
	replication := fs.Int("replication", 1, "replication factor for --create-partitions")
	onlyPartition := fs.Int("partition", -1, "write only to this partition (-1: all)")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	switch {
	case *topic == "":
		return fmt.Errorf("%w: --topic is required", cli.ErrUsage)
	case *n < 0:
		return cli.Usagef("--count must be >= 0 (got %d)", *n)
	case *size < 0 || *size > maxProduceSize:
		return cli.Usagef("--size must be between 0 and %d (got %d)", maxProduceSize, *size)
	case *rate < 0:
		return cli.Usagef("--rate must be >= 0 (got %g)", *rate)
	case *keys < 0:
		return cli.Usagef("--keys must be >= 0 (got %d)", *keys)
	case *createPartitions < 0:
		return cli.Usagef("--create-partitions must be >= 0 (got %d)", *createPartitions)
	case *replication < 1:
		return cli.Usagef("--replication must be >= 1 (got %d)", *replication)
	case *onlyPartition < -1:
		return cli.Usagef("--partition must be >= 0, or -1 for all (got %d)", *onlyPartition)
	case *keys > 0 && *onlyPartition >= 0:
		return fmt.Errorf("%w: --keys and --partition exclude each other", cli.ErrUsage)
	}
	log := common.Logger(slog.LevelInfo)
	cc, err := resolveCluster(cf, false, log)
	if err != nil {
		return err
	}
	// Connecting (finding the brokers, the client, creating the topic) is
	// bounded by --timeout; sending is not.
	connectCtx, cancel := context.WithTimeout(ctx, common.Timeout())
	defer cancel()
	brokers := cc.brokers
	if len(brokers) == 0 {
		if brokers, err = cc.sec.BootstrapFromZooKeeper(connectCtx, cc.zookeeper, log); err != nil {
			return err
		}
	}

	sc := produceSaramaConfig()
	if err := cc.sec.ApplySarama(sc); err != nil {
		return err
	}
	switch {
	case *onlyPartition >= 0:
		sc.Producer.Partitioner = sarama.NewManualPartitioner
	case *keys > 0:
		sc.Producer.Partitioner = sarama.NewHashPartitioner
	default:
		sc.Producer.Partitioner = sarama.NewRoundRobinPartitioner
	}
	if *createPartitions > 0 {
		if err := ensureTopic(connectCtx, brokers, sc, *topic, int32(*createPartitions), int16(*replication), log); err != nil {
			return err
		}
	}
	client, err := cc.sec.NewKafkaClient(connectCtx, brokers, sc)
	if err != nil {
		return err
	}
	defer client.Close()
	parts, err := client.Partitions(*topic)
	if err != nil {
		if errors.Is(err, sarama.ErrUnknownTopicOrPartition) {
			return fmt.Errorf("topic %s does not exist (pass --create-partitions to create it)", *topic)
		}
		return fmt.Errorf("partitions of %s: %w", *topic, err)
	}
	if *onlyPartition >= 0 && !slices.Contains(parts, int32(*onlyPartition)) {
		return cli.Usagef("topic %s has no partition %d (it has %d)", *topic, *onlyPartition, len(parts))
	}
	p, err := sarama.NewAsyncProducerFromClient(client)
	if err != nil {
		return fmt.Errorf("kafka producer: %w", err)
	}
	log.Info("producing", "topic", *topic, "messages", *n, "size", *size, "rate", *rate, "partitions", len(parts))

	gen := newValueGen(*size)
	next := func(seq int) *sarama.ProducerMessage {
		m := &sarama.ProducerMessage{Topic: *topic, Value: sarama.ByteEncoder(gen.value(seq))}
		if *keys > 0 {
			m.Key = sarama.StringEncoder("key-" + strconv.Itoa(seq%*keys))
		}
		if *onlyPartition >= 0 {
			m.Partition = int32(*onlyPartition)
		}
		return m
	}
	st := produceStats{start: time.Now()}
	st.run(ctx, p, *n, *rate, next, stdout)
	elapsed := time.Since(st.start)
	fmt.Fprintf(stdout, "produced %d messages (%d bytes) to %s in %s: %.0f msgs/s\n",
		st.acked, st.bytes, *topic, elapsed.Round(time.Millisecond), perSecond(st.acked, elapsed))
	switch {
	case st.failed > 0:
		return fmt.Errorf("%d of %d messages failed, first: %w", st.failed, st.sent, st.firstErr)
	case st.acked < *n && ctx.Err() != nil:
		return fmt.Errorf("interrupted after %d of %d messages", st.acked, *n)
	}
	return nil
}

// produceStats runs the producer's single send/ack loop and counts.
type produceStats struct {
	start               time.Time
	sent, acked, failed int
	bytes               int64
	firstErr            error
	lastTick            time.Time
	ackedAtLastTick     int
	stopSending         bool
}

// run sends n messages (paced by rate when > 0) while reading every success
// and error on the same goroutine, prints a progress line every second, and
// closes p, draining what is in flight. It stops sending at the first error
// or when ctx is done.
func (st *produceStats) run(ctx context.Context, p sarama.AsyncProducer, n int, rate float64,
	next func(seq int) *sarama.ProducerMessage, stdout io.Writer) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	pace := time.NewTimer(time.Hour)
	pace.Stop()
	defer pace.Stop()
	st.lastTick = st.start
	done := ctx.Done()
	var pending *sarama.ProducerMessage
	for st.sent < n && !st.stopSending {
		var in chan<- *sarama.ProducerMessage
		var wake <-chan time.Time
		if rate > 0 {
			due := st.start.Add(time.Duration(float64(st.sent) / rate * float64(time.Second)))
			if d := time.Until(due); d > 0 {
				pace.Reset(d)
				wake = pace.C
			}
		}
		if wake == nil {
			if pending == nil {
				pending = next(st.sent)
			}
			in = p.Input()
		}
		select {
		case in <- pending:
			pending = nil
			st.sent++
		case <-wake:
		case m := <-p.Successes():
			st.success(m)
		case pe := <-p.Errors():
			st.failure(pe)
		case now := <-tick.C:
			st.progress(now, stdout)
		case <-done:
			st.stopSending = true
		}
	}
	p.AsyncClose()
	succ, errs := p.Successes(), p.Errors()
	for succ != nil || errs != nil {
		select {
		case m, ok := <-succ:
			if !ok {
				succ = nil
				continue
			}
			st.success(m)
		case pe, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			st.failure(pe)
		case now := <-tick.C:
			st.progress(now, stdout)
		}
	}
}

func (st *produceStats) success(m *sarama.ProducerMessage) {
	st.acked++
	if m.Value != nil {
		st.bytes += int64(m.Value.Length())
	}
	if m.Key != nil {
		st.bytes += int64(m.Key.Length())
	}
}

func (st *produceStats) failure(pe *sarama.ProducerError) {
	st.failed++
	if st.firstErr == nil {
		st.firstErr = pe.Err
	}
	st.stopSending = true
}

func (st *produceStats) progress(now time.Time, w io.Writer) {
	rate := perSecond(st.acked-st.ackedAtLastTick, now.Sub(st.lastTick))
	st.lastTick, st.ackedAtLastTick = now, st.acked
	fmt.Fprintf(w, "%s sent=%d acked=%d rate=%.0f msgs/s\n", now.Format(clockFormat), st.sent, st.acked, rate)
}

// clockFormat prefixes the progress lines of produce and consume.
const clockFormat = "15:04:05.000"

func perSecond(n int, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// valueGen builds message values "seq=<n> " padded with '.' to size bytes.
type valueGen struct {
	size int
	pad  []byte
}

func newValueGen(size int) *valueGen {
	pad := make([]byte, size)
	for i := range pad {
		pad[i] = '.'
	}
	return &valueGen{size: size, pad: pad}
}

func (g *valueGen) value(seq int) []byte {
	b := make([]byte, 0, max(g.size, 24))
	b = append(b, "seq="...)
	b = strconv.AppendInt(b, int64(seq), 10)
	b = append(b, ' ')
	if len(b) < g.size {
		b = append(b, g.pad[:g.size-len(b)]...)
	}
	return b
}

// produceSaramaConfig is the client config of 'zkbalance produce': acks from
// every in-sync replica, retries that ride out a leader change.
func produceSaramaConfig() *sarama.Config {
	sc := sarama.NewConfig()
	sc.Version = sarama.V2_1_0_0
	sc.ClientID = "zkbalance-cli"
	sc.Producer.RequiredAcks = sarama.WaitForAll
	sc.Producer.Return.Successes = true
	sc.Producer.Return.Errors = true
	sc.Producer.Retry.Max = 10
	sc.Producer.Retry.Backoff = 200 * time.Millisecond
	sc.Producer.MaxMessageBytes = maxProduceSize + 1024
	sc.Metadata.Retry.Max = 10
	sc.Metadata.Retry.Backoff = 200 * time.Millisecond
	sc.Admin.Timeout = 30 * time.Second
	return sc
}

// ensureTopic creates topic unless it exists, then waits (up to a minute)
// until the metadata lists every partition with a leader.
func ensureTopic(ctx context.Context, brokers []string, sc *sarama.Config, topic string, partitions int32, replication int16, log *slog.Logger) error {
	admin, err := sarama.NewClusterAdmin(brokers, sc)
	if err != nil {
		return fmt.Errorf("kafka admin client for %v: %w", brokers, err)
	}
	err = admin.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: partitions, ReplicationFactor: replication}, false)
	admin.Close()
	switch {
	case err == nil:
		log.Info("created topic", "topic", topic, "partitions", partitions, "replication", replication)
	case errors.Is(err, sarama.ErrTopicAlreadyExists):
		log.Info("topic exists; not created", "topic", topic)
		return nil
	case errors.Is(err, sarama.ErrInvalidReplicationFactor), errors.Is(err, sarama.ErrInvalidPartitions):
		return fmt.Errorf("%w: create topic %s: %w", cli.ErrUsage, topic, err)
	default:
		return fmt.Errorf("create topic %s: %w", topic, err)
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	var last error
	for {
		if last = partitionsLed(brokers, sc, topic, partitions); last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("topic %s not ready: %w", topic, last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// partitionsLed checks that a fresh metadata request lists want partitions
// of topic, each with a leader.
func partitionsLed(brokers []string, sc *sarama.Config, topic string, want int32) error {
	client, err := sarama.NewClient(brokers, sc)
	if err != nil {
		return err
	}
	defer client.Close()
	ps, err := client.Partitions(topic)
	if err != nil {
		return err
	}
	if int32(len(ps)) != want {
		return fmt.Errorf("metadata lists %d partitions, want %d", len(ps), want)
	}
	for _, p := range ps {
		if _, err := client.Leader(topic, p); err != nil {
			return fmt.Errorf("partition %d: %w", p, err)
		}
	}
	return nil
}
