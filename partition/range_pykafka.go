package partition

import (
	"slices"
	"strconv"
	"strings"
)

// pykafkaRange is pykafka's RangeProtocol (membershipprotocol.py,
// decide_partitions_range; balancedconsumer.py _decide_partitions before
// 2.7), the default of BalancedConsumer.
//
// Per topic: the participants are the ids of the members subscribed to it,
// sorted as strings (Python sorts by code point, which is Go's byte order for
// UTF-8); the partitions are sorted by the string
// "<topic>-<leader id>-<partition id>" (p_to_str), so "t-1-10" sorts before
// "t-1-2" and a leader change reorders them. Then the range formula of the
// Scala assignor slices the sorted partitions among the participants.
// Stream counts are ignored: a pykafka member is one participant.
type pykafkaRange struct{}

// Name implements Assignor.
func (pykafkaRange) Name() string { return PykafkaRange }

// Assign implements Assignor. Owner ids are member ids.
func (pykafkaRange) Assign(in Input) (Assignment, error) {
	return assignPykafka(in, func(out Assignment, topic string, ids []string, order []int32) {
		for i, id := range ids {
			start, count := rangeSlice(len(order), len(ids), i)
			for _, p := range order[start : start+count] {
				out.add(id, topic, p)
			}
		}
	})
}

// assignPykafka is what both pykafka protocols share: per topic, the sorted
// participants and the partitions in pykafka's order, handed to place.
func assignPykafka(in Input, place func(out Assignment, topic string, ids []string, order []int32)) (Assignment, error) {
	if err := in.validate(); err != nil {
		return nil, err
	}
	out := Assignment{}
	participants := memberIDsPerTopic(in.Members)
	for _, topic := range sortedKeys(participants) {
		parts, ok := in.Topics[topic]
		if !ok {
			continue
		}
		place(out, topic, participants[topic], pykafkaOrder(topic, parts))
	}
	return out.finish(), nil
}

// memberIDsPerTopic returns, per topic, the ids of the members subscribed to
// it, sorted byte-wise.
func memberIDsPerTopic(members []Member) map[string][]string {
	out := make(map[string][]string)
	for _, m := range members {
		for topic := range m.Subscription {
			out[topic] = append(out[topic], m.ID)
		}
	}
	for _, ids := range out {
		slices.Sort(ids)
	}
	return out
}

// pykafkaOrder returns the partition ids of topic sorted by pykafka's
// p_to_str key '-'.join([str(topic.name), str(leader.id), str(id)]). The
// keys are unique (the partition id after the last '-' differs), so the
// order is total. (On Python 3 str(topic.name) is "b'<topic>'"; being the
// same prefix for every key of the topic, it does not change the order.)
func pykafkaOrder(topic string, parts map[int32]int32) []int32 {
	type keyed struct {
		key string
		p   int32
	}
	ks := make([]keyed, 0, len(parts))
	for p, leader := range parts {
		key := topic + "-" + strconv.FormatInt(int64(leader), 10) + "-" + strconv.FormatInt(int64(p), 10)
		ks = append(ks, keyed{key, p})
	}
	slices.SortFunc(ks, func(a, b keyed) int { return strings.Compare(a.key, b.key) })
	order := make([]int32, len(ks))
	for i, k := range ks {
		order[i] = k.p
	}
	return order
}
