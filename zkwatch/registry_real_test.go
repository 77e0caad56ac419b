package zkwatch_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/zkbalance/zkbalance/zkwatch"
)

// TestRegistryOfRealKafka reads what the real Kafka 3.9 broker registered and
// checks the typed readers against what the harness knows. With
// ZKBALANCE_CAPTURE=1 it also (re)writes the captures in testdata/registry,
// which seed the parser fuzz targets.
func TestRegistryOfRealKafka(t *testing.T) {
	cl := shared.Get(t)
	ctx := testCtx(t, time.Minute)
	const topic = "zkw-registry"
	if err := cl.CreateTopic(ctx, topic, 12, 1); err != nil {
		t.Fatal(err)
	}
	c := dial(t, "/kafka", zkwatch.Config{})
	brokers, err := c.ReadBrokers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(brokers) != 1 || brokers[0].ID != 1 {
		t.Fatalf("brokers %+v", brokers)
	}
	ep, err := brokers[0].Endpoint("PLAINTEXT", "")
	if err != nil {
		t.Fatal(err)
	}
	if ep.Addr() != cl.BrokerAddr(1) || brokers[0].Version != 5 {
		t.Fatalf("endpoint %s v%d, harness says %s", ep.Addr(), brokers[0].Version, cl.BrokerAddr(1))
	}
	tp, err := c.ReadTopic(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	if len(tp.PartitionIDs()) != 12 || tp.TopicID == "" || tp.Version != 3 {
		t.Fatalf("topic %+v", tp)
	}
	leaders, err := c.ReadLeaders(ctx, tp)
	if err != nil {
		t.Fatal(err)
	}
	for p, l := range leaders {
		if l != 1 {
			t.Errorf("partition %d leader %d, want 1", p, l)
		}
	}
	names, err := c.ReadTopicNames(ctx)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, n := range names {
		found = found || n == topic
	}
	if !found {
		t.Fatalf("%s not in %v", topic, names)
	}
	if _, err := c.ReadTopic(ctx, "no-such-topic"); err == nil {
		t.Fatal("reading a missing topic gave no error")
	}
	if os.Getenv("ZKBALANCE_CAPTURE") != "1" {
		return
	}
	for name, path := range map[string]string{
		"broker_v5_kafka392_captured.json": zkwatch.BrokerPath(1),
		"topic_v3_kafka392_captured.json":  zkwatch.TopicPath(topic),
		"state_v1_kafka392_captured.json":  zkwatch.PartitionStatePath(topic, 0),
	} {
		data, _, err := c.Get(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join("testdata", "registry", name), data, 0o644); err != nil {
			t.Fatal(err)
		}
		fmt.Printf("captured %s -> %s: %s\n", path, name, data)
	}
}
