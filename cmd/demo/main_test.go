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

// shared is the package's real ZooKeeper + Kafka for the scenarios (one
// broker: their topics have replication 1), started by the first test that
// needs it.
var shared = cluster.NewShared(cluster.Config{Brokers: 1})

// binDir holds the binaries the tests build; TestMain removes it.
var binDir string

func TestMain(m *testing.M) {
	code := shared.Run(m)
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// buildDir is binDir, made on first use (usage tests build without a
// cluster).
func buildDir() (string, error) {
	binDirOnce.Do(func() { binDir, binDirErr = os.MkdirTemp("", "zkbalance-cmd-test-") })
	return binDir, binDirErr
}

var (
	binDirOnce sync.Once
	binDirErr  error
)

// builtBin is one binary built (with -race) once per test run.
type builtBin struct {
	once      sync.Once
	name, pkg string
	path      string
	err       error
}

var (
	demoBuild      = &builtBin{name: "demo", pkg: "."}
	zkbalanceBuild = &builtBin{name: "zkbalance", pkg: "../zkbalance"}
)

func (b *builtBin) get(t testing.TB) string {
	t.Helper()
	b.once.Do(func() {
		dir, err := buildDir()
		if err != nil {
			b.err = err
			return
		}
		b.path = filepath.Join(dir, b.name)
		out, err := exec.Command("go", "build", "-race", "-o", b.path, b.pkg).CombinedOutput()
		if err != nil {
			b.err = errors.New("go build " + b.pkg + ": " + err.Error() + "\n" + string(out))
		}
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

// demoBin is the demo binary.
func demoBin(t testing.TB) string { return demoBuild.get(t) }

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
	return runIn(t, demoBin(t), dir, timeout, args...)
}

// runIn runs bin with args in dir (with the connection environment
// variables cleared) and returns what it printed; it fails the test if bin
// does not finish within timeout.
func runIn(t testing.TB, bin, dir string, timeout time.Duration, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	cmd.Env = append(cmd.Environ(), "ZKBALANCE_ZOOKEEPER=", "ZKBALANCE_BROKERS=")
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
		t.Fatalf("run %s %v: %v", filepath.Base(bin), args, err)
	}
	if ctx.Err() != nil {
		t.Fatalf("%s %v did not finish within %s\nstdout:\n%s\nstderr:\n%s", filepath.Base(bin), args, timeout, r.stdout, r.stderr)
	}
	return r
}
