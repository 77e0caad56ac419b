package zkwatch

import "github.com/zkbalance/zkbalance/internal/zk"

// The ZooKeeper client zkbalance runs on is a patched copy of go-zookeeper/zk
// inside this module (see internal/zk/ZKBALANCE_PATCH.md), so that programs
// importing zkbalance build the same client its tests test. These are the
// names of its types, constants and errors that users of Conn need.

// Stat is a znode's metadata (versions, ephemeral owner, zxids).
type Stat = zk.Stat

// ACL is one access control entry: permissions (PermRead | ...), a scheme
// ("world", "digest", "auth", ...) and an id.
type ACL = zk.ACL

// Event is a ZooKeeper watch or session event.
type Event = zk.Event

// State is the state of a ZooKeeper connection.
type State = zk.State

// Dialer opens the TCP connection to a ZooKeeper server (tests and proxies
// set one; net.DialTimeout by default).
type Dialer = zk.Dialer

// MultiResponse is the result of one operation of Conn.Multi.
type MultiResponse = zk.MultiResponse

// The operations Conn.Multi takes.
type (
	CreateRequest       = zk.CreateRequest
	SetDataRequest      = zk.SetDataRequest
	DeleteRequest       = zk.DeleteRequest
	CheckVersionRequest = zk.CheckVersionRequest
)

// Connection states of SessionEvent.State and Conn.State.
const (
	StateDisconnected = zk.StateDisconnected
	StateConnecting   = zk.StateConnecting
	StateConnected    = zk.StateConnected
	StateHasSession   = zk.StateHasSession
	StateExpired      = zk.StateExpired
)

// Create flags.
const (
	FlagPersistent = 0
	FlagEphemeral  = zk.FlagEphemeral
	FlagSequence   = zk.FlagSequence
)

// ACL permissions.
const (
	PermRead   = zk.PermRead
	PermWrite  = zk.PermWrite
	PermCreate = zk.PermCreate
	PermDelete = zk.PermDelete
	PermAdmin  = zk.PermAdmin
	PermAll    = zk.PermAll
)

// EventType is the kind of a watch event (Event.Type).
type EventType = zk.EventType

// Watch event types callers branch on.
const (
	EventNodeCreated         = zk.EventNodeCreated
	EventNodeDeleted         = zk.EventNodeDeleted
	EventNodeDataChanged     = zk.EventNodeDataChanged
	EventNodeChildrenChanged = zk.EventNodeChildrenChanged
)

// Errors of the ZooKeeper server and client that callers branch on with
// errors.Is; Conn's methods wrap them.
var (
	ErrNoNode           = zk.ErrNoNode
	ErrNodeExists       = zk.ErrNodeExists
	ErrNotEmpty         = zk.ErrNotEmpty
	ErrBadVersion       = zk.ErrBadVersion
	ErrNoAuth           = zk.ErrNoAuth
	ErrAuthFailed       = zk.ErrAuthFailed
	ErrConnectionClosed = zk.ErrConnectionClosed
	ErrNoServer         = zk.ErrNoServer
	// ErrUnimplemented: the server does not know the request (WatchTree on
	// ZooKeeper before 3.6).
	ErrUnimplemented = zk.ErrUnimplemented
)

// WorldACL is the ACL that gives everyone (world:anyone) perms.
func WorldACL(perms int32) []ACL { return zk.WorldACL(perms) }

// DigestACL is the ACL that gives the digest user "user:password" perms.
func DigestACL(perms int32, user, password string) []ACL {
	return zk.DigestACL(perms, user, password)
}
