package balanced

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"
)

// fakeSender records the batches it is asked to send; the first send of
// each test can be held (hold) until release is closed.
type fakeSender struct {
	mu      sync.Mutex
	batches [][]TopicPartition
	hold    chan struct{} // closed when the first send started
	release chan struct{} // the first send returns once this is closed
	err     error         // the request's error
	drop    TopicPartition
}

func newFakeSender() *fakeSender {
	return &fakeSender{hold: make(chan struct{}), release: make(chan struct{})}
}

func (f *fakeSender) send(items map[TopicPartition]int64) (map[TopicPartition]error, error) {
	f.mu.Lock()
	first := len(f.batches) == 0
	tps := slices.SortedFunc(maps.Keys(items), compareTP)
	f.batches = append(f.batches, tps)
	f.mu.Unlock()
	if first {
		close(f.hold)
		<-f.release
	}
	if f.err != nil {
		return nil, f.err
	}
	out := map[TopicPartition]error{}
	for tp, off := range items {
		if tp == f.drop {
			continue
		}
		if off < 0 {
			out[tp] = fmt.Errorf("refused %d", off)
		} else {
			out[tp] = nil
		}
	}
	return out, nil
}

func (f *fakeSender) sizes() []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []int
	for _, b := range f.batches {
		out = append(out, len(b))
	}
	return out
}

func compareTP(a, b TopicPartition) int {
	if a.Topic != b.Topic {
		if a.Topic < b.Topic {
			return -1
		}
		return 1
	}
	return int(a.Partition - b.Partition)
}

var errMissing = errors.New("missing")

// commitVia is one coalesced commit of tp at off through f.
func commitVia(ctx context.Context, c *coalescer[string, int64, error], f *fakeSender, tp TopicPartition, off int64) error {
	kerr, err := c.do(ctx, "coord", tp, off, errMissing, f.send)
	if err != nil {
		return err
	}
	return kerr
}

func TestCoalescerLoneRequestsGoAlone(t *testing.T) {
	var c coalescer[string, int64, error]
	f := newFakeSender()
	close(f.release)
	for p := range int32(3) {
		if err := commitVia(t.Context(), &c, f, TopicPartition{Topic: "t", Partition: p}, 1); err != nil {
			t.Fatal(err)
		}
	}
	if got := f.sizes(); !slices.Equal(got, []int{1, 1, 1}) {
		t.Fatalf("batch sizes %v, want [1 1 1]", got)
	}
	waitLanesGone(t, &c)
}

// TestCoalescerMergesWhileInFlight: requests arriving while one is in
// flight go out together in the next request, each with its own result.
func TestCoalescerMergesWhileInFlight(t *testing.T) {
	tests := []struct {
		name    string
		reqErr  error
		drop    int32 // a partition the response leaves out (-1: none)
		wantErr func(p int32) string
	}{
		{"ok, one refused", nil, -1, func(p int32) string {
			if p == 5 {
				return "refused -5"
			}
			return ""
		}},
		{"request failed", errors.New("broken pipe"), -1, func(int32) string { return "broken pipe" }},
		{"partition missing from the response", nil, 3, func(p int32) string {
			switch p {
			case 3:
				return "missing"
			case 5:
				return "refused -5"
			}
			return ""
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c coalescer[string, int64, error]
			f := newFakeSender()
			f.drop = TopicPartition{Topic: "t", Partition: tt.drop}
			const n = 8
			errs := make([]error, n)
			var wg sync.WaitGroup
			wg.Go(func() { errs[0] = commitVia(t.Context(), &c, f, TopicPartition{Topic: "t", Partition: 0}, 1) })
			<-f.hold // the first is in flight
			for p := int32(1); p < n; p++ {
				off := int64(p)
				if p == 5 {
					off = -5
				}
				wg.Go(func() { errs[p] = commitVia(t.Context(), &c, f, TopicPartition{Topic: "t", Partition: p}, off) })
			}
			waitFor(t, func() bool {
				c.mu.Lock()
				defer c.mu.Unlock()
				ln := c.lanes["coord"]
				return ln != nil && ln.next != nil && len(ln.next.items) == n-1
			})
			f.err = tt.reqErr
			close(f.release)
			wg.Wait()
			if got := f.sizes(); !slices.Equal(got, []int{1, n - 1}) {
				t.Fatalf("batch sizes %v, want [1 %d]", got, n-1)
			}
			for p := range int32(n) {
				want := tt.wantErr(p)
				if (errs[p] == nil) != (want == "") || (errs[p] != nil && errs[p].Error() != want) {
					t.Errorf("partition %d: err %v, want %q", p, errs[p], want)
				}
			}
			waitLanesGone(t, &c)
		})
	}
}

// TestCoalescerDuplicateGoesAlone: a second request for a partition
// already gathering is sent on its own, not merged over the first.
func TestCoalescerDuplicateGoesAlone(t *testing.T) {
	var c coalescer[string, int64, error]
	f := newFakeSender()
	var wg sync.WaitGroup
	wg.Go(func() { _ = commitVia(t.Context(), &c, f, TopicPartition{Topic: "t", Partition: 0}, 1) })
	<-f.hold
	wg.Go(func() { _ = commitVia(t.Context(), &c, f, TopicPartition{Topic: "t", Partition: 1}, 1) })
	waitFor(t, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.lanes["coord"].next != nil
	})
	if err := commitVia(t.Context(), &c, f, TopicPartition{Topic: "t", Partition: 1}, 2); err != nil {
		t.Fatal(err)
	}
	close(f.release)
	wg.Wait()
	if got := f.sizes(); !slices.Equal(got, []int{1, 1, 1}) {
		t.Fatalf("batch sizes %v, want [1 1 1] (the duplicate alone)", got)
	}
}

// TestCoalescerCallerContextEnds: a caller whose context ends returns its
// cause at once; the batch is still sent and the lane is cleaned up.
func TestCoalescerCallerContextEnds(t *testing.T) {
	var c coalescer[string, int64, error]
	f := newFakeSender()
	var wg sync.WaitGroup
	wg.Go(func() { _ = commitVia(t.Context(), &c, f, TopicPartition{Topic: "t", Partition: 0}, 1) })
	<-f.hold
	ctx, cancel := context.WithCancelCause(t.Context())
	cause := errors.New("revoke over")
	done := make(chan error, 1)
	go func() { done <- commitVia(ctx, &c, f, TopicPartition{Topic: "t", Partition: 1}, 1) }()
	waitFor(t, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.lanes["coord"].next != nil
	})
	cancel(cause)
	if err := <-done; !errors.Is(err, cause) {
		t.Fatalf("err %v, want the context's cause", err)
	}
	close(f.release)
	wg.Wait()
	waitLanesGone(t, &c)
	if got := f.sizes(); !slices.Equal(got, []int{1, 1}) {
		t.Fatalf("batch sizes %v, want [1 1]", got)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 5s")
		}
		time.Sleep(time.Millisecond)
	}
}

// waitLanesGone waits until the coalescer has nothing in flight (its
// sending goroutine cleans up just after the last batch is answered).
func waitLanesGone(t *testing.T, c *coalescer[string, int64, error]) {
	t.Helper()
	waitFor(t, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return len(c.lanes) == 0
	})
}
