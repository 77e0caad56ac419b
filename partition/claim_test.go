package partition_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zkbalance/zkbalance/partition"
	"github.com/zkbalance/zkbalance/test/cluster"
	"github.com/zkbalance/zkbalance/zkwatch"
)

// zkc is a real ZooKeeper (no brokers) for the claim tests.
var zkc *cluster.Cluster

func TestMain(m *testing.M) {
	cluster.Main(m, &zkc, cluster.Config{ZooKeeperOnly: true})
}

func dialZK(t *testing.T) *zkwatch.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := zkwatch.Dial(ctx, zkwatch.Config{Servers: zkc.ZooKeeperAddr(), OneSession: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func TestClaimWaitsForReleaseThenTakes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a, b := dialZK(t), dialZK(t)
	const p = "/consumers/g-claim/owners/t/0"
	ca, err := partition.Claimer{Conn: a}.Claim(ctx, p, []byte("a-0"))
	if err != nil {
		t.Fatal(err)
	}
	if ca.Session != a.SessionID() || ca.Version != 0 {
		t.Fatalf("claim %+v", ca)
	}
	// Re-claiming our own znode in our own session counts as ours.
	again, err := partition.Claimer{Conn: a}.Claim(ctx, p, []byte("a-0"))
	if err != nil || again != ca {
		t.Fatalf("re-claim: %+v %v", again, err)
	}
	var retries atomic.Int32
	got := make(chan error, 1)
	var cb partition.Claim
	go func() {
		var err error
		cb, err = partition.Claimer{Conn: b, OnRetry: func(_ string, _ int, holder []byte) {
			if string(holder) != "a-0" {
				t.Errorf("holder %q", holder)
			}
			retries.Add(1)
		}}.Claim(ctx, p, []byte("b-0"))
		got <- err
	}()
	time.Sleep(400 * time.Millisecond)
	if retries.Load() < 2 {
		t.Fatalf("only %d retries while held", retries.Load())
	}
	if err := partition.Release(ctx, b, ca); !errors.Is(err, partition.ErrNotHeld) {
		t.Fatalf("release by the wrong session: %v", err)
	}
	if err := partition.Release(ctx, a, ca); err != nil {
		t.Fatal(err)
	}
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	if cb.Session != b.SessionID() {
		t.Fatalf("b's claim %+v", cb)
	}
	if err := partition.Release(ctx, a, ca); !errors.Is(err, partition.ErrNotHeld) {
		t.Fatalf("stale release: %v", err)
	}
	if err := partition.Release(ctx, b, cb); err != nil {
		t.Fatal(err)
	}
	if err := partition.Release(ctx, b, cb); err != nil {
		t.Fatalf("releasing twice: %v", err)
	}
}

func TestClaimGivesUpOnlyWithContext(t *testing.T) {
	a, b := dialZK(t), dialZK(t)
	const p = "/consumers/g-claim2/owners/t/3"
	bg, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := (partition.Claimer{Conn: a}).Claim(bg, p, []byte("a")); err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithTimeout(bg, 500*time.Millisecond)
	defer stop()
	_, err := partition.Claimer{Conn: b}.Claim(ctx, p, []byte("b"))
	if !errors.Is(err, partition.ErrOwned) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want ErrOwned and DeadlineExceeded", err)
	}
	data, _, err := a.Get(bg, p)
	if err != nil || string(data) != "a" {
		t.Fatalf("holder changed: %q %v", data, err)
	}
}
