package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"
)

// ShortSkip is the reason a test that needs a JVM gives when -short skips it.
const ShortSkip = "needs the real ZooKeeper + Kafka; skipped by -short (make unit)"

// SkipShort skips t under -short (make unit): for tests that start a JVM of
// their own (their own Start, the demo binary's up) rather than through a
// Shared.
func SkipShort(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip(ShortSkip)
	}
}

// startTimeout bounds a Shared's start: jar resolution on a cold cache plus
// the brokers' start.
const startTimeout = 5 * time.Minute

// Shared is a test package's cluster, started on the first Get (so tests that
// need none, and every test under -short, run without a JVM) and closed when
// Run's tests are over. It is safe for parallel tests.
type Shared struct {
	cfg Config

	once sync.Once // the start (or Close, when no test asked)
	c    *Cluster
	err  error
}

// NewShared returns a Shared that starts a cluster with cfg on first use.
// A package declares one (var shared = cluster.NewShared(...)) and its
// TestMain calls Main or Run.
func NewShared(cfg Config) *Shared {
	return &Shared{cfg: cfg}
}

// errClosed is what Get reports after Run's tests are over.
var errClosed = errors.New("cluster: Shared used after its tests ended")

// Get returns the cluster, starting it on the first call and printing a
// "real cluster: ..." line to stderr. A failed start fails t with the reason
// (and every later Get fails the same way at once); nothing is skipped,
// except under -short, where Get skips t (ShortSkip). Call it at the top of
// the test, before the test's own deadlines start: the first start takes
// 10-60 s, several minutes when the jars are not cached yet.
func (s *Shared) Get(t testing.TB) *Cluster {
	t.Helper()
	SkipShort(t)
	s.once.Do(s.start)
	if s.err != nil {
		t.Fatal(s.err)
	}
	return s.c
}

func (s *Shared) start() {
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	begin := time.Now()
	c, err := Start(ctx, s.cfg)
	if err != nil {
		what := "the real ZooKeeper + Kafka cluster"
		if s.cfg.KRaft {
			what = "the real Kafka " + KafkaVersionKRaft + " (KRaft) cluster"
		}
		s.err = fmt.Errorf("start %s: %w", what, err)
		return
	}
	took := time.Since(begin).Round(time.Millisecond)
	if c.HasZooKeeper() {
		fmt.Fprintf(os.Stderr, "real cluster: ZooKeeper %s + %d Kafka %s broker(s) %v up in %s\n",
			c.ZooKeeperConnect(), len(c.BrokerIDs()), c.KafkaVersion(), c.BrokerAddrs(), took)
	} else {
		fmt.Fprintf(os.Stderr, "real cluster: Kafka %s (KRaft, no ZooKeeper) %v up in %s\n",
			c.KafkaVersion(), c.BrokerAddrs(), took)
	}
	s.c = c
}

// Close stops the cluster if a Get started it (waiting for a start in
// progress); a Get after a Close that came first fails.
func (s *Shared) Close() {
	s.once.Do(func() { s.err = errClosed })
	if s.c != nil {
		s.c.Close()
	}
}

// Run runs the tests, closes the cluster and returns the exit code, for a
// TestMain with more to do: os.Exit(shared.Run(m)).
func (s *Shared) Run(m *testing.M) int {
	defer s.Close()
	return m.Run()
}

// Main is a whole TestMain body: os.Exit(s.Run(m)).
func (s *Shared) Main(m *testing.M) {
	os.Exit(s.Run(m))
}
