package groupstate_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/IBM/sarama"

	"github.com/zkbalance/zkbalance/groupstate"
	"github.com/zkbalance/zkbalance/zkwatch"
)

// Read a group's state and print its lag per partition. It needs a running
// cluster, so it has no checked output.
func ExampleRead() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := zkwatch.Dial(ctx, zkwatch.Config{Servers: "zk1:2181/kafka"})
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	sc := sarama.NewConfig()
	sc.Version = sarama.V2_1_0_0
	client, err := sarama.NewClient([]string{"kafka1:9092"}, sc)
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	st, err := groupstate.Read(ctx, conn, client, "billing")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s: %d members (%s layout), offsets in %s\n", st.Group, len(st.Members), st.Layout, st.Storage)
	for _, p := range st.Partitions {
		fmt.Printf("%s/%d committed %d (%s) log end %d lag %d\n", p.Topic, p.Partition, p.Committed, p.Source, p.LogEnd, p.Lag)
	}
	fmt.Println("total lag", st.Totals.Lag)
}

// Copy a Scala group's ZooKeeper offsets into Kafka before moving it to
// offsets.storage=kafka: first a dry run, then the real one.
func ExampleMigrateOffsets() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := zkwatch.Dial(ctx, zkwatch.Config{Servers: "zk1:2181/kafka"})
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	sc := sarama.NewConfig()
	sc.Version = sarama.V2_1_0_0
	client, err := sarama.NewClient([]string{"kafka1:9092"}, sc)
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	changes, err := groupstate.MigrateOffsets(ctx, conn, client, "billing", groupstate.ZooKeeperToKafka, true, false)
	if err != nil {
		log.Fatal(err)
	}
	for _, c := range changes {
		fmt.Printf("%s/%d: %d → %d\n", c.Topic, c.Partition, c.From, c.To)
	}
	if _, err := groupstate.MigrateOffsets(ctx, conn, client, "billing", groupstate.ZooKeeperToKafka, false, false); err != nil {
		log.Fatal(err)
	}
}

// Describe a Kafka-coordinated group at its coordinator (no ZooKeeper
// needed) and print each member's assignment. It needs a running cluster,
// so it has no checked output.
func ExampleDescribeKafkaGroup() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sc := sarama.NewConfig()
	sc.Version = sarama.V2_1_0_0
	client, err := sarama.NewClient([]string{"kafka1:9092"}, sc)
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	g, err := groupstate.DescribeKafkaGroup(ctx, client, "billing")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s, assignor %q, %d members\n", g.State, g.Protocol, len(g.Members))
	for _, m := range g.Members {
		fmt.Printf("%s (%s at %s): %v\n", m.ID, m.ClientID, m.Host, m.Assignment)
	}
}

// List the consumer groups Kafka knows; Read shows each with nil for the
// ZooKeeper connection on a cluster without ZooKeeper. It needs a running
// cluster, so it has no checked output.
func ExampleKafkaGroups() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sc := sarama.NewConfig()
	sc.Version = sarama.V2_1_0_0
	client, err := sarama.NewClient([]string{"kafka1:9092"}, sc)
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	names, err := groupstate.KafkaGroups(ctx, client)
	if err != nil {
		log.Fatal(err)
	}
	for _, g := range names {
		st, err := groupstate.Read(ctx, nil, client, g)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s: coordination %s, %d kafka members, lag %d\n", g, st.Coordination, st.Totals.KafkaMembers, st.Totals.Lag)
	}
}
