// Member is one real Apache Kafka KafkaConsumer in a consumer group, driven
// and observed by the Go package javapeer through its arguments and its
// stdout lines (see doc.go for the line format).
//
// Usage: Member <bootstrap> <group> <topic,topic,...> <assignor class> <delay ms> <client id>
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

public final class Member {
    private static volatile boolean stopping; // SIGTERM came
    private static volatile boolean failed; // the loop ended on an exception

    private final KafkaConsumer<byte[], byte[]> consumer;
    // Processed but not yet committed: partition -> next offset.
    private final Map<TopicPartition, OffsetAndMetadata> pending = new HashMap<>();

    private Member(KafkaConsumer<byte[], byte[]> consumer) {
        this.consumer = consumer;
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 6) {
            out("error usage: Member <bootstrap> <group> <topics> <assignor class> <delay ms> <client id>");
            System.exit(2);
        }
        Member m;
        List<String> topics;
        long delayMs;
        try {
            Properties p = new Properties();
            p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, args[0]);
            p.put(ConsumerConfig.GROUP_ID_CONFIG, args[1]);
            p.put(ConsumerConfig.PARTITION_ASSIGNMENT_STRATEGY_CONFIG, args[3]);
            p.put(ConsumerConfig.CLIENT_ID_CONFIG, args[5]);
            p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
            p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
            p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
            p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
            topics = Arrays.asList(args[2].split(","));
            delayMs = Long.parseLong(args[4]);
            m = new Member(new KafkaConsumer<>(p));
        } catch (Exception e) {
            error(e);
            System.exit(2);
            return;
        }
        Thread main = Thread.currentThread();
        // SIGTERM: wake the consumer out of poll, let main commit and close
        // (leaving the group), then exit 0 (the JVM's own status after a
        // signal would be 143).
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            stopping = true;
            m.consumer.wakeup();
            try {
                main.join(60_000);
            } catch (InterruptedException e) {
                // exit below
            }
            System.out.flush();
            Runtime.getRuntime().halt(main.isAlive() || failed ? 1 : 0);
        }));
        out("started " + args[5]);
        m.run(topics, delayMs);
        if (failed) {
            System.out.flush();
            Runtime.getRuntime().halt(1);
        }
    }

    private void run(List<String> topics, long delayMs) {
        try {
            consumer.subscribe(topics, new Listener());
            while (!stopping) {
                ConsumerRecords<byte[], byte[]> records = consumer.poll(Duration.ofMillis(500));
                for (ConsumerRecord<byte[], byte[]> r : records) {
                    if (stopping) {
                        break;
                    }
                    long start = nowNanos();
                    if (delayMs > 0) {
                        Thread.sleep(delayMs);
                    }
                    out("msg " + r.topic() + " " + r.partition() + " " + r.offset() + " " + start + " " + nowNanos());
                    pending.put(new TopicPartition(r.topic(), r.partition()), new OffsetAndMetadata(r.offset() + 1));
                }
                commit(pending.keySet());
            }
        } catch (WakeupException e) {
            // Stop: fall through to the final commit and close.
        } catch (Exception e) {
            failed = true;
            error(e);
        } finally {
            commit(pending.keySet());
            try {
                consumer.close(); // revokes (listener commits) and leaves the group
            } catch (Exception e) {
                error(e);
            }
            out("closed");
        }
    }

    // commit commits the pending offsets of parts synchronously and prints
    // them; a failure is printed as an error and the offsets stay pending.
    private void commit(Collection<TopicPartition> parts) {
        Map<TopicPartition, OffsetAndMetadata> offs = new HashMap<>();
        for (TopicPartition tp : parts) {
            if (pending.containsKey(tp)) {
                offs.put(tp, pending.get(tp));
            }
        }
        if (offs.isEmpty()) {
            return;
        }
        try {
            try {
                consumer.commitSync(offs);
            } catch (WakeupException e) {
                consumer.commitSync(offs); // that was the stop's wakeup, now consumed
            }
        } catch (Exception e) {
            error(e);
            return;
        }
        List<String> s = new ArrayList<>();
        offs.forEach((tp, o) -> {
            pending.remove(tp);
            s.add(tp.topic() + ":" + tp.partition() + "=" + o.offset());
        });
        out("commit " + String.join(",", s));
    }

    private final class Listener implements ConsumerRebalanceListener {
        @Override
        public void onPartitionsAssigned(Collection<TopicPartition> parts) {
            out("assigned" + list(parts));
        }

        @Override
        public void onPartitionsRevoked(Collection<TopicPartition> parts) {
            commit(parts);
            parts.forEach(pending::remove); // what failed to commit is not ours anymore
            out("revoked" + list(parts));
        }

        @Override
        public void onPartitionsLost(Collection<TopicPartition> parts) {
            parts.forEach(pending::remove);
            out("lost" + list(parts));
        }
    }

    private static String list(Collection<TopicPartition> parts) {
        List<String> s = new ArrayList<>();
        parts.forEach(tp -> s.add(tp.topic() + ":" + tp.partition()));
        return s.isEmpty() ? "" : " " + String.join(",", s);
    }

    // nowNanos is the wall clock in nanoseconds since the Unix epoch (as
    // precise as the JVM's clock), comparable across processes.
    private static long nowNanos() {
        Instant i = Instant.now();
        return i.getEpochSecond() * 1_000_000_000L + i.getNano();
    }

    // error prints e and its causes on one line.
    private static void error(Exception e) {
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
