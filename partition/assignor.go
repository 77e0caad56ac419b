package partition

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
)

// Sentinel errors. Errors returned by this package wrap one of these; test
// them with errors.Is.
var (
	// ErrUnknownAssignor is wrapped by Lookup when no assignor has the name.
	ErrUnknownAssignor = errors.New("partition: unknown assignor")
	// ErrInvalidInput is wrapped by Assign when the Input is malformed: an
	// empty or duplicate member id, a stream count outside 1..MaxStreams, or a
	// negative partition id.
	ErrInvalidInput = errors.New("partition: invalid input")
)

// MaxStreams is the largest stream count (consumer threads per topic) a
// member may declare. Larger counts are rejected as invalid input rather than
// allocating one thread id per stream.
const MaxStreams = 4096

// Assignor names accepted by Lookup.
const (
	// ScalaRange is Kafka's kafka.consumer.RangeAssignor (0.8–1.1).
	ScalaRange = "scala-range"
	// ScalaRoundRobin is kafka.consumer.RoundRobinAssignor of Kafka
	// 0.8.2–0.11: partitions ordered by the hashCode of "[topic,partition]".
	ScalaRoundRobin = "scala-roundrobin"
	// ScalaRoundRobin10 is kafka.consumer.RoundRobinAssignor of Kafka
	// 1.0–1.1: partitions ordered by the hashCode of "topic-partition".
	ScalaRoundRobin10 = "scala-roundrobin-1.0"
	// PykafkaRange is pykafka's RangeProtocol, its default.
	PykafkaRange = "pykafka-range"
	// PykafkaRoundRobin is pykafka's RoundRobinProtocol.
	PykafkaRoundRobin = "pykafka-roundrobin"
	// Sticky is zkbalance's own assignor, for groups of zkbalance members.
	Sticky = "sticky"
)

// Member is one registered group member.
type Member struct {
	// ID is the member id: the child name under /consumers/<g>/ids.
	ID string
	// Subscription maps topic to stream count (consumer threads). pykafka
	// members always have 1; the pykafka-* and sticky assignors only look at
	// which topics are present, not at the counts.
	Subscription map[string]int
}

// Topics maps topic -> partition id -> leader broker id. Only the pykafka-*
// assignors look at leaders.
type Topics map[string]map[int32]int32

// TopicPartition names one partition.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// String returns "topic/partition", the form used as key in the golden
// vectors' "previous" maps.
func (tp TopicPartition) String() string {
	return tp.Topic + "/" + strconv.FormatInt(int64(tp.Partition), 10)
}

// Assignment maps owner id -> topic -> partitions, each list sorted
// ascending. For the scala-* assignors owner ids are thread ids
// "<memberId>-<n>"; for pykafka-* and sticky they are member ids. Owners
// that were given nothing are absent.
type Assignment map[string]map[string][]int32

// Input is everything an assignor looks at.
type Input struct {
	// Members of the group, in any order.
	Members []Member
	// Topics and their partitions. Topics a member subscribes to but that are
	// absent here give that member nothing (not an error).
	Topics Topics
	// Previous owners (owner id per partition), as read from the owner
	// znodes. Only the sticky assignor uses it; entries for partitions or
	// owners that no longer exist are ignored.
	Previous map[TopicPartition]string
	// PreviousByTopic is Previous in another form, for callers that hold
	// thousands of owners: topic -> owner id by partition id ("": none).
	// It is cheaper to build and to read (a map keyed by TopicPartition
	// hashes the topic's name for every partition). Set at most one of
	// the two.
	PreviousByTopic map[string][]string
}

// Assignor computes a group's assignment. Implementations are stateless and
// safe for concurrent use.
type Assignor interface {
	// Name is the name Lookup knows the assignor by.
	Name() string
	// Assign returns the assignment of every partition of every subscribed
	// topic, or an error wrapping ErrInvalidInput. It never modifies in.
	Assign(in Input) (Assignment, error)
}

var assignors = []Assignor{
	scalaRange{},
	scalaRoundRobin{name: ScalaRoundRobin, key: oldTopicAndPartitionString},
	scalaRoundRobin{name: ScalaRoundRobin10, key: newTopicAndPartitionString},
	pykafkaRange{},
	pykafkaRoundRobin{},
	sticky{},
}

// Lookup returns the assignor with the given name; see Names. An unknown
// name gives an error wrapping ErrUnknownAssignor.
func Lookup(name string) (Assignor, error) {
	for _, a := range assignors {
		if a.Name() == name {
			return a, nil
		}
	}
	return nil, fmt.Errorf("%w: %q (known: %v)", ErrUnknownAssignor, name, Names())
}

// Names returns the names of all assignors, sorted.
func Names() []string {
	names := make([]string, 0, len(assignors))
	for _, a := range assignors {
		names = append(names, a.Name())
	}
	slices.Sort(names)
	return names
}

// validate checks in and reports the first problem in a deterministic order.
func (in Input) validate() error {
	seen := make(map[string]struct{}, len(in.Members))
	for i, m := range in.Members {
		if m.ID == "" {
			return fmt.Errorf("%w: member %d has an empty id", ErrInvalidInput, i)
		}
		if _, dup := seen[m.ID]; dup {
			return fmt.Errorf("%w: duplicate member id %q", ErrInvalidInput, m.ID)
		}
		seen[m.ID] = struct{}{}
		for _, t := range sortedKeys(m.Subscription) {
			if n := m.Subscription[t]; n < 1 || n > MaxStreams {
				return fmt.Errorf("%w: member %q, topic %q: %d streams, want 1..%d",
					ErrInvalidInput, m.ID, t, n, MaxStreams)
			}
		}
	}
	if len(in.Previous) > 0 && len(in.PreviousByTopic) > 0 {
		return fmt.Errorf("%w: both Previous and PreviousByTopic are set", ErrInvalidInput)
	}
	for _, t := range sortedKeys(in.Topics) {
		for p := range in.Topics[t] {
			if p < 0 {
				return fmt.Errorf("%w: topic %q: negative partition id %d", ErrInvalidInput, t, p)
			}
		}
	}
	return nil
}

// sortedKeys returns the keys of m in ascending order.
func sortedKeys[K ~string, V any, M ~map[K]V](m M) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// sortedPartitions returns the partition ids of one topic, ascending.
// Ids are nearly always 0..n-1: then they are marked in a table instead of
// sorted (a third of a 4096-partition range assignment's time went to the
// sort).
func sortedPartitions(parts map[int32]int32) []int32 {
	ids := make([]int32, 0, len(parts))
	hi := int32(-1)
	for p := range parts {
		ids = append(ids, p)
		hi = max(hi, p)
	}
	if len(ids) < 32 || int(hi) >= 2*len(ids) || slices.Min(ids) < 0 {
		slices.Sort(ids)
		return ids
	}
	seen := make([]bool, hi+1)
	for _, p := range ids {
		seen[p] = true
	}
	ids = ids[:0]
	for p, ok := range seen {
		if ok {
			ids = append(ids, int32(p))
		}
	}
	return ids
}

// add records that owner owns topic/p. Lists are sorted by finish.
func (a Assignment) add(owner, topic string, p int32) {
	byTopic := a[owner]
	if byTopic == nil {
		byTopic = make(map[string][]int32)
		a[owner] = byTopic
	}
	byTopic[topic] = append(byTopic[topic], p)
}

// finish sorts every partition list and returns a.
func (a Assignment) finish() Assignment {
	for _, byTopic := range a {
		for _, parts := range byTopic {
			slices.Sort(parts)
		}
	}
	return a
}

// rangeSlice is the range formula shared by Kafka's RangeAssignor and
// pykafka's decide_partitions_range: with n = parts/owners and
// extra = parts%owners, owner i takes n+1 items if i < extra, else n,
// starting at n*i + min(i, extra).
func rangeSlice(parts, owners, i int) (start, count int) {
	n, extra := parts/owners, parts%owners
	start = n*i + min(i, extra)
	count = n
	if i < extra {
		count++
	}
	return start, count
}
