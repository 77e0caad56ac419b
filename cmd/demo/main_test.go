package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/zkbalance/zkbalance/internal/cluster"
)

// shared is the package's real ZooKeeper + Kafka (3 brokers, like 'make demo').
var shared = cluster.NewShared(cluster.Config{Brokers: 3})

func TestMain(m *testing.M) {
	code := shared.Run(m)
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	os.Exit(code)
}

var (
	binOnce sync.Once
	binPath string
	binErr  error
	binDir  string // removed by TestMain when the tests end
)

// demoBin builds the demo binary once per test run (usage tests need no
// cluster, so it is built apart from it).
func demoBin(t testing.TB) string {
	t.Helper()
	binOnce.Do(func() {
		var err error
		if binDir, err = os.MkdirTemp("", "zkbalance-demo-test-"); err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(binDir, "demo")
		out, err := exec.Command("go", "build", "-race", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			binErr = errors.New("go build: " + err.Error() + "\n" + string(out))
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// result is one finished run of the demo binary.
type result struct {
	stdout, stderr string
	code           int
}

// runDemo runs the built binary with args in a fresh temp dir (so no env
// file is found there: only explicit flags count) and returns what it
// printed.
func runDemo(t testing.TB, timeout time.Duration, args ...string) result {
	t.Helper()
	return runDemoIn(t, t.TempDir(), timeout, args...)
}

// clusterArgs are the connection flags for the package's cluster.
func clusterArgs(t testing.TB) []string {
	t.Helper()
	cl := shared.Get(t)
	return []string{"--zookeeper", cl.KafkaZooKeeperConnect(), "--brokers", cl.BrokerAddrs()[0]}
}

// runDemoIn runs the built binary with args in dir and returns what it
// printed; it fails the test if the binary does not finish within timeout.
func runDemoIn(t testing.TB, dir string, timeout time.Duration, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, demoBin(t), args...)
	cmd.Dir = dir
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	default:
		t.Fatalf("run demo %v: %v", args, err)
	}
	if ctx.Err() != nil {
		t.Fatalf("demo %v did not finish within %s\nstdout:\n%s\nstderr:\n%s", args, timeout, r.stdout, r.stderr)
	}
	return r
}
