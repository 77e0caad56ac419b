package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/zkbalance/zkbalance/internal/cluster"
)

// procInfo is what /proc says about a process.
type procInfo struct {
	pid, ppid int
	state     byte
	cmdline   string // arguments joined by spaces
}

// listProcs reads every process from /proc.
func listProcs(t *testing.T) []procInfo {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatalf("read /proc: %v", err)
	}
	var out []procInfo
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue // gone meanwhile
		}
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 || i+2 >= len(stat) {
			continue
		}
		fields := strings.Fields(string(stat[i+2:])) // state ppid ...
		if len(fields) < 2 {
			continue
		}
		ppid, _ := strconv.Atoi(fields[1])
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		out = append(out, procInfo{pid: pid, ppid: ppid, state: fields[0][0],
			cmdline: string(bytes.ReplaceAll(bytes.TrimRight(cmdline, "\x00"), []byte{0}, []byte{' '}))})
	}
	return out
}

// liveJavaIn lists the live (not zombie) java processes whose command line
// mentions dir.
func liveJavaIn(t *testing.T, dir string) []procInfo {
	var out []procInfo
	for _, p := range listProcs(t) {
		if p.state != 'Z' && p.state != 'X' && strings.Contains(p.cmdline, "java") && strings.Contains(p.cmdline, dir) {
			out = append(out, p)
		}
	}
	return out
}

// TestUpDetachDown: 'up --detach' returns once its background cluster is
// up, leaving the addresses and its PID in the env file (which produce then
// uses); a second one refuses; 'down' stops it, and then no process of that
// cluster is left and the env file is gone.
func TestUpDetachDown(t *testing.T) {
	cluster.SkipShort(t) // starts its own cluster
	cluster.SkipShort(t) // its own cluster, through the binary
	dir := t.TempDir()
	envFile := filepath.Join(dir, ".zkbalance.env")
	logFile := filepath.Join(dir, ".zkbalance.log")

	// --for bounds the background cluster even if this test dies before down.
	r := runDemoIn(t, dir, 6*time.Minute, "up", "--detach", "--broker-count", "1", "--partitions", "2", "--for", "10m")
	pid := 0
	if m := regexp.MustCompile(`(?m)^PID=(\d+)$`).FindStringSubmatch(r.stdout); m != nil {
		pid, _ = strconv.Atoi(m[1])
	}
	if pid > 0 {
		t.Cleanup(func() {
			if processAlive(pid) { // the test failed before down: its JVMs die with it
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		})
	}
	logText, _ := os.ReadFile(logFile)
	if r.code != 0 || pid == 0 {
		t.Fatalf("up --detach: exit %d, pid %d\nstdout:\n%s\nstderr:\n%s\nlog:\n%s", r.code, pid, r.stdout, r.stderr, logText)
	}
	for _, key := range []string{"ZOOKEEPER=127.0.0.1:", "KAFKA_ZOOKEEPER_CONNECT=127.0.0.1:", "BROKERS=127.0.0.1:"} {
		if !strings.Contains(r.stdout, key) {
			t.Errorf("up --detach stdout lacks %q:\n%s", key, r.stdout)
		}
	}
	if got, err := envPID(envFile); err != nil || got != pid {
		t.Fatalf("env file PID = %d, %v; want %d", got, err, pid)
	}
	if !processAlive(pid) {
		t.Fatalf("background demo up (pid %d) is not running after up --detach returned\nlog:\n%s", pid, logText)
	}
	m := regexp.MustCompile(`msg="cluster started" .*dir=(\S+)`).FindSubmatch(logText)
	if m == nil {
		t.Fatalf("no cluster dir in the log:\n%s", logText)
	}
	clusterDir := string(m[1])
	var children []procInfo
	for _, p := range listProcs(t) {
		if p.ppid == pid && strings.Contains(p.cmdline, "java") {
			children = append(children, p)
		}
	}
	if len(children) < 2 || len(liveJavaIn(t, clusterDir)) < 2 {
		t.Fatalf("want ZooKeeper and a broker JVM under pid %d in %s, found children %v", pid, clusterDir, children)
	}

	// The env file is what zkbalance reads when given no addresses.
	r = runIn(t, zkbalanceBuild.Path(t), dir, 3*time.Minute, "produce", "--topic", "demo", "--count", "20")
	if r.code != 0 || !strings.Contains(r.stdout, "produced 20 messages") {
		t.Errorf("zkbalance produce via the env file: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}

	// A second up --detach in the same place refuses.
	r = runDemoIn(t, dir, time.Minute, "up", "--detach")
	if r.code != 1 || !strings.Contains(r.stderr, fmt.Sprintf("already running (pid %d", pid)) {
		t.Errorf("second up --detach: exit %d\nstderr:\n%s", r.code, r.stderr)
	}

	r = runDemoIn(t, dir, 3*time.Minute, "down")
	if r.code != 0 || !strings.Contains(r.stdout, fmt.Sprintf("stopped demo up (pid %d)", pid)) {
		t.Fatalf("down: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if processAlive(pid) {
		t.Errorf("demo up (pid %d) still running after down", pid)
	}
	if _, err := os.Stat(envFile); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("env file still there after down: %v", err)
	}
	for _, c := range children {
		if processAlive(c.pid) {
			t.Errorf("JVM %d of the background cluster still running after down: %s", c.pid, c.cmdline)
		}
	}
	if left := liveJavaIn(t, clusterDir); len(left) > 0 {
		t.Errorf("java processes of %s still running after down: %v", clusterDir, left)
	}

	// Nothing left to stop: a one-line failure.
	r = runDemoIn(t, dir, time.Minute, "down")
	if r.code != 1 || strings.Count(strings.TrimRight(r.stderr, "\n"), "\n") != 0 || !strings.Contains(r.stderr, "nothing to stop") {
		t.Errorf("second down: exit %d\nstderr:\n%s", r.code, r.stderr)
	}
}

// TestUpKRaftDetachDown: 'up --kraft --detach' starts Kafka 4 in KRaft
// mode (one JVM, no ZooKeeper), creates the topic, prints and writes BROKERS,
// KAFKA_VERSION and its PID (no ZooKeeper addresses); 'down' stops it and
// leaves no JVM.
func TestUpKRaftDetachDown(t *testing.T) {
	cluster.SkipShort(t) // its own cluster, through the binary
	dir := t.TempDir()
	envFile := filepath.Join(dir, ".zkbalance.env")
	r := runDemoIn(t, dir, 6*time.Minute, "up", "--kraft", "--detach", "--topic", "kraft", "--partitions", "2", "--for", "10m")
	pid := 0
	if m := regexp.MustCompile(`(?m)^PID=(\d+)$`).FindStringSubmatch(r.stdout); m != nil {
		pid, _ = strconv.Atoi(m[1])
	}
	if pid > 0 {
		t.Cleanup(func() {
			if processAlive(pid) { // the test failed before down: its JVM dies with it
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		})
	}
	logText, _ := os.ReadFile(filepath.Join(dir, ".zkbalance.log"))
	if r.code != 0 || pid == 0 {
		t.Fatalf("up --kraft --detach: exit %d, pid %d\nstdout:\n%s\nstderr:\n%s\nlog:\n%s", r.code, pid, r.stdout, r.stderr, logText)
	}
	env, err := os.ReadFile(envFile)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(env), "BROKERS=127.0.0.1:") || !strings.Contains(string(env), "KAFKA_VERSION="+cluster.KafkaVersionKRaft) ||
		strings.Contains(string(env), "ZOOKEEPER") {
		t.Fatalf("env file of up --kraft:\n%s", env)
	}
	m := regexp.MustCompile(`msg="cluster started" .*dir=(\S+)`).FindSubmatch(logText)
	if m == nil {
		t.Fatalf("no cluster dir in the log:\n%s", logText)
	}
	clusterDir := string(m[1])
	if n := len(liveJavaIn(t, clusterDir)); n != 1 {
		t.Fatalf("want one Kafka JVM in %s, found %d", clusterDir, n)
	}
	brokers := regexp.MustCompile(`(?m)^BROKERS=(\S+)$`).FindStringSubmatch(string(env))[1]
	sc := sarama.NewConfig()
	sc.Version = sarama.V2_1_0_0
	client, err := sarama.NewClient(strings.Split(brokers, ","), sc)
	if err != nil {
		t.Fatal(err)
	}
	ps, err := client.Partitions("kraft")
	client.Close()
	if err != nil || len(ps) != 2 {
		t.Fatalf("partitions of the topic up --kraft made: %v, %v", ps, err)
	}

	r = runDemoIn(t, dir, 3*time.Minute, "down")
	if r.code != 0 || !strings.Contains(r.stdout, fmt.Sprintf("stopped demo up (pid %d)", pid)) {
		t.Fatalf("down: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if left := liveJavaIn(t, clusterDir); len(left) > 0 {
		t.Errorf("java processes of %s still running after down: %v", clusterDir, left)
	}
	if _, err := os.Stat(envFile); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("env file still there after down: %v", err)
	}
}

// TestDemoUsage: the command list, --help of every command, and usage
// mistakes (exit 2, a one-line reason naming the command); the ops
// commands are not demo's.
func TestDemoUsage(t *testing.T) {
	r := runDemo(t, time.Minute, "help")
	if r.code != 0 || !strings.Contains(r.stdout, "usage: demo <command>") || !strings.Contains(r.stdout, "zkbalance") {
		t.Errorf("demo help: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	for _, cmd := range [][]string{{"up"}, {"down"}, {"scenario"}, {"scenario", "blocked-consume"}, {"scenario", "slow-handler"}, {"version"}} {
		r := runDemo(t, time.Minute, append(cmd, "--help")...)
		want := "usage: demo " + strings.Join(cmd, " ")
		if r.code != 0 || !strings.HasPrefix(r.stdout, want) || !strings.Contains(r.stdout, "\nexamples:\n") {
			t.Errorf("demo %v --help: exit %d, want %q then examples on stdout\nstdout:\n%s\nstderr:\n%s", cmd, r.code, want, r.stdout, r.stderr)
		}
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"down", "--timeout", "0s"}, "demo down: usage: invalid value \"0s\" for flag -timeout: must be positive"},
		{[]string{"up", "--detach", "--env-file", ""}, "demo up: usage: --detach"},
		{[]string{"up", "--broker-count", "0"}, "demo up: usage: need --broker-count >= 1"},
		{[]string{"up", "--brokers", "3"}, "demo up: usage: flag provided but not defined: -brokers"},
		{[]string{"up", "--kraft", "--broker-count", "3", "--replication", "3"}, "demo up: usage: --kraft runs one Kafka node"},
		{[]string{"up", "--kraft", "--chroot", "/kafka"}, "demo up: usage: --kraft runs one Kafka node"},
		{[]string{"scenario"}, "demo scenario: usage: name a scenario"},
		{[]string{"scenario", "slow-handler", "--bogus"}, "demo scenario: usage: flag provided but not defined: -bogus"},
		{[]string{"consume"}, `demo: unknown command "consume"`},
		{[]string{"version", "extra"}, "demo version: usage: unexpected arguments"},
	} {
		r := runDemo(t, time.Minute, tc.args...)
		if r.code != 2 || strings.Count(strings.TrimRight(r.stderr, "\n"), "\n") != 0 || !strings.HasPrefix(r.stderr, tc.want) {
			t.Errorf("demo %v: exit %d, stderr %q; want exit 2 and one line starting %q", tc.args, r.code, r.stderr, tc.want)
		}
	}
	r = runDemo(t, time.Minute, "version")
	if r.code != 0 || !strings.Contains(r.stdout, "Apache Kafka 3.9.2") {
		t.Errorf("demo version: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}
