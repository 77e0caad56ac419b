package balanced

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/zkbalance/zkbalance/partition"
)

// Paths of a group's znodes (relative to the chroot).
func idsPath(group string) string            { return "/consumers/" + group + "/ids" }
func idPath(group, member string) string     { return idsPath(group) + "/" + member }
func ownersPath(group, topic string) string  { return "/consumers/" + group + "/owners/" + topic }
func offsetsPath(group, topic string) string { return "/consumers/" + group + "/offsets/" + topic }

// ownerPath is the owner znode of tp: "<p>" in the Scala layout and
// "<leader>-<p>" in the pykafka layout.
func ownerPath(l Layout, group string, tp partition.TopicPartition, leader int32) string {
	if l == LayoutPykafka {
		return fmt.Sprintf("%s/%d-%d", ownersPath(group, tp.Topic), leader, tp.Partition)
	}
	return fmt.Sprintf("%s/%d", ownersPath(group, tp.Topic), tp.Partition)
}

// parseOwnerName reads an owner znode's name: "<p>" (Scala) or
// "<leader>-<p>" (pykafka).
func parseOwnerName(name string) (p int32, ok bool) {
	if i := strings.LastIndexByte(name, '-'); i >= 0 {
		if _, err := strconv.ParseInt(name[:i], 10, 32); err != nil {
			return 0, false // the leader part must be a broker id
		}
		name = name[i+1:]
	}
	n, err := strconv.ParseInt(name, 10, 32)
	if err != nil || n < 0 {
		return 0, false
	}
	return int32(n), true
}

// newMemberID makes a member id in the layout's format.
func newMemberID(l Layout, group string) string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "localhost"
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	if l == LayoutPykafka {
		b[6] = b[6]&0x0f | 0x40 // uuid4
		b[8] = b[8]&0x3f | 0x80
		h := hex.EncodeToString(b[:])
		return fmt.Sprintf("%s:%s-%s-%s-%s-%s", host, h[0:8], h[8:12], h[12:16], h[16:20], h[20:32])
	}
	return fmt.Sprintf("%s_%s-%d-%s", group, host, time.Now().UnixMilli(), hex.EncodeToString(b[:4]))
}

// ownerValue is what our owner znodes hold: the thread id "<member>-0" in
// the Scala layout, the member id in the pykafka layout.
func ownerValue(l Layout, member string) string {
	if l == LayoutPykafka {
		return member
	}
	return partition.ThreadID(member, 0)
}

// scalaRegistration is the Scala consumer's /ids/<member> JSON.
type scalaRegistration struct {
	Version      int             `json:"version"`
	Subscription map[string]int  `json:"subscription"`
	Pattern      string          `json:"pattern"`
	Timestamp    json.RawMessage `json:"timestamp"`
}

// registration encodes our own /ids/<member> value.
func registration(l Layout, topics []string, pattern string) []byte {
	if l == LayoutPykafka {
		return []byte(topics[0])
	}
	r := scalaRegistration{Version: 1, Subscription: map[string]int{}, Pattern: "static",
		Timestamp: json.RawMessage(strconv.Quote(strconv.FormatInt(time.Now().UnixMilli(), 10)))}
	if pattern != "" {
		r.Pattern = "white_list"
		r.Subscription[pattern] = 1
	}
	for _, t := range topics {
		r.Subscription[t] = 1
	}
	b, _ := json.Marshal(r) // cannot fail: plain maps and strings
	return b
}

// subscription is a parsed member registration.
type subscription struct {
	// static: topic -> streams
	static map[string]int
	// pattern subscriptions: a regex with white_list or black_list
	pattern string
	black   bool
	streams int
}

// parseRegistration reads another member's /ids/<member> value in any of
// the layouts: Scala JSON (timestamp as a string of ms, or a number as the
// wvanbergen Go port writes), or pykafka's raw topic name.
func parseRegistration(path string, data []byte) (subscription, error) {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return subscription{}, fmt.Errorf("%s: %w: empty", path, ErrBadRegistration)
	}
	if trimmed[0] != '{' {
		t := string(trimmed)
		if !validTopic(t) {
			return subscription{}, fmt.Errorf("%s: %w: %q is neither JSON nor a topic name", path, ErrBadRegistration, trimmed)
		}
		return subscription{static: map[string]int{t: 1}}, nil
	}
	var r scalaRegistration
	if err := json.Unmarshal(trimmed, &r); err != nil {
		return subscription{}, fmt.Errorf("%s: %w: %w", path, ErrBadRegistration, err)
	}
	if len(r.Subscription) == 0 {
		return subscription{}, fmt.Errorf("%s: %w: no subscription", path, ErrBadRegistration)
	}
	for k, n := range r.Subscription {
		if n < 1 || n > partition.MaxStreams {
			return subscription{}, fmt.Errorf("%s: %w: %d streams for %q", path, ErrBadRegistration, n, k)
		}
	}
	switch r.Pattern {
	case "", "static":
		for t := range r.Subscription {
			if !validTopic(t) {
				return subscription{}, fmt.Errorf("%s: %w: bad topic %q", path, ErrBadRegistration, t)
			}
		}
		return subscription{static: r.Subscription}, nil
	case "white_list", "black_list":
		if len(r.Subscription) != 1 {
			return subscription{}, fmt.Errorf("%s: %w: %s with %d patterns", path, ErrBadRegistration, r.Pattern, len(r.Subscription))
		}
		for re, n := range r.Subscription {
			if _, err := compilePattern(re); err != nil {
				return subscription{}, fmt.Errorf("%s: %w: %w", path, ErrBadRegistration, err)
			}
			return subscription{pattern: re, black: r.Pattern == "black_list", streams: n}, nil
		}
	}
	return subscription{}, fmt.Errorf("%s: %w: unknown pattern %q", path, ErrBadRegistration, r.Pattern)
}

// compilePattern compiles a whitelist regex the way the Scala consumer
// applies it: commas separate alternatives, and the whole name must match.
func compilePattern(re string) (*regexp.Regexp, error) {
	re = strings.ReplaceAll(re, ",", "|")
	return regexp.Compile("^(?:" + re + ")$")
}

// topics resolves the subscription against the existing topics: topic ->
// streams. Internal topics ("__...") never match a pattern.
func (s subscription) topics(existing []string) map[string]int {
	if s.static != nil {
		return s.static
	}
	re, err := compilePattern(s.pattern)
	if err != nil {
		return nil
	}
	out := map[string]int{}
	for _, t := range existing {
		if strings.HasPrefix(t, "__") {
			continue
		}
		if re.MatchString(t) != s.black {
			out[t] = s.streams
		}
	}
	return out
}
