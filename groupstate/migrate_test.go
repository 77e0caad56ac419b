package groupstate_test

import (
	"context"
	"errors"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/zkbalance/zkbalance/groupstate"
	"github.com/zkbalance/zkbalance/zkwatch"
)

// stores is what both offset stores hold for a group: ZooKeeper's offsets
// subtree and Kafka's offsets of the given topics (partition counts).
type stores struct {
	zk    map[string]string
	kafka map[string]map[int32]int64
}

func snapshot(t *testing.T, ctx context.Context, conn *zkwatch.Conn, group string, topics map[string]int32) stores {
	t.Helper()
	s := stores{zk: zkTree(t, ctx, conn, "/consumers/"+group+"/offsets"), kafka: map[string]map[int32]int64{}}
	for topic, n := range topics {
		s.kafka[topic] = kafkaCommitted(t, group, topic, n)
	}
	return s
}

func sameStores(t *testing.T, what string, got, want stores) {
	t.Helper()
	if !maps.Equal(got.zk, want.zk) {
		t.Errorf("%s: zookeeper holds %v; want %v", what, got.zk, want.zk)
	}
	for topic, w := range want.kafka {
		if g := got.kafka[topic]; !maps.Equal(g, w) {
			t.Errorf("%s: kafka holds %v for %s; want %v", what, g, topic, w)
		}
	}
}

func TestMigrateZooKeeperToKafka(t *testing.T) {
	shared.Get(t)
	ctx := testCtx(t, 180*time.Second)
	conn := dial(t, ctx)
	client := newClient(t)
	topic := topicWithMessages(t, ctx, 30, 30, 30)
	group := uniq(t, "g")
	g := "/consumers/" + group
	put(t, ctx, conn, g+"/offsets/"+topic+"/0", "10", false)
	put(t, ctx, conn, g+"/offsets/"+topic+"/1", "20", false)
	commitKafka(t, ctx, client, group, topic, map[int32]int64{0: 10, 1: 25, 2: 7})
	topics := map[string]int32{topic: 3}
	before := snapshot(t, ctx, conn, group, topics)

	// Dry run: the one change, nothing written.
	changes, err := groupstate.MigrateOffsets(ctx, conn, client, group, groupstate.ZooKeeperToKafka, true, false)
	if err != nil {
		t.Fatal(err)
	}
	want := []groupstate.Change{{Topic: topic, Partition: 1, From: 25, To: 20}}
	sameJSON(t, "dry-run changes", changes, want)
	sameStores(t, "after the dry run", snapshot(t, ctx, conn, group, topics), before)

	// A live member blocks the migration, dry run or not, unless forced.
	put(t, ctx, conn, g+"/ids/"+group+"_host-1-0000aaaa", `{"version":1,"subscription":{"`+topic+`":1},"pattern":"static","timestamp":"1"}`, true)
	for _, dry := range []bool{true, false} {
		if _, err := groupstate.MigrateOffsets(ctx, conn, client, group, groupstate.ZooKeeperToKafka, dry, false); !errors.Is(err, groupstate.ErrLiveMembers) {
			t.Fatalf("migrate (dry run %v) with a live member: %v; want ErrLiveMembers", dry, err)
		} else {
			t.Log(err)
		}
	}
	sameStores(t, "after the refusals", snapshot(t, ctx, conn, group, topics), before)

	// The real run, forced: exactly that change.
	changes, err = groupstate.MigrateOffsets(ctx, conn, client, group, groupstate.ZooKeeperToKafka, false, true)
	if err != nil {
		t.Fatal(err)
	}
	want[0].Applied = true
	sameJSON(t, "changes", changes, want)
	after := before
	after.kafka = map[string]map[int32]int64{topic: {0: 10, 1: 20, 2: 7}}
	sameStores(t, "after the migration", snapshot(t, ctx, conn, group, topics), after)

	// Nothing left to do.
	changes, err = groupstate.MigrateOffsets(ctx, conn, client, group, groupstate.ZooKeeperToKafka, false, true)
	if err != nil || len(changes) != 0 {
		t.Errorf("second migration: %v, %v; want no change", changes, err)
	}
	st, err := groupstate.Read(ctx, conn, client, group)
	if err != nil {
		t.Fatal(err)
	}
	if st.Storage != groupstate.StorageDual {
		t.Errorf("storage %s; want dual", st.Storage)
	}
	for _, p := range st.Partitions {
		wantSrc, wantOff := groupstate.SourceBoth, map[int32]int64{0: 10, 1: 20}[p.Partition]
		if p.Partition == 2 {
			wantSrc, wantOff = groupstate.SourceKafka, 7
		}
		if p.Source != wantSrc || p.Committed != wantOff {
			t.Errorf("%s/%d after the migration: committed %d from %q; want %d from %q", p.Topic, p.Partition, p.Committed, p.Source, wantOff, wantSrc)
		}
	}
}

func TestMigrateKafkaToZooKeeper(t *testing.T) {
	shared.Get(t)
	ctx := testCtx(t, 180*time.Second)
	conn := dial(t, ctx)
	client := newClient(t)
	kt := topicWithMessages(t, ctx, 5, 5) // only in Kafka: found through OffsetFetch for all topics
	zt := topicWithMessages(t, ctx, 9, 9)
	group := uniq(t, "g")
	g := "/consumers/" + group
	put(t, ctx, conn, g+"/offsets/"+zt+"/0", "9", false)
	put(t, ctx, conn, g+"/offsets/"+zt+"/1", "junk", false)
	commitKafka(t, ctx, client, group, kt, map[int32]int64{0: 3, 1: 0})
	commitKafka(t, ctx, client, group, zt, map[int32]int64{0: 9, 1: 4})
	topics := map[string]int32{kt: 2, zt: 2}
	before := snapshot(t, ctx, conn, group, topics)

	// A malformed source offset fails a migration out of ZooKeeper before
	// anything is written.
	if _, err := groupstate.MigrateOffsets(ctx, conn, client, group, groupstate.ZooKeeperToKafka, false, false); err == nil ||
		!strings.Contains(err.Error(), "junk") {
		t.Fatalf("migration from a malformed zookeeper offset: %v; want an error naming it", err)
	} else {
		t.Log(err)
	}
	sameStores(t, "after the refused migration", snapshot(t, ctx, conn, group, topics), before)

	changes, err := groupstate.MigrateOffsets(ctx, conn, client, group, groupstate.KafkaToZooKeeper, true, false)
	if err != nil {
		t.Fatal(err)
	}
	want := []groupstate.Change{
		{Topic: kt, Partition: 0, From: -1, To: 3},
		{Topic: kt, Partition: 1, From: -1, To: 0},
		{Topic: zt, Partition: 1, From: -1, FromError: "groupstate: malformed offset: /consumers/" + group + "/offsets/" + zt + `/1 holds "junk", not a decimal number`, To: 4},
	}
	if kt > zt {
		want = append(want[2:], want[:2]...)
	}
	sameJSON(t, "dry-run changes", changes, want)
	sameStores(t, "after the dry run", snapshot(t, ctx, conn, group, topics), before)

	changes, err = groupstate.MigrateOffsets(ctx, conn, client, group, groupstate.KafkaToZooKeeper, false, false)
	if err != nil {
		t.Fatal(err)
	}
	for i := range want {
		want[i].Applied = true
	}
	sameJSON(t, "changes", changes, want)
	after := before
	after.zk = map[string]string{
		"": "", "/" + kt: "", "/" + zt: "",
		"/" + kt + "/0": "3", "/" + kt + "/1": "0",
		"/" + zt + "/0": "9", "/" + zt + "/1": "4",
	}
	sameStores(t, "after the migration", snapshot(t, ctx, conn, group, topics), after)
}

func TestMigrateBadInput(t *testing.T) {
	shared.Get(t)
	ctx := testCtx(t, 60*time.Second)
	conn := dial(t, ctx)
	client := newClient(t)
	if _, err := groupstate.MigrateOffsets(ctx, conn, client, uniq(t, "missing"), groupstate.KafkaToZooKeeper, true, false); !errors.Is(err, groupstate.ErrNoGroup) {
		t.Errorf("missing group: %v; want ErrNoGroup", err)
	}
	group := uniq(t, "g")
	put(t, ctx, conn, "/consumers/"+group, "", false)
	if _, err := groupstate.MigrateOffsets(ctx, conn, client, group, groupstate.Direction(0), true, false); err == nil {
		t.Error("direction 0 accepted")
	}
	if _, err := groupstate.MigrateOffsets(ctx, conn, nil, group, groupstate.KafkaToZooKeeper, true, false); err == nil {
		t.Error("nil client accepted")
	}
}
