// Package balanced is a ZooKeeper-coordinated balanced Kafka consumer,
// wire-compatible with the Scala high-level consumer and pykafka's
// BalancedConsumer (see docs/PROTOCOL.md), that fixes the two ways such groups
// break.
//
// A blocked rebalance cannot happen: the rebalance runs on its own
// goroutine, takes no lock that fetching or a handler holds, cancels the
// handlers of revoked partitions instead of waiting on them (at most
// Config.RevokeTimeout), and claims owner znodes with backoff until they are
// free — a newcomer never gives up with PartitionOwnedError.
//
// A slow handler cannot cause double processing: liveness is the ZooKeeper
// session (kept by the ZooKeeper client's own goroutine, not by the
// handler), a revoked or lost partition's handler context is cancelled, and
// every offset commit is fenced by the owner znode of the session that
// claimed it, so a member that lost a partition can neither commit to it nor
// keep receiving its messages.
//
// # Life of a member
//
// New validates a Config; Run registers /consumers/<group>/ids/<member>,
// watches the members, brokers and topics, and rebalances on every
// (coalesced) change until its context is done or Close is called. Each
// owned partition gets its own Handler.Consume call on its own goroutine with
// a context that ends on revoke (cause ErrRevoked), on session loss
// (ErrSessionExpired) or on close (ErrClosed). Handlers mark what they have
// processed; marked offsets are committed every Config.CommitInterval, on
// revoke and on close (at least once), and at once by Claim.Commit.
//
// With Config.Coordination CoordinationKafka the assignment is decided by
// Kafka's group coordinator instead (eager range, roundrobin or sticky,
// shared with Java KafkaConsumers of the group); the member still claims
// each partition's owner znode before it starts it and releases it after
// the final commit, keeps offsets in Kafka, and its commits are fenced by
// the generation. With Config.ZooKeeper left empty (and Config.Brokers set)
// it uses no ZooKeeper at all, for Kafka 4 in KRaft mode: no owner znodes,
// the generation alone fences it (see Config.ZooKeeper).
//
// With CoordinationFollow the group's mode znode
// (/consumers/<group>/coordination, written by `zkbalance coordination
// --apply`) chooses between the two, and the member switches live when it
// changes: it revokes everything (ErrRevoked), leaves the old mode and
// enters the new one, claiming each partition only once its old holder
// released it; offsets are kept in both stores, so nothing is lost or
// replayed across a switch.
//
// Config.Offsets chooses where offsets are kept (ZooKeeper, Kafka or both),
// Config.Hooks tells the application about assignment changes and about the
// failures the consumer handles by itself (Hooks.OnError), and
// Consumer.Health reports the session, the owned partitions and the last
// rebalance for health checks. Package balancedtest runs a Handler over a
// fake partition, without ZooKeeper or Kafka.
//
// # Metrics
//
// With Config.Registerer set, the member registers these Prometheus series,
// each labelled group and member (the member id), so that members of one
// group may share a registry and sums over members are the group's values;
// the per-topic counters start at 0 for Config.Topics (and for a
// TopicPattern topic once one of its partitions is owned), and every
// series is unregistered when Run returns:
//
//   - zkbalance_lag_messages{topic,partition}: log end offset minus the
//     member's position, for each partition it owns, from about a
//     second after it acquired it (before the first mark: its start
//     offset) until it is revoked, lost or the member closes. The log
//     end is re-listed every Config.LagInterval, so the lag of a stuck
//     handler keeps growing. sum by (group) is the group's lag, counted
//     once per partition.
//   - zkbalance_last_commit_timestamp_seconds{topic,partition}: unix time of
//     the partition's last successful commit by this member (absent before
//     its first one). Per partition rather than per member: a member's
//     latest commit would hide one stuck partition among busy ones; take
//     max by (member) for the member's. An idle partition commits nothing,
//     so alert on it together with the lag.
//   - zkbalance_commit_duration_seconds: latency of each partition commit.
//   - zkbalance_commits_total, zkbalance_commit_errors_total.
//   - zkbalance_messages_processed_total{topic}: marked messages, counted
//     when committed.
//   - zkbalance_handler_errors_total{topic}: Handler.Consume calls that
//     returned an error while the partition was owned.
//   - zkbalance_zookeeper_connected: 1 while connected to the member's
//     ZooKeeper session, 0 otherwise; absent without ZooKeeper (and once
//     detached in follow mode).
//   - zkbalance_owned_partitions, zkbalance_rebalances_total,
//     zkbalance_rebalances_superseded_total,
//     zkbalance_rebalance_duration_seconds, zkbalance_claim_retries_total,
//     zkbalance_sessions_lost_total.
//
// # Concurrency
//
// Consume runs concurrently for different partitions, each on its own
// goroutine; messages of one partition arrive in order. Hooks are called one
// at a time, never concurrently with each other, from the rebalance, the
// session loop or wherever an error happened (see Hooks for which
// goroutine). Neither handlers nor hooks may call Close.
package balanced
