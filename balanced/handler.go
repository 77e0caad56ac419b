package balanced

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/zkbalance/zkbalance/internal/balancedhook"
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
// (cause ErrRevoked), lost with the ZooKeeper session (ErrSessionExpired),
// lost with the Kafka group generation in kafka mode (ErrGenerationLost) or
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
//
// To test a Handler without a cluster, balancedtest.NewClaim makes a Claim
// over a slice of messages.
type Claim struct {
	topicPartition TopicPartition
	initialOffset  int64
	marked         *atomic.Int64 // next offset to commit; -1 before any mark
	src            claimSource
}

// claimSource is what a Claim reads and commits through: the partition's
// fetcher and offset store (fetchSource) or a balancedtest fake. It is an
// alias of an unnamed interface so that balancedtest can name the
// constructor's type (see internal/balancedhook).
type claimSource = interface {
	Next(ctx context.Context) (*Message, error)
	Messages() <-chan *Message
	HighWaterMark() int64
	Commit(ctx context.Context) error
}

// newClaim makes a Claim; marked is the worker's (or fake's) mark.
func newClaim(tp TopicPartition, initialOffset int64, marked *atomic.Int64, src claimSource) *Claim {
	return &Claim{topicPartition: tp, initialOffset: initialOffset, marked: marked, src: src}
}

func init() {
	balancedhook.NewClaim = newClaim
	balancedhook.Fetching = (*Consumer).fetching
	balancedhook.KafkaGeneration = (*Consumer).kafkaGeneration
}

// kafkaGeneration is the current Kafka group generation and member id in
// kafka mode; ok false between generations (for tests, through
// internal/balancedhook).
func (c *Consumer) kafkaGeneration() (id int32, member string, ok bool) {
	g := c.kgen.Load()
	if g == nil {
		return 0, "", false
	}
	return g.id, g.memberID, true
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
func (c *Claim) Next(ctx context.Context) (*Message, error) { return c.src.Next(ctx) }

// Messages delivers the partition's messages in order. It is closed when the
// partition's context is cancelled or fetching stops. The first call starts
// a goroutine that feeds the channel (Next needs none).
func (c *Claim) Messages() <-chan *Message { return c.src.Messages() }

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

// Commit commits what is marked now, without waiting for the next
// Config.CommitInterval, and returns when the offset store has it. The
// commit is fenced like every commit: when the partition is no longer this
// member's (revoked and released, lost with the ZooKeeper session, or its
// owner znode gone) nothing is written and the error wraps ErrNotOwner; the
// handler should then return (its context is cancelled soon after if it
// is not already). Nothing marked since the last commit is not an error:
// Commit writes nothing and returns nil.
//
// The consumer commits marked offsets on its own (every CommitInterval, and
// on revoke and close after the handler returned); Commit is for a handler
// that must know an offset is stored before it goes on, e.g. before an
// external side effect. Pass a context that is still live: with the
// partition's context after a revoke, Commit fails with that context's
// cause, and the final commit after the handler returns covers the marks.
func (c *Claim) Commit(ctx context.Context) error { return c.src.Commit(ctx) }

// HighWaterMark is the partition's log end offset as last seen by fetching.
func (c *Claim) HighWaterMark() int64 { return c.src.HighWaterMark() }
