package scenario

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/zkbalance/zkbalance/balanced"
	"github.com/zkbalance/zkbalance/partition"
	"github.com/zkbalance/zkbalance/zkwatch"
)

// Env is the live cluster a scenario runs against.
type Env struct {
	// ZooKeeper is the connect string with the Kafka chroot, if any.
	ZooKeeper string
	// Brokers are Kafka bootstrap addresses.
	Brokers []string
	// Out receives the timeline and the verdict (default io.Discard).
	Out io.Writer
	// Logger receives the members' logs (default: discarded).
	Logger *slog.Logger
	// Registerer, if set, receives the members' Prometheus metrics, each
	// member's series labelled name="<name>" (besides group and member, the member id).
	Registerer prometheus.Registerer
}

func (e Env) withDefaults() Env {
	if e.Out == nil {
		e.Out = io.Discard
	}
	if e.Logger == nil {
		e.Logger = slog.New(slog.DiscardHandler)
	}
	return e
}

func saramaConfig() *sarama.Config {
	sc := sarama.NewConfig()
	sc.Version = sarama.V2_1_0_0
	sc.ClientID = "zkbalance-scenario"
	sc.Producer.RequiredAcks = sarama.WaitForAll
	sc.Producer.Return.Successes = true
	sc.Producer.Partitioner = sarama.NewManualPartitioner
	return sc
}

// createTopic creates a topic and waits until every partition has a leader.
func (e Env) createTopic(ctx context.Context, name string, partitions int32) error {
	admin, err := sarama.NewClusterAdmin(e.Brokers, saramaConfig())
	if err != nil {
		return fmt.Errorf("scenario: admin client: %w", err)
	}
	defer admin.Close()
	if err := admin.CreateTopic(name, &sarama.TopicDetail{NumPartitions: partitions, ReplicationFactor: 1}, false); err != nil {
		return fmt.Errorf("scenario: create topic %s: %w", name, err)
	}
	client, err := sarama.NewClient(e.Brokers, saramaConfig())
	if err != nil {
		return fmt.Errorf("scenario: client: %w", err)
	}
	defer client.Close()
	for {
		err := client.RefreshMetadata(name)
		if err == nil {
			var ps []int32
			if ps, err = client.Partitions(name); err == nil && int32(len(ps)) == partitions {
				for _, p := range ps {
					if _, err = client.Leader(name, p); err != nil {
						break
					}
				}
				if err == nil {
					return nil
				}
			} else if err == nil {
				err = fmt.Errorf("%d of %d partitions in the metadata", len(ps), partitions)
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("scenario: topic %s not ready: %w (%w)", name, err, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// produce writes n messages spread round-robin over the partitions and
// returns, per partition, the next offset after the last one written.
func (e Env) produce(ctx context.Context, topic string, partitions int32, n int) (map[balanced.TopicPartition]int64, error) {
	p, err := sarama.NewSyncProducer(e.Brokers, saramaConfig())
	if err != nil {
		return nil, fmt.Errorf("scenario: producer: %w", err)
	}
	defer p.Close()
	msgs := make([]*sarama.ProducerMessage, n)
	for i := range msgs {
		msgs[i] = &sarama.ProducerMessage{Topic: topic, Partition: int32(i) % partitions,
			Value: sarama.StringEncoder("seq=" + strconv.Itoa(i))}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := p.SendMessages(msgs); err != nil {
		return nil, fmt.Errorf("scenario: produce to %s: %w", topic, err)
	}
	out := map[balanced.TopicPartition]int64{}
	for _, m := range msgs {
		tp := balanced.TopicPartition{Topic: topic, Partition: m.Partition}
		out[tp] = max(out[tp], m.Offset+1)
	}
	return out, nil
}

// owners reads the owner znodes of a Scala-layout group's topic: partition
// -> owner value.
func owners(ctx context.Context, conn *zkwatch.Conn, group, topic string) (map[int32]string, error) {
	dir := "/consumers/" + group + "/owners/" + topic
	names, _, err := conn.Children(ctx, dir)
	if errors.Is(err, zkwatch.ErrNoNode) {
		return map[int32]string{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("scenario: read owners: %w", err)
	}
	out := map[int32]string{}
	for _, n := range names {
		data, _, err := conn.Get(ctx, dir+"/"+n)
		if errors.Is(err, zkwatch.ErrNoNode) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("scenario: read owner: %w", err)
		}
		p, err := strconv.ParseInt(n, 10, 32)
		if err != nil {
			continue
		}
		out[int32(p)] = string(data)
	}
	return out, nil
}

// rangeShares is scala-range's answer for members (one stream each) on one
// topic: partition -> member id.
func rangeShares(topic string, partitions int32, members ...string) (map[int32]string, error) {
	in := partition.Input{Topics: partition.Topics{topic: {}}}
	for p := range partitions {
		in.Topics[topic][p] = -1
	}
	for _, m := range members {
		in.Members = append(in.Members, partition.Member{ID: m, Subscription: map[string]int{topic: 1}})
	}
	asg, err := partition.Lookup(partition.ScalaRange)
	if err != nil {
		return nil, err
	}
	a, err := asg.Assign(in)
	if err != nil {
		return nil, err
	}
	out := map[int32]string{}
	for tp, owner := range a.Owners() {
		m, _, _ := partition.SplitThreadID(owner)
		out[tp.Partition] = m
	}
	return out, nil
}

// timeline prints events relative to the scenario's start.
type timeline struct {
	mu    sync.Mutex
	out   io.Writer
	start time.Time
}

func newTimeline(out io.Writer) *timeline { return &timeline{out: out, start: time.Now()} }

func (t *timeline) printf(format string, args ...any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	fmt.Fprintf(t.out, "%+8.3fs  %s\n", time.Since(t.start).Seconds(), fmt.Sprintf(format, args...))
}

// header prints a line without a timestamp.
func (t *timeline) header(format string, args ...any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	fmt.Fprintf(t.out, format+"\n", args...)
}

func partitionsOf(tps []balanced.TopicPartition) string {
	ps := make([]string, len(tps))
	for i, tp := range tps {
		ps[i] = strconv.Itoa(int(tp.Partition))
	}
	return strings.Join(ps, ",")
}

func partitionList(m map[int32]string, who string) string {
	var ps []int32
	for p, o := range m {
		if o == who {
			ps = append(ps, p)
		}
	}
	slices.Sort(ps)
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = strconv.Itoa(int(p))
	}
	return strings.Join(s, ",")
}

func unique(prefix string) string {
	return fmt.Sprintf("%s-%d", prefix, time.Now().UnixNano()%1e9)
}

// registerer is the member's view of e.Registerer.
func (e Env) registerer(member string) prometheus.Registerer {
	if e.Registerer == nil {
		return nil
	}
	return prometheus.WrapRegistererWith(prometheus.Labels{"name": member}, e.Registerer)
}
