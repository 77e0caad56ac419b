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
	"github.com/zkbalance/zkbalance/partition"
	"github.com/zkbalance/zkbalance/test/cluster"
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
// partitions, the time from a member's Run to every member fetching exactly
// its share (scala-range: a join moves partitions between all members).
// Each iteration is one join followed by that member's leave.
func BenchmarkRebalanceJoin(b *testing.B) {
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
			var lat []time.Duration
			b.ResetTimer()
			for i := range b.N {
				start := time.Now()
				joiner := startMember(b, fmt.Sprintf("j%d", i), cfg, nop)
				all := append(slices.Clone(peers), joiner)
				want := expected(b, partition.ScalaRange, group, all, topics)
				lat = append(lat, waitShares(b, want, all, time.Minute, start))
				b.StopTimer()
				joiner.Stop(b)
				waitConverged(b, 2*time.Minute, partition.ScalaRange, group, topics, peers...)
				b.StartTimer()
			}
			sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
			b.ReportMetric(float64(lat[len(lat)/2].Milliseconds()), "p50-ms")
			b.ReportMetric(float64(lat[(len(lat)*99)/100].Milliseconds()), "p99-ms")
		})
	}
}

// waitShares polls the members (cheap, in-process) until each is fetching
// exactly its share of want; it returns the time since start.
func waitShares(b *testing.B, want map[balanced.TopicPartition]string, peers []peer, d time.Duration, start time.Time) time.Duration {
	shares := map[string][]balanced.TopicPartition{}
	for tp, o := range want {
		shares[o] = append(shares[o], tp)
	}
	for _, s := range shares {
		slices.SortFunc(s, partition.CompareTopicPartitions)
	}
	for time.Since(start) < d {
		ok := true
		for _, p := range peers {
			if !slices.Equal(p.(*member).c.Fetching(), shares[ownerValue(partition.ScalaRange, p)]) {
				ok = false
				break
			}
		}
		if ok {
			return time.Since(start)
		}
		time.Sleep(2 * time.Millisecond)
	}
	b.Fatalf("shares not reached within %s", d)
	return 0
}
