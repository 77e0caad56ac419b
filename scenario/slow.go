package scenario

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zkbalance/zkbalance/balanced"
	"github.com/zkbalance/zkbalance/internal/ctxsleep"
	"github.com/zkbalance/zkbalance/zkwatch"
)

// SlowOptions configure the slow-handler scenario (S2, seed 002).
type SlowOptions struct {
	Partitions int32         // default 4
	Messages   int           // queued before the members start (default 200)
	Delay      time.Duration // handler time per message (default 500ms; the seed's is 15s)
}

func (o SlowOptions) withDefaults() SlowOptions {
	if o.Partitions <= 0 {
		o.Partitions = 4
	}
	if o.Messages <= 0 {
		o.Messages = 200
	}
	if o.Delay <= 0 {
		o.Delay = 500 * time.Millisecond
	}
	return o
}

// SlowResult is the outcome of SlowHandler.
type SlowResult struct {
	Pass     bool
	Reason   string
	Analysis Analysis
	// CommitAdvances counts the times the group's committed total rose
	// while handlers were still busy.
	CommitAdvances int
	// Lost counts partitions reported lost by any member (expulsions).
	Lost int
}

// SlowHandler runs S2: two members with a slow handler work through a
// queue; while they are busy a third member joins, then one leaves. Checked:
// overlap 0 (a revoked partition's handler is stopped before the partition
// is released), committed offsets advance while handlers are slow, nobody is
// expelled, lost 0 and no duplicates beyond what was in flight at the two
// rebalances, and at the end the committed offsets equal the log end.
func SlowHandler(ctx context.Context, env Env, o SlowOptions) (SlowResult, error) {
	env, o = env.withDefaults(), o.withDefaults()
	tl := newTimeline(env.Out)
	var res SlowResult
	failf := func(format string, args ...any) (SlowResult, error) {
		res.Reason = fmt.Sprintf(format, args...)
		tl.header("FAIL slow-handler: %s", res.Reason)
		return res, nil
	}
	conn, err := zkwatch.Dial(ctx, zkwatch.Config{Servers: env.ZooKeeper, Logger: env.Logger})
	if err != nil {
		return res, fmt.Errorf("scenario: %w", err)
	}
	defer conn.Close()
	topic := unique("slow")
	group := topic
	if err := env.createTopic(ctx, topic, o.Partitions); err != nil {
		return res, err
	}
	tl.header("== slow-handler (seed 002): %d messages queued on %d partitions, handler %s per message", o.Messages, o.Partitions, o.Delay)
	tl.header("   topic %s, group %s; two members, a third joins, then one leaves", topic, group)
	produced, err := env.produce(ctx, topic, o.Partitions, o.Messages)
	if err != nil {
		return res, err
	}
	var log Log
	cfg := balanced.Config{Group: group, Topics: []string{topic}}
	start := func(name string) (*member, error) {
		return env.startMember(tl, name, cfg, Recorder(&log, name, o.Delay))
	}
	a, err := start("A")
	if err != nil {
		return res, err
	}
	defer a.stop()
	b, err := start("B")
	if err != nil {
		return res, err
	}
	defer b.stop()
	converge := func(ms ...*member) error {
		wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
		return waitShares(wctx, conn, group, topic, o.Partitions, ms...)
	}
	if err := converge(a, b); err != nil {
		return failf("A and B did not converge: %v", err)
	}
	tl.printf("A and B converged; handlers are busy")

	// Sample the committed offsets while the handlers work.
	var advances atomic.Int32
	var nonMonotonic atomic.Value
	sctx, stopSampling := context.WithCancel(ctx)
	var sampling sync.WaitGroup
	sampling.Go(func() {
		prev := map[int32]int64{}
		var prevTotal int64
		for ctxsleep.Sleep(sctx, 250*time.Millisecond) {
			var total int64
			for p := range o.Partitions {
				off, ok := committed(sctx, conn, group, topic, p)
				if !ok {
					continue
				}
				if off < prev[p] {
					nonMonotonic.Store(fmt.Sprintf("partition %d went back from %d to %d", p, prev[p], off))
				}
				prev[p] = off
				total += off
			}
			if total > prevTotal && log.Processed() < o.Messages {
				advances.Add(1)
			}
			prevTotal = total
		}
	})
	defer func() { stopSampling(); sampling.Wait() }()

	wait := func(n int) error {
		wctx, cancel := context.WithTimeout(ctx, time.Duration(o.Messages)*o.Delay+2*time.Minute)
		defer cancel()
		return log.WaitProcessed(wctx, n)
	}
	if err := wait(o.Messages / 4); err != nil {
		return failf("%v", err)
	}
	c, err := start("C")
	if err != nil {
		return res, err
	}
	defer c.stop()
	if err := converge(a, b, c); err != nil {
		return failf("C's join did not converge: %v", err)
	}
	tl.printf("converged with C (%d of %d processed)", log.Processed(), o.Messages)
	if err := wait(o.Messages / 2); err != nil {
		return failf("%v", err)
	}
	tl.printf("A leaves")
	if err := a.stop(); err != nil && !errors.Is(err, context.Canceled) {
		return failf("A: %v", err)
	}
	if err := converge(b, c); err != nil {
		return failf("A's leave did not converge: %v", err)
	}
	tl.printf("converged without A (%d of %d processed)", log.Processed(), o.Messages)
	if err := wait(o.Messages); err != nil {
		return failf("%v", err)
	}
	tl.printf("all %d processed", o.Messages)
	// The committed offsets reach the log end within a few commit intervals.
	deadline := time.Now().Add(30 * time.Second)
	for {
		done := true
		for p := range o.Partitions {
			off, _ := committed(ctx, conn, group, topic, p)
			if off != produced[balanced.TopicPartition{Topic: topic, Partition: p}] {
				done = false
			}
		}
		if done {
			break
		}
		if time.Now().After(deadline) {
			return failf("committed offsets did not reach the log end")
		}
		if !ctxsleep.Sleep(ctx, 100*time.Millisecond) {
			return res, ctx.Err()
		}
	}
	stopSampling()
	sampling.Wait()
	tl.printf("committed offsets equal the log end offsets")
	res.Analysis = log.Analyze(produced)
	res.CommitAdvances = int(advances.Load())
	for _, m := range []*member{a, b, c} {
		res.Lost += int(m.lost.Load())
	}
	inFlight := 2 * int(o.Partitions) // at most one message per moved partition at each of two rebalances
	switch an := res.Analysis; {
	case an.Overlaps != 0:
		return failf("%s (%s)", an, an.FirstOverlap)
	case an.Lost != 0:
		return failf("%s", an)
	case an.Duplicates > inFlight:
		return failf("%s: more duplicates than messages in flight at the rebalances (%d)", an, inFlight)
	case res.Lost != 0:
		return failf("%d partitions were lost: a member was expelled", res.Lost)
	case res.CommitAdvances < 2:
		return failf("committed offsets advanced only %d times while handlers were busy", res.CommitAdvances)
	}
	if s, ok := nonMonotonic.Load().(string); ok {
		return failf("committed offsets went backwards: %s", s)
	}
	for _, m := range []*member{b, c} {
		if err := m.failed(); err != nil {
			return failf("%v", err)
		}
	}
	b.stop()
	c.stop()
	res.Pass = true
	tl.header("PASS slow-handler: %s; committed offsets advanced %d times while handlers were busy; no member expelled",
		res.Analysis, res.CommitAdvances)
	return res, nil
}

// committed reads /consumers/<g>/offsets/<t>/<p>.
func committed(ctx context.Context, conn *zkwatch.Conn, group, topic string, p int32) (int64, bool) {
	data, _, err := conn.Get(ctx, fmt.Sprintf("/consumers/%s/offsets/%s/%d", group, topic, p))
	if err != nil { // zk.ErrNoNode: nothing committed yet
		return 0, false
	}
	off, err := strconv.ParseInt(string(data), 10, 64)
	return off, err == nil
}
