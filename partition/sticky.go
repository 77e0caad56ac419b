package partition

import (
	"cmp"
	"slices"
	"strings"
)

// sticky is zkbalance's own assignor; its definition is in the package
// documentation (doc.go, "Sticky assignor").
type sticky struct{}

// Name implements Assignor.
func (sticky) Name() string { return Sticky }

// Assign implements Assignor. Owner ids are member ids.
func (sticky) Assign(in Input) (Assignment, error) {
	if err := in.validate(); err != nil {
		return nil, err
	}
	s := newStickyState(in)
	if len(s.all) > 0 {
		s.setQuotas()
		s.keep()
		s.place()
		s.rebalance()
	}
	out := Assignment{}
	for _, tp := range s.all {
		out.add(s.owner[tp], tp.Topic, tp.Partition)
	}
	return out.finish(), nil
}

type stickyState struct {
	previous map[TopicPartition]string
	eligible map[string][]string         // assignable topic -> subscribed member ids, sorted
	members  []string                    // active member ids, sorted
	all      []TopicPartition            // assignable partitions, constraint order
	prev     map[string][]TopicPartition // member -> valid previous partitions, constraint order
	quota    map[string]int
	owner    map[TopicPartition]string
	count    map[string]int
}

func newStickyState(in Input) *stickyState {
	s := &stickyState{
		previous: in.Previous,
		eligible: make(map[string][]string),
		prev:     make(map[string][]TopicPartition),
		quota:    make(map[string]int),
		owner:    make(map[TopicPartition]string),
		count:    make(map[string]int),
	}
	for topic, ids := range memberIDsPerTopic(in.Members) {
		if len(in.Topics[topic]) > 0 {
			s.eligible[topic] = ids
		}
	}
	active := make(map[string]bool)
	for topic, ids := range s.eligible {
		for _, id := range ids {
			active[id] = true
		}
		for p := range in.Topics[topic] {
			s.all = append(s.all, TopicPartition{Topic: topic, Partition: p})
		}
	}
	s.members = sortedKeys(active)
	slices.SortFunc(s.all, s.constraintOrder)
	for _, tp := range s.all {
		if o, ok := in.Previous[tp]; ok && s.subscribed(o, tp.Topic) {
			s.prev[o] = append(s.prev[o], tp)
		}
	}
	return s
}

// constraintOrder: fewer subscribed members first, then topic, partition.
func (s *stickyState) constraintOrder(a, b TopicPartition) int {
	if c := cmp.Compare(len(s.eligible[a.Topic]), len(s.eligible[b.Topic])); c != 0 {
		return c
	}
	return CompareTopicPartitions(a, b)
}

func (s *stickyState) subscribed(member, topic string) bool {
	_, found := slices.BinarySearch(s.eligible[topic], member)
	return found
}

func (s *stickyState) setQuotas() {
	base, extra := len(s.all)/len(s.members), len(s.all)%len(s.members)
	order := slices.Clone(s.members)
	slices.SortFunc(order, func(a, b string) int {
		if c := cmp.Compare(len(s.prev[b]), len(s.prev[a])); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	for i, m := range order {
		s.quota[m] = base
		if i < extra {
			s.quota[m]++
		}
	}
}

func (s *stickyState) keep() {
	for _, m := range s.members {
		for _, tp := range s.prev[m][:min(len(s.prev[m]), s.quota[m])] {
			s.give(tp, m)
		}
	}
}

func (s *stickyState) place() {
	for _, tp := range s.all {
		if _, taken := s.owner[tp]; taken {
			continue
		}
		best := ""
		for _, m := range s.eligible[tp.Topic] {
			if best == "" || s.better(m, best) {
				best = m
			}
		}
		s.give(tp, best)
	}
}

// better reports whether m should receive a free partition before b: below
// quota first, then fewer partitions, then smaller id.
func (s *stickyState) better(m, b string) bool {
	mUnder, bUnder := s.count[m] < s.quota[m], s.count[b] < s.quota[b]
	if mUnder != bUnder {
		return mUnder
	}
	if s.count[m] != s.count[b] {
		return s.count[m] < s.count[b]
	}
	return m < b
}

func (s *stickyState) give(tp TopicPartition, m string) {
	if old, ok := s.owner[tp]; ok {
		s.count[old]--
	}
	s.owner[tp] = m
	s.count[m]++
}

// rebalance performs step 4. Every move lowers the sum of squared counts,
// so the loop ends.
func (s *stickyState) rebalance() {
	for s.rebalanceOnce() {
	}
}

func (s *stickyState) rebalanceOnce() bool {
	lo := s.count[s.members[0]]
	for _, m := range s.members {
		lo = min(lo, s.count[m])
	}
	donors := slices.Clone(s.members)
	slices.SortFunc(donors, func(a, b string) int {
		if c := cmp.Compare(s.count[b], s.count[a]); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	for _, x := range donors {
		if s.count[x] < lo+2 {
			return false // balanced within one from here on
		}
		for _, fresh := range []bool{true, false} {
			for _, tp := range s.all {
				if s.owner[tp] != x || (fresh && s.previous[tp] == x) {
					continue
				}
				y := ""
				for _, m := range s.eligible[tp.Topic] {
					if y == "" || s.count[m] < s.count[y] {
						y = m // eligible is sorted: ties keep the smallest id
					}
				}
				if y != x && s.count[y] <= s.count[x]-2 {
					s.give(tp, y)
					return true
				}
			}
		}
	}
	return false
}
