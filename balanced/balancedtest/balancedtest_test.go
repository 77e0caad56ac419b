package balancedtest_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/zkbalance/zkbalance/balanced"
	"github.com/zkbalance/zkbalance/balanced/balancedtest"
)

var tp = balanced.TopicPartition{Topic: "t", Partition: 2}

// consume runs h over p and fails the test if it does not return in 5 s.
func consume(t *testing.T, h balanced.Handler, p *balancedtest.Partition) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- h.Consume(p.Context(), p.Claim()) }()
	select {
	case err := <-done:
		return err
	case <-time.After(5 * time.Second):
		p.Cancel(balanced.ErrClosed)
		t.Fatal("handler did not return within 5s")
		return nil
	}
}

func TestClaimAccessors(t *testing.T) {
	msgs := []*balanced.Message{{Topic: "t", Partition: 2, Offset: 40}, {Topic: "t", Partition: 2, Offset: 41}}
	p := balancedtest.NewPartition(tp, msgs)
	c := p.Claim()
	if c.TopicPartition() != tp || c.InitialOffset() != 40 || c.HighWaterMark() != 42 || p.Marked() != -1 {
		t.Fatalf("tp %v initial %d hwm %d marked %d", c.TopicPartition(), c.InitialOffset(), c.HighWaterMark(), p.Marked())
	}
	empty := balancedtest.NewPartition(tp, nil)
	if empty.Claim().InitialOffset() != 0 || empty.Claim().HighWaterMark() != 0 {
		t.Fatalf("empty: initial %d hwm %d", empty.Claim().InitialOffset(), empty.Claim().HighWaterMark())
	}
}

func TestEachMessageMarksAllThenRevoked(t *testing.T) {
	p := balancedtest.NewPartition(tp, balancedtest.Messages(tp, "a", "b", "c"))
	var got []string
	err := consume(t, balanced.EachMessage(func(ctx context.Context, m *balanced.Message) error {
		got = append(got, string(m.Value))
		return nil
	}), p)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []string{"a", "b", "c"}) || p.Marked() != 3 || p.Delivered() != 3 {
		t.Fatalf("got %v marked %d delivered %d", got, p.Marked(), p.Delivered())
	}
	if cause := context.Cause(p.Context()); !errors.Is(cause, balanced.ErrRevoked) {
		t.Fatalf("cause %v, want ErrRevoked", cause)
	}
	if len(p.Commits()) != 0 {
		t.Fatalf("commits %v without Claim.Commit", p.Commits())
	}
}

func TestHandlerErrorStopsAtFailedMessage(t *testing.T) {
	p := balancedtest.NewPartition(tp, balancedtest.Messages(tp, "a", "bad", "c"))
	boom := errors.New("boom")
	err := consume(t, balanced.EachMessage(func(ctx context.Context, m *balanced.Message) error {
		if string(m.Value) == "bad" {
			return boom
		}
		return nil
	}), p)
	if !errors.Is(err, boom) || p.Marked() != 1 {
		t.Fatalf("err %v marked %d, want boom and 1", err, p.Marked())
	}
}

func TestMessagesChannel(t *testing.T) {
	p := balancedtest.NewPartition(tp, balancedtest.Messages(tp, "a", "b"))
	var n int
	err := consume(t, balanced.HandlerFunc(func(ctx context.Context, c *balanced.Claim) error {
		for m := range c.Messages() {
			n++
			c.Mark(m)
		}
		return nil
	}), p)
	if err != nil || n != 2 || p.Marked() != 2 {
		t.Fatalf("err %v n %d marked %d", err, n, p.Marked())
	}
}

func TestCancelWhileWaitingAndAdd(t *testing.T) {
	for _, cause := range []error{balanced.ErrRevoked, balanced.ErrSessionExpired, balanced.ErrClosed} {
		t.Run(cause.Error(), func(t *testing.T) {
			p := balancedtest.NewPartition(tp, balancedtest.Messages(tp, "a"))
			p.EndWhenDrained(nil)
			seen := make(chan int64, 10)
			done := make(chan error, 1)
			go func() {
				done <- balanced.EachMessage(func(ctx context.Context, m *balanced.Message) error {
					seen <- m.Offset
					return nil
				}).Consume(p.Context(), p.Claim())
			}()
			if o := <-seen; o != 0 {
				t.Fatalf("first offset %d", o)
			}
			p.Add(&balanced.Message{Topic: tp.Topic, Partition: tp.Partition, Offset: 1})
			if o := <-seen; o != 1 {
				t.Fatalf("added offset %d", o)
			}
			p.Cancel(cause)
			select {
			case err := <-done:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("handler did not return after Cancel")
			}
			if got := context.Cause(p.Context()); !errors.Is(got, cause) {
				t.Fatalf("cause %v, want %v", got, cause)
			}
			// The mark of offset 1 happens after seen: the handler has returned now.
			if p.Marked() != 2 {
				t.Fatalf("marked %d, want 2", p.Marked())
			}
		})
	}
}

func TestEndWhenDrainedFetchStopped(t *testing.T) {
	p := balancedtest.NewPartition(tp, balancedtest.Messages(tp, "a"))
	p.EndWhenDrained(balanced.ErrFetchStopped)
	err := consume(t, balanced.EachMessage(func(ctx context.Context, m *balanced.Message) error { return nil }), p)
	if !errors.Is(err, balanced.ErrFetchStopped) || p.Context().Err() != nil {
		t.Fatalf("err %v ctx %v, want ErrFetchStopped and a live context", err, p.Context().Err())
	}
}

func TestCommit(t *testing.T) {
	ctx := context.Background()
	p := balancedtest.NewPartition(tp, balancedtest.Messages(tp, "a", "b", "c"))
	c := p.Claim()
	if err := c.Commit(ctx); err != nil || len(p.Commits()) != 0 {
		t.Fatalf("commit of nothing: %v %v", err, p.Commits())
	}
	c.MarkOffset(2)
	c.MarkOffset(1) // never backwards
	if err := c.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Commit(ctx); err != nil { // nothing new
		t.Fatal(err)
	}
	p.FailCommits(balanced.ErrNotOwner)
	c.MarkOffset(3)
	if err := c.Commit(ctx); !errors.Is(err, balanced.ErrNotOwner) {
		t.Fatalf("fenced commit: %v", err)
	}
	p.FailCommits(nil)
	if err := c.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if got := p.Commits(); !slices.Equal(got, []int64{2, 3}) {
		t.Fatalf("commits %v, want [2 3]", got)
	}
	cctx, cancel := context.WithCancelCause(ctx)
	cancel(errors.New("stop"))
	if err := c.Commit(cctx); err == nil || err.Error() != "stop" {
		t.Fatalf("commit with a done context: %v", err)
	}
	p.Cancel(balanced.ErrRevoked) // still ours until released: commits go on
	c.MarkOffset(4)
	if err := c.Commit(ctx); err != nil {
		t.Fatalf("commit after revoke: %v", err)
	}
	lost := balancedtest.NewPartition(tp, nil)
	lost.Claim().MarkOffset(1)
	lost.Cancel(balanced.ErrSessionExpired)
	if err := lost.Claim().Commit(ctx); !errors.Is(err, balanced.ErrNotOwner) {
		t.Fatalf("commit after loss: %v, want ErrNotOwner", err)
	}
}

func TestNextWithDoneContext(t *testing.T) {
	p := balancedtest.NewPartition(tp, balancedtest.Messages(tp, "a"))
	ctx, cancel := context.WithCancelCause(context.Background())
	stop := errors.New("handler stopped")
	cancel(stop)
	if _, err := p.Claim().Next(ctx); !errors.Is(err, stop) {
		t.Fatalf("Next: %v, want the context's cause", err)
	}
	if p.Delivered() != 0 {
		t.Fatalf("delivered %d", p.Delivered())
	}
}
