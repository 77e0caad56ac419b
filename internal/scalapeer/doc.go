// Package scalapeer runs real Scala high-level consumers
// (kafka.consumer.ZookeeperConsumerConnector of Apache Kafka 1.1.1, the
// last release that has it, driven through its Java API) as child
// processes, for interop tests against the real cluster of
// internal/cluster. Like zkbalance's Scala layout they coordinate through
// ZooKeeper: a registration under /consumers/<g>/ids, owner znodes under
// /consumers/<g>/owners/<t>/<p>, offsets under /consumers/<g>/offsets.
//
//	m, err := scalapeer.Start(ctx, scalapeer.Args{
//		ZooKeeper: cl.KafkaZooKeeperConnect(), Group: "g", Topics: []string{"t"},
//		Strategy: scalapeer.Range, Streams: 2,
//	})
//	err = m.WaitOwned(ctx, ok)       // or WaitMessages, Wait
//	msgs := m.Messages()             // parsed events; also Events, Owned, Assignment, Committed, Dropped, Errors
//	err = m.Stop()                   // SIGTERM: commits, releases, closes its session, exits 0
//	_ = m.Kill()                     // SIGKILL: its znodes stay until its session expires (6 s)
//
// # Program
//
// ScalaMember.java (embedded) is compiled by Build, once per machine, with
// javac --release 17 against the jars of the embedded pom.xml (kafka_2.12
// 1.1.1 with scala-library 2.12.4, zkclient 0.10, the ZooKeeper 3.4.10
// client, log4j 1.2.17), which Maven copies once per machine into
// scalapeer-libs-<hash> of the harness cache (cluster.PomJars); the
// classes go to scalapeer-<hash>. Each member runs
//
//	java -Xms32m -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -cp '<classes>:<libs>/*' ScalaMember \
//	     <zookeeper.connect> <group> <topic,...> <range|roundrobin> <streams> <delay ms> <consumer.id|->
//
// in its own process group, killed when the test binary dies. It runs on
// the JDK 17 the harness uses, against Kafka 3.9.2 brokers in ZooKeeper
// mode and ZooKeeper 3.8, as they are (no broker setting is needed for
// it). Measured on a 2-core machine: jar resolution ~7 s the first time on
// a machine, the compile ~1 s, then a stat; Start returns ~0.7 s after it
// began (registered and first rebalance done); a second member's join is
// settled in the whole group ~0.8 s after its Start began, a Stop hands
// the partitions over in ~0.2 s.
//
// The consumer: offsets.storage=zookeeper, auto.commit.enable=false,
// auto.offset.reset=smallest, consumer.timeout.ms=200,
// zookeeper.session.timeout.ms=6000, partition.assignment.strategy of
// Args.Strategy, consumer.id Args.ID when set, defaults otherwise
// (rebalance.max.retries 4, rebalance.backoff.ms 2000). One thread per
// stream iterates its stream and processes each message (sleeps
// Args.Delay) under a read lock, only if its partition is owned; the
// member commits its processed offsets (commitOffsets with an explicit
// map, so never a message handed out but not processed) at most every
// 200 ms per thread, when a stream is idle, and before a release. Its
// rebalance listener's beforeReleasingPartitions (called after the
// fetchers stopped and before the owner znodes are deleted) takes the
// write lock, so it waits for messages in processing, commits, and
// forgets the owned partitions; beforeStartingFetchers (called after the
// owner znodes were written) records the new ones. SIGTERM does the same
// release, then shuts the connector down (its ZooKeeper session closes)
// and exits 0.
//
// # Lines
//
// The member's stdout, one flushed line per event, parsed into Event values
// (partitions as topic:partition):
//
//	started <consumer id>                          registered, first rebalance done
//	assignment [t:p=<thread id>,...]               the group's assignment, computed by this consumer
//	owned [t:p,...]                                this member's share, owner znodes written
//	released [t:p,...]                             committed and stopped processing these
//	msg <topic> <partition> <offset> <start ns> <end ns>
//	                                               a message processed; wall clock in ns since
//	                                               the Unix epoch, before it counts as processed
//	dropped <topic> <partition> <offset>           handed out for a partition not owned (not at a stop)
//	commit t:p=<next offset>,...                   commitOffsets returned
//	error <class>: <message>[ <- <cause class>: <message>...]
//	closed                                         connector shut down; the process exits next
package scalapeer
