package chaos

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zkbalance/zkbalance/balanced"
	"github.com/zkbalance/zkbalance/internal/cluster"
	"github.com/zkbalance/zkbalance/internal/ctxsleep"
	"github.com/zkbalance/zkbalance/partition"
	"github.com/zkbalance/zkbalance/zkwatch"
)

var (
	seed       = flag.Uint64("chaos.seed", 1, "seed of the fault schedule")
	messages   = flag.Int("chaos.messages", 20_000, "messages produced across the topics")
	faults     = flag.Int("chaos.faults", 12, "faults injected")
	duration   = flag.Duration("chaos.duration", 40*time.Second, "time over which faults are spread (and messages produced)")
	numMembers = flag.Int("chaos.members", 5, "members at the start (4-6)")
)

const (
	numTopics     = 3
	numPartitions = 16
	session       = 6 * time.Second
)

// shared is the package's cluster. Members reach the brokers through the
// cluster's proxies (the PROXIED listener), so the schedule can cut, stall
// and reset their broker connections; the harness's produce and checks use
// PLAINTEXT.
var shared = cluster.NewShared(cluster.Config{Brokers: 3, ProxiedListener: true})

func TestMain(m *testing.M) {
	// The ensemble tests' cluster (ensemble_test.go) is closed too.
	os.Exit(func() int { defer ensembleShared.Close(); return shared.Run(m) }())
}

// suite is one chaos run's state.
type suite struct {
	t      *testing.T
	cl     *cluster.Cluster
	ctx    context.Context
	bin    string
	dir    string
	group  string
	topics []string

	mu      sync.Mutex
	live    []*memberProc
	gone    []*memberProc
	serial  int
	applied map[string]int

	restarts sync.WaitGroup // delayed restarts of killed members

	// ensemble: the cluster is the ZooKeeper ensemble of ensemble_test.go;
	// members connect with every server's proxy and the schedule draws
	// ensemble faults (ensemble_chaos_test.go).
	ensemble bool
}

func TestChaos(t *testing.T) {
	runChaos(t, shared.Get(t), false)
	if *chaosEnsemble { // make chaos; not a skipped test in make test
		t.Run("ensemble", runChaosEnsemble)
	}
}

// runChaos is TestChaos on cl; with ensemble, cl is the ZooKeeper
// ensemble's cluster and the schedule is ensembleFault's.
func runChaos(t *testing.T, cl *cluster.Cluster, ensemble bool) {
	ctx, cancel := context.WithTimeout(context.Background(), *duration+10*time.Minute)
	defer cancel()
	s := &suite{t: t, cl: cl, ctx: ctx, dir: t.TempDir(), group: fmt.Sprintf("chaos-%d", time.Now().UnixNano()%1e6),
		applied: map[string]int{}, ensemble: ensemble}
	s.bin = buildMember(t, s.dir)
	for i := range numTopics {
		topic := fmt.Sprintf("%s-t%d", s.group, i)
		if err := cl.CreateTopic(ctx, topic, numPartitions, int16(min(3, len(cl.BrokerIDs())))); err != nil {
			t.Fatal(err)
		}
		s.topics = append(s.topics, topic)
	}
	obs, err := zkwatch.Dial(ctx, zkwatch.Config{Servers: cl.ZooKeeperConnect(), SessionTimeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer obs.Close()
	actx, stopAudit := context.WithCancel(ctx)
	aud := startAudit(actx, cl.ZooKeeperConnect(), s.group, s.topics, session+5*time.Second) // the members' servers
	defer stopAudit()

	for range *numMembers {
		s.join()
	}
	defer s.stopAll()
	t.Logf("seed %d: %d members, %d topics x %d partitions, %d messages, %d faults over %s",
		*seed, *numMembers, numTopics, numPartitions, *messages, *faults, *duration)

	// Produce the sequence while the faults run.
	var produced atomic.Int64
	prodDone := make(chan error, 1)
	go func() { prodDone <- s.produce(&produced) }() // ends when all are produced or ctx ends
	rng := rand.New(rand.NewPCG(*seed, 0x5eed))
	start := time.Now()
	for i := range *faults {
		at := start.Add(time.Duration(i+1) * *duration / time.Duration(*faults+1))
		if !sleepUntil(ctx, at) {
			t.Fatal(ctx.Err())
		}
		s.fault(rng, i+1)
	}
	if err := <-prodDone; err != nil {
		t.Fatal(err)
	}
	s.restarts.Wait()
	t.Logf("produced %d messages; faults applied: %v", produced.Load(), s.applied)
	for len(s.liveMembers()) < 2 {
		s.join()
	}

	// Everything in the logs is processed, owned by live members, committed.
	ends := map[balanced.TopicPartition]int64{}
	for _, topic := range s.topics {
		leo, err := cl.LogEndOffsets(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		for p, off := range leo {
			ends[balanced.TopicPartition{Topic: topic, Partition: p}] = off
		}
	}
	total := 0
	for _, n := range ends {
		total += int(n)
	}
	deadline := time.Now().Add(3 * time.Minute)
	var last string
	for {
		log, err := readLogs(s.dir)
		if err != nil {
			t.Fatal(err)
		}
		processed := log.Processed()
		owners, oerr := s.ownersSettled(obs)
		committed, cerr := s.committedAtEnd(obs, ends)
		if processed >= total && oerr == nil && cerr == nil && committed {
			an := log.Analyze(ends)
			t.Logf("RESULT seed %d: %d messages in the logs, %d processing records: %s; %d faults %v; %d incarnations",
				*seed, total, len(log.Records()), an, *faults, s.applied, s.serial)
			if an.Lost != 0 || an.Overlaps != 0 {
				t.Errorf("lost %d, overlap %d (%s)", an.Lost, an.Overlaps, an.FirstOverlap)
			}
			_ = owners
			break
		}
		last = fmt.Sprintf("processed %d of %d; owners: %v; committed at end: %v (%v)", processed, total, oerr, committed, cerr)
		if time.Now().After(deadline) {
			log, _ := readLogs(s.dir)
			t.Fatalf("not settled within 3m after the faults: %s; %s", last, log.Analyze(ends))
		}
		time.Sleep(500 * time.Millisecond)
	}
	for _, id := range cl.BrokerIDs() {
		if cl.BrokerProxy(id) == nil {
			continue
		}
		st := cl.BrokerProxy(id).Stats()
		t.Logf("broker %d proxy: %d connections accepted, %d reset by faults, %d dial errors, %d/%d bytes to broker/members",
			id, st.Accepted, st.FaultResets, st.DialErrors, st.BytesToTarget, st.BytesToClient)
	}
	if s.ensemble { // a quorum was always up: no session may have expired
		for _, m := range s.liveMembers() {
			if strings.Contains(m.stderr.String(), "zookeeper session expired") {
				t.Errorf("member %s lost its session while a quorum was up", m.name)
			}
		}
	}
	stopAudit()
	violations, stats := aud.result()
	t.Logf("ownership audit: %s; %d violations", stats, len(violations))
	for _, v := range violations {
		t.Errorf("audit: %s", v)
	}
}

// produce writes the sequence in batches spread over every partition,
// pacing it over the fault window; a failed batch (a broker being killed)
// is retried. Messages written twice by a retry are simply more messages in
// the log: the checks cover every offset below the log end.
func (s *suite) produce(count *atomic.Int64) error {
	cl := s.cl
	const batch = 480
	rounds := max(1, *messages/batch)
	pause := *duration / time.Duration(rounds)
	for r := range rounds {
		topic := s.topics[r%len(s.topics)]
		msgs := make([]cluster.Message, batch)
		for i := range msgs {
			msgs[i] = cluster.Message{Partition: int32(i % numPartitions), Value: []byte(fmt.Sprintf("r%d-%d", r, i))}
		}
		for attempt := 0; ; attempt++ {
			_, err := cl.Produce(s.ctx, topic, msgs)
			if err == nil {
				break
			}
			if s.ctx.Err() != nil || attempt > 120 {
				return fmt.Errorf("produce: %w", err)
			}
			time.Sleep(500 * time.Millisecond)
		}
		count.Add(batch)
		time.Sleep(pause)
	}
	return nil
}

// fault applies one fault chosen by rng.
func (s *suite) fault(rng *rand.Rand, n int) {
	if s.ensemble {
		s.ensembleFault(rng, n)
		return
	}
	cl := s.cl
	// The order is part of the schedule (a seed draws indexes): with it the
	// short run of make test (seed 1, 12 faults) draws every kind but
	// connection-stall.
	kinds := []string{"kill-member", "broker-conn-stall", "session-expiry", "zookeeper-restart", "broker-kill", "join",
		"broker-conn-reset", "broker-conn-drop", "leave", "connection-reset", "connection-stall"}
	kind := kinds[rng.IntN(len(kinds))]
	live := s.liveMembers()
	pick := func() *memberProc { return live[rng.IntN(len(live))] }
	switch {
	case kind == "leave" && len(live) <= 3, kind == "kill-member" && len(live) <= 2:
		kind = "join"
	case kind == "join" && len(live) >= 6:
		kind = "connection-reset"
	}
	s.t.Logf("fault %d at %s: %s", n, time.Now().Format("15:04:05.000"), kind)
	s.mu.Lock()
	s.applied[kind]++
	s.mu.Unlock()
	switch kind {
	case "kill-member":
		m := pick()
		m.kill()
		s.retire(m)
		// Restarted 1-3 s later, like a supervisor would. The delay is
		// drawn here: rng belongs to the fault loop.
		delay := time.Second + time.Duration(rng.IntN(2000))*time.Millisecond
		s.restarts.Go(func() {
			if sleepUntil(s.ctx, time.Now().Add(delay)) {
				s.join()
			}
		})
	case "session-expiry":
		// Cut the member off ZooKeeper for longer than its session: the
		// server expires the session, the member must treat everything as
		// lost and rejoin with a new one.
		pick().proxy.Drop(session + 3*time.Second)
	case "zookeeper-restart":
		if err := cl.StopZooKeeper(); err != nil {
			s.t.Errorf("stop zookeeper: %v", err)
		}
		time.Sleep(time.Duration(1000+rng.IntN(1500)) * time.Millisecond)
		if err := cl.StartZooKeeper(s.ctx); err != nil {
			s.t.Fatalf("start zookeeper: %v", err)
		}
	case "broker-kill":
		id := pickBroker(cl, rng)
		if err := cl.KillBroker(s.ctx, id); err != nil {
			s.t.Errorf("kill broker %d: %v", id, err)
		}
		time.Sleep(2 * time.Second)
		if err := cl.StartBroker(s.ctx, id); err != nil {
			s.t.Fatalf("restart broker %d: %v", id, err)
		}
	case "join":
		s.join()
	case "leave":
		m := pick()
		if err := m.leave(); err != nil {
			s.t.Error(err)
		}
		s.retire(m)
	case "connection-reset":
		pick().proxy.Reset()
	case "connection-stall":
		pick().proxy.Stall(time.Duration(500+rng.IntN(1500)) * time.Millisecond)
	// Broker connections: every member's connections to one broker, through
	// that broker's proxy.
	case "broker-conn-reset":
		id := pickBroker(cl, rng)
		cl.BrokerProxy(id).Reset()
		s.t.Logf("  reset every connection to broker %d", id)
	case "broker-conn-stall":
		id := pickBroker(cl, rng)
		d := time.Duration(500+rng.IntN(2500)) * time.Millisecond
		cl.BrokerProxy(id).Stall(d)
		s.t.Logf("  stall broker %d's connections for %s", id, d)
	case "broker-conn-drop":
		// A partition from one broker: requests in flight get no answer
		// and new connections none either, then all are reset.
		id := pickBroker(cl, rng)
		d := time.Duration(2000+rng.IntN(3000)) * time.Millisecond
		cl.BrokerProxy(id).Drop(d)
		s.t.Logf("  drop broker %d's connections for %s", id, d)
	}
}

// pickBroker draws a broker id from rng (the fault loop's).
func pickBroker(cl *cluster.Cluster, rng *rand.Rand) int32 {
	ids := cl.BrokerIDs()
	return ids[rng.IntN(len(ids))]
}

func (s *suite) join() {
	cl := s.cl
	s.mu.Lock()
	s.serial++
	name := "m" + strconv.Itoa(s.serial)
	s.mu.Unlock()
	var m *memberProc
	var err error
	if s.ensemble {
		m, err = startMemberConnect(s.bin, s.dir, name, cl.ProxiedZooKeeperConnect(), cl.BrokerAddrs(), s.group, s.topics, session)
	} else {
		m, err = startMember(s.ctx, s.bin, s.dir, name, cl.ZooKeeperAddr(), cl.ProxiedBrokerAddrs(), s.group, s.topics, session)
	}
	if err != nil {
		s.t.Errorf("join %s: %v", name, err)
		return
	}
	s.mu.Lock()
	s.live = append(s.live, m)
	s.mu.Unlock()
}

func (s *suite) retire(m *memberProc) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.live = slices.DeleteFunc(s.live, func(x *memberProc) bool { return x == m })
	s.gone = append(s.gone, m)
}

// liveMembers are the running members; one that died on its own is
// reported with its stderr and retired.
func (s *suite) liveMembers() []*memberProc {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*memberProc
	for _, m := range s.live {
		if m.alive() {
			out = append(out, m)
		} else {
			s.t.Errorf("member %s died on its own: %s", m.name, m.stderr.String())
			s.gone = append(s.gone, m)
		}
	}
	s.live = out
	return slices.Clone(out)
}

func (s *suite) stopAll() {
	s.restarts.Wait()
	for _, m := range s.liveMembers() {
		_ = m.leave()
	}
}

// ownersSettled checks that every partition has an owner znode naming a
// live member, the registered members are exactly the live ones, and the
// owners are the scala-range assignment for them.
func (s *suite) ownersSettled(obs *zkwatch.Conn) (map[balanced.TopicPartition]string, error) {
	ctx, cancel := context.WithTimeout(s.ctx, 10*time.Second)
	defer cancel()
	live := s.liveMembers()
	ids, _, err := obs.Children(ctx, "/consumers/"+s.group+"/ids")
	if err != nil {
		return nil, err
	}
	slices.Sort(ids)
	var want []string
	for _, m := range live {
		want = append(want, m.id)
	}
	slices.Sort(want)
	if !slices.Equal(ids, want) {
		return nil, fmt.Errorf("registered %d members, %d live", len(ids), len(want))
	}
	in := partition.Input{Topics: partition.Topics{}}
	for _, t := range s.topics {
		in.Topics[t] = map[int32]int32{}
		for p := range int32(numPartitions) {
			in.Topics[t][p] = -1
		}
	}
	for _, id := range ids {
		sub := map[string]int{}
		for _, t := range s.topics {
			sub[t] = 1
		}
		in.Members = append(in.Members, partition.Member{ID: id, Subscription: sub})
	}
	a, _ := partition.Lookup(partition.ScalaRange)
	asg, err := a.Assign(in)
	if err != nil {
		return nil, err
	}
	got := map[balanced.TopicPartition]string{}
	for _, t := range s.topics {
		dir := "/consumers/" + s.group + "/owners/" + t
		names, _, err := obs.Children(ctx, dir)
		if err != nil {
			return nil, err
		}
		for _, n := range names {
			data, _, err := obs.Get(ctx, dir+"/"+n)
			if err != nil {
				return nil, err
			}
			got[balanced.TopicPartition{Topic: t, Partition: partitionOf(n)}] = string(data)
		}
	}
	for tp, o := range asg.Owners() {
		if got[tp] != o {
			return nil, fmt.Errorf("%s owned by %q, assignment says %q", tp, shortID(got[tp]), shortID(o))
		}
	}
	if len(got) != numTopics*numPartitions {
		return nil, fmt.Errorf("%d owner znodes, want %d", len(got), numTopics*numPartitions)
	}
	return got, nil
}

// committedAtEnd reports whether every partition's committed offset (ZooKeeper
// store) equals its log end: last processed + 1.
func (s *suite) committedAtEnd(obs *zkwatch.Conn, ends map[balanced.TopicPartition]int64) (bool, error) {
	return committedAtEnd(s.ctx, obs, s.group, ends)
}

// committedAtEnd reports whether every partition's committed offset of
// group (ZooKeeper store) equals its log end in ends.
func committedAtEnd(ctx context.Context, obs *zkwatch.Conn, group string, ends map[balanced.TopicPartition]int64) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for tp, end := range ends {
		data, _, err := obs.Get(ctx, fmt.Sprintf("/consumers/%s/offsets/%s/%d", group, tp.Topic, tp.Partition))
		if errors.Is(err, zkwatch.ErrNoNode) {
			if end == 0 {
				continue
			}
			return false, fmt.Errorf("%s: nothing committed, log end %d", tp, end)
		}
		if err != nil {
			return false, err
		}
		off, err := strconv.ParseInt(string(data), 10, 64)
		if err != nil {
			return false, err
		}
		if off != end {
			return false, fmt.Errorf("%s: committed %d, log end %d", tp, off, end)
		}
	}
	return true, nil
}

// buildMember builds test/member into dir (without the race detector: the
// members are the system under test, the test binary is the observer).
func buildMember(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "member")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/zkbalance/zkbalance/test/member").CombinedOutput(); err != nil {
		t.Fatalf("build member: %v\n%s", err, out)
	}
	return bin
}

func sleepUntil(ctx context.Context, at time.Time) bool {
	return ctxsleep.Sleep(ctx, time.Until(at))
}
