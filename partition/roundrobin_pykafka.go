package partition

// pykafkaRoundRobin is pykafka's RoundRobinProtocol (membershipprotocol.py,
// decide_partitions_roundrobin).
//
// Per topic, with the same two sorts as pykafkaRange (participants as
// strings, partitions by "<topic>-<leader>-<partition>"), the k-th partition
// goes to participant k mod N. Each topic starts again at the first
// participant, so over several topics the first participants get more.
type pykafkaRoundRobin struct{}

// Name implements Assignor.
func (pykafkaRoundRobin) Name() string { return PykafkaRoundRobin }

// Assign implements Assignor. Owner ids are member ids.
func (pykafkaRoundRobin) Assign(in Input) (Assignment, error) {
	return assignPykafka(in, func(out Assignment, topic string, ids []string, order []int32) {
		for k, p := range order {
			out.add(ids[k%len(ids)], topic, p)
		}
	})
}
