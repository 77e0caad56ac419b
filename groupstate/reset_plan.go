package groupstate

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ErrBadReset: a reset that cannot be planned (a malformed topic
// selection, a shift of a partition without a committed offset, an unknown
// log range).
var ErrBadReset = errors.New("groupstate: bad offset reset")

// ResetKind says how ResetOffsets picks a partition's new offset.
type ResetKind int

// Reset kinds, as kafka-consumer-groups' --reset-offsets names them.
const (
	// ResetToEarliest: the log start (the oldest offset still in the log).
	ResetToEarliest ResetKind = iota + 1
	// ResetToLatest: the log end (the next offset to be written).
	ResetToLatest
	// ResetToOffset: ResetSpec.Offset, clamped to [log start, log end].
	ResetToOffset
	// ResetToDatetime: the first offset whose timestamp is at or after
	// ResetSpec.Time (Kafka's ListOffsets by timestamp); the log end when
	// no message is that late.
	ResetToDatetime
	// ResetShiftBy: the committed offset plus ResetSpec.Offset (negative
	// moves back), clamped to [log start, log end].
	ResetShiftBy
)

// ResetSpec is what to reset the offsets to.
type ResetSpec struct {
	Kind ResetKind
	// Offset is the target of ResetToOffset and the delta of ResetShiftBy.
	Offset int64
	// Time is the timestamp of ResetToDatetime.
	Time time.Time
}

// String is the spec as the command-line flag that gives it, e.g.
// "to-offset 42" or "shift-by -10".
func (s ResetSpec) String() string {
	switch s.Kind {
	case ResetToEarliest:
		return "to-earliest"
	case ResetToLatest:
		return "to-latest"
	case ResetToOffset:
		return "to-offset " + strconv.FormatInt(s.Offset, 10)
	case ResetToDatetime:
		return "to-datetime " + s.Time.UTC().Format(time.RFC3339Nano)
	case ResetShiftBy:
		return fmt.Sprintf("shift-by %+d", s.Offset)
	}
	return fmt.Sprintf("reset kind %d", int(s.Kind))
}

// Clamp says which end of the log a new offset was moved to.
type Clamp string

// Clamps.
const (
	ClampNone     Clamp = ""          // the offset was inside the log
	ClampLogStart Clamp = "log-start" // it was below the log start
	ClampLogEnd   Clamp = "log-end"   // it was beyond the log end
)

// ResetInput is what PlanReset needs about one partition.
type ResetInput struct {
	Topic     string
	Partition int32
	// Old is the committed offset, -1 when there is none.
	Old int64
	// OldError says why the committed offset could not be read ("" when
	// it could); a shift of such a partition is refused.
	OldError string
	// LogStart and LogEnd are the log's oldest offset and the next offset
	// to be written.
	LogStart, LogEnd int64
	// AtTime is the offset Kafka resolved ResetSpec.Time to, -1 when no
	// message is that late (only for ResetToDatetime).
	AtTime int64
}

// ResetPlanned is one partition's planned reset.
type ResetPlanned struct {
	Topic     string
	Partition int32
	Old, New  int64
	// Clamped says whether New was moved into [LogStart, LogEnd], and to
	// which end.
	Clamped Clamp
}

// PlanReset computes every partition's new offset for spec: the log start
// (ResetToEarliest), the log end (ResetToLatest), spec.Offset
// (ResetToOffset), AtTime or the log end when it is -1 (ResetToDatetime),
// or Old + spec.Offset (ResetShiftBy, saturating instead of overflowing),
// then clamped to [LogStart, LogEnd]. The result is in the order of in.
//
// Errors wrap ErrBadReset: an unknown kind, a negative ResetToOffset, a
// partition whose log range is unknown (-1) or empty-looking (start after
// end), and a shift of partitions without a readable committed offset (all
// of them are named, as kafka-consumer-groups refuses to shift those).
func PlanReset(spec ResetSpec, in []ResetInput) ([]ResetPlanned, error) {
	switch spec.Kind {
	case ResetToEarliest, ResetToLatest, ResetToDatetime, ResetShiftBy:
	case ResetToOffset:
		if spec.Offset < 0 {
			return nil, fmt.Errorf("%w: to-offset %d is negative", ErrBadReset, spec.Offset)
		}
	default:
		return nil, fmt.Errorf("%w: unknown reset kind %d", ErrBadReset, int(spec.Kind))
	}
	out := make([]ResetPlanned, 0, len(in))
	var bad []string
	for _, x := range in {
		name := x.Topic + "/" + strconv.FormatInt(int64(x.Partition), 10)
		if x.LogStart < 0 || x.LogEnd < 0 || x.LogStart > x.LogEnd {
			bad = append(bad, fmt.Sprintf("%s: log range [%d, %d] unknown", name, x.LogStart, x.LogEnd))
			continue
		}
		var n int64
		switch spec.Kind {
		case ResetToEarliest:
			n = x.LogStart
		case ResetToLatest:
			n = x.LogEnd
		case ResetToOffset:
			n = spec.Offset
		case ResetToDatetime:
			n = x.AtTime
			if n < 0 {
				n = x.LogEnd
			}
		case ResetShiftBy:
			switch {
			case x.OldError != "":
				bad = append(bad, fmt.Sprintf("%s: committed offset unreadable (%s), cannot shift it", name, x.OldError))
				continue
			case x.Old < 0:
				bad = append(bad, name+": no committed offset to shift")
				continue
			}
			n = addSaturating(x.Old, spec.Offset)
		}
		p := ResetPlanned{Topic: x.Topic, Partition: x.Partition, Old: x.Old, New: n}
		switch {
		case n < x.LogStart:
			p.New, p.Clamped = x.LogStart, ClampLogStart
		case n > x.LogEnd:
			p.New, p.Clamped = x.LogEnd, ClampLogEnd
		}
		out = append(out, p)
	}
	if len(bad) > 0 {
		return nil, fmt.Errorf("%w: %s", ErrBadReset, strings.Join(bad, "; "))
	}
	return out, nil
}

// addSaturating is a+b, held at the int64 range instead of wrapping.
func addSaturating(a, b int64) int64 {
	switch {
	case b > 0 && a > math.MaxInt64-b:
		return math.MaxInt64
	case b < 0 && a < math.MinInt64-b:
		return math.MinInt64
	}
	return a + b
}

// TopicSelection is one --topic of a reset: a topic and its partitions
// (nil: all of them).
type TopicSelection struct {
	Topic      string
	Partitions []int32
}

// ParseTopicSelection parses "topic" or "topic:P,P,…" (kafka-consumer-groups'
// --topic syntax) into a TopicSelection with the partitions sorted and
// deduplicated. A topic name is Kafka's: 1 to 249 of [a-zA-Z0-9._-], not
// "." or "..". Errors wrap ErrBadReset.
func ParseTopicSelection(s string) (TopicSelection, error) {
	topic, list, hasList := strings.Cut(s, ":")
	if err := checkTopicName(topic); err != nil {
		return TopicSelection{}, fmt.Errorf("%w: topic %q: %v", ErrBadReset, s, err)
	}
	sel := TopicSelection{Topic: topic}
	if !hasList {
		return sel, nil
	}
	if strings.TrimSpace(list) == "" {
		return TopicSelection{}, fmt.Errorf("%w: topic %q: no partition after ':'", ErrBadReset, s)
	}
	for f := range strings.SplitSeq(list, ",") {
		f = strings.TrimSpace(f)
		p, err := strconv.ParseInt(f, 10, 32)
		if err != nil || p < 0 {
			return TopicSelection{}, fmt.Errorf("%w: topic %q: partition %q is not a non-negative number", ErrBadReset, s, f)
		}
		sel.Partitions = append(sel.Partitions, int32(p))
	}
	slices.Sort(sel.Partitions)
	sel.Partitions = slices.Compact(sel.Partitions)
	return sel, nil
}

// checkTopicName applies Kafka's topic name rules.
func checkTopicName(t string) error {
	switch {
	case t == "":
		return errors.New("empty topic name")
	case t == "." || t == "..":
		return errors.New(`"." and ".." are not topic names`)
	case len(t) > 249:
		return errors.New("longer than 249 characters")
	}
	for _, c := range t {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("%q is not allowed in a topic name", c)
		}
	}
	return nil
}
