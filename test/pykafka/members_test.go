package pykafka_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zkbalance/zkbalance/balanced"
	"github.com/zkbalance/zkbalance/internal/pykafka"
)

// The two kinds of group member the mixed-group and legacy tests run: an
// in-process zkbalance member and a pykafka member process, behind one
// interface for the group checks.

// testWriter sends an in-process member's log lines to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// member is a group member of either kind, as the group checks see it.
type member interface {
	ID() string
	String() string
	// parts is the partition set the member reports owning: partitions
	// whose handlers run (zkbalance), the set of its last rebalance
	// (pykafka); ok is false before it reported any.
	parts() (ps []int32, ok bool)
	// exited is an error once the member stopped by itself.
	exited() error
}

// zbMember is one zkbalance member (balanced.Consumer) run in-process.
type zbMember struct {
	name    string
	c       *balanced.Consumer
	cancel  context.CancelFunc
	done    chan struct{} // closed when Run has returned; err is set then
	err     error
	once    sync.Once
	stopErr error
}

// startZB runs a member of cfg's group with handler h (ZooKeeper, brokers
// and a warning-level logger to the test log filled in); it leaves the
// group at the latest when the test ends.
func startZB(t *testing.T, name string, cfg balanced.Config, h balanced.Handler) *zbMember {
	t.Helper()
	cl := shared.Get(t)
	cfg.ZooKeeper, cfg.Brokers = cl.KafkaZooKeeperConnect(), cl.BrokerAddrs()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})).With("m", name)
	}
	c, err := balanced.New(cfg)
	if err != nil {
		t.Fatalf("member %s: %v", name, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &zbMember{name: name, c: c, cancel: cancel, done: make(chan struct{})}
	go func() { // owned by m: stop waits for it
		m.err = c.Run(ctx, h)
		close(m.done)
	}()
	t.Cleanup(func() {
		if err := m.stop(); err != nil {
			t.Error(err)
		}
	})
	return m
}

func (m *zbMember) ID() string     { return m.c.MemberID() }
func (m *zbMember) String() string { return fmt.Sprintf("zkbalance member %s (%s)", m.name, m.ID()) }

func (m *zbMember) parts() ([]int32, bool) {
	ps := []int32{}
	for _, tp := range m.c.Owned() {
		ps = append(ps, tp.Partition)
	}
	slices.Sort(ps)
	return ps, true
}

func (m *zbMember) exited() error {
	select {
	case <-m.done:
		return fmt.Errorf("%s: Run returned: %v", m, m.err)
	default:
		return nil
	}
}

// stop leaves the group (handlers stopped, offsets committed, znodes
// deleted) and waits for Run to return; idempotent.
func (m *zbMember) stop() error {
	m.once.Do(func() {
		m.cancel()
		select {
		case <-m.done:
			if m.err != nil {
				m.stopErr = fmt.Errorf("%s: Run: %w", m, m.err)
			}
		case <-time.After(60 * time.Second):
			m.stopErr = fmt.Errorf("%s did not leave within 60s", m)
		}
	})
	return m.stopErr
}

// pyMember is a pykafka member as the group checks see it.
type pyMember struct{ *pykafka.Member }

func (m pyMember) parts() ([]int32, bool) {
	ps, ok := m.Owned()
	slices.Sort(ps)
	return ps, ok
}

func (m pyMember) exited() error {
	if m.Exited() {
		return fmt.Errorf("%s exited: %v; errors %v", m, m.ExitErr(), m.Errors())
	}
	return nil
}
