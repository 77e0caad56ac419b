package scenario

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/zkbalance/zkbalance/internal/ctxsleep"
	"github.com/zkbalance/zkbalance/internal/pykafka"
)

// PykafkaVersion is the pykafka release BlockedOptions.Pykafka runs: the
// last 2.6.x, whose consume() holds the rebalance lock while it waits.
const PykafkaVersion = pykafka.V26

// runPykafkaJoin is S1 with real pykafka 2.6.0 BalancedConsumer members
// (Python child processes from a cached virtualenv, see internal/pykafka): A
// with consumer_timeout_ms=-1 idles in consume() on the empty topic, B
// joins with rebalance_max_retries and rebalance_backoff_ms from o's
// LegacyRetries and LegacyBackoff.
func runPykafkaJoin(ctx context.Context, env Env, tl *timeline, topic string, o BlockedOptions) (LegacyResult, error) {
	res := LegacyResult{Peer: "pykafka " + PykafkaVersion + " members"}
	tl.printf("preparing the pykafka %s virtualenv (cached; its first creation installs from PyPI)", PykafkaVersion)
	vctx, cancel := context.WithTimeout(ctx, 15*time.Minute)
	python, err := pykafka.Venv(vctx, PykafkaVersion)
	cancel()
	if err != nil {
		return res, fmt.Errorf("scenario: %w", err)
	}
	args := pykafka.MemberArgs{ZooKeeper: env.ZooKeeper, Brokers: env.Brokers, Topic: topic, Group: topic,
		ConsumerTimeoutMS: pykafka.NoTimeout, RebalanceMaxRetries: o.LegacyRetries, RebalanceBackoff: o.LegacyBackoff}
	start := func(name string) (*pykafka.Member, error) {
		args.Name = name
		sctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		m, err := pykafka.Start(sctx, python, args)
		if err != nil {
			return nil, fmt.Errorf("scenario: %w", err)
		}
		tl.printf("pykafka-%s (%s) joined the group", name, m.ID())
		return m, nil
	}
	a, err := start("A")
	if err != nil {
		return res, err
	}
	defer func() { _ = a.Stop() }()
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	err = a.WaitOwned(wctx, func(ps []int32) bool { return len(ps) == int(o.Partitions) })
	cancel()
	if err != nil {
		return res, fmt.Errorf("scenario: pykafka-A did not own the topic: %w\n%s", err, a.Stderr(20))
	}
	tl.printf("pykafka-A owns all %d partitions and waits in consume() with no timeout, holding the rebalance lock", o.Partitions)
	if !ctxsleep.Sleep(ctx, o.Idle) {
		return res, ctx.Err()
	}
	b, err := start("B")
	if err != nil {
		return res, err
	}
	defer func() { _ = b.Stop() }()
	joined := b.Events()[0].At
	// B either fails (PartitionOwnedError, then it stops) or gets its share.
	// Its retries sleep 0, 1, ..., retries-2 backoffs.
	bound := o.LegacyBackoff*time.Duration((o.LegacyRetries-1)*(o.LegacyRetries-2)/2) + time.Minute
	wctx, cancel = context.WithTimeout(ctx, bound)
	err = b.Wait(wctx, func(evs []pykafka.Event) bool {
		for _, e := range evs {
			if e.Kind == pykafka.EventError && e.Name == "PartitionOwnedError" {
				return true
			}
			if e.Kind == pykafka.EventOwned && len(e.Partitions) > 0 {
				return true
			}
		}
		return false
	})
	cancel()
	if err != nil && ctx.Err() != nil {
		return res, ctx.Err()
	}
	owned, _ := a.Owned()
	res.OldBlocked = len(owned) == int(o.Partitions)
	var failed *pykafka.Event
	for _, e := range b.Errors() {
		if e.Name == "PartitionOwnedError" {
			failed = &e
			break
		}
	}
	if failed == nil {
		bo, _ := b.Owned()
		res.FailedAfter = time.Since(joined)
		res.Summary = fmt.Sprintf("the newcomer got partitions %s (the bug did not show)", ints(bo))
		tl.printf("pykafka-B owns partitions %s", ints(bo))
		return res, nil
	}
	res.FailedAfter = failed.At.Sub(joined)
	res.NewcomerErr = "PartitionOwnedError " + failed.Message
	// It stops itself: ConsumerStoppedException, exit status 1.
	wctx, cancel = context.WithTimeout(ctx, 30*time.Second)
	select {
	case <-b.Done():
	case <-wctx.Done():
	}
	cancel()
	var names []string
	for _, e := range b.Errors() {
		names = append(names, e.Name)
	}
	tl.printf("pykafka-B join FAILED after %s: %s (%s; exit: %v)", res.FailedAfter.Round(time.Millisecond),
		res.NewcomerErr, strings.Join(names, ", "), b.ExitErr())
	res.Summary = fmt.Sprintf("the newcomer failed with PartitionOwnedError after %s", res.FailedAfter.Round(time.Millisecond))
	if res.OldBlocked {
		tl.printf("pykafka-A still owns partitions %s: its rebalance waits for the lock its consume() holds", ints(owned))
		res.Summary += " while the old member never rebalanced"
	}
	return res, nil
}

func ints(ps []int32) string {
	ps = slices.Clone(ps)
	slices.Sort(ps)
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = strconv.Itoa(int(p))
	}
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ",")
}
