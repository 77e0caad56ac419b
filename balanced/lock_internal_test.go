package balanced

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestCtxMutex(t *testing.T) {
	m := newCtxMutex()
	if err := m.Lock(context.Background()); err != nil {
		t.Fatal(err)
	}
	if m.TryLock() {
		t.Fatal("TryLock succeeded on a held lock")
	}
	cause := errors.New("gave up")
	ctx, cancel := context.WithCancelCause(context.Background())
	got := make(chan error, 1)
	go func() { got <- m.Lock(ctx) }()
	select {
	case err := <-got:
		t.Fatalf("Lock returned %v while held", err)
	case <-time.After(50 * time.Millisecond):
	}
	cancel(cause)
	if err := <-got; !errors.Is(err, cause) {
		t.Fatalf("Lock after cancel = %v, want the cause", err)
	}
	// A waiter whose ctx ended does not hold the lock: Unlock once, take it again.
	m.Unlock()
	if !m.TryLock() {
		t.Fatal("lock not free after Unlock")
	}
	done := make(chan struct{})
	go func() {
		if err := m.Lock(context.Background()); err != nil {
			t.Error(err)
		}
		close(done)
	}()
	time.Sleep(20 * time.Millisecond)
	m.Unlock()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("waiter not woken by Unlock")
	}
	m.Unlock()
	defer func() {
		if recover() == nil {
			t.Fatal("Unlock of an unlocked mutex did not panic")
		}
	}()
	m.Unlock()
}
