package groupstate_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zkbalance/zkbalance/groupstate"
	"github.com/zkbalance/zkbalance/zkwatch"
)

// sameJSON compares got and want through their JSON forms, which is what
// 'zkbalance status --json' prints.
func sameJSON(t *testing.T, what string, got, want any) {
	t.Helper()
	g, err := json.MarshalIndent(got, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	w, err := json.MarshalIndent(want, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if string(g) != string(w) {
		t.Errorf("%s:\ngot  %s\nwant %s", what, g, w)
	}
}

// part is an expected partition with the -1 defaults.
func part(topic string, p int32, zkOff, kafkaOff, committed int64, src groupstate.Source, logEnd, lag int64, owners ...groupstate.Owner) groupstate.Partition {
	if owners == nil {
		owners = []groupstate.Owner{}
	}
	return groupstate.Partition{Topic: topic, Partition: p, Owners: owners, KafkaOwners: []groupstate.KafkaOwner{}, ZooKeeperOffset: zkOff,
		KafkaOffset: kafkaOff, Committed: committed, Source: src, LogStart: 0, LogEnd: logEnd, Lag: lag}
}

// findMember returns the member with id.
func findMember(t *testing.T, st *groupstate.Status, id string) groupstate.Member {
	t.Helper()
	for _, m := range st.Members {
		if m.ID == id {
			return m
		}
	}
	t.Fatalf("no member %s in %+v", id, st.Members)
	return groupstate.Member{}
}

func TestReadScalaGroup(t *testing.T) {
	cl := shared.Get(t)
	ctx := testCtx(t, 180*time.Second)
	conn := dial(t, ctx)
	client := newClient(t)
	a := topicWithMessages(t, ctx, 5, 3, 4)
	b := topicWithMessages(t, ctx, 2, 0)
	group := uniq(t, "g")
	g := "/consumers/" + group
	m1 := group + "_host1-1700000000000-aaaa0001"
	m2 := group + "_host2-1700000000001-bbbb0002"
	put(t, ctx, conn, g+"/ids/"+m1, fmt.Sprintf(`{"version":1,"subscription":{%q:2},"pattern":"static","timestamp":"1700000000000"}`, a), true)
	put(t, ctx, conn, g+"/ids/"+m2, fmt.Sprintf(`{"version":1,"subscription":{%q:1,%q:1},"pattern":"static","timestamp":"1700000000001"}`, a, b), true)
	put(t, ctx, conn, g+"/owners/"+a+"/0", m1+"-0", true)
	put(t, ctx, conn, g+"/owners/"+a+"/1", m1+"-1", true)
	put(t, ctx, conn, g+"/owners/"+a+"/2", m2+"-0", true)
	put(t, ctx, conn, g+"/owners/"+b+"/0", m2+"-0", true)
	put(t, ctx, conn, g+"/offsets/"+a+"/0", "2", false)
	put(t, ctx, conn, g+"/offsets/"+a+"/1", "3", false)
	put(t, ctx, conn, g+"/offsets/"+b+"/0", "1", false)

	before := time.Now()
	st, err := groupstate.Read(ctx, conn, client, group)
	if err != nil {
		t.Fatal(err)
	}
	for i := range st.Members {
		c := st.Members[i].Created
		if c.Before(before.Add(-time.Minute)) || c.After(time.Now().Add(time.Minute)) {
			t.Errorf("member %s created %v; want about now", st.Members[i].ID, c)
		}
		st.Members[i].Created = time.Time{}
	}
	z := groupstate.SourceZooKeeper
	want := &groupstate.Status{
		Group: group, Layout: groupstate.LayoutScala, Storage: groupstate.StorageZooKeeper,
		Coordination: groupstate.CoordinationZooKeeper, InZooKeeper: true,
		// Never known to Kafka: no member joined there, no offset committed.
		Kafka: &groupstate.KafkaGroup{State: "Dead", Members: []groupstate.KafkaMember{}},
		Members: []groupstate.Member{
			{ID: m1, Layout: groupstate.LayoutScala, Subscription: map[string]int{a: 2}, Pattern: "static",
				Topics: []string{a}, Timestamp: time.UnixMilli(1700000000000)},
			{ID: m2, Layout: groupstate.LayoutScala, Subscription: map[string]int{a: 1, b: 1}, Pattern: "static",
				Topics: []string{min(a, b), max(a, b)}, Timestamp: time.UnixMilli(1700000000001)},
		},
		Partitions: []groupstate.Partition{
			part(a, 0, 2, -1, 2, z, 5, 3, groupstate.Owner{Znode: "0", Value: m1 + "-0", Member: m1}),
			part(a, 1, 3, -1, 3, z, 3, 0, groupstate.Owner{Znode: "1", Value: m1 + "-1", Member: m1}),
			part(a, 2, -1, -1, -1, groupstate.SourceNone, 4, 4, groupstate.Owner{Znode: "2", Value: m2 + "-0", Member: m2}),
			part(b, 0, 1, -1, 1, z, 2, 1, groupstate.Owner{Znode: "0", Value: m2 + "-0", Member: m2}),
			part(b, 1, -1, -1, -1, groupstate.SourceNone, 0, 0),
		},
		Totals: groupstate.Totals{Members: 2, Partitions: 5, Owned: 4, Committed: 3, LogEnd: 14, Lag: 8},
	}
	if a > b { // partitions are sorted by topic name
		want.Partitions = append(want.Partitions[3:], want.Partitions[:3]...)
	}
	sameJSON(t, "status", st, want)

	// The log ends agree with what the harness reads.
	for _, topic := range []string{a, b} {
		ends, err := cl.LogEndOffsets(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range st.Partitions {
			if p.Topic == topic && ends[p.Partition] != p.LogEnd {
				t.Errorf("%s/%d: log end %d; harness says %d", topic, p.Partition, p.LogEnd, ends[p.Partition])
			}
		}
	}

	// Without a Kafka client: the same ZooKeeper view, Kafka unknown.
	zst, err := groupstate.Read(ctx, conn, nil, group)
	if err != nil {
		t.Fatal(err)
	}
	if len(zst.Partitions) != 5 || len(zst.Warnings) == 0 || zst.Totals.Committed != 3 {
		t.Errorf("zookeeper-only read: %+v", zst)
	}
	for _, p := range zst.Partitions {
		if p.LogEnd != -1 || p.Lag != -1 || p.KafkaOffset != -1 {
			t.Errorf("zookeeper-only read of %s/%d: %+v; want kafka fields -1", p.Topic, p.Partition, p)
		}
	}
}

func TestReadPykafkaGroup(t *testing.T) {
	shared.Get(t)
	ctx := testCtx(t, 180*time.Second)
	conn := dial(t, ctx)
	client := newClient(t)
	topic := topicWithMessages(t, ctx, 4, 4, 4)
	group := uniq(t, "g")
	g := "/consumers/" + group
	ma := "host-a:0b4d7c52-6f0e-4d3a-9a4e-1d2f3a4b5c6d"
	mb := "host-b:7e8f9a0b-1c2d-4e3f-8a5b-6c7d8e9f0a1b"
	gone := "host-c:00000000-0000-4000-8000-000000000000"
	put(t, ctx, conn, g+"/ids/"+ma, topic, true)
	put(t, ctx, conn, g+"/ids/"+mb, topic, true)
	put(t, ctx, conn, g+"/owners/"+topic+"/1-0", ma, true)
	put(t, ctx, conn, g+"/owners/"+topic+"/1-1", mb, true)
	put(t, ctx, conn, g+"/owners/"+topic+"/7-1", ma, true) // held under an old leader (pykafka #336)
	put(t, ctx, conn, g+"/owners/"+topic+"/1-2", gone, true)
	// pykafka on Python 3 writes owners/b'<t>' (pykafka #888); zkbalance
	// writes both: a mirror with the same name and value is listed once, a
	// znode only there is listed with its directory.
	put(t, ctx, conn, g+"/owners/b'"+topic+"'/1-0", ma, true)
	put(t, ctx, conn, g+"/owners/b'"+topic+"'/1-2", mb, true)
	commitKafka(t, ctx, client, group, topic, map[int32]int64{0: 4, 1: 1})

	st, err := groupstate.Read(ctx, conn, client, group)
	if err != nil {
		t.Fatal(err)
	}
	for i := range st.Members {
		st.Members[i].Created = time.Time{}
	}
	k := groupstate.SourceKafka
	want := &groupstate.Status{
		Group: group, Layout: groupstate.LayoutPykafka, Storage: groupstate.StorageKafka,
		Coordination: groupstate.CoordinationZooKeeper, InZooKeeper: true,
		// Known to Kafka through its committed offsets only.
		Kafka: &groupstate.KafkaGroup{State: "Empty", Members: []groupstate.KafkaMember{}},
		Members: []groupstate.Member{
			{ID: ma, Layout: groupstate.LayoutPykafka, Subscription: map[string]int{topic: 1}, Topics: []string{topic}},
			{ID: mb, Layout: groupstate.LayoutPykafka, Subscription: map[string]int{topic: 1}, Topics: []string{topic}},
		},
		Partitions: []groupstate.Partition{
			part(topic, 0, -1, 4, 4, k, 4, 0, groupstate.Owner{Znode: "1-0", Value: ma, Member: ma}),
			part(topic, 1, -1, 1, 1, k, 4, 3,
				groupstate.Owner{Znode: "1-1", Value: mb, Member: mb},
				groupstate.Owner{Znode: "7-1", Value: ma, Member: ma}),
			part(topic, 2, -1, -1, -1, groupstate.SourceNone, 4, 4, groupstate.Owner{Znode: "1-2", Value: gone, Member: ""},
				groupstate.Owner{Znode: "b'" + topic + "'/1-2", Value: mb, Member: mb}),
		},
		Totals: groupstate.Totals{Members: 2, Partitions: 3, Owned: 3, Committed: 2, LogEnd: 12, Lag: 7},
	}
	sameJSON(t, "status", st, want)
}

func TestReadMalformedAndVariants(t *testing.T) {
	cl := shared.Get(t)
	ctx := testCtx(t, 180*time.Second)
	conn := dial(t, ctx)
	client := newClient(t)
	topic := topicWithMessages(t, ctx, 1, 1)
	prefix := uniq(t, "wl")
	group := uniq(t, "g")
	g := "/consumers/" + group
	// A pattern subscription: the topics whose names start with the
	// unique prefix of this test.
	pt := prefix + "-x"
	if err := cl.CreateTopic(ctx, pt, 1, 1); err != nil {
		t.Fatal(err)
	}
	good := group + "_host-1-0000aaaa"
	wv := "gohost:3f2a1b0c-0d1e-4f2a-8b3c-4d5e6f7a8b9c" // wvanbergen port
	put(t, ctx, conn, g+"/ids/"+good, fmt.Sprintf(`{"version":1,"subscription":{%q:1},"pattern":"white_list","timestamp":"1700000000000"}`, prefix+".*"), true)
	put(t, ctx, conn, g+"/ids/"+wv, fmt.Sprintf(`{"version":1,"subscription":{%q:1},"pattern":"static","timestamp":1700000000}`, topic), true)
	put(t, ctx, conn, g+"/ids/bad-json", `{"version":1,"subscription":`, true)
	put(t, ctx, conn, g+"/ids/bad-topic", "not a topic!", true)
	put(t, ctx, conn, g+"/ids/empty", "", true)
	put(t, ctx, conn, g+"/owners/"+topic+"/0", wv, true)       // the port's owner value is the member id
	put(t, ctx, conn, g+"/owners/"+topic+"/x-y", "junk", true) // not an owner name
	put(t, ctx, conn, g+"/offsets/"+topic+"/0", "abc", false)
	put(t, ctx, conn, g+"/offsets/"+topic+"/1", "1", false)

	st, err := groupstate.Read(ctx, conn, client, group)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	t.Logf("warnings: %q", st.Warnings)
	for _, id := range []string{"bad-json", "bad-topic", "empty"} {
		m := findMember(t, st, id)
		if m.Layout != groupstate.LayoutUnknown || m.Error == "" || m.Subscription != nil || m.Topics != nil {
			t.Errorf("member %s: %+v; want layout unknown with an error", id, m)
		}
	}
	if m := findMember(t, st, "bad-json"); m.Raw != `{"version":1,"subscription":` {
		t.Errorf("bad-json raw = %q", m.Raw)
	}
	if m := findMember(t, st, "bad-topic"); m.Raw != "not a topic!" || !strings.Contains(m.Error, "neither JSON nor a topic name") {
		t.Errorf("bad-topic: %+v", m)
	}
	m := findMember(t, st, good)
	if m.Layout != groupstate.LayoutScala || m.Pattern != "white_list" || !slices.Equal(m.Topics, []string{pt}) {
		t.Errorf("pattern member: %+v; want topics [%s]", m, pt)
	}
	m = findMember(t, st, wv)
	if m.Layout != groupstate.LayoutScala || !m.Timestamp.Equal(time.Unix(1700000000, 0)) {
		t.Errorf("wvanbergen member: %+v", m)
	}
	if st.Layout != groupstate.LayoutScala || st.Totals.Members != 5 {
		t.Errorf("layout %s, %d members; want scala, 5", st.Layout, st.Totals.Members)
	}
	byName := map[string]groupstate.Partition{}
	for _, p := range st.Partitions {
		byName[fmt.Sprintf("%s/%d", p.Topic, p.Partition)] = p
	}
	if len(byName) != 3 {
		t.Errorf("partitions %v; want %s/0, %s/1, %s/0", byName, topic, topic, pt)
	}
	p0 := byName[topic+"/0"]
	if p0.ZooKeeperOffset != -1 || p0.Committed != -1 || !strings.Contains(p0.Error, `holds "abc", not a decimal number`) ||
		p0.Lag != 1 || len(p0.Owners) != 1 || p0.Owners[0].Member != wv {
		t.Errorf("%s/0: %+v", topic, p0)
	}
	if p1 := byName[topic+"/1"]; p1.ZooKeeperOffset != 1 || p1.Committed != 1 || p1.Lag != 0 || p1.Error != "" || len(p1.Owners) != 0 {
		t.Errorf("%s/1: %+v", topic, p1)
	}
	if pp := byName[pt+"/0"]; pp.Committed != -1 || pp.LogEnd != 0 || pp.Lag != 0 {
		t.Errorf("%s/0: %+v", pt, pp)
	}
	if st.Totals.Errors != 4 { // three members, one partition
		t.Errorf("totals %+v; want 4 errors", st.Totals)
	}
	if !slices.ContainsFunc(st.Warnings, func(w string) bool { return strings.Contains(w, "/x-y: not an owner znode name") }) {
		t.Errorf("warnings %q; want one about x-y", st.Warnings)
	}
}

func TestReadNoGroup(t *testing.T) {
	shared.Get(t)
	ctx := testCtx(t, 60*time.Second)
	conn := dial(t, ctx)
	_, err := groupstate.Read(ctx, conn, newClient(t), uniq(t, "missing"))
	if !errors.Is(err, groupstate.ErrNoGroup) {
		t.Fatalf("read of a missing group: %v; want ErrNoGroup", err)
	}
	t.Log(err)
	if _, err := groupstate.Read(ctx, conn, nil, "a/b"); err == nil || errors.Is(err, groupstate.ErrNoGroup) {
		t.Errorf("read of group a/b: %v; want an invalid-name error", err)
	}
}

func TestGroups(t *testing.T) {
	cl := shared.Get(t)
	ctx := testCtx(t, 60*time.Second)
	conn := dial(t, ctx)
	g1, g2 := uniq(t, "b"), uniq(t, "a")
	put(t, ctx, conn, "/consumers/"+g1+"/ids/m", "x", true)
	put(t, ctx, conn, "/consumers/"+g2, "", false)
	groups, err := groupstate.Groups(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(groups, g1) || !slices.Contains(groups, g2) || !slices.IsSorted(groups) {
		t.Errorf("groups %q; want sorted, with %s and %s", groups, g1, g2)
	}

	// No /consumers at all (a fresh chroot): no groups, no error.
	empty, err := zkwatch.Dial(ctx, zkwatch.Config{Servers: cl.ZooKeeperAddr() + "/" + uniq(t, "chroot")})
	if err != nil {
		t.Fatal(err)
	}
	defer empty.Close()
	groups, err = groupstate.Groups(ctx, empty)
	if err != nil || groups == nil || len(groups) != 0 {
		t.Errorf("groups without /consumers: %q, %v; want an empty list", groups, err)
	}
}
