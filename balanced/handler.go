package balanced

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/zkbalance/zkbalance/partition"
)

// TopicPartition names a partition of a topic.
type TopicPartition = partition.TopicPartition

// Message is one record fetched from a partition.
type Message struct {
	Topic     string
	Partition int32
	Offset    int64
	Key       []byte
	Value     []byte
	Timestamp time.Time
	Headers   []Header
}

// Header is a record header.
type Header struct {
	Key, Value []byte
}

// Handler processes the partitions this member owns.
//
// Consume is called in its own goroutine for every partition the member
// claims, with a context that is cancelled when the partition is revoked
// (cause ErrRevoked), lost with the ZooKeeper session (ErrSessionExpired) or
// the consumer stops (ErrClosed); context.Cause tells which. It should return
// promptly after that: a rebalance waits at most Config.RevokeTimeout for it
// before committing what was marked and handing the partition over.
//
// Messages arrive in offset order from claim.Next (or on claim.Messages()).
// Call claim.Mark after a message is fully processed: only marked offsets
// are committed (at least once). If Consume returns while the partition is still owned, it is
// called again after Config.HandlerRestartDelay from the last marked offset
// (messages after it are delivered again). Consume must not call Close.
type Handler interface {
	Consume(ctx context.Context, claim *Claim) error
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, claim *Claim) error

// Consume calls f.
func (f HandlerFunc) Consume(ctx context.Context, claim *Claim) error { return f(ctx, claim) }

// EachMessage adapts a per-message function: it is called for every message
// of every owned partition (per partition in order, partitions
// concurrently) and the message is marked when it returns nil. When it
// returns an error, the partition's handler stops and is restarted from that
// message after Config.HandlerRestartDelay.
func EachMessage(fn func(ctx context.Context, m *Message) error) Handler {
	return HandlerFunc(func(ctx context.Context, claim *Claim) error {
		for {
			m, err := claim.Next(ctx)
			if errors.Is(err, ErrFetchStopped) {
				return err
			}
			if err != nil {
				return nil
			}
			if err := fn(ctx, m); err != nil {
				return err
			}
			claim.Mark(m)
		}
	})
}

// Claim is one owned partition as its handler sees it.
type Claim struct {
	topicPartition TopicPartition
	initialOffset  int64
	src            *fetchSource
	marked         *atomic.Int64
	hwm            func() int64
}

// TopicPartition is the claimed partition.
func (c *Claim) TopicPartition() TopicPartition { return c.topicPartition }

// InitialOffset is the offset fetching started at.
func (c *Claim) InitialOffset() int64 { return c.initialOffset }

// Next returns the partition's next message, waiting for one, in offset
// order. It fails with the cause of ctx, or of the partition's context
// (ErrRevoked, ErrSessionExpired, ErrClosed) once either is done, and with
// ErrFetchStopped if fetching stopped; the handler should then return. Next
// reads the fetcher directly, with no goroutine in between, and is the
// cheaper way to consume; Messages is for handlers that want a channel. A
// handler uses one or the other.
func (c *Claim) Next(ctx context.Context) (*Message, error) { return c.src.next(ctx) }

// Messages delivers the partition's messages in order. It is closed when the
// partition's context is cancelled or fetching stops. The first call starts
// a goroutine that feeds the channel (Next needs none).
func (c *Claim) Messages() <-chan *Message { return c.src.messages() }

// Mark records m as processed: its offset + 1 becomes the next commit.
// Marks never move the commit point backwards.
func (c *Claim) Mark(m *Message) { c.MarkOffset(m.Offset + 1) }

// MarkOffset records that everything before next has been processed.
func (c *Claim) MarkOffset(next int64) {
	for {
		cur := c.marked.Load()
		if next <= cur || c.marked.CompareAndSwap(cur, next) {
			return
		}
	}
}

// HighWaterMark is the partition's log end offset as last seen by fetching.
func (c *Claim) HighWaterMark() int64 { return c.hwm() }

// Hooks are called by the rebalance, one at a time and never concurrently
// with each other, on the goroutine that runs Run. The slices are the
// caller's to keep. A hook must return quickly and must not call Close.
type Hooks struct {
	// OnAssigned is called after partitions were claimed and their handlers
	// started.
	OnAssigned func(ctx context.Context, tps []TopicPartition)
	// OnRevoked is called after revoked partitions' handlers stopped, their
	// offsets were committed and their owner znodes deleted.
	OnRevoked func(ctx context.Context, tps []TopicPartition)
	// OnLost is called when partitions were lost with the ZooKeeper session
	// (expired or disconnected too long): their handlers were cancelled and
	// nothing was committed for them. Separate from OnRevoked because a
	// commit after loss must not be attempted.
	OnLost func(ctx context.Context, tps []TopicPartition)
}
