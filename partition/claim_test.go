package partition_test

import (
	"context"
	"errors"
	"reflect"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zkbalance/zkbalance/internal/cluster"
	"github.com/zkbalance/zkbalance/partition"
	"github.com/zkbalance/zkbalance/zkwatch"
)

// shared is a real ZooKeeper (no brokers) for the claim tests.
var shared = cluster.NewShared(cluster.Config{ZooKeeperOnly: true})

func TestMain(m *testing.M) {
	shared.Main(m)
}

func dialZK(t *testing.T) *zkwatch.Conn {
	t.Helper()
	zkc := shared.Get(t)
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
	shared.Get(t)
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
	if err != nil || !reflect.DeepEqual(again, ca) {
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
	// While held, the claim waits on its watch: one look, no polling.
	time.Sleep(400 * time.Millisecond)
	if n := retries.Load(); n != 1 {
		t.Fatalf("%d retries while held, want 1 (the look that armed the watch)", n)
	}
	if err := partition.Release(ctx, b, ca); !errors.Is(err, partition.ErrNotHeld) {
		t.Fatalf("release by the wrong session: %v", err)
	}
	released := time.Now()
	if err := partition.Release(ctx, a, ca); err != nil {
		t.Fatal(err)
	}
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	// Taken through the watch, long before the backoff's 2 s.
	if d := time.Since(released); d > time.Second {
		t.Fatalf("claimed %s after the release", d)
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
	shared.Get(t)
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

// TestClaimWithMirror: a claim with a mirror path (pykafka's Python 3 owner
// directory) creates both znodes or neither: while another session holds
// only the mirror, nothing is created, and the claim completes once the
// mirror is released; Release deletes both.
func TestClaimWithMirror(t *testing.T) {
	shared.Get(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a, b := dialZK(t), dialZK(t)
	const p, m = "/consumers/g-mirror/owners/t/1-0", "/consumers/g-mirror/owners/b't'/1-0"
	cb, err := partition.Claimer{Conn: b}.Claim(ctx, m, []byte("b"))
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	var ca partition.Claim
	var retries atomic.Int32
	go func() {
		var err error
		ca, err = partition.Claimer{Conn: a, OnRetry: func(path string, _ int, holder []byte) {
			if path != m || string(holder) != "b" {
				t.Errorf("retry on %s held by %q, want %s held by b", path, holder, m)
			}
			retries.Add(1)
		}}.Claim(ctx, p, []byte("a"), m)
		got <- err
	}()
	time.Sleep(400 * time.Millisecond)
	if retries.Load() < 1 {
		t.Fatal("no retry while the mirror is held")
	}
	if ok, _, err := a.Exists(ctx, p); err != nil || ok {
		t.Fatalf("%s exists (%v) while the mirror is held by another session", p, err)
	}
	if err := partition.Release(ctx, b, cb); err != nil {
		t.Fatal(err)
	}
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	if ca.Path != p || !reflect.DeepEqual(ca.Also, []string{m}) || ca.Session != a.SessionID() {
		t.Fatalf("claim %+v", ca)
	}
	for _, q := range []string{p, m} {
		data, st, err := a.Get(ctx, q)
		if err != nil || string(data) != "a" || st.EphemeralOwner != a.SessionID() {
			t.Fatalf("%s: %q owner %x (%v), want a's", q, data, st.EphemeralOwner, err)
		}
	}
	// b cannot take the mirror now, and the retry ends with its context.
	short, stop := context.WithTimeout(ctx, 300*time.Millisecond)
	defer stop()
	if _, err := (partition.Claimer{Conn: b}).Claim(short, m, []byte("b")); !errors.Is(err, partition.ErrOwned) {
		t.Fatalf("b claimed the mirror held by a: %v", err)
	}
	if err := partition.Release(ctx, a, ca); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{p, m} {
		if ok, _, err := a.Exists(ctx, q); err != nil || ok {
			t.Fatalf("%s left after release (%v)", q, err)
		}
	}
}

// TestReleaseAll: claims released together (one transaction) are all gone;
// one already gone is fine; one now held by another session is left alone
// and reported with ErrNotHeld, without stopping the others.
func TestReleaseAll(t *testing.T) {
	shared.Get(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a, b := dialZK(t), dialZK(t)
	var claims []partition.Claim
	for p := range 6 {
		path := "/consumers/g-relall/owners/t/" + string(rune('0'+p))
		var mirror []string
		if p%2 == 0 {
			mirror = []string{"/consumers/g-relall/owners/b't'/" + string(rune('0'+p))}
		}
		cl, err := partition.Claimer{Conn: a}.Claim(ctx, path, []byte("a"), mirror...)
		if err != nil {
			t.Fatal(err)
		}
		claims = append(claims, cl)
	}
	// 1 is gone already; 3 was released and taken by b.
	if err := partition.Release(ctx, a, claims[1]); err != nil {
		t.Fatal(err)
	}
	if err := partition.Release(ctx, a, claims[3]); err != nil {
		t.Fatal(err)
	}
	if _, err := (partition.Claimer{Conn: b}).Claim(ctx, claims[3].Path, []byte("b")); err != nil {
		t.Fatal(err)
	}
	errs := partition.ReleaseAll(ctx, a, claims)
	for i, err := range errs {
		if i == 3 {
			if !errors.Is(err, partition.ErrNotHeld) {
				t.Errorf("claim 3 (held by b): %v, want ErrNotHeld", err)
			}
			continue
		}
		if err != nil {
			t.Errorf("claim %d: %v", i, err)
		}
	}
	for i, cl := range claims {
		for _, q := range append([]string{cl.Path}, cl.Also...) {
			ok, _, err := a.Exists(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			if ok != (i == 3) {
				t.Errorf("%s exists: %v", q, ok)
			}
		}
	}
}

// TestClaimMissing: owner znodes read missing are created in one call,
// each with its ReadAfter read behind it; one that another member took
// meanwhile fails (for the caller to Claim it, which waits), and the
// claims release as any Claim does.
func TestClaimMissing(t *testing.T) {
	shared.Get(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a, b := dialZK(t), dialZK(t)
	const dir, offsets = "/consumers/g-claimmissing/owners/t", "/consumers/g-claimmissing/offsets/t"
	for _, p := range []string{dir, offsets} {
		if err := a.EnsurePath(ctx, p, nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := a.Create(ctx, offsets+"/1", []byte("42"), zkwatch.FlagPersistent, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := (partition.Claimer{Conn: b}).Claim(ctx, dir+"/2", []byte("b-0")); err != nil {
		t.Fatal(err)
	}
	claims := []partition.MissingClaim{
		{Path: dir + "/0", ReadAfter: offsets + "/0"},
		{Path: dir + "/1", ReadAfter: offsets + "/1"},
		{Path: dir + "/2", ReadAfter: offsets + "/2"}, // b was faster
		{Path: dir + "/3"},                            // nothing to read
	}
	res := partition.Claimer{Conn: a}.ClaimMissing(ctx, claims, []byte("a-0"))
	if len(res) != len(claims) {
		t.Fatalf("%d results for %d claims", len(res), len(claims))
	}
	if !errors.Is(res[2].Err, zkwatch.ErrNodeExists) {
		t.Fatalf("claim of a znode b holds: %+v", res[2])
	}
	for _, i := range []int{0, 1, 3} {
		cl := res[i].Claim
		if res[i].Err != nil || cl.Path != claims[i].Path || cl.Session != a.SessionID() || cl.Version != 0 {
			t.Fatalf("claim %d: %+v, %v", i, cl, res[i].Err)
		}
	}
	if r := res[0].Claim.After; r == nil || r.Path != offsets+"/0" || !errors.Is(r.Err, zkwatch.ErrNoNode) {
		t.Fatalf("read behind claim 0: %+v", r)
	}
	if r := res[1].Claim.After; r == nil || r.Err != nil || string(r.Data) != "42" {
		t.Fatalf("read behind claim 1: %+v", r)
	}
	if res[3].Claim.After != nil {
		t.Fatalf("claim 3 read %+v", res[3].Claim.After)
	}
	for _, i := range []int{0, 1, 3} {
		if err := partition.Release(ctx, a, res[i].Claim); err != nil {
			t.Fatal(err)
		}
		if ok, _, err := a.Exists(ctx, claims[i].Path); err != nil || ok {
			t.Fatalf("%s after its release: exists %v, %v", claims[i].Path, ok, err)
		}
	}
}
