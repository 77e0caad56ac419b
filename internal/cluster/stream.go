package cluster

import (
	"context"
	"strconv"
	"sync"
	"time"
)

// Stream is a continuous producer for tests: a batch of messages,
// round-robin over a topic's partitions, every interval, until Stop.
type Stream struct {
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once

	mu   sync.Mutex
	ends map[int32]int64 // partition -> offset after the last message produced
	sent int
	err  error
}

// StartStream starts producing batch messages to topic (partitions
// 0..partitions-1 in turn, values "<topic>-<n>") every interval, the first
// batch after one interval. A failed batch ends the stream (Stop reports
// it). The goroutine is owned by the Stream: Stop ends it.
func (c *Cluster) StartStream(topic string, partitions int32, batch int, interval time.Duration) *Stream {
	ctx, cancel := context.WithCancel(context.Background())
	s := &Stream{cancel: cancel, done: make(chan struct{}), ends: map[int32]int64{}}
	go func() {
		defer close(s.done)
		n := 0
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(interval):
			}
			msgs := make([]Message, batch)
			for i := range msgs {
				msgs[i] = Message{Partition: int32(n+i) % partitions, Value: []byte(topic + "-" + strconv.Itoa(n+i))}
			}
			n += batch
			// A batch under way is finished, not cut short by Stop.
			offs, err := c.Produce(context.WithoutCancel(ctx), topic, msgs)
			s.mu.Lock()
			if err != nil {
				s.err = err
				s.mu.Unlock()
				return
			}
			for i, m := range msgs {
				s.ends[m.Partition] = max(s.ends[m.Partition], offs[i]+1)
			}
			s.sent += batch
			s.mu.Unlock()
		}
	}()
	return s
}

// Sent is how many messages were produced so far.
func (s *Stream) Sent() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sent
}

// Stop ends the stream (waiting for a batch under way) and returns, per
// partition written to, the offset after its last message, with the error
// that ended the stream early, if any. It may be called more than once.
func (s *Stream) Stop() (map[int32]int64, error) {
	s.once.Do(func() { s.cancel(); <-s.done })
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[int32]int64, len(s.ends))
	for p, o := range s.ends {
		out[p] = o
	}
	return out, s.err
}
