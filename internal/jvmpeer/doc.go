// Package jvmpeer holds what the JVM peer packages (internal/javapeer, a
// Java KafkaConsumer, and internal/scalapeer, a Scala high-level consumer)
// share: compiling their Java driver with javac against resolved jars into
// the harness cache (Compile), and the "topic:partition" vocabulary of
// their event lines (TopicPartition, ParseTP, ParseCommits). Each peer
// package keeps its own event kinds and public API.
package jvmpeer
