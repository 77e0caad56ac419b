package groupstate

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/zkbalance/zkbalance/internal/zkformat"
)

// parseMember fills m from a registration value. It never panics; on a parse
// failure m.Layout is LayoutUnknown, m.Raw holds the value and m.Error why.
func parseMember(m *Member, path string, data []byte) {
	if err := parseRegistration(m, path, data); err != nil {
		m.Layout = LayoutUnknown
		m.Subscription, m.Pattern, m.Timestamp = nil, "", time.Time{}
		m.Raw = string(data)
		m.Error = err.Error()
	}
}

// parseRegistration fills m from a registration value (see
// zkformat.ParseRegistration) and also checks a Scala registration's
// timestamp; errors wrap ErrBadRegistration and name the path.
func parseRegistration(m *Member, path string, data []byte) error {
	r, err := zkformat.ParseRegistration(data)
	if err != nil {
		return fmt.Errorf("%s: %w: %w", path, ErrBadRegistration, err)
	}
	if r.Pykafka {
		m.Layout = LayoutPykafka
		m.Subscription = r.Subscription
		return nil
	}
	ts, err := zkformat.ParseTimestamp(r.Timestamp)
	if err != nil {
		return fmt.Errorf("%s: %w: timestamp: %w", path, ErrBadRegistration, err)
	}
	m.Layout = LayoutScala
	m.Subscription = r.Subscription
	m.Pattern = r.Pattern
	m.Timestamp = ts
	return nil
}

// resolveTopics sets m.Topics from its subscription and the existing topics.
// Static topics count whether or not they exist; patterns match existing
// topics other than internal ones ("__...").
func resolveTopics(m *Member, existing []string) {
	r := zkformat.Registration{Subscription: m.Subscription, Pattern: m.Pattern}
	m.Topics = slices.Sorted(maps.Keys(r.Topics(existing)))
}

// parseOwnerName reads an owner znode's name: "<p>" (Scala) or
// "<leader>-<p>" (pykafka; the leader may be -1 when pykafka saw none).
// Only the canonical forms consumers write are accepted (no "05", "+5").
func parseOwnerName(name string) (p int32, pykafka bool, ok bool) {
	o, ok := zkformat.ParseOwnerName(name)
	if !ok || !o.Canonical {
		return 0, false, false
	}
	return o.Partition, o.Pykafka, true
}

// parseZooKeeperOffset parses an offset znode's value (see
// zkformat.ParseOffset); errors wrap ErrBadOffset and name the path.
func parseZooKeeperOffset(path string, data []byte) (int64, error) {
	off, err := zkformat.ParseOffset(path, data)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrBadOffset, err)
	}
	return off, nil
}

// ownerMember maps an owner znode's value to a registered member id: the
// value itself (pykafka, wvanbergen) or a thread id "<member>-<n>" (Scala);
// "" when no registered member matches.
func ownerMember(value string, members map[string]bool) string {
	if members[value] {
		return value
	}
	i := strings.LastIndexByte(value, '-')
	if i <= 0 || i == len(value)-1 || strings.TrimLeft(value[i+1:], "0123456789") != "" {
		return ""
	}
	if members[value[:i]] {
		return value[:i]
	}
	return ""
}
