// Package groupstate reads, and migrates the offsets of, a ZooKeeper-coordinated
// consumer group as the Scala high-level consumer, pykafka's BalancedConsumer,
// the wvanbergen Go port and zkbalance leave it: members and their
// subscriptions from /consumers/<g>/ids, owners from /consumers/<g>/owners,
// committed offsets from /consumers/<g>/offsets and from Kafka (OffsetFetch to
// the group coordinator), and log-end offsets and lag from the brokers.
// It also reads Kafka-coordinated groups (KafkaConsumer, zkbalance's kafka
// mode) from their group coordinator: state, assignor, members and their
// assignments (DescribeKafkaGroup, KafkaGroups); Read merges both sides, so
// a group migrating from ZooKeeper to Kafka coordination shows its members
// of both, and works without ZooKeeper (Kafka 4) with Kafka's side only.
//
// It is an operator's tool: it only reads, except for MigrateOffsets,
// ResetOffsets (kafka-consumer-groups' --reset-offsets for ZooKeeper, Kafka
// and dual offsets; its planning is the pure PlanReset) and the coordination
// switches, and it
// reports malformed data (a registration that is neither Scala JSON nor a
// topic name, an offset znode that is not a decimal number) per member or per
// partition instead of failing.
//
// Paths are relative to the chroot of the zkwatch.Conn. The layouts are those
// of zkbalance's protocol reference, docs/PROTOCOL.md ("Znodes written by
// group members" and "Offsets").
package groupstate
