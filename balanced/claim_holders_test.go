package balanced_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/zkbalance/zkbalance/balanced"
	"github.com/zkbalance/zkbalance/partition"
	"github.com/zkbalance/zkbalance/zkwatch"
)

// TestClaimsWaitOnOneLookPerHolder: a member assigned many partitions that
// another member holds waits for that holder with one look (one watch),
// not one a partition, and claims them all once the holder releases them
// in one transaction, as members do.
func TestClaimsWaitOnOneLookPerHolder(t *testing.T) {
	cl := shared.Get(t)
	ctx := testCtx(t, 2*time.Minute)
	const n = 24
	topic, group := uniq(t, "holder"), uniq(t, "g-holder")
	if err := cl.CreateTopic(ctx, topic, n, 1); err != nil {
		t.Fatal(err)
	}
	// The holder: owner znodes of every partition, in another session,
	// under a thread id that is not a member.
	conn := zkConn(t)
	owners := fmt.Sprintf("/consumers/%s/owners/%s", group, topic)
	if err := conn.EnsurePath(ctx, owners, nil); err != nil {
		t.Fatal(err)
	}
	var dels []any
	for p := range n {
		path := fmt.Sprintf("%s/%d", owners, p)
		if _, err := conn.Create(ctx, path, []byte("ghost-0"), zkwatch.FlagEphemeral, nil); err != nil {
			t.Fatal(err)
		}
		dels = append(dels, &zkwatch.DeleteRequest{Path: path, Version: -1})
	}
	reg := prometheus.NewRegistry()
	// A backoff far longer than the test: only the holder's release (the
	// look's watch) lets the claims go on.
	a := startMember(t, "A", balanced.Config{Group: group, Topics: []string{topic}, Registerer: reg,
		ClaimBackoff: partition.Backoff{Initial: 30 * time.Second, Max: time.Minute}}, waitHandler)
	deadline := time.Now().Add(30 * time.Second)
	for counterValue(t, reg, "zkbalance_claim_retries_total") == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the member never waited for the holder")
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // any other look would show by now
	if got := a.c.Owned(); len(got) != 0 {
		t.Fatalf("owns %v while the holder holds every partition", got)
	}
	if _, err := conn.Multi(ctx, dels...); err != nil {
		t.Fatal(err)
	}
	took := waitConverged(t, 30*time.Second, "scala-range", group, map[string]int32{topic: n}, a)
	retries := counterValue(t, reg, "zkbalance_claim_retries_total")
	t.Logf("%d partitions of one holder: claimed %v after its release, after %v wait(s)", n, took, retries)
	if retries != 1 {
		t.Errorf("claim waits = %v, want 1 (one look for the holder)", retries)
	}
}
