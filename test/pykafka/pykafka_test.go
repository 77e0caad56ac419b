package pykafka_test

import (
	"context"
	"flag"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zkbalance/zkbalance/internal/zk"

	"github.com/zkbalance/zkbalance/internal/cluster"
	"github.com/zkbalance/zkbalance/internal/pykafka"
)

// shared is the package's real ZooKeeper + two Kafka brokers: topics with
// replication factor 1 spread their partition leaders over both (so
// pykafka's partition order, which sorts by leader, matters), and a leader
// can move (TestLegacyLeaderChange).
var shared = cluster.NewShared(cluster.Config{Brokers: 2})

func TestMain(m *testing.M) {
	flag.Parse()
	// Much of the time here is spent waiting on pykafka's own timers
	// (rebalance backoffs, consumer timeouts) rather than on the CPU, so
	// up to 4 parallel tests run at once instead of GOMAXPROCS, unless
	// -test.parallel is given.
	given := false
	flag.Visit(func(f *flag.Flag) { given = given || f.Name == "test.parallel" })
	if !given {
		_ = flag.Set("test.parallel", "4")
	}
	shared.Main(m)
}

func testCtx(t testing.TB, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// venv returns the interpreter of the pykafka version's venv; the first
// creation on a machine downloads from PyPI, so its timeout is generous.
var venvs sync.Map // version -> *venvResult

type venvResult struct {
	once   sync.Once
	python string
	err    error
	took   time.Duration
}

func venv(t *testing.T, version string) string {
	t.Helper()
	v, _ := venvs.LoadOrStore(version, &venvResult{})
	r := v.(*venvResult)
	r.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
		defer cancel()
		start := time.Now()
		r.python, r.err = pykafka.Venv(ctx, version)
		r.took = time.Since(start)
		if r.err == nil {
			t.Logf("pykafka %s venv: %s (ready in %s)", version, r.python, r.took.Round(time.Millisecond))
		}
	})
	if r.err != nil {
		t.Fatalf("venv for pykafka %s: %v", version, r.err)
	}
	return r.python
}

// start runs a pykafka member and makes sure it is gone at the test's end;
// on failure its stderr tail is logged.
func start(t *testing.T, ctx context.Context, python string, args pykafka.MemberArgs) *pykafka.Member {
	t.Helper()
	cl := shared.Get(t)
	if args.ZooKeeper == "" {
		args.ZooKeeper = cl.KafkaZooKeeperConnect()
	}
	if args.Brokers == nil {
		args.Brokers = cl.BrokerAddrs()
	}
	m, err := pykafka.Start(ctx, python, args)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = m.Kill()
		if t.Failed() {
			t.Logf("%s stderr tail:\n%s", m, m.Stderr(60))
		}
	})
	return m
}

// produce writes n messages round-robin to the topic's partitions and
// returns the value written at each (partition, offset).
func produce(t *testing.T, ctx context.Context, topic string, partitions int32, n int) map[[2]int64]string {
	t.Helper()
	cl := shared.Get(t)
	msgs := make([]cluster.Message, n)
	for i := range msgs {
		msgs[i] = cluster.Message{Partition: int32(i) % partitions, Value: []byte(topic + "-" + strconv.Itoa(i))}
	}
	offs, err := cl.Produce(ctx, topic, msgs)
	if err != nil {
		t.Fatal(err)
	}
	want := map[[2]int64]string{}
	for i, m := range msgs {
		want[[2]int64{int64(m.Partition), offs[i]}] = string(m.Value)
	}
	return want
}

// checkErrors fails on error events other than pykafka's known benign
// ReferenceError (an old fetcher thread after its consumer was replaced).
func checkErrors(t *testing.T, ms ...*pykafka.Member) {
	t.Helper()
	for _, m := range ms {
		for _, e := range m.Errors() {
			if e.Name == "ReferenceError" {
				t.Logf("%s: benign: %s", m, e.Line)
				continue
			}
			t.Errorf("%s: %s", m, e.Line)
		}
	}
}

// waitCommitted waits until the group's committed offsets equal the log end offsets.
func waitCommitted(t *testing.T, ctx context.Context, group, topic string, partitions int32) {
	t.Helper()
	cl := shared.Get(t)
	end, err := cl.LogEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	var got map[int32]int64
	for {
		got, err = cl.CommittedOffsets(ctx, group, topic, partitions)
		if err == nil && maps.Equal(got, end) {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("committed offsets of %s/%s: %v (err %v), want the log end %v", group, topic, got, err, end)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// owners reads the owner znodes under path (below the chroot, e.g.
// /consumers/<g>/owners/<t>): partition -> (znode name, owner id).
func owners(cl *cluster.Cluster, conn *zk.Conn, path string) (map[int32][2]string, error) {
	dir := cl.Chroot() + path
	kids, _, err := conn.Children(dir)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	out := map[int32][2]string{}
	for _, k := range kids {
		_, ps, ok := strings.Cut(k, "-")
		p, err := strconv.ParseInt(ps, 10, 32)
		if !ok || err != nil {
			return nil, fmt.Errorf("owner znode %s/%s: name is not <leader>-<partition>", dir, k)
		}
		if prev, dup := out[int32(p)]; dup {
			return nil, fmt.Errorf("partition %d owned twice: %s and %s", p, prev[0], k)
		}
		v, _, err := conn.Get(dir + "/" + k)
		if err != nil {
			return nil, fmt.Errorf("%s/%s: %w", dir, k, err)
		}
		out[int32(p)] = [2]string{k, string(v)}
	}
	return out, nil
}

// ids reads /consumers/<g>/ids: member id -> value (the topic name).
func ids(cl *cluster.Cluster, conn *zk.Conn, group string) (map[string]string, error) {
	dir := fmt.Sprintf("%s/consumers/%s/ids", cl.Chroot(), group)
	kids, _, err := conn.Children(dir)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	out := map[string]string{}
	for _, k := range kids {
		v, _, err := conn.Get(dir + "/" + k)
		if err != nil {
			return nil, fmt.Errorf("%s/%s: %w", dir, k, err)
		}
		out[k] = string(v)
	}
	return out, nil
}

// waitZK polls check until it returns nil or ctx is done.
func waitZK(t *testing.T, ctx context.Context, what string, check func() error) {
	t.Helper()
	var err error
	for {
		if err = check(); err == nil {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: %v", what, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// waitGone waits until the group has no member ids and no owner znodes under ownersPath.
func waitGone(t *testing.T, ctx context.Context, conn *zk.Conn, group, ownersPath string) {
	t.Helper()
	cl := shared.Get(t)
	waitZK(t, ctx, "znodes of the stopped members", func() error {
		i, err := ids(cl, conn, group)
		if err != nil {
			return err
		}
		o, err := owners(cl, conn, ownersPath)
		if err != nil {
			return err
		}
		if len(i) > 0 || len(o) > 0 {
			return fmt.Errorf("ids %v, owners %v left", i, o)
		}
		return nil
	})
}

func sorted(ps []int32) []int32 {
	ps = slices.Clone(ps)
	slices.Sort(ps)
	return ps
}

// py3OwnersPath is where pykafka on Python 3 puts its owner znodes: it
// formats the topic name, a bytes object, into the path (pykafka #888).
func py3OwnersPath(group, topic string) string {
	return fmt.Sprintf("/consumers/%s/owners/b'%s'", group, topic)
}

// TestOneMemberConsumesAll: one pykafka member, of each tested version, run
// as it is on Python 3, consumes every message of a 4-partition topic
// exactly once, commits the log end to Kafka, registers under ids/ with the
// raw topic name, claims all partitions as <leader>-<p> under owners/b'<t>'
// (not owners/<t>), and leaves no znodes when stopped.
func TestOneMemberConsumesAll(t *testing.T) {
	cl := shared.Get(t)
	for _, version := range []string{pykafka.V28, pykafka.V26} {
		t.Run(version, func(t *testing.T) {
			t.Parallel()
			python := venv(t, version)
			ctx := testCtx(t, 2*time.Minute)
			const parts, n = 4, 200
			topic := "all-" + strings.ReplaceAll(version, ".", "")
			group := "g-" + topic
			if err := cl.CreateTopic(ctx, topic, parts, 1); err != nil {
				t.Fatal(err)
			}
			want := produce(t, ctx, topic, parts, n)

			m := start(t, ctx, python, pykafka.MemberArgs{Topic: topic, Group: group, Name: "solo"})
			if m.Version() != version {
				t.Fatalf("member runs pykafka %s, want %s", m.Version(), version)
			}
			if got, want := m.OwnersPath(), py3OwnersPath(group, topic); got != want {
				t.Errorf("owners path %q, want %q", got, want)
			}
			if err := m.WaitMessages(ctx, n); err != nil {
				t.Fatalf("%s: %v; got %d messages", m, err, len(m.Messages()))
			}
			waitCommitted(t, ctx, group, topic, parts)
			if o, _ := m.Owned(); !slices.Equal(sorted(o), []int32{0, 1, 2, 3}) {
				t.Errorf("owned %v, want all 4 partitions", o)
			}

			conn, err := cl.DialZooKeeper(ctx, 10*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			o, err := owners(cl, conn, m.OwnersPath())
			if err != nil {
				t.Fatal(err)
			}
			leaders := topicLeaders(t, ctx, topic)
			for p := int32(0); p < parts; p++ {
				if o[p] != [2]string{fmt.Sprintf("%d-%d", leaders[p], p), m.ID()} {
					t.Errorf("owner znode of partition %d: %v, want %d-%d = %s", p, o[p], leaders[p], p, m.ID())
				}
			}
			py2Path := cl.Chroot() + fmt.Sprintf("/consumers/%s/owners/%s", group, topic)
			if ok, _, err := conn.Exists(py2Path); err != nil || ok {
				t.Errorf("%s exists (%v): pykafka on Python 3 was expected to write only %s", py2Path, err, m.OwnersPath())
			}
			if i, err := ids(cl, conn, group); err != nil || !maps.Equal(i, map[string]string{m.ID(): topic}) {
				t.Errorf("ids: %v (%v), want %s = %s", i, err, m.ID(), topic)
			}

			if err := m.Stop(); err != nil {
				t.Fatal(err)
			}
			seen := map[[2]int64]int{}
			for _, e := range m.Messages() {
				k := [2]int64{int64(e.Partition), e.Offset}
				seen[k]++
				if e.Topic != topic || e.MemberID != m.ID() {
					t.Errorf("message %q: topic/member differ from %s/%s", e.Line, topic, m.ID())
				}
				if w, ok := want[k]; !ok || string(e.Value) != w {
					t.Errorf("message %d/%d = %q, want %q (produced: %v)", e.Partition, e.Offset, e.Value, w, ok)
				}
			}
			for k := range want {
				if seen[k] != 1 {
					t.Errorf("partition %d offset %d consumed %d times, want once", k[0], k[1], seen[k])
				}
			}
			if len(seen) != len(want) {
				t.Errorf("consumed %d distinct messages, want %d", len(seen), len(want))
			}
			evs := m.Events()
			if evs[len(evs)-1].Kind != pykafka.EventStopped {
				t.Errorf("last event %q, want stopped", evs[len(evs)-1].Line)
			}
			checkErrors(t, m)
			waitGone(t, ctx, conn, group, m.OwnersPath())
		})
	}
}

// TestTwoMembersSplit: two pykafka 2.8.0 members split 4 partitions
// disjointly and completely (pykafka's range protocol: the member whose id
// sorts first takes the first two in the order of "<t>-<leader>-<p>"),
// their owner znodes <leader>-<p> say so, together
// they consume every message and commit the log end; when one stops the
// other takes all. Once with owner znodes under owners/<t> (Python 2
// layout, Py2OwnerPath) and once as pykafka is on Python 3 (owners/b'<t>').
func TestTwoMembersSplit(t *testing.T) {
	shared.Get(t)
	for _, py2 := range []bool{true, false} {
		name := map[bool]string{true: "py2-owner-path", false: "py3-owner-path"}[py2]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			testTwoMembersSplit(t, py2)
		})
	}
}

func testTwoMembersSplit(t *testing.T, py2 bool) {
	cl := shared.Get(t)
	python := venv(t, pykafka.V28)
	ctx := testCtx(t, 2*time.Minute)
	const parts, n = 4, 200
	topic := map[bool]string{true: "split-py2", false: "split-py3"}[py2]
	group := "g-" + topic
	ownersPath := py3OwnersPath(group, topic)
	if py2 {
		ownersPath = fmt.Sprintf("/consumers/%s/owners/%s", group, topic)
	}
	if err := cl.CreateTopic(ctx, topic, parts, 1); err != nil {
		t.Fatal(err)
	}
	want := produce(t, ctx, topic, parts, n)
	conn, err := cl.DialZooKeeper(ctx, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	all := func(ps []int32) bool { return slices.Equal(sorted(ps), []int32{0, 1, 2, 3}) }
	// Slow members, so that messages are left when B joins.
	args := pykafka.MemberArgs{Topic: topic, Group: group, Delay: 20 * time.Millisecond, Py2OwnerPath: py2}
	args.Name = "A"
	a := start(t, ctx, python, args)
	if a.OwnersPath() != ownersPath {
		t.Fatalf("%s: owners path %q, want %q", a, a.OwnersPath(), ownersPath)
	}
	if err := a.WaitOwned(ctx, all); err != nil {
		t.Fatalf("%s: %v", a, err)
	}
	args.Name = "B"
	b := start(t, ctx, python, args)

	leaders := topicLeaders(t, ctx, topic)
	asg, err := pykafkaRange(topic, []string{a.ID(), b.ID()}, leaders)
	if err != nil {
		t.Fatal(err)
	}
	wantOwned := sharesOf(asg)
	for _, m := range []*pykafka.Member{a, b} {
		if err := m.WaitOwned(ctx, func(ps []int32) bool { return slices.Equal(sorted(ps), wantOwned[m.ID()]) }); err != nil {
			o, _ := m.Owned()
			t.Fatalf("%s: %v; owns %v, want %v", m, err, o, wantOwned[m.ID()])
		}
	}
	waitZK(t, ctx, "owner znodes of the split", func() error {
		o, err := owners(cl, conn, ownersPath)
		if err != nil {
			return err
		}
		got := map[string][]int32{}
		for p, nv := range o {
			if nv[0] != fmt.Sprintf("%d-%d", leaders[p], p) {
				return fmt.Errorf("owner znode %s of partition %d, want %d-%d", nv[0], p, leaders[p], p)
			}
			got[nv[1]] = append(got[nv[1]], p)
		}
		for id := range got {
			slices.Sort(got[id])
		}
		if !maps.EqualFunc(got, wantOwned, slices.Equal) {
			return fmt.Errorf("owners %v, want %v", got, wantOwned)
		}
		return nil
	})
	if i, err := ids(cl, conn, group); err != nil || !maps.Equal(i, map[string]string{a.ID(): topic, b.ID(): topic}) {
		t.Errorf("ids: %v (%v), want %s and %s = %s", i, err, a.ID(), b.ID(), topic)
	}

	// Together they consume everything (at least once: a rebalance may
	// hand over a message processed but not yet committed) and commit the end.
	seen := func() map[[2]int64]int {
		s := map[[2]int64]int{}
		for _, m := range []*pykafka.Member{a, b} {
			for _, e := range m.Messages() {
				s[[2]int64{int64(e.Partition), e.Offset}]++
			}
		}
		return s
	}
	waitZK(t, ctx, "all messages consumed by A and B", func() error {
		if s := seen(); len(s) < len(want) {
			return fmt.Errorf("%d of %d consumed", len(s), len(want))
		}
		return nil
	})
	waitCommitted(t, ctx, group, topic, parts)
	dups := 0
	for k, c := range seen() {
		if _, ok := want[k]; !ok {
			t.Errorf("consumed %v, which was not produced", k)
		}
		dups += c - 1
	}
	t.Logf("A processed %d, B processed %d, %d duplicates", len(a.Messages()), len(b.Messages()), dups)
	// Each processed only partitions it owned (a message taken just before
	// a rebalance may be reported just after it: the previous set counts too).
	for _, m := range []*pykafka.Member{a, b} {
		var prev, cur []int32
		for _, e := range m.Events() {
			switch e.Kind {
			case pykafka.EventOwned:
				prev, cur = cur, e.Partitions
			case pykafka.EventMsg:
				if !slices.Contains(cur, e.Partition) && !slices.Contains(prev, e.Partition) {
					t.Errorf("%s processed %d/%d while owning %v", m, e.Partition, e.Offset, cur)
				}
			}
		}
	}

	// B leaves: A takes all four again.
	if err := b.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := a.WaitOwned(ctx, all); err != nil {
		t.Fatalf("%s after B left: %v", a, err)
	}
	waitZK(t, ctx, "owner znodes after B left", func() error {
		o, err := owners(cl, conn, ownersPath)
		if err != nil {
			return err
		}
		for p := int32(0); p < parts; p++ {
			if o[p][1] != a.ID() {
				return fmt.Errorf("owners %v, want all %s", o, a.ID())
			}
		}
		return nil
	})
	if err := a.Stop(); err != nil {
		t.Fatal(err)
	}
	checkErrors(t, a, b)
	waitGone(t, ctx, conn, group, ownersPath)
}

// TestBlockedRebalance reproduces the seed scenario (a CSDN post on
// pykafka's consume() blocking the rebalance): member A with
// consumer_timeout_ms=-1 has consumed everything and waits in consume();
// member B joins. pykafka 2.6 holds the rebalance lock inside consume()
// until a message comes, so A never gives up partitions and B, after its
// rebalance retries, fails with PartitionOwnedError and stops. pykafka 2.8
// wakes consume() for the rebalance (unblock_event, at most ~1s later), so
// the two split the partitions.
func TestBlockedRebalance(t *testing.T) {
	cl := shared.Get(t)
	for _, version := range []string{pykafka.V28, pykafka.V26} {
		t.Run(version, func(t *testing.T) {
			t.Parallel()
			python := venv(t, version)
			ctx := testCtx(t, 2*time.Minute)
			const parts, n = 4, 40
			topic := "blocked-" + strings.ReplaceAll(version, ".", "")
			group := "g-" + topic
			if err := cl.CreateTopic(ctx, topic, parts, 1); err != nil {
				t.Fatal(err)
			}
			produce(t, ctx, topic, parts, n)
			args := pykafka.MemberArgs{Topic: topic, Group: group, ConsumerTimeoutMS: pykafka.NoTimeout,
				RebalanceMaxRetries: 4, RebalanceBackoff: 1500 * time.Millisecond}
			args.Name = "A"
			a := start(t, ctx, python, args)
			if err := a.WaitMessages(ctx, n); err != nil {
				t.Fatalf("%s: %v", a, err)
			}
			waitCommitted(t, ctx, group, topic, parts)
			time.Sleep(1500 * time.Millisecond) // A is idle in consume()
			args.Name = "B"
			b := start(t, ctx, python, args)

			if version == pykafka.V26 {
				err := b.Wait(ctx, func(evs []pykafka.Event) bool {
					return slices.ContainsFunc(evs, func(e pykafka.Event) bool {
						return e.Kind == pykafka.EventError && e.Name == "PartitionOwnedError"
					})
				})
				if err != nil {
					t.Fatalf("%s: no PartitionOwnedError: %v; events %v", b, err, b.Events())
				}
				<-b.Done() // it stops itself: ConsumerStoppedException, exit status 1
				if b.ExitErr() == nil {
					t.Errorf("%s exited with status 0 after PartitionOwnedError", b)
				}
				if o, _ := a.Owned(); !slices.Equal(sorted(o), []int32{0, 1, 2, 3}) {
					t.Errorf("%s owns %v, want all 4 (it never rebalanced)", a, o)
				}
			} else {
				half := func(ps []int32) bool { return len(ps) == 2 }
				for _, m := range []*pykafka.Member{a, b} {
					if err := m.WaitOwned(ctx, half); err != nil {
						o, _ := m.Owned()
						t.Fatalf("%s: %v; owns %v, want 2 partitions", m, err, o)
					}
				}
				if err := b.Stop(); err != nil {
					t.Error(err)
				}
				checkErrors(t, b)
			}
			// A reported nothing while it sat blocked. Its errors are checked
			// before it is stopped: stopping a consume() that is blocked
			// raises ConsumerStoppedException in 2.6.0 (seen on CI), which is
			// the stop itself, not a failure.
			checkErrors(t, a)
			// A, blocked in consume(), still stops on SIGTERM.
			if err := a.Stop(); err != nil {
				t.Fatal(err)
			}
			conn, err := cl.DialZooKeeper(ctx, 10*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			waitGone(t, ctx, conn, group, a.OwnersPath())
		})
	}
}

// TestBrokerVersions: every broker_version setting worth trying works
// against Kafka 3.9 with both pykafka versions: 0.9.0 (pykafka's default:
// hard-coded API versions) and >= 0.10.0 (ApiVersions discovery).
func TestBrokerVersions(t *testing.T) {
	cl := shared.Get(t)
	ctx := testCtx(t, 3*time.Minute)
	const parts, n = 4, 20
	topic := "bv"
	if err := cl.CreateTopic(ctx, topic, parts, 1); err != nil {
		t.Fatal(err)
	}
	produce(t, ctx, topic, parts, n)
	for _, version := range []string{pykafka.V28, pykafka.V26} {
		for _, bv := range []string{"0.9.0", "0.10.0", "1.0.0", "2.0.0"} {
			t.Run(version+"/"+bv, func(t *testing.T) {
				t.Parallel()
				python := venv(t, version)
				group := "g-bv-" + version + "-" + bv
				m := start(t, ctx, python, pykafka.MemberArgs{Topic: topic, Group: group, BrokerVersion: bv, Name: "bv" + bv})
				if err := m.WaitMessages(ctx, n); err != nil {
					t.Fatalf("%s: %v", m, err)
				}
				waitCommitted(t, ctx, group, topic, parts)
				if err := m.Stop(); err != nil {
					t.Fatal(err)
				}
				if got := len(m.Messages()); got != n {
					t.Errorf("%d messages, want %d", got, n)
				}
				checkErrors(t, m)
				// 2.8 chooses request versions by broker_version; 2.6 ignores it.
				if version == pykafka.V28 {
					want := "Requesting API version information"
					if bv == "0.9.0" {
						want = "Falling back to hardcoded versions list"
					}
					if !strings.Contains(m.Stderr(100000), want) {
						t.Errorf("pykafka log lacks %q", want)
					}
				}
			})
		}
	}
}
