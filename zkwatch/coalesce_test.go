package zkwatch_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/zkbalance/zkbalance/zkwatch"
)

// TestCoalesceBurstOfChildren creates 50 children as fast as ZooKeeper takes
// them while a children watch feeds a Coalescer: the burst must come out as
// a few signals, not 50, and the last snapshot must show all 50.
func TestCoalesceBurstOfChildren(t *testing.T) {
	shared.Get(t)
	ctx := testCtx(t, time.Minute)
	c := dial(t, "/zkw-burst", zkwatch.Config{})
	if err := c.EnsurePath(ctx, "/ids", nil); err != nil {
		t.Fatal(err)
	}
	w := c.WatchChildren(ctx, "/ids")
	first := <-w // initial snapshot, before the burst
	if len(first.Children) != 0 {
		t.Fatalf("initial %v", first.Children)
	}
	co := zkwatch.NewCoalescer(100*time.Millisecond, 2*time.Second)
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	go co.Run(runCtx)
	var latest zkwatch.Snapshot
	var snapshots int
	fwd := make(chan struct{})
	go func() {
		defer close(fwd)
		for s := range w {
			latest = s
			snapshots++
			co.Trigger("ids changed")
			if len(s.Children) == 50 {
				return
			}
		}
	}()
	start := time.Now()
	// 50 creates pipelined from 10 goroutines on one connection.
	errs := make(chan error, 50)
	for g := range 10 {
		go func() {
			for i := g * 5; i < g*5+5; i++ {
				_, err := c.Create(ctx, fmt.Sprintf("/ids/m-%02d", i), nil, zkwatch.FlagEphemeral, nil)
				errs <- err
			}
		}()
	}
	for range 50 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	took := time.Since(start)
	<-fwd
	var signals int
	var total int
	deadline := time.After(5 * time.Second)
collect:
	for {
		select {
		case sig := <-co.C():
			signals++
			total += sig.Count
			if total == snapshots {
				break collect
			}
		case <-deadline:
			break collect
		}
	}
	t.Logf("50 creates in %s -> %d watch snapshots -> %d signals", took, snapshots, signals)
	if len(latest.Children) != 50 {
		t.Fatalf("last snapshot has %d children", len(latest.Children))
	}
	if signals == 0 || signals > 5 {
		t.Fatalf("%d signals for a burst of 50 creates, want 1..5", signals)
	}
	if total != snapshots {
		t.Fatalf("signals stand for %d triggers, %d were sent", total, snapshots)
	}
}
