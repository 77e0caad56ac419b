package zkformat

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/zkbalance/zkbalance/partition"
)

// Subscription patterns of a Scala registration.
const (
	PatternStatic    = "static"
	PatternWhiteList = "white_list"
	PatternBlackList = "black_list"
)

// scalaRegistration is the Scala consumer's /ids/<member> JSON.
type scalaRegistration struct {
	Version      int             `json:"version"`
	Subscription map[string]int  `json:"subscription"`
	Pattern      string          `json:"pattern"`
	Timestamp    json.RawMessage `json:"timestamp"`
}

// Registration is a parsed member registration, the value of
// /consumers/<g>/ids/<member>.
type Registration struct {
	// Pykafka is true for pykafka's registration, the raw topic name;
	// false for the Scala consumer's JSON.
	Pykafka bool
	// Subscription maps each topic (or, for a pattern, the one regex) to
	// its number of streams, 1..partition.MaxStreams. A pykafka member has
	// one topic with 1 stream.
	Subscription map[string]int
	// Pattern is PatternStatic, PatternWhiteList or PatternBlackList for
	// Scala JSON (a missing or empty "pattern" reads as PatternStatic),
	// "" for pykafka.
	Pattern string
	// Timestamp is the JSON "timestamp" as written (nil when absent, and
	// for pykafka), unchecked; ParseTimestamp reads it.
	Timestamp json.RawMessage
}

// ParseRegistration reads a member registration in any of the layouts:
// Scala JSON (timestamp as a string of ms, or a number as the wvanbergen Go
// port writes), or pykafka's raw topic name. Surrounding blanks are ignored.
// The timestamp is not checked (see ParseTimestamp).
//
// The error says what is wrong ("empty", "no subscription", ...; a JSON
// or regexp error as is) but not where: callers wrap it with the path and
// their sentinel, fmt.Errorf("%s: %w: %w", path, ErrBadRegistration, err).
func ParseRegistration(data []byte) (Registration, error) {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return Registration{}, errors.New("empty")
	}
	if trimmed[0] != '{' {
		t := string(trimmed)
		if !ValidTopic(t) {
			return Registration{}, fmt.Errorf("%q is neither JSON nor a topic name", trimmed)
		}
		return Registration{Pykafka: true, Subscription: map[string]int{t: 1}}, nil
	}
	var r scalaRegistration
	if err := json.Unmarshal(trimmed, &r); err != nil {
		return Registration{}, err
	}
	if len(r.Subscription) == 0 {
		return Registration{}, errors.New("no subscription")
	}
	for k, n := range r.Subscription {
		if n < 1 || n > partition.MaxStreams {
			return Registration{}, fmt.Errorf("%d streams for %q", n, k)
		}
	}
	switch r.Pattern {
	case "", PatternStatic:
		for t := range r.Subscription {
			if !ValidTopic(t) {
				return Registration{}, fmt.Errorf("bad topic %q", t)
			}
		}
		r.Pattern = PatternStatic
	case PatternWhiteList, PatternBlackList:
		if len(r.Subscription) != 1 {
			return Registration{}, fmt.Errorf("%s with %d patterns", r.Pattern, len(r.Subscription))
		}
		for re := range r.Subscription {
			if _, err := CompilePattern(re); err != nil {
				return Registration{}, err
			}
		}
	default:
		return Registration{}, fmt.Errorf("unknown pattern %q", r.Pattern)
	}
	return Registration{Subscription: r.Subscription, Pattern: r.Pattern, Timestamp: r.Timestamp}, nil
}

// IsPattern reports whether r subscribes by pattern (white_list or
// black_list) rather than to static topics.
func (r Registration) IsPattern() bool {
	return r.Pattern == PatternWhiteList || r.Pattern == PatternBlackList
}

// Topics resolves the subscription against the existing topics: topic ->
// streams. A static (or pykafka) subscription is returned as is, whether
// or not its topics exist. A pattern matches the existing topics other than
// internal ones ("__..."), each with the pattern's streams; nil when the
// regex does not compile.
func (r Registration) Topics(existing []string) map[string]int {
	if !r.IsPattern() {
		return r.Subscription
	}
	black := r.Pattern == PatternBlackList
	out := map[string]int{}
	for pattern, n := range r.Subscription {
		re, err := CompilePattern(pattern)
		if err != nil {
			return nil
		}
		for _, t := range existing {
			if strings.HasPrefix(t, "__") {
				continue
			}
			if re.MatchString(t) != black {
				out[t] = n
			}
		}
	}
	return out
}

// EncodeScalaRegistration encodes a Scala consumer registration as
// zkbalance writes it: version 1, each topic with 1 stream, and the pattern
// (when not "") as a white_list with 1 stream, else "static"; the timestamp
// is now in milliseconds, as a string.
func EncodeScalaRegistration(topics []string, pattern string, now time.Time) []byte {
	r := scalaRegistration{Version: 1, Subscription: map[string]int{}, Pattern: PatternStatic,
		Timestamp: json.RawMessage(strconv.Quote(strconv.FormatInt(now.UnixMilli(), 10)))}
	if pattern != "" {
		r.Pattern = PatternWhiteList
		r.Subscription[pattern] = 1
	}
	for _, t := range topics {
		r.Subscription[t] = 1
	}
	b, _ := json.Marshal(r) // cannot fail: plain maps and strings
	return b
}

// ParseTimestamp reads a registration's timestamp: a string of milliseconds
// (Scala) or a number of seconds (the wvanbergen port; a number too large to
// be seconds is taken as milliseconds). Absent or null is the zero time.
func ParseTimestamp(raw json.RawMessage) (time.Time, error) {
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
