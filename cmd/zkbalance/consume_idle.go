package main

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/zkbalance/zkbalance/balanced"
)

// idleReason says why a member owns no partition, from its Health, for the
// progress line that replaces "0 msgs/s": the most fundamental reason first.
func idleReason(h balanced.Health) string {
	switch {
	case !h.Connected:
		return "waiting for ZooKeeper (not connected)"
	case len(h.MissingTopics) > 0:
		return fmt.Sprintf("waiting for topic %s to be created", strings.Join(h.MissingTopics, ", "))
	case h.LastRebalance.IsZero() && h.Assigned == 0 && h.RebalanceErr == nil:
		return "joining the group"
	case h.Assigned > h.Owned:
		return fmt.Sprintf("%d partition(s) held by another member (claims waiting)", h.Assigned-h.Owned)
	case h.Members == 0 && h.RebalanceErr == nil:
		// No ZooKeeper view (Kafka coordination): the assignment came
		// from Kafka's group coordinator.
		return "no partition assigned to this member"
	case h.Partitions == 0 && h.RebalanceErr == nil:
		return "no partition to consume: no subscribed topic exists yet"
	case h.Members > h.Partitions:
		return fmt.Sprintf("%d members for %d partitions: none left for this member", h.Members, h.Partitions)
	case h.RebalanceErr != nil:
		return fmt.Sprintf("rebalance failed, retrying: %v", h.RebalanceErr)
	default:
		return "no partition assigned to this member"
	}
}

// consumeFlags maps balanced.Config fields to the flags of 'zkbalance
// consume' that set them.
var consumeFlags = map[string]string{
	"Group":          "--group",
	"Topics":         "--topics",
	"TopicPattern":   "--pattern",
	"ZooKeeper":      "--zookeeper",
	"Brokers":        "--brokers",
	"Layout":         "--layout",
	"MemberID":       "--member-id",
	"Assignor":       "--assignor",
	"Offsets":        "--offsets",
	"Coordination":   "--coordination",
	"InitialOffset":  "--initial",
	"Registerer":     "--metrics-addr",
	"ConnectTimeout": "--timeout",
	"ZooKeeperAuth":  "--zk-user",
	"ACL":            "--zk-acl",
	"SASL":           "--sasl-user",
	"TLS":            "--tls",
	"Listener":       "--listener",
}

// fieldWord matches an identifier that may be a Config field name.
var fieldWord = regexp.MustCompile(`\b[A-Z][A-Za-z]*\b`)

// flagError rewrites a balanced.Config validation error in terms of the
// command's flags: "--offsets: unknown storage ..." instead of "balanced:
// invalid config: Offsets: unknown storage ...". Field names in the reason
// are replaced too. An error about a field no flag sets is returned as is.
func flagError(err error, flags map[string]string) error {
	var ce *balanced.ConfigError
	if !errors.As(err, &ce) {
		return err
	}
	flag, ok := flags[ce.Field]
	if !ok {
		return err
	}
	reason := fieldWord.ReplaceAllStringFunc(ce.Reason, func(w string) string {
		if f, ok := flags[w]; ok {
			return f
		}
		return w
	})
	return &flagErr{msg: flag + ": " + reason, err: err}
}

// flagErr is a Config error restated for a flag; it unwraps to the
// original (so it is still balanced.ErrInvalidConfig).
type flagErr struct {
	msg string
	err error
}

func (e *flagErr) Error() string { return e.msg }
func (e *flagErr) Unwrap() error { return e.err }
