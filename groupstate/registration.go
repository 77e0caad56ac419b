package groupstate

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// maxStreams bounds a subscription's stream count, as the partition package
// does (partition.MaxStreams).
const maxStreams = 4096

// scalaRegistration is the Scala consumer's /ids/<member> JSON.
type scalaRegistration struct {
	Version      int             `json:"version"`
	Subscription map[string]int  `json:"subscription"`
	Pattern      string          `json:"pattern"`
	Timestamp    json.RawMessage `json:"timestamp"`
}

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

func parseRegistration(m *Member, path string, data []byte) error {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return fmt.Errorf("%s: %w: empty", path, ErrBadRegistration)
	}
	if trimmed[0] != '{' {
		t := string(trimmed)
		if !validTopic(t) {
			return fmt.Errorf("%s: %w: %q is neither JSON nor a topic name", path, ErrBadRegistration, trimmed)
		}
		m.Layout = LayoutPykafka
		m.Subscription = map[string]int{t: 1}
		return nil
	}
	var r scalaRegistration
	if err := json.Unmarshal(trimmed, &r); err != nil {
		return fmt.Errorf("%s: %w: %w", path, ErrBadRegistration, err)
	}
	if len(r.Subscription) == 0 {
		return fmt.Errorf("%s: %w: no subscription", path, ErrBadRegistration)
	}
	for k, n := range r.Subscription {
		if n < 1 || n > maxStreams {
			return fmt.Errorf("%s: %w: %d streams for %q", path, ErrBadRegistration, n, k)
		}
	}
	switch r.Pattern {
	case "", "static":
		for t := range r.Subscription {
			if !validTopic(t) {
				return fmt.Errorf("%s: %w: bad topic %q", path, ErrBadRegistration, t)
			}
		}
		r.Pattern = "static"
	case "white_list", "black_list":
		if len(r.Subscription) != 1 {
			return fmt.Errorf("%s: %w: %s with %d patterns", path, ErrBadRegistration, r.Pattern, len(r.Subscription))
		}
		for re := range r.Subscription {
			if _, err := compilePattern(re); err != nil {
				return fmt.Errorf("%s: %w: %w", path, ErrBadRegistration, err)
			}
		}
	default:
		return fmt.Errorf("%s: %w: unknown pattern %q", path, ErrBadRegistration, r.Pattern)
	}
	ts, err := parseTimestamp(r.Timestamp)
	if err != nil {
		return fmt.Errorf("%s: %w: timestamp: %w", path, ErrBadRegistration, err)
	}
	m.Layout = LayoutScala
	m.Subscription = r.Subscription
	m.Pattern = r.Pattern
	m.Timestamp = ts
	return nil
}

// parseTimestamp reads the registration timestamp: a string of milliseconds
// (Scala) or a number of seconds (the wvanbergen port; a number too large to
// be seconds is taken as milliseconds). Absent or null is the zero time.
func parseTimestamp(raw json.RawMessage) (time.Time, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return time.Time{}, nil
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return time.Time{}, err
		}
		ms, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return time.Time{}, fmt.Errorf("%q is not a number of milliseconds", s)
		}
		return time.UnixMilli(ms), nil
	}
	n, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s is neither a string nor an integer", raw)
	}
	if n > 1e11 || n < -1e11 { // past year 5138 as seconds: milliseconds
		return time.UnixMilli(n), nil
	}
	return time.Unix(n, 0), nil
}

// validTopic reports whether t is a legal Kafka topic name.
func validTopic(t string) bool {
	if t == "" || len(t) > 249 || t == "." || t == ".." {
		return false
	}
	for _, r := range t {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// compilePattern compiles a whitelist regex the way the Scala consumer
// applies it: commas separate alternatives, and the whole name must match.
func compilePattern(re string) (*regexp.Regexp, error) {
	re = strings.ReplaceAll(re, ",", "|")
	return regexp.Compile("^(?:" + re + ")$")
}

// resolveTopics sets m.Topics from its subscription and the existing topics.
// Static topics count whether or not they exist; patterns match existing
// topics other than internal ones ("__...").
func resolveTopics(m *Member, existing []string) {
	m.Topics = nil
	switch m.Pattern {
	case "white_list", "black_list":
		for re := range m.Subscription {
			c, err := compilePattern(re)
			if err != nil {
				return
			}
			for _, t := range existing {
				if !strings.HasPrefix(t, "__") && c.MatchString(t) != (m.Pattern == "black_list") {
					m.Topics = append(m.Topics, t)
				}
			}
		}
	default:
		for t := range m.Subscription {
			m.Topics = append(m.Topics, t)
		}
	}
	slices.Sort(m.Topics)
}

// parseOwnerName reads an owner znode's name: "<p>" (Scala) or
// "<leader>-<p>" (pykafka; the leader may be -1 when pykafka saw none).
func parseOwnerName(name string) (p int32, pykafka bool, ok bool) {
	rest := name
	if i := strings.LastIndexByte(name, '-'); i > 0 {
		if _, err := strconv.ParseInt(name[:i], 10, 32); err != nil {
			return 0, false, false
		}
		rest, pykafka = name[i+1:], true
	}
	n, err := strconv.ParseInt(rest, 10, 32)
	if err != nil || n < 0 || strconv.FormatInt(n, 10) != rest {
		return 0, false, false
	}
	return int32(n), pykafka, true
}

// parsePartitionName reads an offsets znode's name, a partition id.
func parsePartitionName(name string) (int32, bool) {
	n, err := strconv.ParseInt(name, 10, 32)
	if err != nil || n < 0 || strconv.FormatInt(n, 10) != name {
		return 0, false
	}
	return int32(n), true
}

// parseZooKeeperOffset parses an offset znode's value the way Scala's
// String.toLong does (an optional sign, decimal digits, no blanks) and
// rejects negative values.
func parseZooKeeperOffset(path string, data []byte) (int64, error) {
	if len(data) == 0 {
		return 0, fmt.Errorf("%w: %s is empty", ErrBadOffset, path)
	}
	off, err := strconv.ParseInt(string(data), 10, 64)
	if err != nil {
		var ne *strconv.NumError
		if errors.As(err, &ne) && errors.Is(ne.Err, strconv.ErrRange) {
			return 0, fmt.Errorf("%w: %s holds %q, out of the int64 range", ErrBadOffset, path, data)
		}
		return 0, fmt.Errorf("%w: %s holds %q, not a decimal number", ErrBadOffset, path, data)
	}
	if off < 0 {
		return 0, fmt.Errorf("%w: %s holds the negative offset %d", ErrBadOffset, path, off)
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
