package scenario

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/zkbalance/zkbalance/balanced"
	"github.com/zkbalance/zkbalance/internal/ctxsleep"
	"github.com/zkbalance/zkbalance/zkwatch"
)

// BlockedOptions configure the blocked-consume scenario (S1, seed 000).
type BlockedOptions struct {
	// Group names the zkbalance group and its topic (default: a fresh
	// "blocked-<n>"); the legacy members use Group+"-legacy".
	Group      string
	Partitions int32         // partitions of the empty topic (default 5)
	Messages   int           // produced after the join (default 1000)
	Idle       time.Duration // how long the first member waits for data before the join (default 2s)
	Target     time.Duration // the newcomer should own its share within this (default 1s)
	Bound      time.Duration // ... and must within this, or the scenario fails (default 15s)
	// Legacy first runs the same join with two legacy members whose
	// consume holds the rebalance lock while it waits (the seed's bug).
	Legacy bool
	// Pykafka first runs the same join with two real pykafka 2.6.0
	// BalancedConsumer members (PykafkaVersion; Python processes from a
	// cached virtualenv, which its first use installs from PyPI; needs
	// python3): the seed's bug as it happens in pykafka.
	Pykafka       bool
	LegacyRetries int           // the legacy (or pykafka) newcomer's claim attempts (default 5, as pykafka)
	LegacyBackoff time.Duration // between them (default 500ms; pykafka's is 2s; pykafka sleeps 0, 1, 2, ... of it)
}

func (o BlockedOptions) withDefaults() BlockedOptions {
	if o.Partitions <= 0 {
		o.Partitions = 5
	}
	if o.Messages <= 0 {
		o.Messages = 1000
	}
	if o.Idle <= 0 {
		o.Idle = 2 * time.Second
	}
	if o.Target <= 0 {
		o.Target = time.Second
	}
	if o.Bound <= 0 {
		o.Bound = 15 * time.Second
	}
	if o.LegacyRetries <= 0 {
		o.LegacyRetries = 5
	}
	if o.LegacyBackoff <= 0 {
		o.LegacyBackoff = 500 * time.Millisecond
	}
	return o
}

// BlockedResult is the outcome of BlockedConsume.
type BlockedResult struct {
	Pass         bool
	Reason       string        // why it failed, when it did
	NewcomerWait time.Duration // join to owning its share (zkbalance)
	Analysis     Analysis
	Legacy       *LegacyResult // set with Options.Legacy
	Pykafka      *LegacyResult // set with Options.Pykafka
}

// BlockedConsume runs S1: member A idles on an empty topic, member B joins;
// B must own its share at once (A releases while it waits for data), and
// everything produced afterwards is processed once, without overlap. It
// prints a timeline and a PASS/FAIL line to env.Out. The error is for
// failures to run at all (cluster unreachable); a scenario that runs and
// fails returns Pass=false.
func BlockedConsume(ctx context.Context, env Env, o BlockedOptions) (BlockedResult, error) {
	env, o = env.withDefaults(), o.withDefaults()
	tl := newTimeline(env.Out)
	conn, err := zkwatch.Dial(ctx, zkwatch.Config{Servers: env.ZooKeeper, Logger: env.Logger})
	if err != nil {
		return BlockedResult{}, fmt.Errorf("scenario: %w", err)
	}
	defer conn.Close()
	var res BlockedResult
	if o.Legacy {
		topic := unique("blocked-legacy")
		if o.Group != "" {
			topic = o.Group + "-legacy"
		}
		if err := env.createTopic(ctx, topic, o.Partitions); err != nil {
			return res, err
		}
		tl.header("== blocked-consume, legacy members: consume() holds the rebalance lock while it waits (seed 000)")
		tl.header("   topic %s: %d partitions, empty; group %s", topic, o.Partitions, topic)
		lr, err := runLegacyJoin(ctx, env, tl, conn, topic, o)
		if err != nil {
			return res, err
		}
		res.Legacy = &lr
	}
	if o.Pykafka {
		topic := unique("blocked-pykafka")
		if o.Group != "" {
			topic = o.Group + "-pykafka"
		}
		if err := env.createTopic(ctx, topic, o.Partitions); err != nil {
			return res, err
		}
		tl.header("== blocked-consume, pykafka %s members: consume() holds the rebalance lock while it waits (seed 000)", PykafkaVersion)
		tl.header("   topic %s: %d partitions, empty; group %s; consumer_timeout_ms=-1; newcomer's rebalance_max_retries %d, rebalance_backoff_ms %d",
			topic, o.Partitions, topic, o.LegacyRetries, o.LegacyBackoff.Milliseconds())
		pr, err := runPykafkaJoin(ctx, env, tl, topic, o)
		if err != nil {
			return res, err
		}
		res.Pykafka = &pr
	}

	topic := unique("blocked")
	if o.Group != "" {
		topic = o.Group
	}
	group := topic
	if err := env.createTopic(ctx, topic, o.Partitions); err != nil {
		return res, err
	}
	tl.header("== blocked-consume, zkbalance members (seed 000)")
	tl.header("   topic %s: %d partitions, empty; group %s; assignor scala-range", topic, o.Partitions, group)
	var log Log
	cfg := balanced.Config{Group: group, Topics: []string{topic}}
	a, err := env.startMember(tl, "A", cfg, Recorder(&log, "A", 0))
	if err != nil {
		return res, err
	}
	defer a.stop()
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	err = waitShares(wctx, conn, group, topic, o.Partitions, a)
	cancel()
	if err != nil {
		return fail(tl, res, "A did not own the topic: %v", err), nil
	}
	tl.printf("A owns all %d partitions and waits for messages (no timeout)", o.Partitions)
	if !ctxsleep.Sleep(ctx, o.Idle) {
		return res, ctx.Err()
	}
	joined := time.Now()
	b, err := env.startMember(tl, "B", cfg, Recorder(&log, "B", 0))
	if err != nil {
		return res, err
	}
	defer b.stop()
	wctx, cancel = context.WithTimeout(ctx, o.Bound)
	err = waitShares(wctx, conn, group, topic, o.Partitions, a, b)
	cancel()
	res.NewcomerWait = time.Since(joined)
	if err != nil {
		return fail(tl, res, "B did not get its share within %s: %v", o.Bound, err), nil
	}
	shares, _ := rangeShares(topic, o.Partitions, a.c.MemberID(), b.c.MemberID())
	tl.printf("converged: A owns %s, B owns %s — the newcomer waited %s (target %s), no PartitionOwnedError",
		partitionList(shares, a.c.MemberID()), partitionList(shares, b.c.MemberID()),
		res.NewcomerWait.Round(time.Millisecond), o.Target)
	produced, err := env.produce(ctx, topic, o.Partitions, o.Messages)
	if err != nil {
		return res, err
	}
	tl.printf("produced %d messages", o.Messages)
	wctx, cancel = context.WithTimeout(ctx, 2*time.Minute)
	err = log.WaitProcessed(wctx, o.Messages)
	cancel()
	res.Analysis = log.Analyze(produced)
	if err != nil {
		return fail(tl, res, "%v; %s", err, res.Analysis), nil
	}
	tl.printf("all %d processed: %s", o.Messages, res.Analysis)
	for _, m := range []*member{a, b} {
		if err := m.failed(); err != nil {
			return fail(tl, res, "%v", err), nil
		}
	}
	if an := res.Analysis; an.Lost != 0 || an.Duplicates != 0 || an.Overlaps != 0 {
		return fail(tl, res, "%s (%s)", an, an.FirstOverlap), nil
	}
	a.stop()
	b.stop()
	res.Pass = true
	verdict := fmt.Sprintf("PASS blocked-consume: the newcomer owned its share %s after joining (target %s); %d messages: %s",
		res.NewcomerWait.Round(time.Millisecond), o.Target, o.Messages, res.Analysis)
	for _, l := range []*LegacyResult{res.Legacy, res.Pykafka} {
		if l != nil {
			verdict += fmt.Sprintf("; %s: %s", l.Peer, l.Summary)
		}
	}
	tl.header("%s", verdict)
	return res, nil
}

// fail records and prints a FAIL verdict.
func fail(tl *timeline, res BlockedResult, format string, args ...any) BlockedResult {
	res.Reason = fmt.Sprintf(format, args...)
	tl.header("FAIL blocked-consume: %s", res.Reason)
	return res
}

var errPartitionOwned = errors.New("PartitionOwnedError")
