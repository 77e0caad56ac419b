package pykafka_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zkbalance/zkbalance/balanced"
	"github.com/zkbalance/zkbalance/partition"
	"github.com/zkbalance/zkbalance/scenario"
	"github.com/zkbalance/zkbalance/zkwatch"
)

// holdings is who works on each partition, as the test sees it: a
// zkbalance handler from its start to its return, a fake Scala member from
// its owner znode's creation to just before its deletion. Two at once is
// an overlap.
type holdings struct {
	mu       sync.Mutex
	by       map[int32]string
	overlaps []string
}

func (h *holdings) acquire(who string, p int32) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.by == nil {
		h.by = map[int32]string{}
	}
	if o, ok := h.by[p]; ok && o != who {
		h.overlaps = append(h.overlaps, fmt.Sprintf("partition %d: %s while %s", p, who, o))
	}
	h.by[p] = who
}

func (h *holdings) release(who string, p int32) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.by[p] == who {
		delete(h.by, p)
	}
}

func (h *holdings) overlapped() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.overlaps)
}

// tracked wraps a handler so that h sees when it works on a partition.
func tracked(h *holdings, who string, inner balanced.Handler) balanced.Handler {
	return balanced.HandlerFunc(func(ctx context.Context, c *balanced.Claim) error {
		p := c.TopicPartition().Partition
		h.acquire(who, p)
		defer h.release(who, p)
		return inner.Consume(ctx, c)
	})
}

// fakeScala is a Scala high-level consumer member written by the test, in a
// ZooKeeper session of its own: its registration (the Scala JSON, streams
// consumer threads on one topic) and, as its rebalance would, its owner
// znodes /owners/<t>/<p> holding thread ids "<id>-<n>". Closing the session
// removes them, as a stopped Scala consumer's go.
type fakeScala struct {
	id, group, topic string
	streams          int
	conn             *zkwatch.Conn
	held             map[int32]string // partition -> the thread id it was claimed for
}

func newFakeScala(t *testing.T, ctx context.Context, group, topic, host string, streams int) *fakeScala {
	t.Helper()
	cl := shared.Get(t)
	conn, err := zkwatch.Dial(ctx, zkwatch.Config{Servers: cl.KafkaZooKeeperConnect(),
		SessionTimeout: 10 * time.Second, Logger: slog.New(slog.DiscardHandler), OneSession: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Close)
	now := time.Now()
	f := &fakeScala{id: fmt.Sprintf("%s_%s-%d-%08x", group, host, now.UnixMilli(), uint32(now.UnixNano())),
		group: group, topic: topic, streams: streams, conn: conn, held: map[int32]string{}}
	reg, err := json.Marshal(map[string]any{"version": 1, "subscription": map[string]int{topic: streams},
		"pattern": "static", "timestamp": strconv.FormatInt(now.UnixMilli(), 10)})
	if err != nil {
		t.Fatal(err)
	}
	ids := "/consumers/" + group + "/ids"
	if err := conn.EnsurePath(ctx, ids, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Create(ctx, ids+"/"+f.id, reg, zkwatch.FlagEphemeral, nil); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fakeScala) ID() string { return f.id }

// release deletes every owner znode it holds, as a Scala consumer does at
// the start of each rebalance.
func (f *fakeScala) release(ctx context.Context, h *holdings) error {
	for p := range f.held {
		h.release(f.id, p)
		if err := f.conn.Delete(ctx, f.ownerPath(p), -1); err != nil && !errors.Is(err, zkwatch.ErrNoNode) {
			return err
		}
		delete(f.held, p)
	}
	return nil
}

// claim creates the owner znodes of its share of want (partition -> thread
// id), retrying every 50ms while another member still holds one.
func (f *fakeScala) claim(ctx context.Context, h *holdings, want map[int32]string) error {
	if err := f.conn.EnsurePath(ctx, "/consumers/"+f.group+"/owners/"+f.topic, nil); err != nil {
		return err
	}
	for _, p := range slices.Sorted(maps.Keys(want)) {
		if m, _, _ := partition.SplitThreadID(want[p]); m != f.id {
			continue
		}
		for {
			_, err := f.conn.Create(ctx, f.ownerPath(p), []byte(want[p]), zkwatch.FlagEphemeral, nil)
			if err == nil {
				break
			}
			if !errors.Is(err, zkwatch.ErrNodeExists) {
				return err
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("%s: partition %d still owned: %w", f.id, p, context.Cause(ctx))
			case <-time.After(50 * time.Millisecond):
			}
		}
		f.held[p] = want[p]
		h.acquire(f.id, p)
	}
	return nil
}

func (f *fakeScala) ownerPath(p int32) string {
	return fmt.Sprintf("/consumers/%s/owners/%s/%d", f.group, f.topic, p)
}

// scalaRange is scala-range's answer for the group's current registrations
// (all subscribed to topic, with their stream counts): partition -> thread id.
func scalaRange(ctx context.Context, conn *zkwatch.Conn, group, topic string, n int32) (map[int32]string, error) {
	ids, err := readIDs(ctx, conn, group)
	if err != nil {
		return nil, err
	}
	in := partition.Input{Topics: partition.Topics{topic: {}}}
	for p := range n {
		in.Topics[topic][p] = -1
	}
	for _, id := range slices.Sorted(maps.Keys(ids)) {
		var reg struct {
			Subscription map[string]int `json:"subscription"`
		}
		if err := json.Unmarshal([]byte(ids[id]), &reg); err != nil {
			return nil, fmt.Errorf("registration of %s: %w", id, err)
		}
		in.Members = append(in.Members, partition.Member{ID: id, Subscription: reg.Subscription})
	}
	return assignOne(partition.ScalaRange, in)
}

// checkScalaGroup checks a Scala-layout group: the registrations are the
// members'; every partition has exactly one owner znode "<p>" under
// owners/<t>, holding the thread id scala-range chooses; nothing under
// owners/b'<t>'; each zkbalance member's handlers run on exactly its share.
func checkScalaGroup(ctx context.Context, conn *zkwatch.Conn, group, topic string, n int32, zbs []*zbMember, fakes []*fakeScala) error {
	ids, err := readIDs(ctx, conn, group)
	if err != nil {
		return err
	}
	var want []string
	for _, m := range zbs {
		if err := m.exited(); err != nil {
			return err
		}
		want = append(want, m.ID())
	}
	for _, f := range fakes {
		want = append(want, f.id)
	}
	slices.Sort(want)
	if got := slices.Sorted(maps.Keys(ids)); !slices.Equal(got, want) {
		return fmt.Errorf("registrations %v, want %v", got, want)
	}
	asg, err := scalaRange(ctx, conn, group, topic, n)
	if err != nil {
		return err
	}
	owners, err := readOwners(ctx, conn, group, topic)
	if err != nil {
		return err
	}
	for p := range n {
		zs := owners[p]
		if len(zs) != 1 || zs[0] != (ownerZnode{Dir: topic, Name: strconv.Itoa(int(p)), Holder: asg[p]}) {
			return fmt.Errorf("partition %d: owner znodes %v, want %s/%d = %s", p, zs, topic, p, asg[p])
		}
	}
	if len(owners) != int(n) {
		return fmt.Errorf("owner znodes %v: partitions beyond %d", owners, n)
	}
	for _, m := range zbs {
		var share []int32
		for p, o := range asg {
			if o == partition.ThreadID(m.ID(), 0) {
				share = append(share, p)
			}
		}
		slices.Sort(share)
		if got, _ := m.parts(); !slices.Equal(got, share) {
			return fmt.Errorf("%s runs handlers for %v, want %v", m, got, share)
		}
	}
	return nil
}

// TestMixedGroupScala is S8 with the Scala layout: zkbalance members
// (scala-range, in-process) join a group whose other members the test
// writes as the Scala high-level consumer would (JSON registrations, one
// with two consumer threads, owner znodes "<p>" holding thread ids), and
// members of both kinds join and leave. The test acts as the Scala members'
// rebalance after each change: release everything, then claim its
// scala-range share, waiting while a zkbalance member still holds a
// partition. After each change zkbalance holds exactly its scala-range
// share (owner znodes and running handlers), never a partition a fake
// member holds (checked continuously), and writes nothing under
// owners/b'<t>'. At the end the last zkbalance member has processed every
// message (lost 0) and committed the log end to ZooKeeper.
func TestMixedGroupScala(t *testing.T) {
	cl := shared.Get(t)
	t.Parallel()
	ctx := testCtx(t, 3*time.Minute)
	const parts = 8
	topic, group := "s8-scala", "g-s8-scala"
	if err := cl.CreateTopic(ctx, topic, parts, 1); err != nil {
		t.Fatal(err)
	}
	produce(t, ctx, topic, parts, 200)
	conn := dialZK(t, ctx)
	var (
		zlog  scenario.Log
		h     holdings
		zbs   []*zbMember
		fakes []*fakeScala
		steps []string
	)
	cfg := balanced.Config{Group: group, Topics: []string{topic}, Assignor: partition.ScalaRange}
	joinZB := func(name string) *zbMember {
		m := startZB(t, name, cfg, tracked(&h, name, scenario.Recorder(&zlog, name, 0)))
		zbs = append(zbs, m)
		return m
	}
	// waitIDs waits until the registrations are those of zbs and fakes.
	waitIDs := func() {
		t.Helper()
		var want []string
		for _, m := range zbs {
			want = append(want, m.ID())
		}
		for _, f := range fakes {
			want = append(want, f.id)
		}
		slices.Sort(want)
		waitFor(t, ctx, 30*time.Second, "registrations", func() error {
			ids, err := readIDs(ctx, conn, group)
			if got := slices.Sorted(maps.Keys(ids)); err != nil || !slices.Equal(got, want) {
				return fmt.Errorf("registrations %v (%v), want %v", got, err, want)
			}
			return nil
		})
	}
	// change: the fake members' rebalance after a membership change, then
	// the wait for the whole group.
	change := func(what string) {
		t.Helper()
		start := time.Now()
		waitIDs()
		asg, err := scalaRange(ctx, conn, group, topic, parts)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range fakes {
			if err := f.release(ctx, &h); err != nil {
				t.Fatal(err)
			}
		}
		cctx, cancel := context.WithTimeout(ctx, stepBound)
		defer cancel()
		for _, f := range fakes {
			if err := f.claim(cctx, &h, asg); err != nil {
				t.Fatal(err)
			}
		}
		waitFor(t, ctx, stepBound, "after "+what, func() error {
			return checkScalaGroup(ctx, conn, group, topic, parts, zbs, fakes)
		})
		took := time.Since(start)
		steps = append(steps, fmt.Sprintf("%s %s", what, took.Round(time.Millisecond)))
		t.Logf("%s: converged in %s: %v", what, took.Round(time.Millisecond), asg)
		if o := h.overlapped(); len(o) > 0 {
			t.Fatalf("after %s: overlaps %v", what, o)
		}
	}
	leaveFake := func(f *fakeScala) {
		h.mu.Lock()
		for p := range f.held {
			if h.by[p] == f.id {
				delete(h.by, p)
			}
		}
		h.mu.Unlock()
		f.conn.Close() // its session ends: registration and owner znodes go
		fakes = slices.DeleteFunc(fakes, func(x *fakeScala) bool { return x == f })
	}
	leaveZB := func(m *zbMember) {
		if err := m.stop(); err != nil {
			t.Fatal(err)
		}
		zbs = slices.DeleteFunc(zbs, func(x *zbMember) bool { return x == m })
	}

	s1 := newFakeScala(t, ctx, group, topic, "scala-host-1", 2)
	fakes = append(fakes, s1)
	change("Scala S1 (2 threads) joined")
	a := joinZB("zA")
	change("zkbalance A joined")
	fakes = append(fakes, newFakeScala(t, ctx, group, topic, "scala-host-2", 1))
	s2 := fakes[len(fakes)-1]
	change("Scala S2 joined")
	joinZB("zB")
	change("zkbalance B joined")
	leaveFake(s1)
	change("Scala S1 left")
	leaveZB(a)
	change("zkbalance A left")
	leaveFake(s2)
	change("Scala S2 left")

	an := waitProcessed(t, ctx, time.Minute, topic, &zlog)
	end, err := cl.LogEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, 30*time.Second, "offsets committed to ZooKeeper", func() error {
		for p, e := range end {
			data, _, err := conn.Get(ctx, fmt.Sprintf("/consumers/%s/offsets/%s/%d", group, topic, p))
			if err != nil || strings.TrimSpace(string(data)) != strconv.FormatInt(e, 10) {
				return fmt.Errorf("offset of partition %d: %q (%v), want %d", p, data, err, e)
			}
		}
		return nil
	})
	result(t, "S8 Scala layout, zkbalance (scala-range) + test-written Scala members (2 threads and 1), %d partitions: %d joins/leaves, zkbalance held exactly its share each time, overlaps %d: %s; %s; ZooKeeper offsets = log end",
		parts, len(steps), len(h.overlapped()), strings.Join(steps, ", "), an)
}
