package partition

import "slices"

// scalaRange is Kafka's kafka.consumer.RangeAssignor (Kafka 0.8–1.1).
//
// Per topic: the consumer threads subscribed to it, sorted as Java strings
// (ConsumerThreadId compares "<memberId>-<n>", so "m-10" sorts before "m-2"),
// and the partition ids sorted as integers (ZkUtils.getPartitionsForTopics).
// Thread i takes n+1 partitions if i < extra, else n, starting at
// n*i + min(i, extra), where n = partitions/threads and
// extra = partitions%threads. Threads past the partitions get nothing.
type scalaRange struct{}

// Name implements Assignor.
func (scalaRange) Name() string { return ScalaRange }

// Assign implements Assignor. Owner ids are thread ids (see ThreadID).
func (scalaRange) Assign(in Input) (Assignment, error) {
	if err := in.validate(); err != nil {
		return nil, err
	}
	out := Assignment{}
	threads, _ := scalaThreads(in.Members)
	for _, topic := range sortedKeys(threads) {
		parts, ok := in.Topics[topic]
		if !ok {
			continue // subscribed but not (yet) created
		}
		ids := sortedPartitions(parts)
		owners := threads[topic]
		for i, owner := range owners {
			start, count := rangeSlice(len(ids), len(owners), i)
			for _, p := range ids[start : start+count] {
				out.add(owner, topic, p)
			}
		}
	}
	return out.finish(), nil
}

// scalaThreads returns, like ZkUtils.getConsumersPerTopic, the thread ids
// subscribed to each topic sorted by compareThreadIDs, and the set of topics
// each thread id subscribes to. Member "m" with k streams for topic t has
// threads "m-0" … "m-(k-1)" for t.
func scalaThreads(members []Member) (byTopic map[string][]string, topicsOf map[string]map[string]bool) {
	byTopic = make(map[string][]string)
	topicsOf = make(map[string]map[string]bool)
	for _, m := range members {
		for topic, streams := range m.Subscription {
			for n := range streams {
				id := ThreadID(m.ID, n)
				byTopic[topic] = append(byTopic[topic], id)
				if topicsOf[id] == nil {
					topicsOf[id] = make(map[string]bool)
				}
				topicsOf[id][topic] = true
			}
		}
	}
	for _, ids := range byTopic {
		slices.SortFunc(ids, compareThreadIDs)
	}
	return byTopic, topicsOf
}
