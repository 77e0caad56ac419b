package partition

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
)

// Checks shared by the golden, property and fuzz tests. They are written
// from the definitions in docs/PROTOCOL.md, not from the code under test.

// isScala reports whether the assignor's owners are thread ids.
func isScala(name string) bool {
	return name == ScalaRange || name == ScalaRoundRobin || name == ScalaRoundRobin10
}

// ownersByTopic returns, per topic present in in.Topics, the owner ids that
// may hold its partitions: thread ids "<id>-<n>" (n < streams) for scala-*,
// member ids otherwise. Lists are sorted.
func ownersByTopic(name string, in Input) map[string][]string {
	out := make(map[string][]string)
	for _, m := range in.Members {
		for topic, streams := range m.Subscription {
			if _, ok := in.Topics[topic]; !ok {
				continue
			}
			if !isScala(name) {
				out[topic] = append(out[topic], m.ID)
				continue
			}
			for n := 0; n < streams; n++ {
				out[topic] = append(out[topic], m.ID+"-"+strconv.Itoa(n))
			}
		}
	}
	for _, ids := range out {
		sort.Strings(ids)
	}
	return out
}

// checkValid: lists are sorted, non-empty and name existing partitions; each
// partition has one owner, subscribed to its topic; every partition of every
// subscribed topic is placed; nothing of unsubscribed topics is.
func checkValid(name string, in Input, got Assignment) error {
	allowed := ownersByTopic(name, in)
	seen := make(map[TopicPartition]string)
	for owner, byTopic := range got {
		if len(byTopic) == 0 {
			return fmt.Errorf("owner %q present with no topics", owner)
		}
		for topic, parts := range byTopic {
			if len(parts) == 0 {
				return fmt.Errorf("owner %q has an empty list for %q", owner, topic)
			}
			if !slices.IsSorted(parts) {
				return fmt.Errorf("owner %q, topic %q: %v not sorted", owner, topic, parts)
			}
			if _, ok := slices.BinarySearch(allowed[topic], owner); !ok {
				return fmt.Errorf("owner %q may not hold topic %q", owner, topic)
			}
			for _, p := range parts {
				tp := TopicPartition{topic, p}
				if _, ok := in.Topics[topic][p]; !ok {
					return fmt.Errorf("owner %q holds %v, which does not exist", owner, tp)
				}
				if prev, dup := seen[tp]; dup {
					return fmt.Errorf("%v owned by both %q and %q", tp, prev, owner)
				}
				seen[tp] = owner
			}
		}
	}
	for topic := range allowed {
		for p := range in.Topics[topic] {
			if _, ok := seen[TopicPartition{topic, p}]; !ok {
				return fmt.Errorf("%s/%d is not assigned", topic, p)
			}
		}
	}
	return nil
}

// countsPerTopic returns owner -> number of partitions of topic.
func countsPerTopic(got Assignment, topic string) map[string]int {
	c := make(map[string]int)
	for owner, byTopic := range got {
		c[owner] = len(byTopic[topic])
	}
	return c
}

// spread returns max-min of counts over owners (missing owners count 0).
func spread(counts map[string]int, owners []string) int {
	if len(owners) == 0 {
		return 0
	}
	lo, hi := counts[owners[0]], counts[owners[0]]
	for _, o := range owners {
		lo, hi = min(lo, counts[o]), max(hi, counts[o])
	}
	return hi - lo
}

// checkBalancedPerTopic: on every topic, the owners allowed to hold it have
// within one partition of each other.
func checkBalancedPerTopic(name string, in Input, got Assignment) error {
	for topic, owners := range ownersByTopic(name, in) {
		if s := spread(countsPerTopic(got, topic), owners); s > 1 {
			return fmt.Errorf("topic %q: counts differ by %d among %v", topic, s, owners)
		}
	}
	return nil
}

// activeOwners are the owners allowed to hold at least one existing
// partition.
func activeOwners(name string, in Input) []string {
	set := make(map[string]bool)
	for topic, owners := range ownersByTopic(name, in) {
		if len(in.Topics[topic]) > 0 {
			for _, o := range owners {
				set[o] = true
			}
		}
	}
	var out []string
	for o := range set {
		out = append(out, o)
	}
	sort.Strings(out)
	return out
}

// checkBalancedOverall: all active owners within one partition in total.
func checkBalancedOverall(name string, in Input, got Assignment) error {
	counts := make(map[string]int)
	for owner, byTopic := range got {
		for _, parts := range byTopic {
			counts[owner] += len(parts)
		}
	}
	owners := activeOwners(name, in)
	if s := spread(counts, owners); s > 1 {
		return fmt.Errorf("totals differ by %d among %v: %v", s, owners, counts)
	}
	return nil
}

// minMoves is the fewest partitions a balanced assignment (every active
// member base or base+1, subscriptions identical) must take away from a
// valid previous owner, and moved how many next takes away. A valid previous
// owner is a member subscribed to the partition's topic.
func minMoves(in Input, next Assignment) (moved, lowerBound int) {
	owners := ownersByTopic(Sticky, in)
	active := activeOwners(Sticky, in)
	total := 0
	for topic := range owners {
		total += len(in.Topics[topic])
	}
	if len(active) == 0 {
		return 0, 0
	}
	prevCount := make(map[string]int)
	nextOwners := next.Owners()
	for tp, o := range in.Previous {
		if _, exists := in.Topics[tp.Topic][tp.Partition]; !exists {
			continue
		}
		if _, ok := slices.BinarySearch(owners[tp.Topic], o); !ok {
			continue
		}
		prevCount[o]++
		if nextOwners[tp] != o {
			moved++
		}
	}
	base, extra := total/len(active), total%len(active)
	kept, canUseExtra, validPrev := 0, 0, 0
	for _, o := range active {
		validPrev += prevCount[o]
		kept += min(prevCount[o], base)
		if prevCount[o] > base {
			canUseExtra++
		}
	}
	kept += min(extra, canUseExtra)
	return moved, validPrev - kept
}
