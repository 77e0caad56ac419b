package pykafka_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/zkbalance/zkbalance/internal/pykafka"
)

// stormCap bounds the wait for pykafka members to reach a complete
// assignment in the 3(b) scenarios; not reaching it is a figure, not a
// failure.
const stormCap = 90 * time.Second

// TestLegacyStartStorm is item 3(b), pykafka issue #619: 12 members of a
// group started at once on a 16-partition topic holding 320 messages, with
// pykafka's default rebalance_max_retries (5) and rebalance_backoff_ms
// (2 s). Recorded: the errors by name, how many members gave up and exited,
// the time to a complete assignment among those left, and what was
// processed. zkbalance members in the same setup must converge with all 12
// and lose nothing.
func TestLegacyStartStorm(t *testing.T) {
	shared.Get(t)
	t.Parallel()
	// One after the other: 12 Python processes starting at once would
	// starve the zkbalance run of CPU on a small machine.
	for _, kind := range []runKind{zkbalanceKind, pykafka.V28} {
		t.Run(kind.String(), func(t *testing.T) { testLegacyStartStorm(t, kind) })
	}
}

func testLegacyStartStorm(t *testing.T, kind runKind) {
	ctx := testCtx(t, 4*time.Minute)
	const members, parts, n = 12, 16, 320
	topic := map[runKind]string{pykafka.V28: "storm619-py28", zkbalanceKind: "storm619-zkb"}[kind]
	r := newLegacyRun(t, ctx, kind, topic, parts, pykafka.MemberArgs{CommitEvery: -1})
	r.createTopic()
	produce(t, ctx, topic, parts, n)
	names := make([]string, members)
	for i := range names {
		names[i] = fmt.Sprintf("m%02d", i+1)
	}
	start := time.Now()
	r.join(names, nil)
	_, _ = poll(ctx, stormCap, func() error {
		if ids, err := readIDs(ctx, r.conn, r.group); err != nil || len(ids) < members {
			return fmt.Errorf("%d registered (%v)", len(ids), err)
		}
		return nil
	})
	registered := time.Since(start)
	took, err := r.settle(start, stormCap)
	an := r.finish(20 * time.Second)
	exited := len(r.live) - len(r.alive())
	result(t, "3(b) start storm (#619), %s: %d members started at once on %d partitions, all registered after %s: %s with %d members; errors %s; claim retries logged %d; members that gave up and exited %d; %d messages: %s",
		kind, members, parts, registered.Round(time.Millisecond), settled(took, err), len(r.alive()), r.errorSummary(), claimRetries(r.pys...), exited, n, an)
}

// TestLegacyRollingRestart is item 3(b), pykafka issue #677: a group of 3
// members on 6 partitions is restarted the way a deployment does it: for
// each old member, a new one starts and, as soon as it has connected, the
// old one is stopped (SIGTERM, a clean stop), without waiting for the
// group to settle. Recorded: errors by name, members that gave up, the
// time from the first new start to a complete assignment among the new
// members, and what was processed of the messages produced before and
// during the roll. zkbalance members in the same setup must converge and
// lose nothing.
func TestLegacyRollingRestart(t *testing.T) {
	shared.Get(t)
	t.Parallel()
	for _, kind := range []runKind{pykafka.V28, zkbalanceKind} {
		t.Run(kind.String(), func(t *testing.T) {
			t.Parallel()
			testLegacyRollingRestart(t, kind)
		})
	}
}

func testLegacyRollingRestart(t *testing.T, kind runKind) {
	ctx := testCtx(t, 4*time.Minute)
	const gen, parts, batch = 3, 6, 60
	topic := map[runKind]string{pykafka.V28: "roll677-py28", zkbalanceKind: "roll677-zkb"}[kind]
	r := newLegacyRun(t, ctx, kind, topic, parts, pykafka.MemberArgs{CommitEvery: -1})
	r.createTopic()
	old := r.join([]string{"old1", "old2", "old3"}, nil)
	if _, err := r.settle(time.Now(), stormCap); err != nil {
		t.Fatalf("the old generation did not settle: %v", err)
	}
	produce(t, ctx, topic, parts, batch)
	start := time.Now()
	for i := range gen {
		r.join([]string{fmt.Sprintf("new%d", i+1)}, nil)
		produce(t, ctx, topic, parts, batch)
		r.leave(old[i])
	}
	took, err := r.settle(start, stormCap)
	an := r.finish(20 * time.Second)
	result(t, "3(b) rolling restart (#677), %s: %d members on %d partitions replaced one by one, each new one started before the old one stopped: %s; errors %s; claim retries logged %d; members that gave up and exited %d; %d messages: %s",
		kind, gen, parts, settled(took, err), r.errorSummary(), claimRetries(r.pys...), len(r.live)-len(r.alive()), (gen+1)*batch, an)
}
