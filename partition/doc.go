// Package partition computes which member of a consumer group owns which
// partition, exactly as the legacy ZooKeeper-based consumers do.
//
// zkbalance shares groups with the Scala high-level consumer
// (kafka.consumer.ZookeeperConsumerConnector, Kafka 0.8–1.1) and with
// pykafka's BalancedConsumer (2.x). There is no coordinator: every member
// reads the same inputs from ZooKeeper (the members and their subscriptions,
// the topics and their partitions) and computes the same answer on its own.
// The assignors in this package therefore have to agree bit for bit with the
// legacy implementations; the golden vectors in testdata/ pin them down.
//
// Six assignors are available through [Lookup]:
//
//   - "scala-range": kafka.consumer.RangeAssignor (per topic slices).
//   - "scala-roundrobin": kafka.consumer.RoundRobinAssignor as in Kafka
//     0.8.2–0.11 (partitions ordered by the Java hashCode of "[topic,p]").
//   - "scala-roundrobin-1.0": the same assignor as in Kafka 1.0–1.1
//     (partitions ordered by the Java hashCode of "topic-p").
//   - "pykafka-range": pykafka's RangeProtocol (the default).
//   - "pykafka-roundrobin": pykafka's RoundRobinProtocol.
//   - "sticky": zkbalance's own assignor for groups made only of zkbalance
//     members; balanced, deterministic and moving as few partitions as
//     possible on a join or a leave.
//
// Owner ids: the scala-* assignors give partitions to consumer threads, whose
// ids are "<memberId>-<n>" for n in 0..streams-1 (see [ThreadID]); this is
// the value the Scala consumer writes to /consumers/<g>/owners/<t>/<p>. The
// pykafka-* assignors and sticky give partitions to members, so their owner
// id is the member id itself, and they ignore the stream count.
//
// The assignors, Diff, ThreadID and Backoff.Delay are pure functions of
// their arguments: no I/O, no clocks, no randomness, and the result never
// depends on the order of Input.Members or on Go's map iteration order. The
// claim helpers are the exception: Claimer, Release and ReleaseAll create
// and delete owner znodes through a zkwatch.Conn (the claim_test tests
// need a ZooKeeper).
//
// # Ties in scala-roundrobin
//
// Kafka sorts the pairs with a stable sortWith over a sequence built from a
// HashMap of topics, each topic's partitions ascending. Pairs of one topic
// with equal hashes therefore stay in ascending partition order, which this
// package reproduces. Pairs of different topics with equal hashes (topics
// "Aa" and "BB" collide, for example) follow Scala's HashMap iteration
// order, which is not reproduced: they are ordered by topic name.
//
// # Sticky assignor
//
// The sticky assignor is zkbalance's own, for groups whose members all run
// zkbalance. Owner ids are member ids (one stream per member; stream counts
// are ignored). It balances partitions over the group, keeps as many
// previous owners as balance allows, and is fully determined by its input.
//
// Definitions. A topic is assignable when it is in Input.Topics, has at
// least one partition and at least one member subscribes to it. Its
// partitions are the partitions to place (T of them); the active members
// are those subscribed to at least one assignable topic (N of them). A
// previous owner counts only if it is an active member subscribed to the
// partition's topic; other entries of Input.Previous are ignored. The
// constraint order of partitions is: fewer subscribed members first, then
// topic, then partition id (with identical subscriptions simply topic,
// partition).
//
// Algorithm.
//  1. Quotas: base = T/N, extra = T%N. Members sorted by number of valid
//     previous partitions (descending), then id, and the first extra of
//     them get base+1, the others base.
//  2. Keep: each member keeps its valid previous partitions, the first
//     quota of them in constraint order.
//  3. Place: every other partition, in constraint order, goes to a
//     subscribed member: one below its quota first, then the one with the
//     fewest partitions, then the smallest id.
//  4. Rebalance (only matters when subscriptions differ): while some member
//     X has at least two more partitions than a member Y subscribed to the
//     topic of one of X's partitions, move one. X is the most loaded member
//     (ties: smallest id) that can give one. The partition is X's first in
//     constraint order that can move, looking first at partitions X did not
//     own in Previous, then at all. It goes to the least loaded member
//     subscribed to its topic (ties: smallest id).
//
// With identical subscriptions steps 1–3 give every member base or base+1
// partitions and keep the largest number of previous owners any balanced
// assignment can keep: on a leave only the leaver's partitions move, on a
// join only the ones the new member receives. With differing subscriptions
// the result is complete and valid, balanced as far as step 4 can reach.
package partition
