package zkwatch

import (
	"context"
	"sync"
)

// Subscribe returns a channel of every session event from now on, in order
// and without loss (events queue while the reader is busy). The channel is
// closed when ctx is done, or after the Conn is closed once every queued
// event (such as the StateExpired that ended a OneSession Conn) has been
// delivered; the goroutine that feeds it is owned by ctx.
func (c *Conn) Subscribe(ctx context.Context) <-chan SessionEvent {
	s := &subscriber{wake: make(chan struct{}, 1), stop: make(chan struct{})}
	out := make(chan SessionEvent)
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		close(out)
		return out
	}
	c.subs[s] = struct{}{}
	c.mu.Unlock()
	go func() {
		defer close(out)
		defer func() {
			c.mu.Lock()
			delete(c.subs, s)
			c.mu.Unlock()
		}()
		stopped := false
		for {
			ev, ok := s.pop()
			if !ok {
				if stopped {
					return // the Conn ended and everything queued was delivered
				}
				select {
				case <-s.wake:
				case <-s.stop:
					stopped = true
				case <-ctx.Done():
					return
				}
				continue
			}
			select {
			case out <- ev:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}

// subscriber is an unbounded FIFO of session events for one reader.
type subscriber struct {
	mu       sync.Mutex
	queue    []SessionEvent
	wake     chan struct{}
	stop     chan struct{}
	stopOnce sync.Once
}

func (s *subscriber) push(ev SessionEvent) {
	s.mu.Lock()
	s.queue = append(s.queue, ev)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *subscriber) pop() (SessionEvent, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.queue) == 0 {
		return SessionEvent{}, false
	}
	ev := s.queue[0]
	s.queue = s.queue[1:]
	return ev, true
}

func (s *subscriber) close() { s.stopOnce.Do(func() { close(s.stop) }) }
