package pykafka_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/zkbalance/zkbalance/balanced"
	"github.com/zkbalance/zkbalance/internal/pykafka"
	"github.com/zkbalance/zkbalance/scenario"
	"github.com/zkbalance/zkbalance/zkwatch"
)

// The legacy failures (issue 7 item 3) run each scenario twice in the same
// setup: once with pykafka members, whose failures are recorded (and
// asserted only where they are stable), and once with zkbalance members
// (pykafka layout, pykafka-range), which must converge with lost 0. Each
// run logs a RESULT line with its figures.

// runKind is the kind of member a run uses: a pykafka version, or "" for
// zkbalance.
type runKind string

const zkbalanceKind runKind = ""

func (k runKind) String() string {
	if k == zkbalanceKind {
		return "zkbalance"
	}
	return "pykafka " + string(k)
}

// legacyRun is one run of a legacy scenario: a group on its own topic and
// the members of one kind.
type legacyRun struct {
	t            *testing.T
	ctx          context.Context
	kind         runKind
	python       string
	topic, group string
	parts        int32
	conn         *zkwatch.Conn
	args         pykafka.MemberArgs // pykafka members' settings (Topic, Group filled in)
	zlog         scenario.Log       // what zkbalance members processed
	pys          []*pykafka.Member  // every pykafka member started
	live         []member           // joined and not stopped by the test
}

func newLegacyRun(t *testing.T, ctx context.Context, kind runKind, topic string, parts int32, args pykafka.MemberArgs) *legacyRun {
	t.Helper()
	r := &legacyRun{t: t, ctx: ctx, kind: kind, topic: topic, group: "g-" + topic, parts: parts, args: args}
	if kind != zkbalanceKind {
		r.python = venv(t, string(kind))
	}
	r.args.Topic, r.args.Group = r.topic, r.group
	r.conn = dialZK(t, ctx)
	return r
}

// createTopic creates the run's topic with replication factor 1.
func (r *legacyRun) createTopic() {
	r.t.Helper()
	cl := shared.Get(r.t)
	if err := cl.CreateTopic(r.ctx, r.topic, r.parts, 1); err != nil {
		r.t.Fatal(err)
	}
}

// join starts members of the run's kind at once (id "" lets the member
// make its own) and returns them in order.
func (r *legacyRun) join(names []string, ids []string) []member {
	r.t.Helper()
	cl := shared.Get(r.t)
	out := make([]member, len(names))
	if r.kind == zkbalanceKind {
		for i, name := range names {
			cfg := balanced.Config{Group: r.group, Topics: []string{r.topic}, Layout: balanced.LayoutPykafka}
			if ids != nil {
				cfg.MemberID = ids[i]
			}
			out[i] = startZB(r.t, name, cfg, scenario.Recorder(&r.zlog, name, 0))
		}
		r.live = append(r.live, out...)
		return out
	}
	ms := make([]*pykafka.Member, len(names))
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		args := r.args
		args.Name = name
		args.ZooKeeper, args.Brokers = cl.KafkaZooKeeperConnect(), cl.BrokerAddrs()
		if ids != nil {
			args.ID = ids[i]
		}
		wg.Go(func() { ms[i], errs[i] = pykafka.Start(r.ctx, r.python, args) })
	}
	wg.Wait()
	for i, m := range ms {
		if m == nil {
			continue
		}
		r.pys = append(r.pys, m)
		out[i] = pyMember{m}
		r.t.Cleanup(func() {
			_ = m.Kill()
			if r.t.Failed() {
				r.t.Logf("%s stderr tail:\n%s", m, m.Stderr(60))
			}
		})
	}
	for _, err := range errs {
		if err != nil {
			r.t.Fatal(err)
		}
	}
	r.live = append(r.live, out...)
	return out
}

// leave stops a member: SIGTERM for pykafka, a clean leave for zkbalance.
func (r *legacyRun) leave(m member) {
	r.t.Helper()
	var err error
	switch m := m.(type) {
	case *zbMember:
		err = m.stop()
	case pyMember:
		err = m.Stop()
	}
	r.live = slices.DeleteFunc(r.live, func(x member) bool { return x.ID() == m.ID() })
	if err != nil && r.kind == zkbalanceKind {
		r.t.Fatal(err)
	}
}

// alive is the live members minus pykafka members that exited by
// themselves (after an error).
func (r *legacyRun) alive() []member {
	return slices.DeleteFunc(slices.Clone(r.live), func(m member) bool { return m.exited() != nil })
}

// settle waits until the group's alive members hold pykafka-range's
// complete and disjoint assignment (checkPykafkaGroup) and returns how long
// that took from since. zkbalance must settle within d or the test fails;
// pykafka's failure to settle is a figure, returned as the error.
func (r *legacyRun) settle(since time.Time, d time.Duration) (time.Duration, error) {
	r.t.Helper()
	_, err := poll(r.ctx, d, func() error {
		return checkPykafkaGroup(r.ctx, r.conn, r.group, r.topic, r.parts, r.alive())
	})
	took := time.Since(since)
	if err != nil && r.kind == zkbalanceKind {
		r.t.Fatalf("zkbalance members did not converge: %v", err)
	}
	return took, err
}

// settled formats settle's outcome for a RESULT line.
func settled(took time.Duration, err error) string {
	if err != nil {
		why := err.Error()
		if len(why) > 160 {
			why = why[:160] + "..."
		}
		return fmt.Sprintf("no complete assignment after %s (%s)", took.Round(time.Millisecond), why)
	}
	return "complete assignment after " + took.Round(time.Millisecond).String()
}

// errorSummary counts the pykafka members' errors by name ("none" for
// zkbalance, which reports no error to its caller: a claim waits instead).
func (r *legacyRun) errorSummary() string { return formatCounts(errorCounts(r.pys...)) }

// analysis is what was processed of everything produced so far.
func (r *legacyRun) analysis() scenario.Analysis {
	r.t.Helper()
	an, err := analyze(r.ctx, shared.Get(r.t), r.topic, &r.zlog, r.pys...)
	if err != nil {
		r.t.Fatal(err)
	}
	return an
}

// finish waits until everything produced is processed: zkbalance must
// (lost 0 and committed = log end, or the test fails); pykafka gets d and
// its analysis is a figure. (A pykafka member stopped while messages flow
// may count one message as lost that pykafka had handed out and committed
// on stop: the harness's SIGTERM interrupts consume() with an exception,
// which can land after pykafka took the message and before member.py
// printed it.)
func (r *legacyRun) finish(d time.Duration) scenario.Analysis {
	r.t.Helper()
	if r.kind == zkbalanceKind {
		an := waitProcessed(r.t, r.ctx, d, r.topic, &r.zlog)
		waitCommitted(r.t, r.ctx, r.group, r.topic, r.parts)
		return an
	}
	_, _ = poll(r.ctx, d, func() error {
		if an := r.analysis(); an.Lost > 0 {
			return fmt.Errorf("%s", an)
		}
		return nil
	})
	return r.analysis()
}

// TestLegacyBlockedConsume is item 3(a), the seed scenario (000) with
// pykafka 2.6.0: member A with consumer_timeout_ms=-1 owns the 5 partitions
// of an empty topic and waits in consume() for 2 s; member B joins with
// pykafka's default rebalance_max_retries (5) and rebalance_backoff_ms (2 s).
// Observed and asserted: B's rebalance fails with PartitionOwnedError (its
// retries sleep 0+2+4+6 s, so about 12 s after it joined), then
// ConsumerStoppedException, and it exits; A never rebalanced and owns all
// 5. The same with zkbalance members: B owns its share at once, and the
// 1000 messages produced afterwards are all processed (lost 0).
func TestLegacyBlockedConsume(t *testing.T) {
	shared.Get(t)
	t.Parallel()
	for _, kind := range []runKind{pykafka.V26, zkbalanceKind} {
		t.Run(kind.String(), func(t *testing.T) {
			t.Parallel()
			testLegacyBlockedConsume(t, kind)
		})
	}
}

func testLegacyBlockedConsume(t *testing.T, kind runKind) {
	ctx := testCtx(t, 3*time.Minute)
	const parts, n = 5, 1000
	name := map[runKind]string{pykafka.V26: "seed000-py26", zkbalanceKind: "seed000-zkb"}[kind]
	r := newLegacyRun(t, ctx, kind, name, parts, pykafka.MemberArgs{ConsumerTimeoutMS: pykafka.NoTimeout, CommitEvery: -1})
	r.createTopic()
	a := r.join([]string{"A"}, nil)[0]
	if _, err := r.settle(time.Now(), stepBound); err != nil {
		t.Fatalf("A alone: %v", err)
	}
	t.Logf("A owns all %d partitions", parts)
	select { // A waits for messages on the empty topic
	case <-time.After(2 * time.Second):
	case <-ctx.Done():
		t.Fatal(context.Cause(ctx))
	}
	joined := time.Now()
	b := r.join([]string{"B"}, nil)[0]

	if kind == zkbalanceKind {
		took, _ := r.settle(joined, stepBound)
		produce(t, ctx, r.topic, parts, n)
		an := r.finish(time.Minute)
		result(t, "3(a) seed 000, %s: A idle on an empty %d-partition topic, B joined: %s, errors none; %d messages then: %s",
			kind, parts, settled(took, nil), n, an)
		return
	}

	bm := b.(pyMember)
	joinedAt := bm.Events()[0].At // its member line: it is about to join
	err := bm.Wait(ctx, func(evs []pykafka.Event) bool {
		return slices.ContainsFunc(evs, func(e pykafka.Event) bool {
			return e.Kind == pykafka.EventError && e.Name == "PartitionOwnedError"
		})
	})
	if err != nil {
		t.Fatalf("%s: no PartitionOwnedError: %v; events %v", bm, err, bm.Events())
	}
	var raisedAfter time.Duration
	for _, e := range bm.Errors() {
		if e.Name == "PartitionOwnedError" {
			raisedAfter = e.At.Sub(joinedAt)
			break
		}
	}
	select {
	case <-bm.Done():
	case <-ctx.Done():
		t.Fatalf("%s did not exit after PartitionOwnedError", bm)
	}
	if bm.ExitErr() == nil {
		t.Errorf("%s exited with status 0 after PartitionOwnedError", bm)
	}
	if o, _ := a.parts(); len(o) != parts {
		t.Errorf("%s owns %v, want all %d (it never rebalanced)", a, o, parts)
	}
	bErrs := formatCounts(errorCounts(bm.Member))
	aErrs := formatCounts(errorCounts(a.(pyMember).Member))
	ownedA, _ := a.parts()
	// What A does with messages after B is gone: its consume() returns,
	// the rebalance it had been waiting for runs with A alone.
	t.Logf("B exited; producing %d messages", n)
	produce(t, ctx, r.topic, parts, n)
	an := r.finish(time.Minute)
	result(t, "3(a) seed 000, %s: A idle on an empty %d-partition topic, B joined (retries 5, backoff 2s): B raised %s %s after joining (errors %s; exit %v); A never rebalanced, owns %v (errors %s); %d messages then, consumed by A alone: %s",
		kind, parts, "PartitionOwnedError", raisedAfter.Round(time.Millisecond), bErrs, bm.ExitErr(), ownedA, aErrs, n, an)
}
