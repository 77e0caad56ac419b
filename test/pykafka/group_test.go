package pykafka_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zkbalance/zkbalance/balanced"
	"github.com/zkbalance/zkbalance/internal/cluster"
	"github.com/zkbalance/zkbalance/internal/javapeer"
	"github.com/zkbalance/zkbalance/internal/pykafka"
	"github.com/zkbalance/zkbalance/partition"
	"github.com/zkbalance/zkbalance/scenario"
	"github.com/zkbalance/zkbalance/zkwatch"
)

// Helpers of the mixed-group (S8) and legacy-failure tests: in-process
// zkbalance members, group checks read from ZooKeeper, the processing log
// of both kinds of member, and RESULT lines.

// result logs one observed figure of a scenario; make test's console shows
// every line with RESULT in it.
func result(t *testing.T, format string, args ...any) {
	t.Helper()
	t.Logf("RESULT "+format, args...)
}

// dialZK opens a context-aware ZooKeeper connection below the Kafka chroot;
// it is closed when the test ends.
func dialZK(t *testing.T, ctx context.Context) *zkwatch.Conn {
	t.Helper()
	cl := shared.Get(t)
	conn, err := zkwatch.Dial(ctx, zkwatch.Config{Servers: cl.KafkaZooKeeperConnect(),
		SessionTimeout: 10 * time.Second, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Close)
	return conn
}

// ownerZnode is one owner znode of a partition.
type ownerZnode struct {
	Dir    string // the directory below owners/: "<t>", or "b'<t>'" (pykafka on Python 3)
	Name   string // "<p>" (Scala layout) or "<leader>-<p>" (pykafka layout)
	Holder string // its value
}

// readOwners reads the owner znodes of topic in both of the group's owners
// directories, owners/<t> (zkbalance, Scala, pykafka on Python 2) and
// owners/b'<t>' (pykafka on Python 3, zkbalance's mirror): partition ->
// znodes.
func readOwners(ctx context.Context, conn *zkwatch.Conn, group, topic string) (map[int32][]ownerZnode, error) {
	out := map[int32][]ownerZnode{}
	for _, dir := range []string{topic, "b'" + topic + "'"} {
		path := "/consumers/" + group + "/owners/" + dir
		names, _, err := conn.Children(ctx, path)
		if errors.Is(err, zkwatch.ErrNoNode) {
			continue
		}
		if err != nil {
			return nil, err
		}
		for _, n := range names {
			ps := n
			if _, after, ok := strings.Cut(n, "-"); ok {
				ps = after
			}
			p, err := strconv.ParseInt(ps, 10, 32)
			if err != nil {
				return nil, fmt.Errorf("owner znode %s/%s: name is neither <p> nor <leader>-<p>", path, n)
			}
			v, _, err := conn.Get(ctx, path+"/"+n)
			if errors.Is(err, zkwatch.ErrNoNode) {
				continue
			}
			if err != nil {
				return nil, err
			}
			out[int32(p)] = append(out[int32(p)], ownerZnode{Dir: dir, Name: n, Holder: string(v)})
		}
	}
	return out, nil
}

// readIDs reads the group's registrations: member id -> value.
func readIDs(ctx context.Context, conn *zkwatch.Conn, group string) (map[string]string, error) {
	path := "/consumers/" + group + "/ids"
	names, _, err := conn.Children(ctx, path)
	if errors.Is(err, zkwatch.ErrNoNode) {
		return map[string]string{}, nil
	}
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, n := range names {
		v, _, err := conn.Get(ctx, path+"/"+n)
		if errors.Is(err, zkwatch.ErrNoNode) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out[n] = string(v)
	}
	return out, nil
}

// leadersOf reads the leader of every partition of topic from its state znodes.
func leadersOf(ctx context.Context, conn *zkwatch.Conn, topic string) (map[int32]int32, error) {
	tp, err := conn.ReadTopic(ctx, topic)
	if err != nil {
		return nil, err
	}
	return conn.ReadLeaders(ctx, tp)
}

// topicLeaders is leadersOf on a connection of its own.
func topicLeaders(t *testing.T, ctx context.Context, topic string) map[int32]int32 {
	t.Helper()
	cl := shared.Get(t)
	conn, err := zkwatch.Dial(ctx, zkwatch.Config{Servers: cl.KafkaZooKeeperConnect(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ls, err := leadersOf(ctx, conn, topic)
	if err != nil {
		t.Fatal(err)
	}
	return ls
}

// pykafkaRange is pykafka's range assignment of topic among the member ids
// with the given leaders: partition -> member id.
func pykafkaRange(topic string, ids []string, leaders map[int32]int32) (map[int32]string, error) {
	in := partition.Input{Topics: partition.Topics{topic: leaders}}
	for _, id := range ids {
		in.Members = append(in.Members, partition.Member{ID: id, Subscription: map[string]int{topic: 1}})
	}
	return assignOne(partition.PykafkaRange, in)
}

// assignOne runs the named assignor on in (one topic) and returns
// partition -> owner.
func assignOne(assignor string, in partition.Input) (map[int32]string, error) {
	a, err := partition.Lookup(assignor)
	if err != nil {
		return nil, err
	}
	asg, err := a.Assign(in)
	if err != nil {
		return nil, err
	}
	out := map[int32]string{}
	for tp, o := range asg.Owners() {
		out[tp.Partition] = o
	}
	return out, nil
}

// sharesOf inverts an assignment: owner -> its partitions, sorted.
func sharesOf(a map[int32]string) map[string][]int32 {
	out := map[string][]int32{}
	for p, o := range a {
		out[o] = append(out[o], p)
	}
	for o := range out {
		slices.Sort(out[o])
	}
	return out
}

// idsOf lists the members' ids.
func idsOf(ms []member) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.ID()
	}
	return out
}

// checkPykafkaGroup checks a pykafka-layout group as pykafka sees it: the
// registrations are exactly ms's, with the topic as value; every partition
// 0..n-1 has exactly one holder, the member pykafka-range chooses for ms
// with the current leaders, whatever directory or leader its owner znodes
// are named under, with exactly one znode under owners/b'<t>' and at most
// one under owners/<t> (exactly one if held by zkbalance); no other
// partition has owner znodes; and each member reports owning exactly its
// share.
func checkPykafkaGroup(ctx context.Context, conn *zkwatch.Conn, group, topic string, n int32, ms []member) error {
	for _, m := range ms {
		if err := m.exited(); err != nil {
			return err
		}
	}
	ids, err := readIDs(ctx, conn, group)
	if err != nil {
		return err
	}
	want := map[string]string{}
	for _, m := range ms {
		want[m.ID()] = topic
	}
	if !maps.Equal(ids, want) {
		return fmt.Errorf("registrations %v, want %v", ids, want)
	}
	leaders, err := leadersOf(ctx, conn, topic)
	if err != nil {
		return err
	}
	asg, err := pykafkaRange(topic, idsOf(ms), leaders)
	if err != nil {
		return err
	}
	owners, err := readOwners(ctx, conn, group, topic)
	if err != nil {
		return err
	}
	zb := map[string]bool{}
	for _, m := range ms {
		if _, ok := m.(*zbMember); ok {
			zb[m.ID()] = true
		}
	}
	for p := range n {
		zs := owners[p]
		delete(owners, p)
		perDir := map[string]int{}
		holders := map[string]bool{}
		for _, z := range zs {
			perDir[z.Dir]++
			holders[z.Holder] = true
		}
		py3 := "b'" + topic + "'"
		switch {
		case len(holders) != 1 || !holders[asg[p]]:
			return fmt.Errorf("partition %d: owner znodes %v, want held by %s only (leaders %v)", p, zs, asg[p], leaders)
		case perDir[py3] != 1 || perDir[topic] > 1:
			return fmt.Errorf("partition %d: owner znodes %v, want one under %s and at most one under %s", p, zs, py3, topic)
		case zb[asg[p]] && perDir[topic] != 1:
			return fmt.Errorf("partition %d: owner znodes %v: zkbalance member %s holds it without owners/%s", p, zs, asg[p], topic)
		}
	}
	if len(owners) > 0 {
		return fmt.Errorf("owner znodes of partitions that do not exist: %v", owners)
	}
	shares := sharesOf(asg)
	for _, m := range ms {
		got, ok := m.parts()
		if w := shares[m.ID()]; !ok || !slices.Equal(got, w) {
			return fmt.Errorf("%s owns %v (reported: %v), want %v", m, got, ok, w)
		}
	}
	return nil
}

// waitFor polls check every 50ms until it returns nil and returns how long
// that took; it fails the test with check's last error when d passes or
// ctx ends first.
func waitFor(t *testing.T, ctx context.Context, d time.Duration, what string, check func() error) time.Duration {
	t.Helper()
	took, err := poll(ctx, d, check)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return took
}

// poll is waitFor without failing: the error says why it gave up.
func poll(ctx context.Context, d time.Duration, check func() error) (time.Duration, error) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	for {
		err := check()
		if err == nil {
			return time.Since(start), nil
		}
		select {
		case <-ctx.Done():
			return time.Since(start), fmt.Errorf("not within %s: %w", d, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// analyze judges the processing of topic up to its current log end: the
// zkbalance members' records in zlog plus every message the pykafka members
// reported (see processingLog).
func analyze(ctx context.Context, cl *cluster.Cluster, topic string, zlog *scenario.Log, pys ...*pykafka.Member) (scenario.Analysis, error) {
	return analyzeAll(ctx, cl, topic, processingLog(zlog, pys))
}

// analyzeAll judges log against topic's current log end.
func analyzeAll(ctx context.Context, cl *cluster.Cluster, topic string, log *scenario.Log) (scenario.Analysis, error) {
	end, err := cl.LogEndOffsets(ctx, topic)
	if err != nil {
		return scenario.Analysis{}, err
	}
	produced := map[balanced.TopicPartition]int64{}
	for p, o := range end {
		produced[balanced.TopicPartition{Topic: topic, Partition: p}] = o
	}
	return log.Analyze(produced), nil
}

// processingLog merges the processing of every kind of member into one
// log: the zkbalance members' records in zlog (nil: none), every message
// the pykafka members reported (with a zero-length window, when its line
// was read) and every record of the Java members (with the window they
// printed), under their member ids (the Java ones under "java:<client id>").
func processingLog(zlog *scenario.Log, pys []*pykafka.Member, javas ...*javapeer.Member) *scenario.Log {
	var all scenario.Log
	if zlog != nil {
		for _, r := range zlog.Records() {
			all.Add(r)
		}
	}
	for _, m := range pys {
		for _, e := range m.Messages() {
			all.Add(scenario.Record{Member: m.ID(), TP: balanced.TopicPartition{Topic: e.Topic, Partition: e.Partition},
				Offset: e.Offset, Start: e.At, End: e.At})
		}
	}
	for _, j := range javas {
		for _, e := range j.Messages() {
			all.Add(scenario.Record{Member: "java:" + j.ID(), TP: balanced.TopicPartition{Topic: e.Topic, Partition: e.Partition},
				Offset: e.Offset, Start: e.Start, End: e.End})
		}
	}
	return &all
}

// waitProcessed waits until every message of topic up to its log end was
// processed by someone (lost 0) and returns the analysis.
func waitProcessed(t *testing.T, ctx context.Context, d time.Duration, topic string, zlog *scenario.Log, pys ...*pykafka.Member) scenario.Analysis {
	t.Helper()
	cl := shared.Get(t)
	var an scenario.Analysis
	waitFor(t, ctx, d, "every message processed", func() error {
		var err error
		if an, err = analyze(ctx, cl, topic, zlog, pys...); err != nil {
			return err
		}
		if an.Lost > 0 {
			return fmt.Errorf("%s", an)
		}
		return nil
	})
	return an
}

// errorCounts counts the members' error events by exception name, leaving
// out pykafka's benign ReferenceError (see the package doc).
func errorCounts(ms ...*pykafka.Member) map[string]int {
	out := map[string]int{}
	for _, m := range ms {
		for _, e := range m.Errors() {
			if e.Name != "ReferenceError" {
				out[e.Name]++
			}
		}
	}
	return out
}

// formatCounts prints counts as "A=1 B=2", or "none".
func formatCounts(c map[string]int) string {
	if len(c) == 0 {
		return "none"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(c)) {
		parts = append(parts, fmt.Sprintf("%s=%d", k, c[k]))
	}
	return strings.Join(parts, " ")
}

// claimRetries counts pykafka's "Unable to acquire partition" log lines: a
// PartitionOwnedError its rebalance caught and retried after a backoff.
func claimRetries(ms ...*pykafka.Member) int {
	n := 0
	for _, m := range ms {
		n += strings.Count(m.Stderr(1<<20), "Unable to acquire partition")
	}
	return n
}
