package balanced_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/zkbalance/zkbalance/balanced"
	"github.com/zkbalance/zkbalance/internal/cluster"
	"github.com/zkbalance/zkbalance/partition"
	"github.com/zkbalance/zkbalance/zkwatch"
)

// ofsName is a group or topic name unique to this test (other tests share
// the cluster).
func ofsName(t *testing.T, kind string) string {
	n := strings.NewReplacer("/", "_", " ", "_", "#", "_").Replace(t.Name())
	return fmt.Sprintf("offsets-%s-%s-%d", kind, n, time.Now().UnixNano()%1e9)
}

// ofsDial opens a OneSession connection, as a member's session is; dialer
// may be nil.
func ofsDial(t *testing.T, ctx context.Context, dialer zkwatch.Dialer) *zkwatch.Conn {
	t.Helper()
	cl := shared.Get(t)
	conn, err := zkwatch.Dial(ctx, zkwatch.Config{
		Servers:    cl.ZooKeeperAddr(),
		OneSession: true,
		Dialer:     dialer,
		Logger:     testLogger(t, slog.LevelWarn),
	})
	if err != nil {
		t.Fatalf("dial zookeeper: %v", err)
	}
	t.Cleanup(conn.Close)
	return conn
}

// ofsOwn claims tp for the session of conn the way a member does: an
// ephemeral /consumers/<g>/owners/<t>/<p>, and returns its fence.
func ofsOwn(t *testing.T, ctx context.Context, conn *zkwatch.Conn, group string, tp partition.TopicPartition) balanced.Fence {
	t.Helper()
	dir := "/consumers/" + group + "/owners/" + tp.Topic
	if err := conn.EnsurePath(ctx, dir, nil); err != nil {
		t.Fatalf("ensure %s: %v", dir, err)
	}
	p := dir + "/" + strconv.Itoa(int(tp.Partition))
	if _, err := conn.Create(ctx, p, []byte(group+"_test-0"), zkwatch.FlagEphemeral, nil); err != nil {
		t.Fatalf("create owner %s: %v", p, err)
	}
	return balanced.Fence{Conn: conn, OwnerPath: p, OwnerVersion: 0}
}

func ofsOffsetPath(group string, tp partition.TopicPartition) string {
	return fmt.Sprintf("/consumers/%s/offsets/%s/%d", group, tp.Topic, tp.Partition)
}

// ofsRaw reads a znode through conn; ok is false when it does not exist.
func ofsRaw(t *testing.T, ctx context.Context, conn *zkwatch.Conn, p string) (string, *zkwatch.Stat, bool) {
	t.Helper()
	data, st, err := conn.Get(ctx, p)
	if errors.Is(err, zkwatch.ErrNoNode) {
		return "", nil, false
	}
	if err != nil {
		t.Fatalf("get %s: %v", p, err)
	}
	return string(data), st, true
}

func ofsWantFetch(t *testing.T, ctx context.Context, s balanced.OffsetStore, f balanced.Fence, tp partition.TopicPartition, want int64, wantOK bool) {
	t.Helper()
	got, ok, err := s.Fetch(ctx, f, tp)
	if err != nil {
		t.Fatalf("fetch %v: %v", tp, err)
	}
	if ok != wantOK || (ok && got != want) {
		t.Fatalf("fetch %v = %d, %v; want %d, %v", tp, got, ok, want, wantOK)
	}
}

func ofsCommit(t *testing.T, ctx context.Context, s balanced.OffsetStore, f balanced.Fence, tp partition.TopicPartition, off int64) {
	t.Helper()
	if err := s.Commit(ctx, f, tp, off); err != nil {
		t.Fatalf("commit %d to %v: %v", off, tp, err)
	}
}

func ofsWantNotOwner(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, balanced.ErrNotOwner) {
		t.Fatalf("err = %v; want one wrapping ErrNotOwner", err)
	}
}

func TestZooKeeperOffsetsRoundTrip(t *testing.T) {
	shared.Get(t)
	ctx := testCtx(t, 60*time.Second)
	group, topic := ofsName(t, "g"), ofsName(t, "t")
	conn := ofsDial(t, ctx, nil)
	obs := ofsDial(t, ctx, nil)
	s := balanced.NewZooKeeperOffsets(group)
	defer s.Close()

	tp0 := partition.TopicPartition{Topic: topic, Partition: 0}
	tp1 := partition.TopicPartition{Topic: topic, Partition: 1}
	f0 := ofsOwn(t, ctx, conn, group, tp0)
	f1 := ofsOwn(t, ctx, conn, group, tp1)

	ofsWantFetch(t, ctx, s, f0, tp0, 0, false)
	ofsCommit(t, ctx, s, f0, tp0, 42) // creates /consumers/<g>/offsets/<t> too
	ofsWantFetch(t, ctx, s, f0, tp0, 42, true)
	if v, _, _ := ofsRaw(t, ctx, obs, ofsOffsetPath(group, tp0)); v != "42" {
		t.Fatalf("offset znode holds %q; want \"42\" (Scala: decimal ASCII)", v)
	}
	ofsCommit(t, ctx, s, f0, tp0, 43) // sets the existing znode
	ofsWantFetch(t, ctx, s, f0, tp0, 43, true)
	if v, st, _ := ofsRaw(t, ctx, obs, ofsOffsetPath(group, tp0)); v != "43" || st.Version != 1 || st.EphemeralOwner != 0 {
		t.Fatalf("offset znode = %q (version %d, ephemeral owner %x); want \"43\", version 1, persistent", v, st.Version, st.EphemeralOwner)
	}

	// Partition 1: the parent exists now, the znode does not.
	ofsWantFetch(t, ctx, s, f1, tp1, 0, false)
	ofsCommit(t, ctx, s, f1, tp1, 0)
	ofsWantFetch(t, ctx, s, f1, tp1, 0, true)

	if err := s.Commit(ctx, f0, tp0, -1); !errors.Is(err, balanced.ErrBadOffset) {
		t.Fatalf("commit -1: err = %v; want ErrBadOffset", err)
	}
	ofsWantFetch(t, ctx, s, f0, tp0, 43, true)
}

// TestZooKeeperOffsetsConcurrentFirstCommit races first commits of one
// partition: the creates that lose (NodeExists on the create op) and the
// parent creations that collide must all end in a successful set.
func TestZooKeeperOffsetsConcurrentFirstCommit(t *testing.T) {
	shared.Get(t)
	ctx := testCtx(t, 60*time.Second)
	group, topic := ofsName(t, "g"), ofsName(t, "t")
	conn := ofsDial(t, ctx, nil)
	s := balanced.NewZooKeeperOffsets(group)
	for p := int32(0); p < 4; p++ {
		tp := partition.TopicPartition{Topic: topic, Partition: p}
		f := ofsOwn(t, ctx, conn, group, tp)
		const n = 8
		errs := make(chan error, n)
		for i := range n {
			go func() { errs <- s.Commit(ctx, f, tp, int64(100+i)) }()
		}
		for range n {
			if err := <-errs; err != nil {
				t.Fatalf("concurrent first commit of %v: %v", tp, err)
			}
		}
		got, ok, err := s.Fetch(ctx, f, tp)
		if err != nil || !ok || got < 100 || got >= 100+n {
			t.Fatalf("fetch %v = %d, %v, %v; want one of the committed offsets", tp, got, ok, err)
		}
	}
}

func TestZooKeeperOffsetsOwnerDeleted(t *testing.T) {
	shared.Get(t)
	ctx := testCtx(t, 60*time.Second)
	group, topic := ofsName(t, "g"), ofsName(t, "t")
	conn := ofsDial(t, ctx, nil)
	obs := ofsDial(t, ctx, nil)
	s := balanced.NewZooKeeperOffsets(group)
	tp := partition.TopicPartition{Topic: topic, Partition: 3}
	f := ofsOwn(t, ctx, conn, group, tp)
	ofsCommit(t, ctx, s, f, tp, 10)
	_, before, _ := ofsRaw(t, ctx, obs, ofsOffsetPath(group, tp))

	if err := conn.Delete(ctx, f.OwnerPath, 0); err != nil {
		t.Fatal(err)
	}
	err := s.Commit(ctx, f, tp, 11)
	ofsWantNotOwner(t, err)
	if !strings.Contains(err.Error(), f.OwnerPath) {
		t.Errorf("error %q does not name the owner znode", err)
	}
	v, after, _ := ofsRaw(t, ctx, obs, ofsOffsetPath(group, tp))
	if v != "10" || after.Mzxid != before.Mzxid || after.Version != before.Version {
		t.Fatalf("offset znode changed: %q version %d mzxid %d; was \"10\" version %d mzxid %d",
			v, after.Version, after.Mzxid, before.Version, before.Mzxid)
	}

	// A first commit of a partition whose owner is gone creates nothing, not
	// even the parents.
	other := partition.TopicPartition{Topic: ofsName(t, "t2"), Partition: 0}
	fo := ofsOwn(t, ctx, conn, group, other)
	if err := conn.Delete(ctx, fo.OwnerPath, -1); err != nil {
		t.Fatal(err)
	}
	ofsWantNotOwner(t, s.Commit(ctx, fo, other, 1))
	if _, _, ok := ofsRaw(t, ctx, obs, "/consumers/"+group+"/offsets/"+other.Topic); ok {
		t.Fatalf("a fenced first commit created /consumers/%s/offsets/%s", group, other.Topic)
	}

	// The owner znode is there but no longer has the claimed version
	// (BadVersion on the check op).
	tp2 := partition.TopicPartition{Topic: topic, Partition: 4}
	f2 := ofsOwn(t, ctx, conn, group, tp2)
	ofsCommit(t, ctx, s, f2, tp2, 20)
	if _, err := conn.Set(ctx, f2.OwnerPath, []byte("someone else"), 0); err != nil {
		t.Fatal(err)
	}
	ofsWantNotOwner(t, s.Commit(ctx, f2, tp2, 21))
	ofsWantFetch(t, ctx, s, f2, tp2, 20, true)
}

// TestZooKeeperOffsetsOwnerRecreatedByOtherSession documents what the
// commit's check cannot see: an owner znode deleted and re-created by
// another session has version 0 again, so the version check in the multi
// passes and a commit with the old fence is applied. Fence.Check (a read
// that compares the ephemeral owner) does catch it. The multi cannot compare
// the session, which is why a member must stop committing to a partition
// (last commit done, no commit in flight) before it deletes its own owner
// znode.
func TestZooKeeperOffsetsOwnerRecreatedByOtherSession(t *testing.T) {
	shared.Get(t)
	ctx := testCtx(t, 60*time.Second)
	group, topic := ofsName(t, "g"), ofsName(t, "t")
	a := ofsDial(t, ctx, nil)
	b := ofsDial(t, ctx, nil)
	s := balanced.NewZooKeeperOffsets(group)
	tp := partition.TopicPartition{Topic: topic, Partition: 0}

	fa := ofsOwn(t, ctx, a, group, tp)
	ofsCommit(t, ctx, s, fa, tp, 5)
	if err := fa.Check(ctx); err != nil {
		t.Fatalf("check of the live fence: %v", err)
	}

	// a releases the partition, b claims it.
	if err := a.Delete(ctx, fa.OwnerPath, 0); err != nil {
		t.Fatal(err)
	}
	fb := ofsOwn(t, ctx, b, group, tp)
	if fb.OwnerPath != fa.OwnerPath {
		t.Fatalf("owner paths differ: %s, %s", fa.OwnerPath, fb.OwnerPath)
	}

	// The stale fence's version check passes: the commit is applied.
	if err := s.Commit(ctx, fa, tp, 6); err != nil {
		t.Fatalf("stale fence commit: %v (the version check alone was expected to pass)", err)
	}
	ofsWantFetch(t, ctx, s, fb, tp, 6, true)

	// Fence.Check compares the session and refuses.
	ofsWantNotOwner(t, fa.Check(ctx))
	if err := fb.Check(ctx); err != nil {
		t.Fatalf("check of the new owner's fence: %v", err)
	}
}

func TestZooKeeperOffsetsSessionExpired(t *testing.T) {
	cl := shared.Get(t)
	ctx := testCtx(t, 90*time.Second)
	group, topic := ofsName(t, "g"), ofsName(t, "t")
	var sc cluster.SessionCapture
	conn := ofsDial(t, ctx, sc.Dialer)
	obs := ofsDial(t, ctx, nil)
	s := balanced.NewZooKeeperOffsets(group)
	tp := partition.TopicPartition{Topic: topic, Partition: 1}
	tpNew := partition.TopicPartition{Topic: topic, Partition: 2}
	f := ofsOwn(t, ctx, conn, group, tp)
	fNew := ofsOwn(t, ctx, conn, group, tpNew)
	ofsCommit(t, ctx, s, f, tp, 7)

	id, passwd := sc.Credentials()
	if id != conn.SessionID() {
		t.Fatalf("captured session 0x%x, conn has 0x%x", id, conn.SessionID())
	}
	if err := cl.ExpireSession(ctx, id, passwd); err != nil {
		t.Fatal(err)
	}

	// At once, before the Conn has necessarily noticed: the session is gone
	// on the server, so the commit must fail as not owned.
	err := s.Commit(ctx, f, tp, 8)
	ofsWantNotOwner(t, err)
	t.Logf("commit right after the expiry: %v", err)

	select {
	case <-conn.Done():
	case <-ctx.Done():
		t.Fatal("the OneSession conn did not end after its session expired")
	}
	err = s.Commit(ctx, f, tp, 9)
	ofsWantNotOwner(t, err)
	if !errors.Is(err, zkwatch.ErrSessionExpired) {
		t.Errorf("err = %v; want it to wrap zkwatch.ErrSessionExpired too", err)
	}
	ofsWantNotOwner(t, s.Commit(ctx, fNew, tpNew, 1))

	if v, _, _ := ofsRaw(t, ctx, obs, ofsOffsetPath(group, tp)); v != "7" {
		t.Fatalf("offset znode holds %q after fenced commits; want \"7\"", v)
	}
	if _, _, ok := ofsRaw(t, ctx, obs, ofsOffsetPath(group, tpNew)); ok {
		t.Fatal("a fenced first commit created the offset znode")
	}
	if _, _, ok := ofsRaw(t, ctx, obs, f.OwnerPath); ok {
		t.Fatal("the expired session's owner znode is still there")
	}
	// Fetch needs the fence's Conn, which has ended.
	if _, _, err := s.Fetch(ctx, f, tp); !errors.Is(err, zkwatch.ErrSessionExpired) {
		t.Errorf("fetch on the ended conn: err = %v; want zkwatch.ErrSessionExpired", err)
	}
}

func TestZooKeeperOffsetsMalformed(t *testing.T) {
	shared.Get(t)
	ctx := testCtx(t, 60*time.Second)
	group, topic := ofsName(t, "g"), ofsName(t, "t")
	conn := ofsDial(t, ctx, nil)
	s := balanced.NewZooKeeperOffsets(group)
	if err := conn.EnsurePath(ctx, "/consumers/"+group+"/offsets/"+topic, nil); err != nil {
		t.Fatal(err)
	}
	for i, tc := range []struct {
		value string
		want  int64 // -1: ErrBadOffset
	}{
		{"abc", -1},
		{"-5", -1},
		{"", -1},
		{"99999999999999999999", -1},
		{" 5", -1},
		{"5\n", -1},
		{"0", 0},
		{"9223372036854775807", 9223372036854775807},
	} {
		tp := partition.TopicPartition{Topic: topic, Partition: int32(i)}
		p := ofsOffsetPath(group, tp)
		if _, err := conn.Create(ctx, p, []byte(tc.value), 0, nil); err != nil {
			t.Fatal(err)
		}
		f := ofsOwn(t, ctx, conn, group, tp)
		off, ok, err := s.Fetch(ctx, f, tp)
		if tc.want < 0 {
			if !errors.Is(err, balanced.ErrBadOffset) || !strings.Contains(err.Error(), p) {
				t.Errorf("fetch of %q = %d, %v, %v; want ErrBadOffset naming %s", tc.value, off, ok, err, p)
				continue
			}
			t.Logf("%q: %v", tc.value, err)
			// A commit repairs it.
			ofsCommit(t, ctx, s, f, tp, 3)
			ofsWantFetch(t, ctx, s, f, tp, 3, true)
			continue
		}
		if err != nil || !ok || off != tc.want {
			t.Errorf("fetch of %q = %d, %v, %v; want %d", tc.value, off, ok, err, tc.want)
		}
	}
}

// ofsKafka returns a client of the test cluster and a topic with 2
// partitions.
func ofsKafka(t *testing.T, ctx context.Context) (sarama.Client, string) {
	t.Helper()
	cl := shared.Get(t)
	topic := ofsName(t, "t")
	if err := cl.CreateTopic(ctx, topic, 2, 1); err != nil {
		t.Fatal(err)
	}
	sc := sarama.NewConfig()
	sc.Version = sarama.V2_1_0_0
	sc.ClientID = "offsets-test"
	client, err := sarama.NewClient(cl.BrokerAddrs(), sc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close() })
	return client, topic
}

// ofsKafkaCommitted reads group's committed offsets through the admin API,
// independently of the store.
func ofsKafkaCommitted(t *testing.T, group, topic string) map[int32]int64 {
	t.Helper()
	cl := shared.Get(t)
	sc := sarama.NewConfig()
	sc.Version = sarama.V3_0_0_0
	admin, err := sarama.NewClusterAdmin(cl.BrokerAddrs(), sc)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	resp, err := admin.ListConsumerGroupOffsets(group, map[string][]int32{topic: {0, 1}})
	if err != nil {
		t.Fatal(err)
	}
	out := map[int32]int64{}
	for p := int32(0); p < 2; p++ {
		if b := resp.GetBlock(topic, p); b != nil && b.Offset >= 0 {
			out[p] = b.Offset
		}
	}
	return out
}

func TestKafkaOffsetsRoundTrip(t *testing.T) {
	shared.Get(t)
	ctx := testCtx(t, 120*time.Second)
	client, topic := ofsKafka(t, ctx)
	group := ofsName(t, "g")
	conn := ofsDial(t, ctx, nil)
	s := balanced.NewKafkaOffsets(client, group)
	tp0 := partition.TopicPartition{Topic: topic, Partition: 0}
	tp1 := partition.TopicPartition{Topic: topic, Partition: 1}
	f0 := ofsOwn(t, ctx, conn, group, tp0)

	ofsWantFetch(t, ctx, s, f0, tp0, 0, false)
	ofsCommit(t, ctx, s, f0, tp0, 42)
	ofsWantFetch(t, ctx, s, f0, tp0, 42, true)
	ofsCommit(t, ctx, s, f0, tp0, 43)
	ofsWantFetch(t, ctx, s, f0, tp0, 43, true)
	ofsWantFetch(t, ctx, s, f0, tp1, 0, false)
	if got := ofsKafkaCommitted(t, group, topic); len(got) != 1 || got[0] != 43 {
		t.Fatalf("admin sees %v; want map[0:43]", got)
	}
	// Nothing in ZooKeeper.
	if _, _, ok := ofsRaw(t, ctx, conn, "/consumers/"+group+"/offsets"); ok {
		t.Fatal("the kafka store wrote offsets to zookeeper")
	}

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if client.Closed() {
		t.Fatal("Close closed the shared client")
	}
}

func TestKafkaOffsetsNotOwner(t *testing.T) {
	shared.Get(t)
	ctx := testCtx(t, 120*time.Second)
	client, topic := ofsKafka(t, ctx)
	group := ofsName(t, "g")
	conn := ofsDial(t, ctx, nil)
	s := balanced.NewKafkaOffsets(client, group)
	tp := partition.TopicPartition{Topic: topic, Partition: 1}
	f := ofsOwn(t, ctx, conn, group, tp)
	ofsCommit(t, ctx, s, f, tp, 5)

	if err := conn.Delete(ctx, f.OwnerPath, 0); err != nil {
		t.Fatal(err)
	}
	ofsWantNotOwner(t, s.Commit(ctx, f, tp, 6))
	ofsWantFetch(t, ctx, s, f, tp, 5, true)
	if got := ofsKafkaCommitted(t, group, topic); got[1] != 5 {
		t.Fatalf("admin sees %v; want partition 1 at 5", got)
	}

	// A fence of an ended session.
	conn.Close()
	err := s.Commit(ctx, f, tp, 7)
	ofsWantNotOwner(t, err)
	ofsWantFetch(t, ctx, s, f, tp, 5, true)
}

func TestDualOffsets(t *testing.T) {
	shared.Get(t)
	ctx := testCtx(t, 120*time.Second)
	client, topic := ofsKafka(t, ctx)
	group := ofsName(t, "g")
	conn := ofsDial(t, ctx, nil)
	zs := balanced.NewZooKeeperOffsets(group)
	ks := balanced.NewKafkaOffsets(client, group)
	ds := balanced.NewDualOffsets(zs, ks)
	tp0 := partition.TopicPartition{Topic: topic, Partition: 0}
	tp1 := partition.TopicPartition{Topic: topic, Partition: 1}
	f0 := ofsOwn(t, ctx, conn, group, tp0)
	f1 := ofsOwn(t, ctx, conn, group, tp1)

	ofsWantFetch(t, ctx, ds, f0, tp0, 0, false)
	ofsCommit(t, ctx, ds, f0, tp0, 10)
	ofsWantFetch(t, ctx, zs, f0, tp0, 10, true)
	ofsWantFetch(t, ctx, ks, f0, tp0, 10, true)
	ofsWantFetch(t, ctx, ds, f0, tp0, 10, true)

	// The higher wins, whichever store holds it.
	ofsCommit(t, ctx, ks, f0, tp0, 20)
	ofsWantFetch(t, ctx, ds, f0, tp0, 20, true)
	ofsCommit(t, ctx, zs, f0, tp0, 30)
	ofsWantFetch(t, ctx, ds, f0, tp0, 30, true)

	// Only one store holds an offset.
	ofsCommit(t, ctx, ks, f1, tp1, 7)
	ofsWantFetch(t, ctx, zs, f1, tp1, 0, false)
	ofsWantFetch(t, ctx, ds, f1, tp1, 7, true)

	// Fenced: neither store is written.
	if err := conn.Delete(ctx, f0.OwnerPath, 0); err != nil {
		t.Fatal(err)
	}
	ofsWantNotOwner(t, ds.Commit(ctx, f0, tp0, 40))
	ofsWantFetch(t, ctx, zs, f0, tp0, 30, true)
	ofsWantFetch(t, ctx, ks, f0, tp0, 20, true)

	// A malformed ZooKeeper offset is reported, not ignored.
	if _, err := conn.Set(ctx, ofsOffsetPath(group, tp0), []byte("x"), -1); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ds.Fetch(ctx, f0, tp0); !errors.Is(err, balanced.ErrBadOffset) {
		t.Fatalf("dual fetch over a malformed znode: err = %v; want ErrBadOffset", err)
	}

	if err := ds.Close(); err != nil {
		t.Fatal(err)
	}
	if client.Closed() {
		t.Fatal("Close closed the shared client")
	}
}
