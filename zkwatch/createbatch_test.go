package zkwatch_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/zkbalance/zkbalance/zkwatch"
)

// TestCreateThenGetMerged: hundreds of concurrent CreateThenGet calls,
// some of whose znodes exist already and some whose parent is missing,
// each get their own create's answer and the read behind it, in far fewer
// requests than one a call (merged into multis with multiReads behind).
func TestCreateThenGetMerged(t *testing.T) {
	cl := shared.Get(t)
	ctx := testCtx(t, time.Minute)
	c := dial(t, "/zkw-createmerged", zkwatch.Config{})
	const n = 600
	held := func(i int) bool { return i%7 == 0 } // every 7th owner exists (another holder)
	seedOwners(ctx, t, c, n, held)
	before := packetsReceived(t, cl.ZooKeeperAddr())
	type answer struct {
		created string
		got     zkwatch.GetResult
		err     error
	}
	answers := make([]answer, n+1)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			a := &answers[i]
			a.created, a.got, a.err = c.CreateThenGet(ctx, fmt.Sprintf("/owners/%d", i), []byte("me"), zkwatch.FlagEphemeral, nil, fmt.Sprintf("/offsets/%d", i))
		})
	}
	wg.Go(func() { // a missing parent
		a := &answers[n]
		a.created, a.got, a.err = c.CreateThenGet(ctx, "/none/x", []byte("me"), zkwatch.FlagEphemeral, nil, "/offsets/0")
	})
	wg.Wait()
	requests := packetsReceived(t, cl.ZooKeeperAddr()) - before
	for i := range n {
		a := answers[i]
		checkCreate(t, fmt.Sprintf("/owners/%d", i), held(i), a.created, a.err)
		checkReadBehind(t, i, a.got)
	}
	if !errors.Is(answers[n].err, zkwatch.ErrNoNode) {
		t.Fatalf("missing parent: %v", answers[n].err)
	}
	checkOwners(ctx, t, c, n, held)
	t.Logf("%d creates with reads behind: %d requests", n+1, requests)
}

// TestCreateThenGetMergedCancelled: calls whose context ends while their
// creates gather are never sent; the others are unaffected.
func TestCreateThenGetMergedCancelled(t *testing.T) {
	shared.Get(t)
	ctx := testCtx(t, time.Minute)
	c := dial(t, "/zkw-createcancel", zkwatch.Config{})
	if err := c.EnsurePath(ctx, "/owners", nil); err != nil {
		t.Fatal(err)
	}
	done, cancel := context.WithCancel(ctx)
	cancel()
	const n = 200
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			cctx := ctx
			if i%2 == 1 {
				cctx = done // gives up at once
			}
			_, _, errs[i] = c.CreateThenGet(cctx, fmt.Sprintf("/owners/%d", i), []byte("me"), zkwatch.FlagEphemeral, nil, "/owners")
		})
	}
	wg.Wait()
	for i := range n {
		ok, _, err := c.Exists(ctx, fmt.Sprintf("/owners/%d", i))
		switch {
		case err != nil:
			t.Fatal(err)
		case i%2 == 0 && (errs[i] != nil || !ok):
			t.Fatalf("create %d: %v, exists %v", i, errs[i], ok)
		case i%2 == 1 && !errors.Is(errs[i], context.Canceled):
			t.Fatalf("cancelled create %d: %v", i, errs[i])
		case i%2 == 1 && ok:
			t.Fatalf("cancelled create %d was applied", i)
		}
	}
}

// TestCreateThenGetMergedFewRequests: concurrent creates that all succeed
// go out as a few multis (with their multiReads), not a request each.
func TestCreateThenGetMergedFewRequests(t *testing.T) {
	cl := shared.Get(t)
	ctx := testCtx(t, time.Minute)
	c := dial(t, "/zkw-createfew", zkwatch.Config{})
	if err := c.EnsurePath(ctx, "/owners", nil); err != nil {
		t.Fatal(err)
	}
	c.GetMany(ctx, []string{"/owners", "/"}) // the server answers multiRead
	const n = 400
	before := packetsReceived(t, cl.ZooKeeperAddr())
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			_, _, errs[i] = c.CreateThenGet(ctx, fmt.Sprintf("/owners/%d", i), []byte("me"), zkwatch.FlagEphemeral, nil, "/owners")
		})
	}
	wg.Wait()
	requests := packetsReceived(t, cl.ZooKeeperAddr()) - before
	for i, err := range errs {
		if err != nil {
			t.Fatalf("create %d: %v", i, err)
		}
	}
	t.Logf("%d creates with reads behind: %d requests", n, requests)
	if requests > n/4 {
		t.Fatalf("%d creates took %d requests", n, requests)
	}
}

// TestCreateThenGetMany: one call with hundreds of creates, some of whose
// znodes exist already, some without a read behind, and one whose parent
// is missing, answers each on its own, in far fewer requests than one a
// create; with its context ended first it sends nothing.
func TestCreateThenGetMany(t *testing.T) {
	cl := shared.Get(t)
	ctx := testCtx(t, time.Minute)
	c := dial(t, "/zkw-createmany", zkwatch.Config{})
	const n = 600
	held := func(i int) bool { return i == 100 || i == 300 || i == 550 } // a few, as in a claim that lost a race
	seedOwners(ctx, t, c, n, held)
	ops := make([]zkwatch.CreateThenGetOp, n+1)
	for i := range n {
		ops[i] = zkwatch.CreateThenGetOp{Path: fmt.Sprintf("/owners/%d", i), Data: []byte("me"), Flags: zkwatch.FlagEphemeral}
		if i%3 != 0 {
			ops[i].GetPath = fmt.Sprintf("/offsets/%d", i)
		}
	}
	ops[n] = zkwatch.CreateThenGetOp{Path: "/none/x", Data: []byte("me"), Flags: zkwatch.FlagEphemeral, GetPath: "/offsets/0"}

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	for i, r := range c.CreateThenGetMany(cancelled, ops) {
		if !errors.Is(r.Err, context.Canceled) || (ops[i].GetPath != "" && !errors.Is(r.Get.Err, context.Canceled)) {
			t.Fatalf("op %d with its context ended: %+v", i, r)
		}
	}
	if ok, _, err := c.Exists(ctx, "/owners/1"); err != nil || ok {
		t.Fatalf("a create was sent after its context ended: exists %v, %v", ok, err)
	}

	before := packetsReceived(t, cl.ZooKeeperAddr())
	res := c.CreateThenGetMany(ctx, ops)
	requests := packetsReceived(t, cl.ZooKeeperAddr()) - before
	if len(res) != len(ops) {
		t.Fatalf("%d results for %d ops", len(res), len(ops))
	}
	for i := range n {
		r := res[i]
		checkCreate(t, ops[i].Path, held(i), r.Created, r.Err)
		if ops[i].GetPath != "" {
			checkReadBehind(t, i, r.Get)
		} else if r.Get.Err != nil || r.Get.Stat != nil || r.Get.Data != nil {
			t.Fatalf("op %d without a read: read %+v", i, r.Get)
		}
	}
	if !errors.Is(res[n].Err, zkwatch.ErrNoNode) {
		t.Fatalf("missing parent: %v", res[n].Err)
	}
	checkOwners(ctx, t, c, n, held)
	// Merged: a multi that fails on one create is sent again without it.
	if requests > 30 {
		t.Fatalf("%d creates in %d requests", n+1, requests)
	}
	t.Logf("%d creates with reads behind, in one call: %d requests", n+1, requests)
}

// seedOwners makes /owners and /offsets, the owner znodes /owners/<i> held
// by "other" where held(i), and the offset znodes /offsets/<i> = "<i>" for
// every 5th i, then sends a warm-up multiRead (so that merged reads ride
// behind their multi).
func seedOwners(ctx context.Context, t *testing.T, c *zkwatch.Conn, n int, held func(int) bool) {
	t.Helper()
	for _, p := range []string{"/owners", "/offsets"} {
		if err := c.EnsurePath(ctx, p, nil); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		if held(i) {
			if _, err := c.Create(ctx, fmt.Sprintf("/owners/%d", i), []byte("other"), zkwatch.FlagPersistent, nil); err != nil {
				t.Fatal(err)
			}
		}
		if i%5 == 0 {
			if _, err := c.Create(ctx, fmt.Sprintf("/offsets/%d", i), []byte(strconv.Itoa(i)), zkwatch.FlagPersistent, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	c.GetMany(ctx, []string{"/owners", "/offsets"})
}

// checkReadBehind checks the read of /offsets/<i> behind a create (see
// seedOwners).
func checkReadBehind(t *testing.T, i int, got zkwatch.GetResult) {
	t.Helper()
	if i%5 == 0 {
		if got.Err != nil || string(got.Data) != strconv.Itoa(i) {
			t.Fatalf("offset %d read behind: %q %v", i, got.Data, got.Err)
		}
	} else if !errors.Is(got.Err, zkwatch.ErrNoNode) {
		t.Fatalf("offset %d read behind: %q %v, want ErrNoNode", i, got.Data, got.Err)
	}
}

// checkOwners checks that every owner znode is "other"'s where held(i) and
// ours (c's session, "me") elsewhere.
func checkOwners(ctx context.Context, t *testing.T, c *zkwatch.Conn, n int, held func(int) bool) {
	t.Helper()
	for i := range n {
		data, st, err := c.Get(ctx, fmt.Sprintf("/owners/%d", i))
		switch {
		case err != nil:
			t.Fatal(err)
		case held(i) && string(data) != "other":
			t.Fatalf("owner %d: %q", i, data)
		case !held(i) && (string(data) != "me" || st.EphemeralOwner != c.SessionID()):
			t.Fatalf("owner %d: %q owner %x", i, data, st.EphemeralOwner)
		}
	}
}

// checkCreate checks the answer to the create of want: ErrNodeExists if
// held, else want created.
func checkCreate(t *testing.T, want string, held bool, created string, err error) {
	t.Helper()
	switch {
	case held:
		if !errors.Is(err, zkwatch.ErrNodeExists) {
			t.Fatalf("%s (held): err %v", want, err)
		}
	case err != nil || created != want:
		t.Fatalf("%s: created %q, err %v", want, created, err)
	}
}
