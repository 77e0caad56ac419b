package balanced

import (
	"context"
	"fmt"
)

// Hooks tell the application about assignment changes and about failures
// the consumer handles by itself.
//
// Hooks are called one at a time, never concurrently with each other: the
// consumer serializes them. Which goroutine calls them: OnAssigned and
// OnRevoked the rebalance's or one it waits for (a rebalance calls
// OnRevoked before OnAssigned), except the OnRevoked of
// the partitions given up at shutdown, which runs on the goroutine that
// called Run just before Run returns; OnLost the session loop's (Run's
// goroutine); OnError the one where the failure happened (for a fetch error
// seen while the handler waits for a message, the handler's own, inside
// Claim.Next). No lock of the consumer is held while a hook runs, so a hook
// may call Owned and Health. A hook must return quickly (the next hook,
// and whatever called this one, wait for it) and must not call Close. The
// slices are the hook's to keep.
type Hooks struct {
	// OnAssigned is called after partitions were claimed and their handlers
	// started.
	OnAssigned func(ctx context.Context, tps []TopicPartition)
	// OnRevoked is called after revoked partitions' handlers stopped, their
	// offsets were committed and their owner znodes deleted.
	OnRevoked func(ctx context.Context, tps []TopicPartition)
	// OnLost is called when partitions were lost with the ZooKeeper session
	// (expired or disconnected too long), or in kafka mode with the Kafka
	// group generation (ErrGenerationLost): their handlers were cancelled and
	// nothing was committed for them. Separate from OnRevoked because a
	// commit after loss must not be attempted.
	OnLost func(ctx context.Context, tps []TopicPartition)
	// OnError is told about each failure the consumer logs and then handles
	// by itself (by retrying, restarting a handler or rebalancing), for
	// metrics and alerts; it does not need to act. A failure of one
	// partition is a *PartitionError (a claim, commit, release, offset
	// read, fetch or handler that failed); others are a rebalance that
	// failed (retried with backoff), ZooKeeper that cannot be reached, a
	// registration that was cut off and is retried, and malformed member,
	// topic or broker registrations (a member's wraps ErrBadRegistration).
	// errors.Is and errors.As see through the wrapping: a fenced commit
	// wraps ErrNotOwner, a malformed stored offset ErrBadOffset.
	OnError func(ctx context.Context, err error)
}

// PartitionError is a failure concerning one partition, reported to
// Hooks.OnError. errors.Is and errors.As see Err through it.
type PartitionError struct {
	// Op is what failed: "claim" (creating the owner znode, or reading the
	// owners before it), "commit" (wraps ErrNotOwner when fenced),
	// "release" (deleting the owner znode), "offset" (reading the committed
	// offset; ErrBadOffset when malformed), "fetch" (starting or running the
	// partition's fetch; an out-of-range offset that was reset is one too)
	// or "consume" (the handler returned an error while the partition was
	// owned, or did not return within Config.RevokeTimeout).
	Op             string
	TopicPartition TopicPartition
	Err            error
}

// Error implements error.
func (e *PartitionError) Error() string {
	return fmt.Sprintf("balanced: %s %s/%d: %v", e.Op, e.TopicPartition.Topic, e.TopicPartition.Partition, e.Err)
}

// Unwrap returns Err.
func (e *PartitionError) Unwrap() error { return e.Err }

// hook runs fn, a call of one of the Hooks, serialized with every other
// hook call. The caller holds no lock of the consumer.
func (c *Consumer) hook(fn func()) {
	c.hookMu.Lock()
	defer c.hookMu.Unlock()
	fn()
}

// reportError tells Hooks.OnError about err (already logged by the caller).
func (c *Consumer) reportError(ctx context.Context, err error) {
	if h := c.cfg.Hooks.OnError; h != nil && err != nil {
		c.hook(func() { h(ctx, err) })
	}
}

// partitionFailed reports a failure of op on tp to Hooks.OnError.
func (c *Consumer) partitionFailed(ctx context.Context, op string, tp TopicPartition, err error) {
	if err != nil {
		c.reportError(ctx, &PartitionError{Op: op, TopicPartition: tp, Err: err})
	}
}
