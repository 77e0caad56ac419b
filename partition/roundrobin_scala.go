package partition

import (
	"cmp"
	"slices"
	"strconv"
)

// scalaRoundRobin is Kafka's kafka.consumer.RoundRobinAssignor.
//
// All thread ids of all topics, de-duplicated and sorted as Java strings,
// are cycled endlessly. All (topic, partition) pairs of the subscribed
// topics are sorted ascending by the signed Java String.hashCode of
// TopicAndPartition.toString — "[topic,partition]" up to Kafka 0.11,
// "topic-partition" from 1.0 (key). Each pair goes to the next thread in the
// cycle that subscribes to its topic; threads that do not are skipped, and
// the cycle continues after the chosen thread (Scala: threadAssignor.
// dropWhile(!subscribed).next over CoreUtils.circularIterator).
//
// Ties between equal hashes: see "Ties in scala-roundrobin" in doc.go.
type scalaRoundRobin struct {
	name string
	key  func(topic string, partition int32) string
}

// oldTopicAndPartitionString is TopicAndPartition.toString of Kafka ≤ 0.11:
// "[%s,%d]".format(topic, partition).
func oldTopicAndPartitionString(topic string, p int32) string {
	return "[" + topic + "," + strconv.FormatInt(int64(p), 10) + "]"
}

// newTopicAndPartitionString is TopicAndPartition.toString of Kafka 1.x:
// s"$topic-$partition".
func newTopicAndPartitionString(topic string, p int32) string {
	return topic + "-" + strconv.FormatInt(int64(p), 10)
}

// Name implements Assignor.
func (a scalaRoundRobin) Name() string { return a.name }

// Assign implements Assignor. Owner ids are thread ids (see ThreadID).
func (a scalaRoundRobin) Assign(in Input) (Assignment, error) {
	if err := in.validate(); err != nil {
		return nil, err
	}
	out := Assignment{}
	byTopic, topicsOf := scalaThreads(in.Members)
	allThreads := sortedKeys(topicsOf)
	slices.SortFunc(allThreads, compareThreadIDs)

	type hashed struct {
		tp   TopicPartition
		hash int32
	}
	var all []hashed
	for topic := range byTopic {
		for p := range in.Topics[topic] {
			all = append(all, hashed{TopicPartition{topic, p}, javaHashCode(a.key(topic, p))})
		}
	}
	slices.SortFunc(all, func(x, y hashed) int {
		if c := cmp.Compare(x.hash, y.hash); c != 0 {
			return c
		}
		return CompareTopicPartitions(x.tp, y.tp)
	})

	next := 0 // position of the cycle
	for _, h := range all {
		// The topic has at least one subscribed thread, so one full turn of
		// the cycle always finds it.
		for range allThreads {
			thread := allThreads[next]
			next = (next + 1) % len(allThreads)
			if topicsOf[thread][h.tp.Topic] {
				out.add(thread, h.tp.Topic, h.tp.Partition)
				break
			}
		}
	}
	return out.finish(), nil
}
