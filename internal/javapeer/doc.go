// Package javapeer runs real Apache Kafka Java consumers (KafkaConsumer of
// the kafka-clients jar the harness runs the brokers from, 3.9.2) as child
// processes, for interop tests against the real cluster of internal/cluster.
// Unlike zkbalance and pykafka members they use Kafka's group coordinator,
// not ZooKeeper.
//
//	m, err := javapeer.Start(ctx, javapeer.Args{
//		Bootstrap: cl.BrokerAddrs(), Group: "g", Topics: []string{"t"},
//		Strategy: javapeer.Range, ID: "java-1",
//	})
//	err = m.WaitAssigned(ctx)       // joined; or WaitOwned, WaitMessages, Wait
//	msgs := m.Messages()            // parsed events; also Events, Owned, Committed, Errors, Lost
//	err = m.Stop()                  // SIGTERM: commits, leaves the group, exits 0
//	_ = m.Kill()                    // SIGKILL: stays in the group until the session times out
//
// # Program
//
// Member.java (embedded) is compiled by Build, once per machine, with
// javac --release 17 against the harness's jar directory (cluster.Jars,
// which holds kafka-clients-3.9.2.jar and its dependencies), into
// javapeer-<hash> in the harness cache ($ZKBALANCE_CACHE, else
// ~/.cache/zkbalance), under a file lock, through a .tmp directory renamed
// into place; a missing javac is an error naming it (a JDK is needed, not
// only a JRE). Each member then runs
//
//	java -Xms32m -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -cp '<classes>:<libs>/*' Member \
//	     <bootstrap> <group> <topic,...> <assignor class> <delay ms> <client id>
//
// in its own process group, killed when the test binary dies. Measured on
// a 2-core machine: the compile ~0.9 s (later Builds: a stat), a member's
// started line ~0.3 s after Start, its first assignment 0.2-0.6 s after
// that when it joins an empty group (the most when it is the cluster's first
// group and __consumer_offsets is made), ~3 s when the group must rebalance
// (the others learn of it on their next heartbeat, heartbeat.interval.ms
// 3 s); a Stop ~0.5 s, and a Stop hands the partitions to the others within
// ~3 s (a leave, not the 45 s session timeout).
//
// The consumer: enable.auto.commit=false, auto.offset.reset=earliest,
// partition.assignment.strategy the one assignor of Args.Strategy (Range,
// RoundRobin, Sticky: eager; CooperativeSticky: incremental), byte-array
// deserializers, client defaults otherwise. Its loop polls (500 ms), and
// for each record sleeps Args.Delay, prints a msg line, and marks the record
// processed; after each poll's records it commits the processed offsets
// with commitSync. Its ConsumerRebalanceListener commits the processed
// offsets of revoked partitions (commitSync) before printing revoked, and
// forgets those of lost ones. SIGTERM runs a shutdown hook that sets a stop
// flag and calls consumer.wakeup(); the loop then commits, closes the
// consumer (the listener sees the revoke, the consumer leaves the group),
// prints closed, and the JVM exits 0 (1 if the loop died on an exception).
// The client's log (warnings, and the coordinator's join, sync and
// assignment lines at INFO) goes to stderr (Member.Stderr).
//
// # Lines
//
// The member's stdout, one flushed line per event, parsed into Event values
// (partitions as topic:partition; Kafka topic names have no ':' or ','):
//
//	started <client id>                            consumer made, about to subscribe
//	assigned [t:p,...]                             onPartitionsAssigned (eager: the whole
//	                                               assignment; cooperative: what was added)
//	revoked [t:p,...]                              onPartitionsRevoked, after the commit
//	lost [t:p,...]                                 onPartitionsLost (nothing committed)
//	msg <topic> <partition> <offset> <start ns> <end ns>
//	                                               a record processed; wall clock in ns since
//	                                               the Unix epoch, before it counts as processed
//	commit t:p=<next offset>,...                   a commitSync returned
//	error <class>: <message>[ <- <cause class>: <message>...]
//	                                               an exception caught (commit, poll, close, args)
//	closed                                         consumer closed; the process exits next
//
// Member.Owned replays assigned, revoked and lost into the current
// assignment, which works for eager and cooperative assignors alike.
package javapeer
