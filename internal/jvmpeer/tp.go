package jvmpeer

import (
	"cmp"
	"strconv"
	"strings"
)

// TopicPartition names one partition.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// String is "topic:partition", as the members print it.
func (tp TopicPartition) String() string {
	return tp.Topic + ":" + strconv.FormatInt(int64(tp.Partition), 10)
}

// CompareTP orders by topic, then partition.
func CompareTP(a, b TopicPartition) int {
	return cmp.Or(strings.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
}

// ParseTP parses "topic:partition" (partition not negative). Kafka topic
// names have no ':'.
func ParseTP(s string) (TopicPartition, bool) {
	i := strings.LastIndexByte(s, ':')
	if i <= 0 {
		return TopicPartition{}, false
	}
	p, err := strconv.ParseInt(s[i+1:], 10, 32)
	if err != nil || p < 0 {
		return TopicPartition{}, false
	}
	return TopicPartition{s[:i], int32(p)}, true
}

// ParseCommits parses "t:p=next,..." (at least one, offsets not negative).
func ParseCommits(s string) (map[TopicPartition]int64, bool) {
	if s == "" {
		return nil, false
	}
	commits := map[TopicPartition]int64{}
	for _, e := range strings.Split(s, ",") {
		tps, offs, ok := strings.Cut(e, "=")
		tp, ok2 := ParseTP(tps)
		off, err := strconv.ParseInt(offs, 10, 64)
		if !ok || !ok2 || err != nil || off < 0 {
			return nil, false
		}
		commits[tp] = off
	}
	return commits, true
}
