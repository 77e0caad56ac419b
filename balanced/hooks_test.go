package balanced_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zkbalance/zkbalance/balanced"
	"github.com/zkbalance/zkbalance/internal/cluster"
)

// errorLog collects what Hooks.OnError was told.
type errorLog struct {
	mu   sync.Mutex
	errs []error
}

func (l *errorLog) add(_ context.Context, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.errs = append(l.errs, err)
}

// find returns the first PartitionError of op on tp wrapping target.
func (l *errorLog) find(op string, tp balanced.TopicPartition, target error) *balanced.PartitionError {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, err := range l.errs {
		var pe *balanced.PartitionError
		if errors.As(err, &pe) && pe.Op == op && pe.TopicPartition == tp && errors.Is(err, target) {
			return pe
		}
	}
	return nil
}

// Claim.Commit stores what is marked at once (CommitInterval is an hour
// here), and fails with ErrNotOwner once the owner znode is gone, which
// Hooks.OnError hears about as a PartitionError wrapping ErrNotOwner. Hooks
// never run concurrently, may call Health, and Health reports the session,
// the owned partitions and the last rebalance (before Run:
// TestHealthWithoutRun).
func TestClaimCommitOnErrorHealth(t *testing.T) {
	cl := shared.Get(t)
	ctx := testCtx(t, 3*time.Minute)
	topic, group := uniq(t, "commit"), uniq(t, "g-commit")
	if err := cl.CreateTopic(ctx, topic, 2, 1); err != nil {
		t.Fatal(err)
	}
	produceSpread(t, topic, 2, 10)
	tp0 := balanced.TopicPartition{Topic: topic, Partition: 0}

	var (
		errs        errorLog
		inHook      atomic.Int32
		overlap     atomic.Bool
		healthInOn  atomic.Int64 // SessionID seen by Health inside OnAssigned
		healthInErr atomic.Int32 // Health calls inside OnError
		commitErrs  = make(chan error, 100)
		onlyOnce    sync.Once
		firstCommit = make(chan struct{})
	)
	enter := func() func() {
		if inHook.Add(1) > 1 {
			overlap.Store(true)
		}
		time.Sleep(5 * time.Millisecond) // widen the window for an overlap
		return func() { inHook.Add(-1) }
	}
	var c atomic.Pointer[balanced.Consumer] // set once startMember returns; hooks may run before
	cfg := balanced.Config{
		Group: group, Topics: []string{topic},
		CommitInterval:      time.Hour,
		HandlerRestartDelay: 100 * time.Millisecond,
		Hooks: balanced.Hooks{
			OnAssigned: func(ctx context.Context, tps []balanced.TopicPartition) {
				defer enter()()
				if c := c.Load(); c != nil {
					healthInOn.Store(c.Health().SessionID)
				}
			},
			OnRevoked: func(ctx context.Context, tps []balanced.TopicPartition) { defer enter()() },
			OnLost:    func(ctx context.Context, tps []balanced.TopicPartition) { defer enter()() },
			OnError: func(ctx context.Context, err error) {
				defer enter()()
				errs.add(ctx, err)
				if c := c.Load(); c != nil && c.Health().SessionID != 0 {
					healthInErr.Add(1)
				}
			},
		},
	}
	h := balanced.HandlerFunc(func(ctx context.Context, claim *balanced.Claim) error {
		for {
			m, err := claim.Next(ctx)
			if err != nil {
				return nil
			}
			claim.Mark(m)
			if err := claim.Commit(ctx); err != nil {
				commitErrs <- err
				return err // restarted after HandlerRestartDelay
			}
			if m.Partition == 0 && m.Offset == 4 {
				onlyOnce.Do(func() { close(firstCommit) })
			}
		}
	})
	m := startMember(t, "A", cfg, h)
	c.Store(m.c)

	// Commits land at once, not after CommitInterval.
	deadline := time.Now().Add(30 * time.Second)
	for committedSum(t, group, topic, 2) != 10 {
		if time.Now().After(deadline) {
			t.Fatalf("committed offsets sum to %d within 30s, want 10 (Claim.Commit)", committedSum(t, group, topic, 2))
		}
		time.Sleep(20 * time.Millisecond)
	}
	<-firstCommit
	hl := m.c.Health()
	if !hl.Connected || hl.SessionID == 0 || hl.Owned != 2 || hl.LastRebalance.IsZero() || hl.RebalanceErr != nil {
		t.Fatalf("Health while consuming: %+v", hl)
	}
	if got := healthInOn.Load(); got != 0 && got != hl.SessionID {
		t.Fatalf("Health inside OnAssigned saw session %x, want %x", healthInOn.Load(), hl.SessionID)
	}

	// Take the owner znode of partition 0 away: the next Claim.Commit is fenced.
	owner := "/consumers/" + group + "/owners/" + topic + "/0"
	if err := zkConn(t).Delete(ctx, owner, -1); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Produce(ctx, topic, []cluster.Message{{Partition: 0, Value: []byte("after")}}); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-commitErrs:
		if !errors.Is(err, balanced.ErrNotOwner) {
			t.Fatalf("Claim.Commit after the owner znode was deleted: %v, want ErrNotOwner", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no Claim.Commit failed within 30s of deleting the owner znode")
	}
	deadline = time.Now().Add(10 * time.Second)
	for errs.find("consume", tp0, balanced.ErrNotOwner) == nil {
		if time.Now().After(deadline) {
			t.Fatalf("OnError never got a consume PartitionError wrapping ErrNotOwner for %v; got %v", tp0, errs.errs)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := committedSum(t, group, topic, 2); got != 10 {
		t.Fatalf("committed offsets sum to %d after the fenced commit, want 10 (nothing written)", got)
	}
	if overlap.Load() {
		t.Fatal("two hooks ran at the same time")
	}
	if healthInErr.Load() == 0 {
		t.Fatal("Health was never called inside OnError")
	}
}
