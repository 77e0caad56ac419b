package main

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

// stMarkHandler marks offset mark on every claimed partition, commits and
// then holds its claims without consuming.
type stMarkHandler struct {
	mark      int64
	committed chan struct{}
	once      sync.Once
}

func (h *stMarkHandler) Setup(s sarama.ConsumerGroupSession) error {
	for topic, ps := range s.Claims() {
		for _, p := range ps {
			s.MarkOffset(topic, p, h.mark, "")
		}
	}
	s.Commit()
	h.once.Do(func() { close(h.committed) })
	return nil
}

func (h *stMarkHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }

func (h *stMarkHandler) ConsumeClaim(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	<-s.Context().Done()
	return nil
}

// stKafkaMember runs a sarama ConsumerGroup member of group on topic
// (client id clientID) that commits offset mark for every partition, until
// the test ends.
func stKafkaMember(t *testing.T, ctx context.Context, group, topic, clientID string, mark int64) {
	t.Helper()
	cl := shared.Get(t)
	sc := sarama.NewConfig()
	sc.Version = sarama.V2_1_0_0
	sc.ClientID = clientID
	sc.Consumer.Offsets.Initial = sarama.OffsetOldest
	sc.Consumer.Offsets.AutoCommit.Enable = false
	cg, err := sarama.NewConsumerGroup(cl.BrokerAddrs(), group, sc)
	if err != nil {
		t.Fatal(err)
	}
	h := &stMarkHandler{mark: mark, committed: make(chan struct{})}
	runCtx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { // ends when the test's cleanup cancels runCtx
		defer close(done)
		for runCtx.Err() == nil {
			if err := cg.Consume(runCtx, []string{topic}, h); err != nil && !errors.Is(err, sarama.ErrClosedConsumerGroup) {
				t.Logf("consumer group: %v", err)
				time.Sleep(200 * time.Millisecond)
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		_ = cg.Close()
	})
	select {
	case <-h.committed:
	case <-ctx.Done():
		t.Fatalf("sarama member of %s did not commit: %v", group, context.Cause(ctx))
	}
}

// TestStatusKafkaGroup: status of a live Kafka-coordinated group (sarama
// ConsumerGroup member holding every partition at offset 2), with and
// without ZooKeeper, in JSON and tables, and in --all.
func TestStatusKafkaGroup(t *testing.T) {
	cl := shared.Get(t)
	ctx := stCtx(t, 5*time.Minute)
	topic := stTopic(t, ctx, 6, 2, 5)
	group := stName(t, "kg")
	stKafkaMember(t, ctx, group, topic, "sarama-a", 2)

	type kafkaJSON struct {
		stStatusJSON
		Coordination string `json:"coordination"`
		InZooKeeper  bool   `json:"in_zookeeper"`
		Kafka        *struct {
			State        string `json:"state"`
			ProtocolType string `json:"protocol_type"`
			Protocol     string `json:"protocol"`
			Members      []struct {
				ID         string             `json:"id"`
				ClientID   string             `json:"client_id"`
				Host       string             `json:"host"`
				Topics     []string           `json:"topics"`
				Assignment map[string][]int32 `json:"assignment"`
			} `json:"members"`
		} `json:"kafka"`
		Partitions []struct {
			Partition   int32 `json:"partition"`
			KafkaOwners []struct {
				Member   string `json:"member"`
				ClientID string `json:"client_id"`
			} `json:"kafka_owners"`
			KafkaOffset int64 `json:"kafka_offset"`
			Committed   int64 `json:"committed"`
			LogEnd      int64 `json:"log_end"`
			Lag         int64 `json:"lag"`
		} `json:"partitions"`
		Totals struct {
			KafkaMembers int   `json:"kafka_members"`
			KafkaOwned   int   `json:"kafka_owned"`
			Lag          int64 `json:"lag"`
		} `json:"totals"`
	}
	ends, err := cl.LogEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	for name, conn := range map[string][]string{
		"with zookeeper": clusterArgs(t),
		"brokers only":   {"--brokers", strings.Join(cl.BrokerAddrs(), ","), "--env-file", ""},
	} {
		r := runBin(t, 2*time.Minute, append([]string{"status", "--group", group, "--json"}, conn...)...)
		if r.code != 0 {
			t.Fatalf("%s: status --json: exit %d\nstdout:\n%s\nstderr:\n%s", name, r.code, r.stdout, r.stderr)
		}
		var st kafkaJSON
		if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
			t.Fatalf("%s: %v\n%s", name, err, r.stdout)
		}
		t.Logf("%s: status --json:\n%s", name, r.stdout)
		if st.Group != group || st.Coordination != "kafka" || st.InZooKeeper || st.Layout != "none" || st.Storage != "kafka" ||
			len(st.stStatusJSON.Members) != 0 || st.Kafka == nil || st.Kafka.State != "Stable" || st.Kafka.ProtocolType != "consumer" ||
			st.Kafka.Protocol != "range" || len(st.Kafka.Members) != 1 {
			t.Fatalf("%s: group-level fields wrong:\n%s", name, r.stdout)
		}
		km := st.Kafka.Members[0]
		if km.ClientID != "sarama-a" || km.Host == "" || !slices.Equal(km.Topics, []string{topic}) ||
			!slices.Equal(km.Assignment[topic], []int32{0, 1, 2}) {
			t.Errorf("%s: kafka member %+v", name, km)
		}
		var wantLag int64
		for i, p := range st.Partitions {
			if p.Partition != int32(i) || len(p.KafkaOwners) != 1 || p.KafkaOwners[0].Member != km.ID || p.KafkaOwners[0].ClientID != "sarama-a" ||
				p.KafkaOffset != 2 || p.Committed != 2 || p.LogEnd != ends[p.Partition] || p.Lag != ends[p.Partition]-2 {
				t.Errorf("%s: partition %+v; want owned by %s, committed 2, log end %d, lag %d", name, p, km.ID, ends[p.Partition], ends[p.Partition]-2)
			}
			wantLag += ends[p.Partition] - 2
		}
		if len(st.Partitions) != 3 || st.Totals.KafkaMembers != 1 || st.Totals.KafkaOwned != 3 || st.Totals.Lag != wantLag || wantLag != 4+0+3 {
			t.Errorf("%s: %d partitions, totals %+v; want 3, 1 kafka member, 3 kafka-owned, lag %d (7)", name, len(st.Partitions), st.Totals, wantLag)
		}

		r = runBin(t, 2*time.Minute, append([]string{"status", "--group", group}, conn...)...)
		t.Logf("%s: status:\n%s", name, r.stdout)
		for _, want := range []string{"coordination kafka", "not in zookeeper", "kafka coordinator: state Stable, protocol consumer/range, 1 member(s)",
			"KAFKA-MEMBER", "sarama-a", topic + ":0,1,2", "TOTAL: 3 partition(s), 0 owned, 3 committed, log end 13, lag 7; 3 assigned at kafka"} {
			if r.code != 0 || !strings.Contains(r.stdout, want) {
				t.Errorf("%s: status (exit %d) lacks %q; stderr %s", name, r.code, want, r.stderr)
			}
		}
		for p, end := range []string{"6", "2", "5"} {
			row := []string{topic, strconv.Itoa(p), "2", end, strconv.Itoa(int(ends[int32(p)] - 2)), km.ID, "kafka"}
			if !containsFields(r.stdout, row...) {
				t.Errorf("%s: status lacks the row %q", name, row)
			}
		}

		r = runBin(t, 2*time.Minute, append([]string{"status", "--all"}, conn...)...)
		if r.code != 0 || !containsFields(r.stdout, group, "0", "none", "kafka", "Stable", "1") {
			t.Errorf("%s: status --all: exit %d\n%s%s", name, r.code, r.stdout, r.stderr)
		}
	}
	// Neither --zookeeper nor --brokers: a usage error.
	r := runBin(t, time.Minute, "status", "--group", group, "--env-file", "")
	if r.code != 2 || !strings.Contains(r.stderr, "--brokers") {
		t.Errorf("no addresses: exit %d, stderr %q; want 2 naming --brokers", r.code, r.stderr)
	}
}
