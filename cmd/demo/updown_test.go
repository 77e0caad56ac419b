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
	cluster.SkipShort(t) // its own cluster, through the binary
	dir := t.TempDir()
	envFile := filepath.Join(dir, ".zkbalance.env")
	logFile := filepath.Join(dir, ".zkbalance.log")

	// --for bounds the background cluster even if this test dies before down.
	r := runDemoIn(t, dir, 6*time.Minute, "up", "--detach", "--brokers", "1", "--partitions", "2", "--for", "10m")
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

	// The env file is what the other commands read by default.
	r = runDemoIn(t, dir, 3*time.Minute, "produce", "--topic", "demo", "-n", "20")
	if r.code != 0 || !strings.Contains(r.stdout, "produced 20 messages") {
		t.Errorf("produce via the env file: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
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
