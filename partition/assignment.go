package partition

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// ThreadID returns the Scala consumer thread id "<memberID>-<n>", the owner
// id the scala-* assignors use and the Scala consumer writes to the owner
// znodes.
func ThreadID(memberID string, n int) string {
	return memberID + "-" + strconv.Itoa(n)
}

// SplitThreadID splits a thread id "<memberID>-<n>" at its last '-'. ok is
// false when the id does not end in "-<n>" as ThreadID writes it. The split is textual: a
// member id that itself ends in "-<digits>" (a pykafka or sticky owner id)
// also splits, so use it only on ids known to be thread ids.
func SplitThreadID(id string) (memberID string, n int, ok bool) {
	i := strings.LastIndexByte(id, '-')
	if i < 0 || i == len(id)-1 {
		return "", 0, false
	}
	digits := id[i+1:]
	if strings.TrimLeft(digits, "0123456789") != "" {
		return "", 0, false
	}
	n, err := strconv.Atoi(digits)
	if err != nil || strconv.Itoa(n) != digits {
		return "", 0, false // overflow, or not canonical ("-07")
	}
	return id[:i], n, true
}

// ParseTopicPartition parses the "topic/partition" form of
// TopicPartition.String. The topic is everything before the last '/'.
func ParseTopicPartition(s string) (TopicPartition, error) {
	i := strings.LastIndexByte(s, '/')
	if i < 0 {
		return TopicPartition{}, fmt.Errorf("partition: %q is not topic/partition", s)
	}
	p, err := strconv.ParseInt(s[i+1:], 10, 32)
	if err != nil {
		return TopicPartition{}, fmt.Errorf("partition: %q: bad partition id: %w", s, err)
	}
	return TopicPartition{Topic: s[:i], Partition: int32(p)}, nil
}

// CompareTopicPartitions orders by topic, then partition id; use it with
// slices.SortFunc.
func CompareTopicPartitions(a, b TopicPartition) int {
	if c := strings.Compare(a.Topic, b.Topic); c != 0 {
		return c
	}
	return cmp.Compare(a.Partition, b.Partition)
}

// Owners inverts the assignment: partition -> owner id.
func (a Assignment) Owners() map[TopicPartition]string {
	owners := make(map[TopicPartition]string)
	for owner, byTopic := range a {
		for topic, parts := range byTopic {
			for _, p := range parts {
				owners[TopicPartition{Topic: topic, Partition: p}] = owner
			}
		}
	}
	return owners
}

// Partitions returns the partitions of the given owners (for example all
// thread ids of one Scala member), sorted by CompareTopicPartitions. It
// returns nil when they own nothing.
func (a Assignment) Partitions(owners ...string) []TopicPartition {
	var out []TopicPartition
	for _, owner := range owners {
		for topic, parts := range a[owner] {
			for _, p := range parts {
				out = append(out, TopicPartition{Topic: topic, Partition: p})
			}
		}
	}
	slices.SortFunc(out, CompareTopicPartitions)
	return slices.Compact(out)
}

// OwnerOf returns the owner of tp, if any.
func (a Assignment) OwnerOf(tp TopicPartition) (owner string, ok bool) {
	for owner, byTopic := range a {
		if slices.Contains(byTopic[tp.Topic], tp.Partition) {
			return owner, true
		}
	}
	return "", false
}

// Count returns how many partitions the assignment places.
func (a Assignment) Count() int {
	n := 0
	for _, byTopic := range a {
		for _, parts := range byTopic {
			n += len(parts)
		}
	}
	return n
}

// Diff is what owner self must do at a rebalance going from prev to next
// (both partition -> owner id): added are the partitions self owns in next
// but not in prev, revoked those it owns in prev but not in next. Both are
// sorted by CompareTopicPartitions and nil when empty. Either map may be nil.
func Diff(prev, next map[TopicPartition]string, self string) (added, revoked []TopicPartition) {
	for tp, owner := range next {
		if owner == self && prev[tp] != self {
			added = append(added, tp)
		}
	}
	for tp, owner := range prev {
		if owner == self && next[tp] != self {
			revoked = append(revoked, tp)
		}
	}
	slices.SortFunc(added, CompareTopicPartitions)
	slices.SortFunc(revoked, CompareTopicPartitions)
	return added, revoked
}
