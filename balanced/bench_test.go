package balanced_test

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/zkbalance/zkbalance/balanced"
	"github.com/zkbalance/zkbalance/internal/cluster"
	"github.com/zkbalance/zkbalance/partition"
)

const (
	benchPartitions = 8
	benchMessages   = 200_000 // 1 KiB each
)

var (
	benchTopicOnce sync.Once
	benchTopic     string
	benchTopicErr  error
)

// benchData creates (once) a topic of 8 partitions holding 200k 1 KiB messages.
func benchData(b *testing.B) string {
	cl := shared.Get(b)
	benchTopicOnce.Do(func() {
		benchTopic = fmt.Sprintf("bench-tput-%d", time.Now().UnixNano())
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		if benchTopicErr = cl.CreateTopic(ctx, benchTopic, benchPartitions, 1); benchTopicErr != nil {
			return
		}
		value := make([]byte, 1024)
		for i := range value {
			value[i] = byte('a' + i%26)
		}
		const chunk = 20_000
		for done := 0; done < benchMessages; done += chunk {
			msgs := make([]cluster.Message, chunk)
			for i := range msgs {
				msgs[i] = cluster.Message{Partition: int32(i % benchPartitions), Value: value}
			}
			if _, benchTopicErr = cl.Produce(ctx, benchTopic, msgs); benchTopicErr != nil {
				return
			}
		}
	})
	if benchTopicErr != nil {
		b.Fatal(benchTopicErr)
	}
	return benchTopic
}

// reportRate records messages per second between the first and last message.
func reportRate(b *testing.B, first, last time.Time, n int) {
	secs := last.Sub(first).Seconds()
	if secs > 0 {
		b.ReportMetric(float64(n)/secs, "msgs/s")
	}
}

// BenchmarkConsumeRawSarama reads the whole topic with one sarama client and
// a PartitionConsumer per partition: the baseline.
func BenchmarkConsumeRawSarama(b *testing.B) {
	cl := shared.Get(b)
	topic := benchData(b)
	for range b.N {
		sc := sarama.NewConfig()
		sc.Version = sarama.V2_1_0_0
		client, err := sarama.NewClient(cl.BrokerAddrs(), sc)
		if err != nil {
			b.Fatal(err)
		}
		consumer, err := sarama.NewConsumerFromClient(client)
		if err != nil {
			b.Fatal(err)
		}
		var count atomic.Int64
		var first, last atomic.Int64
		var wg sync.WaitGroup
		per := benchMessages / benchPartitions
		for p := range int32(benchPartitions) {
			pc, err := consumer.ConsumePartition(topic, p, sarama.OffsetOldest)
			if err != nil {
				b.Fatal(err)
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer pc.Close()
				for i := 0; i < per; i++ {
					<-pc.Messages()
					now := time.Now().UnixNano()
					first.CompareAndSwap(0, now)
					last.Store(now)
					count.Add(1)
				}
			}()
		}
		wg.Wait()
		consumer.Close()
		client.Close()
		reportRate(b, time.Unix(0, first.Load()), time.Unix(0, last.Load()), int(count.Load()))
	}
}

// BenchmarkConsumeBalanced reads the whole topic with one zkbalance member
// (EachMessage, every message marked), in a new group each iteration.
func BenchmarkConsumeBalanced(b *testing.B) {
	shared.Get(b)
	topic := benchData(b)
	for i := range b.N {
		var count atomic.Int64
		var first, last atomic.Int64
		done := make(chan struct{})
		var once sync.Once
		m := startMember(b, fmt.Sprintf("bench-%d", i), balanced.Config{
			Group: fmt.Sprintf("bench-g-%d-%d", time.Now().UnixNano(), i), Topics: []string{topic},
			Logger: testLogger(b, 8),
		}, balanced.EachMessage(func(context.Context, *balanced.Message) error {
			now := time.Now().UnixNano()
			first.CompareAndSwap(0, now)
			last.Store(now)
			if count.Add(1) == benchMessages {
				once.Do(func() { close(done) })
			}
			return nil
		}))
		select {
		case <-done:
		case <-time.After(5 * time.Minute):
			b.Fatalf("consumed %d of %d", count.Load(), benchMessages)
		}
		m.Stop(b)
		reportRate(b, time.Unix(0, first.Load()), time.Unix(0, last.Load()), int(count.Load()))
	}
}

// BenchmarkRebalanceJoin measures, for groups of 4 and 16 members on 256
// partitions, the time from a member's join (its /ids registration is
// created) to every member owning (owner znode, handler running) and then
// fetching exactly its share (scala-range: a join moves partitions between
// all members). startup is the joiner's own time from Run to registering
// (ZooKeeper session, Kafka client and metadata), not part of the rebalance. Fetching includes sarama's
// admission of new partitions (a 100ms batch plus the in-flight fetch).
// Each iteration is one join followed by that member's leave.
func BenchmarkRebalanceJoin(b *testing.B) {
	cl := shared.Get(b)
	for _, members := range []int{4, 16} {
		b.Run(fmt.Sprintf("members=%d/partitions=256", members), func(b *testing.B) {
			ctx := testCtx(b, 10*time.Minute)
			topic, group := uniq(b, "bench-join"), uniq(b, "g-bench-join")
			if err := cl.CreateTopic(ctx, topic, 256, 1); err != nil {
				b.Fatal(err)
			}
			topics := map[string]int32{topic: 256}
			cfg := balanced.Config{Group: group, Topics: []string{topic}, Logger: testLogger(b, levelFromEnv())}
			nop := balanced.EachMessage(func(context.Context, *balanced.Message) error { return nil })
			var peers []peer
			for i := range members - 1 {
				peers = append(peers, startMember(b, fmt.Sprintf("m%d", i), cfg, nop))
			}
			waitConverged(b, 2*time.Minute, partition.ScalaRange, group, topics, peers...)
			var lat, own, startup []time.Duration
			b.ResetTimer()
			for i := range b.N {
				start := time.Now()
				joiner := startMember(b, fmt.Sprintf("j%d", i), cfg, nop)
				all := append(slices.Clone(peers), joiner)
				want := expected(b, partition.ScalaRange, group, all, topics)
				o, f := waitShares(b, want, all, time.Minute, start)
				// The join is the registration's creation (its ctime, ms, by
				// ZooKeeper's clock on this host); before it the joiner
				// connects to ZooKeeper and Kafka, which is not rebalancing.
				_, st, err := zkConn(b).Get(ctx, "/consumers/"+group+"/ids/"+joiner.ID())
				if err != nil {
					b.Fatal(err)
				}
				joined := time.UnixMilli(st.Ctime).Sub(start.Round(0))
				own, lat, startup = append(own, o-joined), append(lat, f-joined), append(startup, joined)
				b.StopTimer()
				joiner.Stop(b)
				waitConverged(b, 2*time.Minute, partition.ScalaRange, group, topics, peers...)
				b.StartTimer()
			}
			for _, l := range []struct {
				name string
				d    []time.Duration
			}{{"owned", own}, {"fetching", lat}, {"startup", startup}} {
				sort.Slice(l.d, func(i, j int) bool { return l.d[i] < l.d[j] })
				b.ReportMetric(float64(l.d[len(l.d)/2].Milliseconds()), l.name+"-p50-ms")
				b.ReportMetric(float64(l.d[(len(l.d)*99)/100].Milliseconds()), l.name+"-p99-ms")
			}
		})
	}
}

// waitShares polls the members (cheap, in-process) until each owns (owner
// znode claimed, handler started) and then fetches exactly its share of
// want; it returns both times since start.
func waitShares(b *testing.B, want map[balanced.TopicPartition]string, peers []peer, d time.Duration, start time.Time) (owned, fetching time.Duration) {
	shares := map[string][]balanced.TopicPartition{}
	for tp, o := range want {
		shares[o] = append(shares[o], tp)
	}
	for _, s := range shares {
		slices.SortFunc(s, partition.CompareTopicPartitions)
	}
	all := func(get func(*balanced.Consumer) []balanced.TopicPartition) bool {
		for _, p := range peers {
			if !slices.Equal(get(p.(*member).c), shares[ownerValue(partition.ScalaRange, p)]) {
				return false
			}
		}
		return true
	}
	for time.Since(start) < d {
		if owned == 0 && all((*balanced.Consumer).Owned) {
			owned = time.Since(start)
		}
		if owned != 0 && all((*balanced.Consumer).Fetching) {
			return owned, time.Since(start)
		}
		time.Sleep(2 * time.Millisecond)
	}
	b.Fatalf("shares not reached within %s", d)
	return 0, 0
}
