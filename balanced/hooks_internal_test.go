package balanced

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestPartitionError(t *testing.T) {
	tp := TopicPartition{Topic: "orders", Partition: 3}
	inner := errors.Join(errors.New("check owner"), ErrNotOwner)
	var err error = &PartitionError{Op: "commit", TopicPartition: tp, Err: inner}
	if got, want := err.Error(), "balanced: commit orders/3: check owner\nbalanced: partition not owned by this member"; got != want {
		t.Fatalf("Error() = %q, want %q", got, want)
	}
	wrapped := errors.Join(errors.New("outer"), err)
	var pe *PartitionError
	if !errors.Is(wrapped, ErrNotOwner) || !errors.As(wrapped, &pe) || pe.Op != "commit" || pe.TopicPartition != tp {
		t.Fatalf("errors.Is/As do not see through: %v", wrapped)
	}
}

// Hook calls from many goroutines never overlap, and nothing is reported
// without an OnError or for a nil error.
func TestHooksSerialized(t *testing.T) {
	var inside, overlaps, calls atomic.Int32
	hook := func() {
		if inside.Add(1) > 1 {
			overlaps.Add(1)
		}
		time.Sleep(100 * time.Microsecond)
		calls.Add(1)
		inside.Add(-1)
	}
	c, err := New(Config{Group: "g", Topics: []string{"t"}, ZooKeeper: "z:1", Hooks: Hooks{
		OnError: func(context.Context, error) { hook() },
	}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	tp := TopicPartition{Topic: "t"}
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				switch i % 3 {
				case 0:
					c.hook(hook)
				case 1:
					c.reportError(ctx, errors.New("x"))
				default:
					c.partitionFailed(ctx, "fetch", tp, errors.New("y"))
				}
				c.partitionFailed(ctx, "fetch", tp, nil) // no error: not reported
				c.reportError(ctx, nil)
			}
		}()
	}
	wg.Wait()
	if overlaps.Load() != 0 || calls.Load() != 16*20 {
		t.Fatalf("overlaps %d, calls %d (want 0, %d)", overlaps.Load(), calls.Load(), 16*20)
	}
	quiet, err := New(Config{Group: "g", Topics: []string{"t"}, ZooKeeper: "z:1"})
	if err != nil {
		t.Fatal(err)
	}
	quiet.reportError(ctx, errors.New("nobody listens")) // no OnError: no call, no panic
}

func TestHealthWithoutRun(t *testing.T) {
	c, err := New(Config{Group: "g", Topics: []string{"t"}, ZooKeeper: "z:1"})
	if err != nil {
		t.Fatal(err)
	}
	if h := c.Health(); !reflect.DeepEqual(h, Health{}) {
		t.Fatalf("Health before Run = %+v, want the zero Health", h)
	}
	ctx := context.Background()
	boom := errors.New("boom")
	c.noteRebalance(ctx, boom)
	if h := c.Health(); !errors.Is(h.RebalanceErr, boom) || !h.LastRebalance.IsZero() {
		t.Fatalf("after a failed rebalance: %+v", h)
	}
	c.noteRebalance(ctx, context.Canceled) // superseded: no change
	if h := c.Health(); !errors.Is(h.RebalanceErr, boom) {
		t.Fatalf("a superseded rebalance changed Health: %+v", h)
	}
	c.noteRebalance(ctx, nil)
	if h := c.Health(); h.RebalanceErr != nil || h.LastRebalance.IsZero() {
		t.Fatalf("after a completed rebalance: %+v", h)
	}
}
