package pykafka_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zkbalance/zkbalance/balanced"
	"github.com/zkbalance/zkbalance/internal/pykafka"
	"github.com/zkbalance/zkbalance/scenario"
)

// stepBound bounds each join or leave's convergence in the S8 tests.
const stepBound = 45 * time.Second

// TestMixedGroupPykafka is S8 with pykafka: zkbalance members (pykafka
// layout and assignor, in-process) and pykafka 2.8.0 members as they run on
// Python 3 (owner znodes under owners/b'<t>') share one group, and members
// of both kinds join and leave one at a time while messages keep coming.
// After every change: the registrations are the live members'; the union
// of both owners directories is complete and disjoint and is
// pykafka-range's answer for the live members with the current leaders;
// each member owns its share. pykafka reports no error at all, and
// "PartitionOwnedError" is nowhere in its log (a claim its rebalance
// retries while a zkbalance member is still releasing is logged as
// "Unable to acquire partition": counted, not an error). At the end every
// message produced was processed (lost 0) and the group's committed
// offsets are the log end.
func TestMixedGroupPykafka(t *testing.T) {
	cl := shared.Get(t)
	t.Parallel()
	python := venv(t, pykafka.V28)
	ctx := testCtx(t, 4*time.Minute)
	const parts = 6
	topic, group := "s8-pykafka", "g-s8-pykafka"
	if err := cl.CreateTopic(ctx, topic, parts, 1); err != nil {
		t.Fatal(err)
	}
	conn := dialZK(t, ctx)
	var zlog scenario.Log
	cfg := balanced.Config{Group: group, Topics: []string{topic}, Layout: balanced.LayoutPykafka}
	var (
		live    []member
		pys     []*pykafka.Member
		steps   []string
		changed time.Time // of the last join or leave
	)
	// Each change comes right after a batch is produced, so that it
	// happens while messages flow.
	joinZB := func(name string) *zbMember {
		produce(t, ctx, topic, parts, 60)
		changed = time.Now()
		m := startZB(t, name, cfg, scenario.Recorder(&zlog, name, 0))
		live = append(live, m)
		return m
	}
	joinPy := func(name string) *pykafka.Member {
		produce(t, ctx, topic, parts, 60)
		changed = time.Now()
		m := start(t, ctx, python, pykafka.MemberArgs{Topic: topic, Group: group, Name: name, Delay: 2 * time.Millisecond})
		pys = append(pys, m)
		live = append(live, pyMember{m})
		return m
	}
	leave := func(m member, stop func() error) {
		t.Helper()
		checkErrors(t, pys...) // before the stop, whose own exceptions are no failure
		produce(t, ctx, topic, parts, 60)
		changed = time.Now()
		if err := stop(); err != nil {
			t.Fatal(err)
		}
		live = slices.DeleteFunc(live, func(x member) bool { return x.ID() == m.ID() })
	}
	// converged waits for the group to settle after the last change and
	// records how long that took from the change.
	converged := func(what string) {
		t.Helper()
		waitFor(t, ctx, stepBound, "after "+what, func() error {
			return checkPykafkaGroup(ctx, conn, group, topic, parts, live)
		})
		took := time.Since(changed)
		steps = append(steps, fmt.Sprintf("%s %s", what, took.Round(time.Millisecond)))
		t.Logf("%s: converged in %s", what, took.Round(time.Millisecond))
	}

	a := joinZB("zA")
	converged("zkbalance A joined")
	p := joinPy("pyP")
	converged("pykafka P joined")
	joinZB("zB")
	converged("zkbalance B joined")
	q := joinPy("pyQ")
	converged("pykafka Q joined")
	leave(pyMember{p}, p.Stop)
	converged("pykafka P left")
	leave(a, a.stop)
	converged("zkbalance A left")
	joinZB("zC")
	converged("zkbalance C joined")
	leave(pyMember{q}, q.Stop)
	converged("pykafka Q left")

	an := waitProcessed(t, ctx, time.Minute, topic, &zlog, pys...)
	waitCommitted(t, ctx, group, topic, parts)
	checkErrors(t, pys...)
	for _, m := range pys {
		// A retried claim is logged as "Unable to acquire partition";
		// the exception's name appears only when pykafka gives up.
		if log := m.Stderr(1 << 20); strings.Contains(log, "PartitionOwnedError") {
			t.Errorf("%s: PartitionOwnedError in its log:\n%s", m, log)
		}
	}
	result(t, "S8 mixed pykafka layout, zkbalance + pykafka %s (Python 3), %d partitions: %d joins/leaves, each converged to pykafka-range: %s; pykafka errors %s (claim retries it logged: %d); %s; committed = log end",
		pykafka.V28, parts, len(steps), strings.Join(steps, ", "), formatCounts(errorCounts(pys...)), claimRetries(pys...), an)
}
