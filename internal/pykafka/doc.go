// Package pykafka runs real pykafka BalancedConsumer members (Python child
// processes) beside zkbalance members, for interop tests against the real
// cluster of internal/cluster.
//
//	python, err := pykafka.Venv(ctx, pykafka.V28)          // cached venv
//	m, err := pykafka.Start(ctx, python, pykafka.MemberArgs{
//		ZooKeeper: cl.KafkaZooKeeperConnect(), Brokers: cl.BrokerAddrs(),
//		Topic: "t", Group: "g",
//	})
//	err = m.WaitMessages(ctx, 200) // or Wait, WaitOwned
//	msgs := m.Messages()           // parsed events; also Events, Owned, Errors, ID, OwnersPath
//	err = m.Stop()                 // SIGTERM: its znodes are gone when it returns
//	_ = m.Kill()                   // SIGKILL: znodes stay until the session times out
//
// # Environment (Venv)
//
// Venv(ctx, version) makes, once per machine, a virtual environment in the
// harness cache ($ZKBALANCE_CACHE, else ~/.cache/zkbalance), directory
// venv-pykafka-<version>-<hash of pins, recipe and Python version>, under a
// file lock, in <dir>.tmp renamed into place when complete and verified.
// The interpreter is python3 on PATH ($ZKBALANCE_PYTHON overrides). The
// recipe, all non-interactive:
//
//	python3 -m venv DIR
//	DIR/bin/python -m pip install --no-input --no-compile setuptools==69.5.1 wheel==0.43.0
//	DIR/bin/python -m pip install ... --only-binary :all: <the pinned dependencies>
//	CC=false DIR/bin/python -m pip install ... --no-build-isolation --no-deps pykafka==<version>
//	DIR/bin/python -m pip check
//	DIR/bin/python -c 'import pykafka, kazoo.client, pykafka.balancedconsumer'
//
// pykafka is an sdist only; its setup.py imports distutils and
// setuptools.command.test, so it is built with a pinned setuptools rather
// than whatever pip's build isolation would fetch (today's setuptools still
// builds it, through a deprecated stub). setup.py always tries to compile
// the optional librdkafka extension and falls back to pure Python when that
// fails; there is no switch for it (no PYKAFKA_NO_CEXT or similar), so
// CC=false makes it fail the same way on every machine. Members run with
// use_rdkafka=False.
//
// Tested on Python 3.11.7 against ZooKeeper 3.8.4 + Kafka 3.9.2 (ZooKeeper
// mode); creation takes 12-35 s (pip cache cold or warm), later calls ~0.2 s:
//
//	pykafka 2.8.0 (last release):  kazoo==2.5.0 (pykafka's own pin) six==1.17.0 tabulate==0.10.0
//	pykafka 2.6.0 (last 2.6.x):    kazoo==2.5.0 six==1.17.0 tabulate==0.10.0
//	                               gevent==26.9.0 greenlet==3.5.6 zope.event==6.2 zope.interface==8.7
//	                               (2.6.0 requires gevent and imports it unconditionally)
//	pykafka 2.7.0:                 as 2.8.0 (pins exist; checked by hand, not by these tests)
//
// kazoo 2.5.0 is the oldest kazoo that imports on Python >= 3.7; 2.4.0 fails:
//
//	$ python -c 'import kazoo.client'      # kazoo==2.4.0, Python 3.11.7
//	    self._child_watching(self._allocate_transition, async=True)
//	                                                    ^^^^^
//	SyntaxError: invalid syntax
//
// kazoo 2.5.0 prints two harmless SyntaxWarnings ("is" with a literal) to
// stderr when it is first compiled.
//
// # broker_version
//
// All of 0.9.0, 0.10.0, 1.0.0 and 2.0.0 work with Kafka 3.9.2
// (TestBrokerVersions). pykafka 2.8.0 with broker_version >= 0.10.0 asks the
// broker (ApiVersions v0) and uses the highest version it implements itself:
// Fetch v2, Metadata v5, ListOffsets v1, OffsetFetch v2; with 0.9.0 (its
// default) it uses a hard-coded list (Fetch v1, Metadata v0, ListOffsets v0,
// OffsetFetch v1). pykafka 2.6.0 ignores broker_version. Both commit with
// OffsetCommit v1, generation -1, consumer id = member id, offset = last
// consumed + 1. Members here default to DefaultBrokerVersion, 1.0.0.
//
// # Member program
//
// member.py (embedded; written once to the temp dir) runs
// topic.get_balanced_consumer(managed=False, zookeeper_connect=...,
// auto_commit_enable=True, auto_offset_reset=OffsetType.EARLIEST,
// consumer_timeout_ms=..., post_rebalance_callback=..., use_rdkafka=False,
// auto_start=False), then start(), and loops on consume(): per message it
// sleeps Delay, prints the message, and calls commit_offsets(). Its stdout
// lines, parsed into Event values:
//
//	member <member id> <name> <pykafka version>
//	paths <ids path> <owners path>
//	owned <p,p,...>                          (after a rebalance that changed the set; may be empty)
//	msg <topic> <partition> <offset> <member id> <value hex, or ->
//	commit <partition> <next offset>
//	error <ExceptionName> <message>          (raised to the loop, logged with a traceback, or
//	                                          stored by a pykafka ZooKeeper-watch thread)
//	note stop-race <message>                 (a watch thread's ConsumerStoppedException while
//	                                          Stop stops the consumer: pykafka's benign race)
//	done <n> <seconds>                       (MemberArgs.CountOnly: n messages consumed without
//	                                          msg lines, seconds from the first to the last)
//	stopped
//
// pykafka's log (INFO) goes to stderr (Member.Stderr). SIGTERM interrupts a
// blocking consume() (the handler raises a BaseException, which pykafka does
// not catch), then BalancedConsumer.stop() closes the ZooKeeper session, so
// /consumers/<g>/ids/<id> and the owner znodes are gone when Stop returns.
// A member whose start() fails (pykafka logs the error and stops) reports it,
// then ConsumerStoppedException, and exits with status 1; so does one whose
// rebalance in a ZooKeeper-watch thread failed (pykafka stores the exception
// and raises it from every later consume()), after stopping its consumer.
//
// # What pykafka does that matters here
//
// Owner path on Python 3 (pykafka issue #888, open): BalancedConsumer
// formats the topic name, a bytes object, into its owners path, so on
// Python 3 both 2.6.0 and 2.8.0 claim partitions under
// /consumers/<g>/owners/b'<t>'/<leader>-<p>, not /consumers/<g>/owners/<t>/.
// Everything else matches the pykafka layout of docs/PROTOCOL.md: the ids/<id>
// value is the raw topic name and an owner znode's value the raw member id.
// So a pykafka member on Python 3 and a member using owners/<t> (pykafka on
// Python 2, the Scala consumer, zkbalance) compute the same assignment but
// do not see each other's claims. MemberArgs.Py2OwnerPath sets the
// consumer's _topic_path to /consumers/<g>/owners/<t> before it starts,
// i.e. what pykafka does on Python 2 (no Python 2 is used).
//
// consume() and the rebalance lock (the seed blog post; TestBlockedRebalance):
// in 2.6.0 BalancedConsumer.consume() holds the rebalance lock while it
// waits, so with consumer_timeout_ms=-1 and no new messages a member never
// rebalances, and a joining member fails after rebalance_max_retries with
// PartitionOwnedError (then ConsumerStoppedException). 2.8.0 wakes consume()
// for a rebalance (unblock_event), at most ~1 s later; a joiner whose retries
// span less than that (e.g. 3 retries with 500 ms backoff) still fails.
//
// After a rebalance or stop, 2.8.0 often logs "ReferenceError:
// weakly-referenced object no longer exists" with a traceback from the old
// SimpleConsumer's fetcher thread: it shows up as an error event and is
// harmless. The first commit of a new group may log GroupCoordinatorNotAvailable
// (without traceback, so no error event) while Kafka creates
// __consumer_offsets; pykafka retries. Kafka 3.9.2 logs nothing about
// pykafka's old request versions.
package pykafka
