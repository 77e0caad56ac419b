// Package bench is the side-by-side benchmark of zkbalance against raw
// sarama PartitionConsumers, sarama's ConsumerGroup (Kafka's own group
// protocol) and pykafka's BalancedConsumer, all in one run on loopback
// against one real cluster (internal/cluster, 3 brokers), written as
// BENCHMARKS.md (issue 7, item 4).
//
// The measurements live in the package's test, TestSideBySide; this package
// holds what it reports: the result types, the targets they are judged
// against, the Markdown table and the machine and version facts.
//
//	go test -run TestSideBySide ./test/bench/                      # smoke sizes (part of make test)
//	go test -run TestSideBySide -timeout 0 ./test/bench/ -bench.full -bench.out $PWD/BENCHMARKS.md
//
// -bench.full selects the sizes of the issue (1 M messages, 20 joins at 4,
// 16 and 32 members x 256 partitions, writes at 16 x 256, RSS at 1000
// partitions and idle at 4096 (3 rounds), the processing gap of a switch to Kafka coordination at 16 x
// 256, the scale curve at 4, 16, 64 member processes x 256, 1024, 4096
// partitions, round trips at 16 x 256 with +10 ms to ZooKeeper, CPU per
// million messages over 5 rounds and a 1 GiB backlog over 1000
// partitions); -bench.only picks parts (throughput, latency, writes, rss,
// migration, roundtrips, cpu, curve); every size can also be set on its own (see the flags in
// main_test.go). Without -bench.out the table goes to the test's temporary
// directory and the log.
package bench
