package balanced

import "context"

// ctxMutex is a mutex whose Lock gives up when its context is done, the
// context-aware lock of etcd's concurrency.Mutex without the distribution.
// The zero value is not usable; make one with newCtxMutex.
type ctxMutex struct{ ch chan struct{} }

func newCtxMutex() *ctxMutex { return &ctxMutex{ch: make(chan struct{}, 1)} }

// Lock takes the lock, or returns the context's cause if ctx ends first
// (then the lock is not held).
func (m *ctxMutex) Lock(ctx context.Context) error {
	select {
	case m.ch <- struct{}{}:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// TryLock takes the lock if it is free.
func (m *ctxMutex) TryLock() bool {
	select {
	case m.ch <- struct{}{}:
		return true
	default:
		return false
	}
}

// Unlock releases the lock; it panics if the lock is not held (a bug).
func (m *ctxMutex) Unlock() {
	select {
	case <-m.ch:
	default:
		panic("balanced: unlock of unlocked ctxMutex")
	}
}
