package zkwatch_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/zkbalance/zkbalance/zkwatch"
)

func ExampleParseBroker() {
	// What a Kafka 3.9 broker with an internal SSL listener registers.
	data := []byte(`{"features":{},"listener_security_protocol_map":{"PLAINTEXT":"PLAINTEXT","INTERNAL":"SSL"},` +
		`"endpoints":["PLAINTEXT://10.0.0.1:9092","INTERNAL://[fd00::1]:9093"],` +
		`"jmx_port":-1,"port":9092,"host":"10.0.0.1","version":5,"timestamp":"1795426452383"}`)
	b, err := zkwatch.ParseBroker(zkwatch.BrokerPath(1), data)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("broker", b.ID, "version", b.Version, "registered", b.Timestamp.Format(time.RFC3339))

	plain, _ := b.Endpoint("", "") // the first PLAINTEXT endpoint
	fmt.Println(plain.Listener, plain.Addr())
	internal, _ := b.Endpoint("INTERNAL", "")
	fmt.Println(internal.Listener, internal.SecurityProtocol, internal.Addr())
	if _, err := b.Endpoint("", "SASL_SSL"); errors.Is(err, zkwatch.ErrNoEndpoint) {
		fmt.Println(err)
	}

	_, err = zkwatch.ParseBroker("/brokers/ids/2", []byte(`{"version":2,"endpoints":["PLAINTEXT://h"]}`))
	fmt.Println(errors.Is(err, zkwatch.ErrMalformed))
	fmt.Println(err)
	// Output:
	// broker 1 version 5 registered 2026-11-23T09:34:12Z
	// PLAINTEXT 10.0.0.1:9092
	// INTERNAL SSL [fd00::1]:9093
	// broker 1 has no SASL_SSL endpoint: zkwatch: no matching broker endpoint
	// true
	// zkwatch: malformed znode /brokers/ids/2: broker registration: endpoint "PLAINTEXT://h": no port
}

func ExampleParseTopic() {
	data := []byte(`{"partitions":{"0":[3,1,2],"1":[1,2,3],"2":[2,3,1]},"topic_id":"dkTxDiqgTXCJGhgXgRtpfQ",` +
		`"adding_replicas":{},"removing_replicas":{},"version":3}`)
	t, err := zkwatch.ParseTopic(zkwatch.TopicPath("orders"), data)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, p := range t.PartitionIDs() {
		fmt.Println(t.Name, p, t.Partitions[p])
	}
	// Output:
	// orders 0 [3 1 2]
	// orders 1 [1 2 3]
	// orders 2 [2 3 1]
}

func ExampleParsePartitionState() {
	data := []byte(`{"controller_epoch":2,"leader":-1,"version":1,"leader_epoch":1,"isr":[1]}`)
	s, err := zkwatch.ParsePartitionState(zkwatch.PartitionStatePath("orders", 0), data)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(s.Topic, s.Partition, s.Leader == zkwatch.NoLeader, s.ISR)
	// Output:
	// orders 0 true [1]
}
