package groupstate_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/zkbalance/zkbalance/groupstate"
	"github.com/zkbalance/zkbalance/internal/javapeer"
)

// startJava starts a Java KafkaConsumer in group on topic and waits until it
// has processed want[p] records of every partition p and committed them.
func startJava(t *testing.T, ctx context.Context, group, topic, id string, want map[int32]int64) *javapeer.Member {
	t.Helper()
	cl := shared.Get(t)
	m, err := javapeer.Start(ctx, javapeer.Args{Bootstrap: cl.BrokerAddrs(), Group: group, Topics: []string{topic}, ID: id})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := m.Stop(); err != nil {
			t.Error(err)
		}
	})
	err = m.Wait(ctx, func(evs []javapeer.Event) bool {
		got := map[int32]int64{}
		for _, e := range evs {
			if e.Kind == javapeer.KindCommit {
				for tp, off := range e.Commits {
					if tp.Topic == topic {
						got[tp.Partition] = off
					}
				}
			}
		}
		return maps.Equal(got, want)
	})
	if err != nil {
		t.Fatalf("%s: waiting for commits %v: %v (committed %v)\n%s", m, want, err, m.Committed(), m.Stderr(40))
	}
	return m
}

// TestReadKafkaGroup reads a live Kafka-coordinated group (a Java
// KafkaConsumer) without and with ZooKeeper, then with a ZooKeeper member
// registered too (a migration: coordination both).
func TestReadKafkaGroup(t *testing.T) {
	ctx := testCtx(t, 4*time.Minute)
	conn := dial(t, ctx)
	client := newClient(t)
	topic := topicWithMessages(t, ctx, 5, 3, 0, 7)
	group := uniq(t, "g")
	want := map[int32]int64{0: 5, 1: 3, 3: 7} // the Java consumer commits what it processed
	m := startJava(t, ctx, group, topic, "java-a", want)
	if err := m.WaitOwned(ctx, func(o []javapeer.TopicPartition) bool { return len(o) == 4 }); err != nil {
		t.Fatal(err)
	}

	kg, err := groupstate.DescribeKafkaGroup(ctx, client, group)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("described: %+v", kg)
	if kg.State != "Stable" || kg.ProtocolType != "consumer" || kg.Protocol != "range" || len(kg.Members) != 1 {
		t.Fatalf("kafka group %+v; want Stable, consumer/range, 1 member", kg)
	}
	km := kg.Members[0]
	if km.ClientID != "java-a" || km.Host == "" || !slices.Equal(km.Topics, []string{topic}) ||
		!slices.Equal(km.Assignment[topic], []int32{0, 1, 2, 3}) || len(km.Assignment) != 1 || km.Error != "" {
		t.Errorf("kafka member %+v; want client java-a subscribed to and assigned all 4 partitions of %s", km, topic)
	}

	check := func(name string, st *groupstate.Status, inZK bool, coord groupstate.LiveCoordination, zkMembers int) {
		t.Helper()
		t.Logf("%s: %+v", name, st)
		wantLayout := groupstate.LayoutNone
		if inZK {
			wantLayout = groupstate.LayoutScala
		}
		if st.InZooKeeper != inZK || st.Coordination != coord || st.Layout != wantLayout || st.Storage != groupstate.StorageKafka ||
			len(st.Members) != zkMembers || st.Kafka == nil || len(st.Kafka.Members) != 1 || st.Kafka.Members[0].ID != km.ID {
			t.Errorf("%s: in zookeeper %v, coordination %s, layout %s, storage %s, %d zookeeper members, kafka %+v; want %v, %s, %s, kafka, %d, member %s",
				name, st.InZooKeeper, st.Coordination, st.Layout, st.Storage, len(st.Members), st.Kafka, inZK, coord, wantLayout, zkMembers, km.ID)
		}
		ends := map[int32]int64{0: 5, 1: 3, 2: 0, 3: 7}
		if len(st.Partitions) != 4 {
			t.Fatalf("%s: %d partitions; want 4", name, len(st.Partitions))
		}
		for i, p := range st.Partitions {
			committed, ok := want[int32(i)]
			if !ok {
				committed = -1
			}
			source := groupstate.SourceKafka
			if !ok {
				source = groupstate.SourceNone
			}
			if p.Topic != topic || p.Partition != int32(i) || len(p.KafkaOwners) != 1 || p.KafkaOwners[0].Member != km.ID ||
				p.KafkaOwners[0].ClientID != "java-a" || len(p.Owners) != 0 || p.ZooKeeperOffset != -1 ||
				p.KafkaOffset != committed || p.Committed != committed || p.Source != source ||
				p.LogEnd != ends[int32(i)] || p.Lag != 0 || p.Error != "" {
				t.Errorf("%s: partition %+v; want %s/%d owned by %s at kafka, committed %d, log end %d, lag 0", name, p, topic, i, km.ID, committed, ends[int32(i)])
			}
		}
		tot := st.Totals
		if tot.Members != zkMembers || tot.KafkaMembers != 1 || tot.Partitions != 4 || tot.Owned != 0 || tot.KafkaOwned != 4 ||
			tot.Committed != 3 || tot.LogEnd != 15 || tot.Lag != 0 || tot.Errors != 0 {
			t.Errorf("%s: totals %+v", name, tot)
		}
	}

	// Without ZooKeeper: only Kafka's side.
	st, err := groupstate.Read(ctx, nil, client, group)
	if err != nil {
		t.Fatal(err)
	}
	check("no zookeeper", st, false, groupstate.CoordinationKafka, 0)
	// With ZooKeeper, which has no /consumers/<group>.
	st, err = groupstate.Read(ctx, conn, client, group)
	if err != nil {
		t.Fatal(err)
	}
	check("zookeeper without the group", st, false, groupstate.CoordinationKafka, 0)
	// A ZooKeeper member registers too: both coordinations.
	put(t, ctx, conn, fmt.Sprintf("/consumers/%s/ids/%s_h-1-0000beef", group, group),
		fmt.Sprintf(`{"version":1,"subscription":{%q:1},"pattern":"static","timestamp":"1"}`, topic), true)
	st, err = groupstate.Read(ctx, conn, client, group)
	if err != nil {
		t.Fatal(err)
	}
	check("migration", st, true, groupstate.CoordinationBoth, 1)

	// KafkaGroups lists the group; without the ZooKeeper member and after
	// the Java member left it is Empty with its offsets.
	names, err := groupstate.KafkaGroups(ctx, client)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(names, group) {
		t.Errorf("KafkaGroups %v lacks %s", names, group)
	}
	if err := m.Stop(); err != nil {
		t.Fatal(err)
	}
	st, err = groupstate.Read(ctx, nil, client, group)
	if err != nil {
		t.Fatal(err)
	}
	if st.Coordination != groupstate.CoordinationNone || st.Kafka.State != "Empty" || len(st.Kafka.Members) != 0 ||
		st.Totals.KafkaOwned != 0 || st.Totals.Committed != 3 || st.Totals.Lag != 0 {
		t.Errorf("after the member left: coordination %s, kafka %+v, totals %+v; want none, Empty, 3 committed, lag 0", st.Coordination, st.Kafka, st.Totals)
	}
}

// TestReadNoGroupAnywhere: a group neither in ZooKeeper nor in Kafka.
func TestReadNoGroupAnywhere(t *testing.T) {
	ctx := testCtx(t, 2*time.Minute)
	conn := dial(t, ctx)
	client := newClient(t)
	group := uniq(t, "g")
	for name, read := range map[string]func() error{
		"zookeeper and kafka": func() error { _, err := groupstate.Read(ctx, conn, client, group); return err },
		"kafka only":          func() error { _, err := groupstate.Read(ctx, nil, client, group); return err },
		"zookeeper only":      func() error { _, err := groupstate.Read(ctx, conn, nil, group); return err },
	} {
		if err := read(); !errors.Is(err, groupstate.ErrNoGroup) {
			t.Errorf("%s: %v; want ErrNoGroup", name, err)
		}
	}
	if _, err := groupstate.Read(ctx, nil, nil, group); err == nil || errors.Is(err, groupstate.ErrNoGroup) {
		t.Errorf("neither zookeeper nor kafka: %v; want an error other than ErrNoGroup", err)
	}
}
