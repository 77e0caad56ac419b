package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/zkbalance/zkbalance/internal/cluster"
	"github.com/zkbalance/zkbalance/internal/cmdtest"
)

// shared is the package's real ZooKeeper + Kafka (3 brokers, like 'make
// demo'), started by the first test that needs it.
var shared = cluster.NewShared(cluster.Config{Brokers: 3})

func TestMain(m *testing.M) {
	code := shared.Run(m)
	cmdtest.Cleanup()
	os.Exit(code)
}

var zkbalanceBuild = cmdtest.NewBinary(".", "zkbalance")

// zkbalanceBin builds the zkbalance binary (with -race) once per test run.
func zkbalanceBin(t testing.TB) string { return zkbalanceBuild.Path(t) }

// result is one finished run of the binary.
type result struct {
	stdout, stderr string
	code           int
}

// runBin runs the built binary with args in a fresh temp dir (so no env
// file is found there: only explicit flags count) and returns what it
// printed.
func runBin(t testing.TB, timeout time.Duration, args ...string) result {
	t.Helper()
	return runBinIn(t, t.TempDir(), timeout, args...)
}

// clusterArgs are the connection flags for the package's cluster.
func clusterArgs(t testing.TB) []string {
	t.Helper()
	cl := shared.Get(t)
	return []string{"--zookeeper", cl.KafkaZooKeeperConnect(), "--brokers", cl.BrokerAddrs()[0]}
}

// cmdArgs is the command line "cmd <connection flags> args...".
func cmdArgs(t testing.TB, cmd string, args ...string) []string {
	t.Helper()
	return append(append([]string{cmd}, clusterArgs(t)...), args...)
}

// offlineArgs is cmdArgs with connection flags that nothing answers: for
// usage errors, which must be found before anything connects.
func offlineArgs(cmd string, args ...string) []string {
	return append([]string{cmd, "--zookeeper", "127.0.0.1:1", "--brokers", "127.0.0.1:1"}, args...)
}

// runBinIn runs the built binary with args in dir and returns what it
// printed; it fails the test if the binary does not finish within timeout.
// The connection environment variables are cleared.
func runBinIn(t testing.TB, dir string, timeout time.Duration, args ...string) result {
	t.Helper()
	r := cmdtest.Run(t, zkbalanceBin(t), dir, timeout, args...)
	return result{stdout: r.Stdout, stderr: r.Stderr, code: r.Code}
}

// syncBuffer is a bytes.Buffer safe to read while a process writes it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// bgProc is the binary running in the background.
type bgProc struct {
	cmd            *exec.Cmd
	cancel         context.CancelFunc
	stdout, stderr *syncBuffer
	done           chan struct{} // closed when the process exited
	err            error         // cmd.Wait's result, set before done is closed
}

// startBin starts the binary with args in a temp dir; the test's cleanup
// kills it if it is still running.
func startBin(t *testing.T, timeout time.Duration, args ...string) *bgProc {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	cmd := exec.CommandContext(ctx, zkbalanceBin(t), args...)
	cmd.Dir = t.TempDir()
	cmd.Env = cmdtest.Env()
	d := &bgProc{cmd: cmd, cancel: cancel, stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = d.stdout, d.stderr
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start zkbalance %v: %v", args, err)
	}
	go func() { // owned by the test: cleanup waits for it
		d.err = cmd.Wait()
		close(d.done)
	}()
	t.Cleanup(func() {
		cancel()
		<-d.done
	})
	return d
}

// wait waits for the process to exit and returns its exit code.
func (d *bgProc) wait(t *testing.T) int {
	t.Helper()
	<-d.done
	var ee *exec.ExitError
	switch {
	case d.err == nil:
		return 0
	case errors.As(d.err, &ee):
		return ee.ExitCode()
	default:
		t.Fatalf("zkbalance: %v", d.err)
		return -1
	}
}

func (d *bgProc) exited() bool {
	select {
	case <-d.done:
		return true
	default:
		return false
	}
}
