package main

import (
	"os"
	"testing"
	"time"

	"github.com/zkbalance/zkbalance/internal/cluster"
	"github.com/zkbalance/zkbalance/internal/cmdtest"
)

// shared is the package's real ZooKeeper + Kafka for the scenarios (one
// broker: their topics have replication 1), started by the first test that
// needs it.
var shared = cluster.NewShared(cluster.Config{Brokers: 1})

func TestMain(m *testing.M) {
	code := shared.Run(m)
	cmdtest.Cleanup()
	os.Exit(code)
}

var (
	demoBuild      = cmdtest.NewBinary(".", "demo")
	zkbalanceBuild = cmdtest.NewBinary("../zkbalance", "zkbalance")
)

// demoBin is the demo binary.
func demoBin(t testing.TB) string { return demoBuild.Path(t) }

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

// runIn runs bin with args in dir and returns what it printed; it fails
// the test if bin does not finish within timeout.
func runIn(t testing.TB, bin, dir string, timeout time.Duration, args ...string) result {
	t.Helper()
	r := cmdtest.Run(t, bin, dir, timeout, args...)
	return result{stdout: r.Stdout, stderr: r.Stderr, code: r.Code}
}
