package balanced_test

import (
	"context"
	"testing"
	"time"

	"github.com/zkbalance/zkbalance/balanced"
	"github.com/zkbalance/zkbalance/partition"
	"github.com/zkbalance/zkbalance/zkwatch"
)

// fakeRegistry copies the real broker registration and topic of the shared
// cluster into a chroot and adds malformed znodes there, so that a member
// pointed at the chroot reads bad registry data while fetching from the real
// brokers — without the real Kafka controller ever seeing the bad znodes.
func fakeRegistry(t *testing.T, ctx context.Context, chroot, topic string, extra map[string]string) {
	t.Helper()
	conn := zkConn(t)
	copyNode := func(p string) {
		data, _, err := conn.Get(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		if err := conn.EnsurePath(ctx, chroot+p, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Set(ctx, chroot+p, data, -1); err != nil {
			t.Fatal(err)
		}
	}
	ids, _, err := conn.Children(ctx, zkwatch.BrokerIDsPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		copyNode(zkwatch.BrokerIDsPath + "/" + id)
	}
	copyNode(zkwatch.TopicPath(topic))
	parts, _, err := conn.Children(ctx, zkwatch.TopicPath(topic)+"/partitions")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range parts {
		copyNode(zkwatch.TopicPath(topic) + "/partitions/" + p + "/state")
	}
	for p, v := range extra {
		if err := conn.EnsurePath(ctx, chroot+p, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Set(ctx, chroot+p, []byte(v), -1); err != nil {
			t.Fatal(err)
		}
	}
}

// TestMalformedRegistry (S9): malformed JSON in a broker registration, in a
// topic registration matched by the group's pattern, and in a partition
// state (read by the pykafka layout for owner names). Each is skipped with a
// warning (a broker, a topic) or counted as leader -1 (a partition state);
// the member consumes everything of the healthy topic.
func TestMalformedRegistry(t *testing.T) {
	cl := shared.Get(t)
	for _, layout := range []balanced.Layout{balanced.LayoutScala, balanced.LayoutPykafka} {
		t.Run(string(layout), func(t *testing.T) {
			ctx := testCtx(t, 2*time.Minute)
			prefix := uniq(t, "reg")
			topic := prefix + "-ok"
			if err := cl.CreateTopic(ctx, topic, 3, 1); err != nil {
				t.Fatal(err)
			}
			chroot := "/fake-" + uniq(t, "registry")
			fakeRegistry(t, ctx, chroot, topic, map[string]string{
				zkwatch.BrokerIDsPath + "/99":                       `{"version":5,"host":`,
				zkwatch.TopicPath(prefix + "-broken"):               `{"version":3,"partitions":{"0":[1`,
				zkwatch.TopicPath(topic) + "/partitions/1/state":    `{"leader":"one"`,
				zkwatch.TopicPath(prefix+"-broken") + "/partitions": ``,
			})
			cfg := balanced.Config{Group: uniq(t, "g-reg"), TopicPattern: "^" + prefix + "-.*", Layout: layout,
				ZooKeeper: cl.ZooKeeperAddr() + chroot}
			if layout == balanced.LayoutPykafka {
				// One topic per member in this layout: the broken topic is
				// not subscribed, the broken broker and partition state are read.
				cfg.Assignor, cfg.TopicPattern, cfg.Topics = partition.PykafkaRange, "", []string{topic}
			}
			produced := produceSpread(t, topic, 3, 90)
			var log plog
			a := startMember(t, "A", cfg, recorder(&log, "A", 0))
			waitProcessed(t, &log, 90, time.Minute)
			if an := log.Analyze(produced); an.Lost != 0 || an.Duplicates != 0 {
				t.Fatalf("%s", an)
			}
			if got := len(a.c.Owned()); got != 3 {
				t.Errorf("owns %d partitions, want the healthy topic's 3", got)
			}
			select {
			case err := <-a.done:
				t.Fatalf("Run returned: %v", err)
			default:
			}
		})
	}
}
