package main

import (
	"context"
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zkbalance/zkbalance/internal/cluster"
	"github.com/zkbalance/zkbalance/zkwatch"
)

// refusedAddr is a local address nothing listens on.
func refusedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// TestErrorsUnreachable: a refused or unresolvable ZooKeeper or broker
// address fails the command within 3 s, naming the dial error on one line,
// instead of "context deadline exceeded" after --timeout.
func TestErrorsUnreachable(t *testing.T) {
	cl := shared.Get(t)
	zkbalanceBin(t) // built before the clock starts
	zk, broker := cl.KafkaZooKeeperConnect(), cl.BrokerAddrs()[0]
	refused := refusedAddr(t)
	group, topic := uniqueName("unreach"), uniqueName("unreach-t")
	reset := []string{"reset-offsets", "--group", group, "--topic", topic, "--to-earliest"}
	consume := []string{"consume", "--group", group, "--topics", topic}
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"reset zookeeper refused", append(reset, "--zookeeper", refused, "--brokers", broker), "connection refused"},
		{"reset zookeeper unresolvable", append(reset, "--zookeeper", "nosuchhost.invalid:2181", "--brokers", broker), "no such host"},
		{"reset broker refused", append(reset, "--zookeeper", zk, "--brokers", refused), "connection refused"},
		{"reset broker unresolvable", append(reset, "--zookeeper", zk, "--brokers", "nosuchhost.invalid:9092"), "no such host"},
		{"status zookeeper refused", []string{"status", "--group", group, "--zookeeper", refused, "--brokers", broker}, "connection refused"},
		{"migrate zookeeper refused", []string{"migrate-offsets", "--group", group, "--zookeeper", refused, "--brokers", broker}, "connection refused"},
		{"consume zookeeper refused", append(consume, "--zookeeper", refused, "--brokers", broker), "connection refused"},
		{"consume zookeeper unresolvable", append(consume, "--zookeeper", "nosuchhost.invalid:2181", "--brokers", broker), "no such host"},
		{"consume broker refused", append(consume, "--zookeeper", zk, "--brokers", refused), "connection refused"},
		{"consume broker unresolvable", append(consume, "--zookeeper", zk, "--brokers", "nosuchhost.invalid:9092"), "no such host"},
	} {
		t.Run(c.name, func(t *testing.T) {
			start := time.Now()
			r := runBin(t, time.Minute, c.args...)
			took := time.Since(start)
			t.Logf("%s: exit %d in %s: %s", c.name, r.code, took.Round(time.Millisecond), strings.TrimSpace(r.stderr))
			if r.code != 1 {
				t.Fatalf("exit %d, want 1\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
			}
			last := lastLine(r.stderr)
			if !strings.Contains(last, c.want) || strings.Contains(last, "deadline exceeded") {
				t.Errorf("last stderr line %q does not name %q (or blames a deadline)", last, c.want)
			}
			// The bound includes the race-built binary's start.
			if took > 3*time.Second {
				t.Errorf("took %s, want within 3s", took)
			}
		})
	}
}

// lastLine is the last non-empty line of s.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// TestErrorsBadFlagValue: a value the member's Config refuses is reported
// for the flag that set it, as a usage error.
func TestErrorsBadFlagValue(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--offsets", "nowhere"}, `zkbalance consume: usage: --offsets: unknown storage "nowhere" (zookeeper, kafka or dual)`},
		{[]string{"--layout", "flat"}, `zkbalance consume: usage: --layout: unknown layout "flat" (scala or pykafka)`},
		{[]string{"--assignor", "scala-range", "--layout", "pykafka"}, "zkbalance consume: usage: --assignor: scala-range does not fit the pykafka layout"},
	} {
		args := offlineArgs("consume", append([]string{"--group", "g", "--topics", "t"}, c.args...)...)
		r := runBin(t, time.Minute, args...)
		if r.code != 2 || strings.TrimSpace(r.stderr) != c.want {
			t.Errorf("%v: exit %d, stderr %q; want 2, %q", c.args, r.code, strings.TrimSpace(r.stderr), c.want)
		}
	}
}

// waitFor polls until cond or the timeout; it fails t with what printed.
func waitFor(t *testing.T, p *bgProc, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if p.exited() || time.Now().After(deadline) {
			t.Fatalf("no %s (exited %v)\nstdout:\n%s\nstderr:\n%s", what, p.exited(), p.stdout, p.stderr)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stopBin sends SIGTERM and wants a clean exit.
func stopBin(t *testing.T, p *bgProc) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(t); code != 0 {
		t.Errorf("exit %d after SIGTERM\nstdout:\n%s\nstderr:\n%s", code, p.stdout, p.stderr)
	}
}

// TestConsumeMissingTopic: consume on a topic that does not exist warns
// once, says every second that it waits for the topic, and consumes it
// once the topic is created.
func TestConsumeMissingTopic(t *testing.T) {
	cl := shared.Get(t)
	topic, group := uniqueName("missing"), uniqueName("missing-group")
	p := startBin(t, 3*time.Minute, cmdArgs(t, "consume", "--group", group, "--topics", topic)...)
	waiting := fmt.Sprintf("idle: waiting for topic %s to be created", topic)
	waitFor(t, p, time.Minute, "waiting line", func() bool { return strings.Count(p.stdout.String(), waiting) >= 2 })
	if n := strings.Count(p.stderr.String(), "topic does not exist; waiting for it to be created"); n != 1 {
		t.Errorf("%d warnings about the missing topic, want 1\nstderr:\n%s", n, p.stderr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := cl.CreateTopic(ctx, topic, 2, 1); err != nil {
		t.Fatal(err)
	}
	created := time.Now()
	msgs := make([]cluster.Message, 10)
	for i := range msgs {
		msgs[i] = cluster.Message{Partition: int32(i % 2), Value: []byte(fmt.Sprint(i))}
	}
	if _, err := cl.Produce(ctx, topic, msgs); err != nil {
		t.Fatal(err)
	}
	waitFor(t, p, time.Minute, "10 messages consumed", func() bool { return strings.Contains(p.stdout.String(), "total=10 owned=2") })
	t.Logf("consumed 10 messages %s after the topic was created", time.Since(created).Round(time.Millisecond))
	stopBin(t, p)
	for _, tp := range []string{topic + "/0", topic + "/1"} {
		if !strings.Contains(p.stdout.String(), tp) {
			t.Errorf("no assignment of %s\nstdout:\n%s", tp, p.stdout)
		}
	}
}

// TestConsumeMoreMembersThanPartitions: the member left without a
// partition says why.
func TestConsumeMoreMembersThanPartitions(t *testing.T) {
	cl := shared.Get(t)
	topic, group := uniqueName("few"), uniqueName("few-group")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := cl.CreateTopic(ctx, topic, 1, 1); err != nil {
		t.Fatal(err)
	}
	args := cmdArgs(t, "consume", "--group", group, "--topics", topic)
	m1 := startBin(t, 3*time.Minute, args...)
	waitFor(t, m1, time.Minute, "assignment", func() bool { return strings.Contains(m1.stdout.String(), "assigned "+topic+"/0") })
	m2 := startBin(t, 3*time.Minute, args...)
	const reason = "idle: 2 members for 1 partitions: none left for this member"
	waitFor(t, m2, time.Minute, "reason line", func() bool { return strings.Contains(m2.stdout.String(), reason) })
	stopBin(t, m2)
	stopBin(t, m1)
	if strings.Contains(m1.stdout.String(), "idle: 2 members") {
		t.Errorf("the owner says it is idle\nstdout:\n%s", m1.stdout)
	}
}

// TestConsumeClaimsWaiting: a member assigned a partition whose owner
// znode another session holds says that its claim waits, and takes the
// partition once that owner lets go.
func TestConsumeClaimsWaiting(t *testing.T) {
	cl := shared.Get(t)
	topic, group := uniqueName("held"), uniqueName("held-group")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := cl.CreateTopic(ctx, topic, 1, 1); err != nil {
		t.Fatal(err)
	}
	// A stale owner: an ephemeral owner znode of another session, as a
	// member that is gone from ids but has not released its partition.
	conn, err := zkwatch.Dial(ctx, zkwatch.Config{Servers: cl.KafkaZooKeeperConnect()})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	owners := "/consumers/" + group + "/owners/" + topic
	if err := conn.EnsurePath(ctx, owners, zkwatch.WorldACL(zkwatch.PermAll)); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Create(ctx, owners+"/0", []byte("gone-member-0"), zkwatch.FlagEphemeral, zkwatch.WorldACL(zkwatch.PermAll)); err != nil {
		t.Fatal(err)
	}
	p := startBin(t, 3*time.Minute, cmdArgs(t, "consume", "--group", group, "--topics", topic)...)
	const reason = "idle: 1 partition(s) held by another member (claims waiting)"
	waitFor(t, p, time.Minute, "claims-waiting line", func() bool { return strings.Contains(p.stdout.String(), reason) })
	conn.Close() // the stale owner's session ends: its znode goes
	waitFor(t, p, time.Minute, "assignment", func() bool { return strings.Contains(p.stdout.String(), "assigned "+topic+"/0") })
	stopBin(t, p)
}
