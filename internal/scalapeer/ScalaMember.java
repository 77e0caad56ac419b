// ScalaMember is one real Scala high-level consumer
// (kafka.consumer.ZookeeperConsumerConnector of Kafka 1.1.1, through its Java
// API) in a ZooKeeper-coordinated group, driven and observed by the Go
// package scalapeer through its arguments and its stdout lines (see doc.go
// for the line format).
//
// Usage: ScalaMember <zookeeper.connect> <group> <topic,...> <range|roundrobin>
//                    <streams per topic> <delay ms> <consumer.id or "-">
import java.lang.reflect.Field;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.locks.ReentrantReadWriteLock;
import kafka.common.OffsetAndMetadata;
import kafka.common.TopicAndPartition;
import kafka.consumer.Consumer;
import kafka.consumer.ConsumerConfig;
import kafka.consumer.ConsumerIterator;
import kafka.consumer.ConsumerThreadId;
import kafka.consumer.ConsumerTimeoutException;
import kafka.consumer.KafkaStream;
import kafka.javaapi.consumer.ConsumerConnector;
import kafka.javaapi.consumer.ConsumerRebalanceListener;
import kafka.message.MessageAndMetadata;

public final class ScalaMember {
    private static volatile boolean stopping; // SIGTERM came
    private static volatile String consumerId = "?";

    // Processing threads hold the read lock while they process one message;
    // the rebalance listener and the stop hold the write lock, so they wait
    // for messages in processing and none starts meanwhile.
    private static final ReentrantReadWriteLock lock = new ReentrantReadWriteLock();
    // The partitions this member owns (owner znodes it wrote): set in
    // beforeStartingFetchers, emptied in beforeReleasingPartitions. Guarded
    // by lock (read under the read lock, written under the write lock).
    private static final Set<String> owned = new HashSet<>();
    // Processed, not yet committed: "topic:partition" -> next offset.
    private static final Map<String, Long> pending = new HashMap<>();
    private static final Object pendingLock = new Object();

    private static ConsumerConnector connector;

    public static void main(String[] args) throws Exception {
        if (args.length != 7) {
            out("error usage: ScalaMember <zookeeper.connect> <group> <topics> <range|roundrobin> <streams> <delay ms> <consumer.id|->");
            System.exit(2);
        }
        List<Thread> workers = new ArrayList<>();
        long delayMs;
        try {
            Properties p = new Properties();
            p.put("zookeeper.connect", args[0]);
            p.put("group.id", args[1]);
            p.put("partition.assignment.strategy", args[3]);
            if (!args[6].equals("-")) {
                p.put("consumer.id", args[6]);
            }
            p.put("auto.commit.enable", "false");
            p.put("offsets.storage", "zookeeper");
            p.put("dual.commit.enabled", "false");
            p.put("auto.offset.reset", "smallest");
            p.put("consumer.timeout.ms", "200");
            p.put("zookeeper.session.timeout.ms", "6000");
            int streams = Integer.parseInt(args[4]);
            delayMs = Long.parseLong(args[5]);
            connector = Consumer.createJavaConsumerConnector(new ConsumerConfig(p));
            consumerId = idOf(connector);
            connector.setConsumerRebalanceListener(new Listener());
            Map<String, Integer> want = new HashMap<>();
            for (String t : args[2].split(",")) {
                want.put(t, streams);
            }
            // Registers in ZooKeeper and runs the first rebalance.
            Map<String, List<KafkaStream<byte[], byte[]>>> byTopic = connector.createMessageStreams(want);
            int n = 0;
            for (List<KafkaStream<byte[], byte[]>> ss : byTopic.values()) {
                for (KafkaStream<byte[], byte[]> s : ss) {
                    final long d = delayMs;
                    Thread w = new Thread(() -> work(s, d), "worker-" + n++);
                    workers.add(w);
                }
            }
        } catch (Exception e) {
            error(e);
            System.out.flush();
            Runtime.getRuntime().halt(2);
            return;
        }
        // SIGTERM: stop processing, commit what was processed, release (the
        // owner znodes go with the ZooKeeper session the shutdown closes),
        // then exit 0 (the JVM's own status after a signal would be 143).
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            stopping = true;
            boolean ok = true;
            try {
                release();
                connector.shutdown();
                for (Thread w : workers) {
                    w.join(30_000);
                    ok &= !w.isAlive();
                }
            } catch (Exception e) {
                error(e);
                ok = false;
            }
            out("closed");
            System.out.flush();
            Runtime.getRuntime().halt(ok ? 0 : 1);
        }));
        out("started " + consumerId);
        for (Thread w : workers) {
            w.start();
        }
        for (Thread w : workers) {
            w.join();
        }
    }

    // work processes the messages of one stream until the stop.
    private static void work(KafkaStream<byte[], byte[]> s, long delayMs) {
        ConsumerIterator<byte[], byte[]> it = s.iterator();
        long lastCommit = 0;
        while (!stopping) {
            MessageAndMetadata<byte[], byte[]> m;
            try {
                if (!it.hasNext()) {
                    return; // the connector shut down
                }
                m = it.next();
            } catch (ConsumerTimeoutException e) {
                // Commits under the read lock, so never after a release
                // (where an older offset could overwrite the next owner's).
                lock.readLock().lock();
                try {
                    commitPending();
                } finally {
                    lock.readLock().unlock();
                }
                continue;
            } catch (Exception e) {
                if (!stopping) {
                    error(e);
                }
                return;
            }
            String tp = m.topic() + ":" + m.partition();
            lock.readLock().lock();
            try {
                if (stopping) {
                    continue; // the stop began: not processed, not committed
                }
                if (!owned.contains(tp)) {
                    // Handed out after a rebalance released the partition
                    // (from the chunk the iterator was reading when the
                    // rebalance cleared them): not processed, not committed.
                    out("dropped " + m.topic() + " " + m.partition() + " " + m.offset());
                    continue;
                }
                long start = nowNanos();
                if (delayMs > 0) {
                    Thread.sleep(delayMs);
                }
                out("msg " + m.topic() + " " + m.partition() + " " + m.offset() + " " + start + " " + nowNanos());
                synchronized (pendingLock) {
                    pending.put(tp, m.offset() + 1);
                }
                if (System.currentTimeMillis() - lastCommit >= 200) {
                    commitPending();
                    lastCommit = System.currentTimeMillis();
                }
            } catch (InterruptedException e) {
                return;
            } finally {
                lock.readLock().unlock();
            }
        }
    }

    // commitPending commits the processed offsets to ZooKeeper (the
    // consumer's commitOffsets with an explicit map, offsets.storage
    // zookeeper) and prints them.
    private static void commitPending() {
        Map<TopicAndPartition, OffsetAndMetadata> offs = new HashMap<>();
        Map<String, Long> snap;
        synchronized (pendingLock) {
            if (pending.isEmpty()) {
                return;
            }
            snap = new TreeMap<>(pending);
            pending.clear();
        }
        snap.forEach((tp, off) -> {
            int i = tp.lastIndexOf(':');
            offs.put(new TopicAndPartition(tp.substring(0, i), Integer.parseInt(tp.substring(i + 1))),
                    OffsetAndMetadata.apply(off));
        });
        try {
            connector.commitOffsets(offs, false);
        } catch (Exception e) {
            error(e);
            return;
        }
        List<String> s = new ArrayList<>();
        snap.forEach((tp, off) -> s.add(tp + "=" + off));
        out("commit " + String.join(",", s));
    }

    // release waits for the messages in processing, commits, forgets the
    // owned partitions and prints them.
    private static void release() {
        lock.writeLock().lock();
        try {
            commitPending();
            if (!owned.isEmpty()) {
                out("released " + String.join(",", new TreeSet<>(owned)));
            } else {
                out("released");
            }
            owned.clear();
        } finally {
            lock.writeLock().unlock();
        }
    }

    private static final class Listener implements ConsumerRebalanceListener {
        // Called by the rebalance after it stopped the fetchers and before it
        // deletes the owner znodes. The map's values are not java.util.Sets
        // (KAFKA-2284), so the member keeps its own set.
        @Override
        public void beforeReleasingPartitions(Map<String, Set<Integer>> ignored) {
            release();
        }

        // Called after the rebalance wrote its owner znodes and before the
        // fetchers start: the whole group's assignment, partition -> thread.
        @Override
        public void beforeStartingFetchers(String id, Map<String, Map<Integer, ConsumerThreadId>> global) {
            lock.writeLock().lock();
            try {
                Map<String, String> all = new TreeMap<>();
                global.forEach((t, ps) -> ps.forEach((p, th) -> {
                    all.put(t + ":" + p, th.toString());
                    if (th.consumer().equals(id)) {
                        owned.add(t + ":" + p);
                    }
                }));
                List<String> s = new ArrayList<>();
                all.forEach((tp, th) -> s.add(tp + "=" + th));
                out("assignment" + (s.isEmpty() ? "" : " " + String.join(",", s)));
                out("owned" + (owned.isEmpty() ? "" : " " + String.join(",", new TreeSet<>(owned))));
            } finally {
                lock.writeLock().unlock();
            }
        }
    }

    // idOf reads the connector's consumer id (the registration's name,
    // <group>_<consumer.id or host-millis-uuid>), which the Java API does not expose.
    private static String idOf(ConsumerConnector c) throws Exception {
        Field f = c.getClass().getDeclaredField("underlying");
        f.setAccessible(true);
        return ((kafka.consumer.ZookeeperConsumerConnector) f.get(c)).consumerIdString();
    }

    private static long nowNanos() {
        Instant i = Instant.now();
        return i.getEpochSecond() * 1_000_000_000L + i.getNano();
    }

    private static void error(Throwable e) {
        StringBuilder b = new StringBuilder(e.getClass().getSimpleName() + ": " + e.getMessage());
        Throwable c = e.getCause();
        for (int i = 0; c != null && i < 5; i++, c = c.getCause()) {
            b.append(" <- ").append(c.getClass().getSimpleName()).append(": ").append(c.getMessage());
        }
        out("error " + b.toString().replaceAll("\\s+", " "));
    }

    private static synchronized void out(String line) {
        System.out.println(line);
        System.out.flush();
    }
}
