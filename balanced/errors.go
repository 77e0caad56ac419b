package balanced

import "errors"

// Sentinel errors callers can branch on with errors.Is. Errors returned by
// this package wrap them with context (which partition, which path).
//
// There is no error for a partition that another member still holds: a
// claim waits (with backoff, woken when the holder lets go) and never gives
// up on its own, unlike the legacy consumers' PartitionOwnedError.
var (
	// ErrInvalidConfig is wrapped by every Config validation error.
	ErrInvalidConfig = errors.New("balanced: invalid config")
	// ErrNotOwner means this member does not (or no longer) own the
	// partition: a commit was fenced and nothing was written.
	ErrNotOwner = errors.New("balanced: partition not owned by this member")
	// ErrSessionExpired is the cause of a partition context cancelled because
	// the ZooKeeper session was lost (expired, or disconnected too long).
	ErrSessionExpired = errors.New("balanced: zookeeper session lost")
	// ErrGenerationLost is the cause of a partition context cancelled, with
	// Config.Coordination CoordinationKafka, because the member fell out of
	// its Kafka group generation (the coordinator answered a heartbeat or a
	// commit with UNKNOWN_MEMBER_ID or ILLEGAL_GENERATION, or no heartbeat
	// got through within KafkaSessionTimeout): the coordinator may already
	// have given the partition to another member, so nothing is committed
	// for it, and Claim.Commit fails with ErrNotOwner. Like
	// ErrSessionExpired it is reported by Hooks.OnLost.
	ErrGenerationLost = errors.New("balanced: kafka group generation lost")
	// ErrRevoked is the cause of a partition context cancelled because a
	// rebalance moved the partition to another member.
	ErrRevoked = errors.New("balanced: partition revoked")
	// ErrClosed is returned by calls on a closed Consumer, and is the cause
	// of partition contexts cancelled by shutdown.
	ErrClosed = errors.New("balanced: consumer closed")
	// ErrFetchStopped is returned by Claim.Next when the partition's
	// fetching stopped on its own (its offset went out of range). The
	// handler should return; while the partition is owned it is restarted
	// from the last mark, or from Config.InitialOffset after an offset out
	// of range.
	ErrFetchStopped = errors.New("balanced: fetching of the partition stopped")
	// ErrBadOffset means a stored offset could not be parsed or is negative.
	ErrBadOffset = errors.New("balanced: malformed stored offset")
	// ErrBadRegistration means a member's /consumers/<g>/ids/<id> znode
	// could not be parsed.
	ErrBadRegistration = errors.New("balanced: malformed member registration")
)

// ConfigError is the error New returns for an invalid Config: it names the
// Config field at fault, so that a command line can name its own flag
// instead. It matches ErrInvalidConfig with errors.Is.
type ConfigError struct {
	// Field is the Config field, e.g. "Offsets" or "Sarama" (a nested
	// field is named from Config down, e.g. "Sarama.Net.SASL").
	Field string
	// Reason says what is wrong with it.
	Reason string
}

func (e *ConfigError) Error() string {
	return ErrInvalidConfig.Error() + ": " + e.Field + ": " + e.Reason
}

// Is reports whether target is ErrInvalidConfig.
func (e *ConfigError) Is(target error) bool { return target == ErrInvalidConfig }
