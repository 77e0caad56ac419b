"""One pykafka BalancedConsumer member for the zkbalance interop tests.

Runs pykafka's ZooKeeper-balanced consumer (managed=False, use_rdkafka=False)
on one topic and reports on stdout, one event a line, fields separated by one
space (Go parses these lines in member.go):

    member <member_id> <member_name> <pykafka_version>   once, when started
    paths <ids path> <owners path>   its ZooKeeper paths (below the chroot)
    owned <p,p,...>                partition set after a rebalance (may be empty)
    msg <topic> <partition> <offset> <member_id> <value hex or ->
    commit <partition> <next offset>   after a successful commit_offsets()
    error <ExceptionName> <message>    an exception seen (raised or logged)
    done <n> <seconds>             with --count-only n: n messages consumed (not printed),
                                   seconds from the first to the last; then it stops
    stopped                        the consumer was stopped (znodes removed)

pykafka's own log goes to stderr. SIGTERM (or SIGINT) stops the consumer:
BalancedConsumer.stop() closes the ZooKeeper session, so its ephemeral znodes
(/consumers/<g>/ids/<id> and its owner znodes) go away at once.

Works with pykafka 2.6.x-2.8.x on Python 3; standard library otherwise.
"""

import argparse
import binascii
import logging
import os
import signal
import sys
import threading
import time
import traceback

_out_lock = threading.Lock()


def emit(*fields):
    line = " ".join(str(f) for f in fields)
    with _out_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def one_line(s):
    return " ".join(str(s).split())


def emit_error(exc_type, exc):
    msg = one_line(exc)
    if not msg and getattr(exc, "partition", None) is not None:
        # PartitionOwnedError(partition) has no message of its own
        msg = "partition %s" % getattr(exc.partition, "id", exc.partition)
    emit("error", exc_type.__name__, msg or "-")


class Terminate(BaseException):
    """Raised from the signal handler to leave a blocking pykafka call.

    A BaseException, so that pykafka's `except Exception` does not swallow it.
    """


class State(object):
    stopping = False
    interruptible = False


STATE = State()


def on_signal(signum, frame):
    STATE.stopping = True
    if STATE.interruptible:
        STATE.interruptible = False
        raise Terminate()


class ErrorLogHandler(logging.Handler):
    """Turns pykafka log records that carry an exception into error lines.

    pykafka catches some exceptions and only logs them, e.g. start() logs
    PartitionOwnedError with "Stopping consumer in response to error" and then
    stops the consumer.
    """

    def emit(self, record):
        if record.exc_info and record.exc_info[0] is not None:
            et, ev = record.exc_info[0], record.exc_info[1]
            if issubclass(et, Terminate):
                return
            emit_error(et, ev)


def watch_worker_exceptions(consumer):
    """Report exceptions that pykafka stores from its ZooKeeper watch threads.

    They are raised again only from a later consume() or commit_offsets(),
    so a member blocked elsewhere would not show them.
    """
    seen = None
    while True:
        time.sleep(0.2)
        exc = getattr(consumer, "_worker_exception", None)
        if exc is not None and exc is not seen:
            seen = exc
            if STATE.stopping and exc[0].__name__ == "ConsumerStoppedException":
                # Our own SIGTERM is stopping the consumer: a ZooKeeper watch
                # that fired just before stop() set _running to False finds it
                # False inside _rebalance() and raises this. pykafka's stop
                # race, not a failure (seen once on CI, a member leaving).
                emit("note", "stop-race", one_line(exc[1]) or "-")
                continue
            emit_error(exc[0], exc[1])


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--zookeeper", required=True,
                   help="zookeeper_connect, with chroot if any (h:p,h:p/chroot)")
    p.add_argument("--brokers", required=True, help="comma-separated host:port list")
    p.add_argument("--topic", required=True)
    p.add_argument("--group", required=True)
    p.add_argument("--timeout-ms", type=int, default=-1,
                   help="consumer_timeout_ms; -1 blocks in consume() until a message")
    p.add_argument("--delay", type=float, default=0.0,
                   help="seconds to sleep per message before it counts as processed")
    p.add_argument("--member-name", default="pykafka",
                   help="a label printed in the member line")
    p.add_argument("--member-id", default="",
                   help="use this consumer id instead of <hostname>:<uuid4>")
    p.add_argument("--broker-version", default="1.0.0",
                   help="KafkaClient broker_version")
    p.add_argument("--auto-commit", type=int, default=1,
                   help="auto_commit_enable (1 or 0)")
    p.add_argument("--auto-commit-interval-ms", type=int, default=1000)
    p.add_argument("--commit-every", type=int, default=1,
                   help="commit_offsets() after every n processed messages; 0 never")
    p.add_argument("--rebalance-max-retries", type=int, default=5)
    p.add_argument("--rebalance-backoff-ms", type=int, default=2000)
    p.add_argument("--zk-session-timeout-ms", type=int, default=6000,
                   help="zookeeper_connection_timeout_ms (kazoo's session timeout)")
    p.add_argument("--py2-owner-path", type=int, default=0,
                   help="1: write owner znodes under /consumers/<g>/owners/<t> as pykafka "
                        "does on Python 2; on Python 3 pykafka formats the topic name bytes "
                        "into the path: /consumers/<g>/owners/b'<t>' (pykafka issue #888)")
    p.add_argument("--log-level", default="INFO")
    p.add_argument("--count-only", type=int, default=0,
                   help="n > 0: print no msg or commit lines; after n messages print "
                        "\"done <n> <seconds from the first to the last message>\" and stop "
                        "(a throughput measurement that does not measure the pipe)")
    return p.parse_args(argv)


def main(argv):
    args = parse_args(argv)
    logging.basicConfig(
        stream=sys.stderr, level=getattr(logging, args.log_level.upper()),
        format="%(asctime)s " + args.member_name + " %(name)s %(levelname)s %(message)s")
    logging.getLogger().addHandler(ErrorLogHandler(level=logging.WARNING))
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    import pykafka
    from pykafka import KafkaClient
    from pykafka.common import OffsetType

    consumer = None
    code = 0
    try:
        STATE.interruptible = True
        if STATE.stopping:
            raise Terminate()
        client = KafkaClient(hosts=args.brokers, broker_version=args.broker_version)
        topic = client.topics[args.topic.encode()]

        def on_rebalance(cons, old_offsets, new_offsets):
            emit("owned", ",".join(str(p) for p in sorted(new_offsets)))
            return None

        consumer = topic.get_balanced_consumer(
            consumer_group=args.group.encode(),
            managed=False,
            zookeeper_connect=args.zookeeper,
            auto_commit_enable=bool(args.auto_commit),
            auto_commit_interval_ms=args.auto_commit_interval_ms,
            auto_offset_reset=OffsetType.EARLIEST,
            consumer_timeout_ms=args.timeout_ms,
            rebalance_max_retries=args.rebalance_max_retries,
            rebalance_backoff_ms=args.rebalance_backoff_ms,
            zookeeper_connection_timeout_ms=args.zk_session_timeout_ms,
            post_rebalance_callback=on_rebalance,
            use_rdkafka=False,
            auto_start=False,
        )
        if args.member_id:
            consumer._consumer_id = args.member_id.encode()
        if args.py2_owner_path:
            consumer._topic_path = "/consumers/%s/owners/%s" % (args.group, args.topic)
        member_id = consumer._consumer_id.decode()
        emit("member", member_id, args.member_name, pykafka.__version__)
        emit("paths", consumer._consumer_id_path, consumer._topic_path)
        consumer.start()
        STATE.interruptible = False
        # start() catches and logs its errors (ErrorLogHandler reports them)
        # and stops the consumer: then the loop below gets
        # ConsumerStoppedException and exits with status 1. An empty first
        # assignment calls no post_rebalance_callback: report it here.
        if getattr(consumer, "_running", False):
            emit("owned", ",".join(str(p) for p in sorted(consumer.partitions)))
        t = threading.Thread(target=watch_worker_exceptions, args=(consumer,))
        t.daemon = True
        t.start()

        processed = 0
        first = None
        while not STATE.stopping:
            try:
                STATE.interruptible = True
                if STATE.stopping:
                    break
                m = consumer.consume()
                STATE.interruptible = False
            except Terminate:
                break
            except Exception as e:
                STATE.interruptible = False
                if STATE.stopping:
                    # Our own SIGTERM stopped the consumer under consume()
                    # (ConsumerStoppedException in 2.6.0): not a failure.
                    break
                emit_error(type(e), e)
                # Stopped, or an exception a watch thread stored (raised again
                # by every later call): the consumer is done, like the
                # application would be.
                if (not getattr(consumer, "_running", False)
                        or getattr(consumer, "_worker_exception", None) is not None):
                    code = 1
                    break
                time.sleep(0.5)
                continue
            if m is None:
                continue
            if args.delay > 0:
                time.sleep(args.delay)
            if args.count_only > 0:
                now = time.time()
                if first is None:
                    first = now
                processed += 1
                if args.commit_every > 0 and processed % args.commit_every == 0:
                    try:
                        consumer.commit_offsets()
                    except Exception as e:
                        emit_error(type(e), e)
                if processed >= args.count_only:
                    emit("done", processed, "%.6f" % (now - first))
                    break
                continue
            value = binascii.hexlify(m.value).decode() if m.value else "-"
            emit("msg", args.topic, m.partition_id, m.offset, member_id, value)
            processed += 1
            if args.commit_every > 0 and processed % args.commit_every == 0:
                try:
                    consumer.commit_offsets()
                    emit("commit", m.partition_id, m.offset + 1)
                except Exception as e:
                    emit_error(type(e), e)
    except Terminate:
        pass
    except Exception as e:
        emit_error(type(e), e)
        traceback.print_exc()
        code = 1
    finally:
        STATE.interruptible = False
    if consumer is not None:
        stop(consumer)
    emit("stopped")
    sys.stderr.flush()
    os._exit(code)


def stop(consumer):
    """Stop the consumer: commits (auto-commit), closes the ZooKeeper session.

    Run in a thread with a deadline: should stop() hang on a lock left held,
    the ZooKeeper session is closed directly so the znodes still go away.
    """
    def run():
        try:
            if getattr(consumer, "_running", False):
                consumer.stop()
        except Exception as e:
            emit_error(type(e), e)

    t = threading.Thread(target=run)
    t.daemon = True
    t.start()
    t.join(20)
    zk = getattr(consumer, "_zookeeper", None)
    if zk is not None:
        try:
            zk.stop()
            zk.close()
        except Exception as e:
            emit_error(type(e), e)


if __name__ == "__main__":
    main(sys.argv[1:])
