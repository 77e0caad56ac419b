// Package zkwatch is zkbalance's layer over its ZooKeeper client (a patched copy
// of go-zookeeper/zk inside this module; see internal/zk/ZKBALANCE_PATCH.md).
//
// It adds what the raw client lacks:
//
//   - Conn: context-aware calls, chroot support ("host:port/chroot"), and
//     session-state events delivered to any number of subscribers without
//     loss (Subscribe), so that an expired session is never missed.
//   - WatchChildren and WatchData: long-lived watches over ZooKeeper's
//     one-shot watches. Each re-arms after every event and delivers the
//     current snapshot (children or data plus stat, or "does not exist"),
//     survives disconnects and, after a session expiry, re-arms on the new
//     session.
//   - Coalescer: gathers bursts of triggers into one signal (a quiet period
//     with an upper bound), the rebalance trigger of a balanced consumer.
//   - Typed readers and parsers for what Kafka brokers register:
//     /brokers/ids/<id>, /brokers/topics/<t> and
//     /brokers/topics/<t>/partitions/<p>/state. Malformed or missing data
//     yields an error naming the path, never a panic.
package zkwatch
