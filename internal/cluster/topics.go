package cluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/IBM/sarama"

	"github.com/zkbalance/zkbalance/internal/zk"
)

// Message is one record to produce to an explicit partition.
type Message struct {
	Partition int32
	Key       []byte
	Value     []byte
}

func (c *Cluster) runningAddrs() []string {
	var addrs []string
	for _, id := range c.BrokerIDs() {
		if c.brokers[id].proc.running() {
			addrs = append(addrs, c.BrokerAddr(id))
		}
	}
	return addrs
}

func (c *Cluster) admin() (sarama.ClusterAdmin, error) {
	a, err := sarama.NewClusterAdmin(c.runningAddrs(), newSaramaConfig())
	if err != nil {
		return nil, fmt.Errorf("cluster: admin client: %w", err)
	}
	return a, nil
}

// CreateTopic creates a topic and waits until every partition has a leader
// in the metadata and its state znode in ZooKeeper (no znode with
// Config.KRaft).
func (c *Cluster) CreateTopic(ctx context.Context, name string, partitions int32, replication int16) error {
	a, err := c.admin()
	if err != nil {
		return err
	}
	defer a.Close()
	for {
		err = a.CreateTopic(name, &sarama.TopicDetail{NumPartitions: partitions, ReplicationFactor: replication}, false)
		// Right after start-up (or a broker restart) the broker that takes
		// the request may not know every live broker yet: its metadata
		// comes from the controller, which can lag under load. Retry while
		// the cluster has the brokers the replication factor needs.
		if !errors.Is(err, sarama.ErrInvalidReplicationFactor) || int(replication) > len(c.BrokerIDs()) {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cluster: create topic %s: %w (%w)", name, err, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
	if err != nil {
		return fmt.Errorf("cluster: create topic %s: %w", name, err)
	}
	return c.waitPartitions(ctx, name, partitions)
}

// AddPartitions raises the partition count of a topic to total and waits
// until the new partitions have leaders.
func (c *Cluster) AddPartitions(ctx context.Context, name string, total int32) error {
	a, err := c.admin()
	if err != nil {
		return err
	}
	defer a.Close()
	if err := a.CreatePartitions(name, total, nil, false); err != nil {
		return fmt.Errorf("cluster: add partitions to %s: %w", name, err)
	}
	return c.waitPartitions(ctx, name, total)
}

// DeleteTopic deletes a topic and waits until /brokers/topics/<name> is gone
// (with Config.KRaft: until the metadata no longer lists the topic).
func (c *Cluster) DeleteTopic(ctx context.Context, name string) error {
	a, err := c.admin()
	if err != nil {
		return err
	}
	defer a.Close()
	if err := a.DeleteTopic(name); err != nil {
		return fmt.Errorf("cluster: delete topic %s: %w", name, err)
	}
	if !c.HasZooKeeper() {
		err := poll(ctx, 100*time.Millisecond, func() error {
			client, err := sarama.NewClient(c.runningAddrs(), newSaramaConfig())
			if err != nil {
				return err
			}
			defer client.Close()
			topics, err := client.Topics()
			if err != nil {
				return err
			}
			if slices.Contains(topics, name) {
				return fmt.Errorf("topic %s still in the metadata", name)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("cluster: delete topic %s: %w", name, err)
		}
		return nil
	}
	return c.withZK(ctx, func(conn *zk.Conn) error {
		return poll(ctx, 100*time.Millisecond, func() error {
			ok, _, err := conn.Exists(c.cfg.Chroot + "/brokers/topics/" + name)
			if err != nil {
				return err
			}
			if ok {
				return fmt.Errorf("topic %s still registered", name)
			}
			return nil
		})
	})
}

func (c *Cluster) waitPartitions(ctx context.Context, name string, partitions int32) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if c.HasZooKeeper() {
		err := c.withZK(ctx, func(conn *zk.Conn) error {
			return poll(ctx, 100*time.Millisecond, func() error {
				for p := int32(0); p < partitions; p++ {
					path := fmt.Sprintf("%s/brokers/topics/%s/partitions/%d/state", c.cfg.Chroot, name, p)
					if ok, _, err := conn.Exists(path); err != nil || !ok {
						return fmt.Errorf("%s missing (%v)", path, err)
					}
				}
				return nil
			})
		})
		if err != nil {
			return fmt.Errorf("cluster: topic %s: %w", name, err)
		}
	}
	err := poll(ctx, 100*time.Millisecond, func() error {
		client, err := sarama.NewClient(c.runningAddrs(), newSaramaConfig())
		if err != nil {
			return err
		}
		defer client.Close()
		ps, err := client.Partitions(name)
		if err != nil {
			return err
		}
		if int32(len(ps)) != partitions {
			return fmt.Errorf("metadata has %d partitions, want %d", len(ps), partitions)
		}
		// The metadata may name a leader before that broker has taken
		// the lead (it then answers UNKNOWN_TOPIC_OR_PARTITION): ask each
		// leader for its partitions' log ends, in one request per leader.
		byLeader := map[*sarama.Broker][]int32{}
		for _, p := range ps {
			leader, err := client.Leader(name, p)
			if err != nil {
				return fmt.Errorf("partition %d: %w", p, err)
			}
			byLeader[leader] = append(byLeader[leader], p)
		}
		for leader, parts := range byLeader {
			req := &sarama.OffsetRequest{Version: 1}
			for _, p := range parts {
				req.AddBlock(name, p, sarama.OffsetNewest, 1)
			}
			resp, err := leader.GetAvailableOffsets(req)
			if err != nil {
				return fmt.Errorf("leader %d: %w", leader.ID(), err)
			}
			for _, p := range parts {
				if b := resp.GetBlock(name, p); b == nil || !errors.Is(b.Err, sarama.ErrNoError) {
					return fmt.Errorf("partition %d: its leader %d does not lead it yet", p, leader.ID())
				}
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("cluster: topic %s: %w", name, err)
	}
	return nil
}

// Produce writes msgs (acks=all), each to its own partition, and returns the
// offset each was written at, in order.
func (c *Cluster) Produce(ctx context.Context, topic string, msgs []Message) ([]int64, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	sc := newSaramaConfig()
	sc.Producer.Partitioner = sarama.NewManualPartitioner
	p, err := sarama.NewSyncProducer(c.runningAddrs(), sc)
	if err != nil {
		return nil, fmt.Errorf("cluster: producer: %w", err)
	}
	defer p.Close()
	pms := make([]*sarama.ProducerMessage, len(msgs))
	for i, m := range msgs {
		pms[i] = &sarama.ProducerMessage{Topic: topic, Partition: m.Partition, Value: sarama.ByteEncoder(m.Value)}
		if m.Key != nil {
			pms[i].Key = sarama.ByteEncoder(m.Key)
		}
	}
	const batch = 1000
	for start := 0; start < len(pms); start += batch {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		end := min(start+batch, len(pms))
		if err := p.SendMessages(pms[start:end]); err != nil {
			var perrs sarama.ProducerErrors
			if errors.As(err, &perrs) && len(perrs) > 0 {
				return nil, fmt.Errorf("cluster: produce to %s: %d failed, first: %w", topic, len(perrs), perrs[0].Err)
			}
			return nil, fmt.Errorf("cluster: produce to %s: %w", topic, err)
		}
	}
	offs := make([]int64, len(pms))
	for i, pm := range pms {
		offs[i] = pm.Offset
	}
	return offs, nil
}

// LogEndOffsets returns the next offset to be written of every partition of topic.
func (c *Cluster) LogEndOffsets(ctx context.Context, topic string) (map[int32]int64, error) {
	client, err := sarama.NewClient(c.runningAddrs(), newSaramaConfig())
	if err != nil {
		return nil, fmt.Errorf("cluster: client: %w", err)
	}
	defer client.Close()
	ps, err := client.Partitions(topic)
	if err != nil {
		return nil, fmt.Errorf("cluster: partitions of %s: %w", topic, err)
	}
	out := map[int32]int64{}
	for _, p := range ps {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		off, err := client.GetOffset(topic, p, sarama.OffsetNewest)
		// Right after a leader election the new leader answers
		// OFFSET_NOT_AVAILABLE until its high watermark caught up (or
		// the client still asks the old leader): retry for a while.
		for deadline := time.Now().Add(15 * time.Second); err != nil && retriableOffsetErr(err) && time.Now().Before(deadline); {
			time.Sleep(200 * time.Millisecond)
			_ = client.RefreshMetadata(topic)
			off, err = client.GetOffset(topic, p, sarama.OffsetNewest)
		}
		if err != nil {
			return nil, fmt.Errorf("cluster: offset of %s/%d: %w", topic, p, err)
		}
		out[p] = off
	}
	return out, nil
}

// retriableOffsetErr reports whether a ListOffsets error passes once a
// leader election settles.
func retriableOffsetErr(err error) bool {
	return errors.Is(err, sarama.ErrOffsetNotAvailable) || errors.Is(err, sarama.ErrNotLeaderForPartition) ||
		errors.Is(err, sarama.ErrLeaderNotAvailable) || errors.Is(err, sarama.ErrUnknownTopicOrPartition)
}

// retriableCoordinatorErr reports whether an OffsetFetch error passes once
// the group coordinator has loaded its offsets.
func retriableCoordinatorErr(err error) bool {
	return errors.Is(err, sarama.ErrOffsetsLoadInProgress) || errors.Is(err, sarama.ErrNotCoordinatorForConsumer) ||
		errors.Is(err, sarama.ErrConsumerCoordinatorNotAvailable)
}

// CommittedOffsets reads group's committed offsets of topic's partitions
// 0..n-1 from Kafka (OffsetFetch through the admin API); -1 where the group
// has none.
func (c *Cluster) CommittedOffsets(ctx context.Context, group, topic string, n int32) (map[int32]int64, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	a, err := c.admin()
	if err != nil {
		return nil, err
	}
	defer a.Close()
	ps := make([]int32, n)
	for i := range ps {
		ps[i] = int32(i)
	}
	// Right after a broker (re)start its group coordinator may still be
	// loading the offsets topic (COORDINATOR_LOAD_IN_PROGRESS) or not yet
	// be the coordinator: retry for a while.
	var resp *sarama.OffsetFetchResponse
	for deadline := time.Now().Add(15 * time.Second); ; {
		resp, err = a.ListConsumerGroupOffsets(group, map[string][]int32{topic: ps})
		if err == nil && resp.Err != sarama.ErrNoError {
			err = resp.Err
		}
		if err == nil || !retriableCoordinatorErr(err) || time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err != nil {
		return nil, fmt.Errorf("cluster: offsets of group %s: %w", group, err)
	}
	out := make(map[int32]int64, n)
	for _, p := range ps {
		b := resp.GetBlock(topic, p)
		if b == nil {
			return nil, fmt.Errorf("cluster: no offset block for %s/%d", topic, p)
		}
		if b.Err != sarama.ErrNoError {
			return nil, fmt.Errorf("cluster: offset of %s/%d: %w", topic, p, b.Err)
		}
		out[p] = b.Offset
	}
	return out, nil
}
