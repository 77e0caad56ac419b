package scenario

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"

	"github.com/zkbalance/zkbalance/internal/ctxsleep"
	"github.com/zkbalance/zkbalance/partition"
	"github.com/zkbalance/zkbalance/zkwatch"
)

// LegacyResult is what the legacy members did in the blocked-consume join.
type LegacyResult struct {
	// Peer names the members: "legacy members" or "pykafka 2.6.0 members".
	Peer string
	// NewcomerErr is what the newcomer's join returned (the seed's
	// PartitionOwnedError), empty if it got its share.
	NewcomerErr string
	// FailedAfter is the time from the newcomer's join to that error.
	FailedAfter time.Duration
	// OldBlocked: the old member's rebalance was still waiting for the lock
	// its consume() holds.
	OldBlocked bool
	Summary    string
}

// legacyMember reproduces the old ZooKeeper-balanced consumers' design (as
// pykafka's BalancedConsumer before 2.7): one lock guards both rebalancing
// and consuming, and consume() holds it while it waits for a message with
// no timeout. It writes the Scala layout (registration JSON, thread-id
// owners) and fetches with sarama, so it is a real member of the group.
type legacyMember struct {
	name, id, group, topic string
	partitions             int32
	retries                int
	backoff                time.Duration
	env                    Env
	tl                     *timeline

	conn      *zkwatch.Conn
	lock      sync.Mutex // rebalance and consume, as in the seed
	owned     []int32    // guarded by lock
	msgs      chan *sarama.ConsumerMessage
	waiting   atomic.Bool // a rebalance waits for lock
	client    sarama.Client
	consumer  sarama.Consumer
	wg        sync.WaitGroup
	cancel    context.CancelFunc
	pcs       []sarama.PartitionConsumer
	consuming atomic.Bool
}

func (e Env) newLegacy(tl *timeline, name, group, topic string, partitions int32, o BlockedOptions) *legacyMember {
	return &legacyMember{name: name, id: fmt.Sprintf("%s_legacy-%s-%d", group, name, time.Now().UnixMilli()),
		group: group, topic: topic, partitions: partitions, retries: o.LegacyRetries, backoff: o.LegacyBackoff,
		env: e, tl: tl, msgs: make(chan *sarama.ConsumerMessage)}
}

// join registers, rebalances once (returning its error, as the seed's
// newcomer does) and then consumes and follows membership changes.
func (l *legacyMember) join(ctx context.Context) error {
	ctx, l.cancel = context.WithCancel(ctx)
	var err error
	if l.conn, err = zkwatch.Dial(ctx, zkwatch.Config{Servers: l.env.ZooKeeper, Logger: l.env.Logger}); err != nil {
		return err
	}
	reg, _ := json.Marshal(map[string]any{"version": 1, "subscription": map[string]int{l.topic: 1},
		"pattern": "static", "timestamp": strconv.FormatInt(time.Now().UnixMilli(), 10)})
	ids := "/consumers/" + l.group + "/ids"
	if err := l.conn.EnsurePath(ctx, ids, nil); err != nil {
		return err
	}
	if _, err := l.conn.Create(ctx, ids+"/"+l.id, reg, zkwatch.FlagEphemeral, nil); err != nil {
		return fmt.Errorf("legacy %s: register: %w", l.name, err)
	}
	l.tl.printf("legacy-%s joined the group", l.name)
	if err := l.rebalance(ctx); err != nil {
		return err
	}
	if l.client, err = sarama.NewClient(l.env.Brokers, saramaConfig()); err != nil {
		return err
	}
	if l.consumer, err = sarama.NewConsumerFromClient(l.client); err != nil {
		return err
	}
	for _, p := range l.owned {
		pc, err := l.consumer.ConsumePartition(l.topic, p, sarama.OffsetOldest)
		if err != nil {
			return err
		}
		l.pcs = append(l.pcs, pc)
		l.wg.Add(1)
		go func() { // owned by l: stop closes pc and waits
			defer l.wg.Done()
			for m := range pc.Messages() {
				select {
				case l.msgs <- m:
				case <-ctx.Done():
				}
			}
		}()
	}
	l.wg.Add(2)
	go func() { defer l.wg.Done(); l.consumeLoop(ctx) }()
	go func() { defer l.wg.Done(); l.watchMembers(ctx) }()
	return nil
}

// consumeLoop is consume() with no timeout: it takes the lock, then waits
// for a message.
func (l *legacyMember) consumeLoop(ctx context.Context) {
	for ctx.Err() == nil {
		l.lock.Lock()
		l.consuming.Store(true)
		select {
		case <-l.msgs:
		case <-ctx.Done():
		}
		l.consuming.Store(false)
		l.lock.Unlock()
	}
}

// watchMembers rebalances on every change of the group's members.
func (l *legacyMember) watchMembers(ctx context.Context) {
	first := true
	for range l.conn.WatchChildren(ctx, "/consumers/"+l.group+"/ids") {
		if first {
			first = false
			continue
		}
		l.tl.printf("legacy-%s: members changed; its rebalance waits for the lock that consume() holds while waiting for a message", l.name)
		_ = l.rebalance(ctx)
	}
}

// rebalance takes the lock, releases what moved away and claims its
// share, retrying a fixed number of times.
func (l *legacyMember) rebalance(ctx context.Context) error {
	l.waiting.Store(true)
	l.lock.Lock()
	l.waiting.Store(false)
	defer l.lock.Unlock()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	members, _, err := l.conn.Children(ctx, "/consumers/"+l.group+"/ids")
	if err != nil {
		return err
	}
	shares, err := rangeShares(l.topic, l.partitions, members...)
	if err != nil {
		return err
	}
	dir := "/consumers/" + l.group + "/owners/" + l.topic
	for _, p := range l.owned {
		_ = l.conn.Delete(ctx, dir+"/"+strconv.Itoa(int(p)), -1)
	}
	l.owned = nil
	if err := l.conn.EnsurePath(ctx, dir, nil); err != nil {
		return err
	}
	var want []int32
	for p, o := range shares {
		if o == l.id {
			want = append(want, p)
		}
	}
	slices.Sort(want)
	value := []byte(partition.ThreadID(l.id, 0))
	for attempt := 1; ; attempt++ {
		var missing []int32
		for _, p := range want {
			if slices.Contains(l.owned, p) {
				continue
			}
			_, err := l.conn.Create(ctx, dir+"/"+strconv.Itoa(int(p)), value, zkwatch.FlagEphemeral, nil)
			switch {
			case err == nil:
				l.owned = append(l.owned, p)
			case errors.Is(err, zkwatch.ErrNodeExists):
				missing = append(missing, p)
			default:
				return err
			}
		}
		if len(missing) == 0 {
			slices.Sort(l.owned)
			l.tl.printf("legacy-%s owns partitions %v", l.name, l.owned)
			return nil
		}
		if attempt >= l.retries {
			return fmt.Errorf("%w: partitions %v of %s still owned by another member after %d attempts",
				errPartitionOwned, missing, l.topic, attempt)
		}
		l.tl.printf("legacy-%s: partitions %v still owned; retry %d of %d in %s", l.name, missing, attempt, l.retries-1, l.backoff)
		if !ctxsleep.Sleep(ctx, l.backoff) {
			return ctx.Err()
		}
	}
}

// stop ends consume, the watch and the fetches, and closes the session
// (its ephemeral znodes go with it).
func (l *legacyMember) stop() {
	if l.cancel != nil {
		l.cancel()
	}
	for _, pc := range l.pcs {
		pc.AsyncClose()
	}
	l.wg.Wait()
	if l.consumer != nil {
		_ = l.consumer.Close()
	}
	if l.client != nil {
		_ = l.client.Close()
	}
	if l.conn != nil {
		l.conn.Close()
	}
}

// runLegacyJoin is S1 with legacy members: A idles in consume() on the empty
// topic, B joins.
func runLegacyJoin(ctx context.Context, env Env, tl *timeline, _ *zkwatch.Conn, topic string, o BlockedOptions) (LegacyResult, error) {
	res := LegacyResult{Peer: "legacy members"}
	a := env.newLegacy(tl, "A", topic, topic, o.Partitions, o)
	defer a.stop()
	if err := a.join(ctx); err != nil {
		return res, fmt.Errorf("scenario: legacy A: %w", err)
	}
	tl.printf("legacy-A consume() waits for a message with no timeout, holding the rebalance lock")
	if !ctxsleep.Sleep(ctx, o.Idle) {
		return res, ctx.Err()
	}
	b := env.newLegacy(tl, "B", topic, topic, o.Partitions, o)
	defer b.stop()
	joined := time.Now()
	err := b.join(ctx)
	res.FailedAfter = time.Since(joined)
	res.OldBlocked = a.waiting.Load()
	switch {
	case errors.Is(err, errPartitionOwned):
		res.NewcomerErr = err.Error()
		tl.printf("legacy-B join FAILED after %s: %v", res.FailedAfter.Round(time.Millisecond), err)
		res.Summary = fmt.Sprintf("the newcomer failed with PartitionOwnedError after %s", res.FailedAfter.Round(time.Millisecond))
		if res.OldBlocked {
			tl.printf("legacy-A is still waiting for its own rebalance lock: it never released anything")
			res.Summary += " while the old member's rebalance was still blocked"
		}
	case err != nil:
		return res, fmt.Errorf("scenario: legacy B: %w", err)
	default:
		res.Summary = fmt.Sprintf("the newcomer got its share after %s (the legacy bug did not show)", res.FailedAfter.Round(time.Millisecond))
		tl.printf("legacy-B got its share after %s", res.FailedAfter.Round(time.Millisecond))
	}
	return res, nil
}
