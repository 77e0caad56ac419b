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
		ids := participants[topic]
		for k, p := range pykafkaOrder(topic, parts) {
			out.add(ids[k%len(ids)], topic, p)
		}
	}
	return out.finish(), nil
}
