package zkwatch_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/zkbalance/zkbalance/internal/cluster"
	"github.com/zkbalance/zkbalance/zkwatch"
)

func TestWatchChildrenCreateDelete(t *testing.T) {
	shared.Get(t)
	ctx := testCtx(t, time.Minute)
	c := dial(t, "/zkw-children", zkwatch.Config{})
	w := c.WatchChildren(ctx, "/group/ids")
	next(t, w, 10*time.Second, "missing parent", func(s zkwatch.Snapshot) bool { return !s.Exists })
	if err := c.EnsurePath(ctx, "/group/ids", nil); err != nil {
		t.Fatal(err)
	}
	next(t, w, 10*time.Second, "parent created", func(s zkwatch.Snapshot) bool { return s.Exists && len(s.Children) == 0 })
	for _, k := range []string{"b", "a", "c"} {
		if _, err := c.Create(ctx, "/group/ids/"+k, nil, zkwatch.FlagEphemeral, nil); err != nil {
			t.Fatal(err)
		}
	}
	next(t, w, 10*time.Second, "three children", func(s zkwatch.Snapshot) bool {
		return slices.Equal(s.Children, []string{"a", "b", "c"})
	})
	if err := c.Delete(ctx, "/group/ids/b", -1); err != nil {
		t.Fatal(err)
	}
	s := next(t, w, 10*time.Second, "child deleted", func(s zkwatch.Snapshot) bool {
		return slices.Equal(s.Children, []string{"a", "c"})
	})
	if s.Stat == nil || s.SessionID != c.SessionID() {
		t.Fatalf("snapshot stat/session: %+v", s)
	}
}

func TestWatchDataChanges(t *testing.T) {
	shared.Get(t)
	ctx := testCtx(t, time.Minute)
	c := dial(t, "/zkw-data", zkwatch.Config{})
	w := c.WatchData(ctx, "/topic")
	next(t, w, 10*time.Second, "missing", func(s zkwatch.Snapshot) bool { return !s.Exists })
	if _, err := c.Create(ctx, "/topic", []byte("v1"), 0, nil); err != nil {
		t.Fatal(err)
	}
	next(t, w, 10*time.Second, "created", func(s zkwatch.Snapshot) bool { return string(s.Data) == "v1" })
	for i := 2; i <= 5; i++ {
		if _, err := c.Set(ctx, "/topic", []byte(fmt.Sprintf("v%d", i)), -1); err != nil {
			t.Fatal(err)
		}
	}
	s := next(t, w, 10*time.Second, "v5", func(s zkwatch.Snapshot) bool { return string(s.Data) == "v5" })
	if s.Stat.Version != 4 {
		t.Fatalf("version %d, want 4", s.Stat.Version)
	}
	if err := c.Delete(ctx, "/topic", -1); err != nil {
		t.Fatal(err)
	}
	next(t, w, 10*time.Second, "deleted", func(s zkwatch.Snapshot) bool { return !s.Exists })
	if _, err := c.Create(ctx, "/topic", []byte("again"), 0, nil); err != nil {
		t.Fatal(err)
	}
	next(t, w, 10*time.Second, "recreated", func(s zkwatch.Snapshot) bool { return string(s.Data) == "again" })
}

func TestWatchEndsWithContext(t *testing.T) {
	shared.Get(t)
	c := dial(t, "/zkw-end", zkwatch.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	w := c.WatchChildren(ctx, "/")
	<-w
	cancel()
	select {
	case _, ok := <-w:
		for ok {
			_, ok = <-w
		}
	case <-time.After(10 * time.Second):
		t.Fatal("watch channel not closed after cancel")
	}
	w2 := c.WatchData(context.Background(), "/")
	<-w2
	c.Close()
	select {
	case _, ok := <-w2:
		for ok {
			_, ok = <-w2
		}
	case <-time.After(10 * time.Second):
		t.Fatal("watch channel not closed after Close")
	}
}

func TestWatchSurvivesZooKeeperRestart(t *testing.T) {
	cl := shared.Get(t)
	ctx := testCtx(t, 2*time.Minute)
	c := dial(t, "/zkw-restart", zkwatch.Config{SessionTimeout: 20 * time.Second})
	events := c.Subscribe(ctx)
	if err := c.EnsurePath(ctx, "/kids", nil); err != nil {
		t.Fatal(err)
	}
	w := c.WatchChildren(ctx, "/kids")
	next(t, w, 10*time.Second, "empty", func(s zkwatch.Snapshot) bool { return s.Exists && len(s.Children) == 0 })
	id := c.SessionID()
	if err := cl.StopZooKeeper(); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, events, 20*time.Second, func(e zkwatch.SessionEvent) bool { return e.State == zkwatch.StateDisconnected })
	if err := cl.StartZooKeeper(ctx); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, events, 30*time.Second, func(e zkwatch.SessionEvent) bool { return e.State == zkwatch.StateHasSession })
	if c.SessionID() != id {
		t.Fatalf("session changed across a short restart: %x -> %x", id, c.SessionID())
	}
	other := dial(t, "/zkw-restart", zkwatch.Config{})
	if _, err := other.Create(ctx, "/kids/after-restart", nil, 0, nil); err != nil {
		t.Fatal(err)
	}
	next(t, w, 15*time.Second, "child after restart", func(s zkwatch.Snapshot) bool {
		return slices.Equal(s.Children, []string{"after-restart"})
	})
	// the broker's registration comes back as well, for the tests after this one
	root := dial(t, "/kafka", zkwatch.Config{})
	ids := root.WatchChildren(ctx, "/brokers/ids")
	next(t, ids, 60*time.Second, "broker re-registered", func(s zkwatch.Snapshot) bool { return len(s.Children) == 1 })
}

func TestWatchReArmsAfterSessionExpiry(t *testing.T) {
	cl := shared.Get(t)
	ctx := testCtx(t, time.Minute)
	var capture cluster.SessionCapture
	c := dial(t, "/zkw-expiry", zkwatch.Config{Dialer: capture.Dialer})
	events := c.Subscribe(ctx)
	if err := c.EnsurePath(ctx, "/kids", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Create(ctx, "/kids/mine", nil, zkwatch.FlagEphemeral, nil); err != nil {
		t.Fatal(err)
	}
	w := c.WatchChildren(ctx, "/kids")
	next(t, w, 10*time.Second, "own ephemeral", func(s zkwatch.Snapshot) bool { return len(s.Children) == 1 })
	oldID, pw := capture.Credentials()
	if oldID != c.SessionID() {
		t.Fatalf("captured %x, conn %x", oldID, c.SessionID())
	}
	if err := cl.ExpireSession(ctx, oldID, pw); err != nil {
		t.Fatal(err)
	}
	exp := waitEvent(t, events, 20*time.Second, func(e zkwatch.SessionEvent) bool { return e.State == zkwatch.StateExpired })
	if exp.SessionID != oldID {
		t.Fatalf("expired event for %x, want %x", exp.SessionID, oldID)
	}
	has := waitEvent(t, events, 20*time.Second, func(e zkwatch.SessionEvent) bool { return e.State == zkwatch.StateHasSession })
	if has.SessionID == oldID || has.SessionID == 0 {
		t.Fatalf("new session id %x (old %x)", has.SessionID, oldID)
	}
	s := next(t, w, 15*time.Second, "ephemeral gone, watch on new session", func(s zkwatch.Snapshot) bool {
		return s.SessionID == has.SessionID && len(s.Children) == 0
	})
	_ = s
	if _, err := c.Create(ctx, "/kids/new", nil, zkwatch.FlagEphemeral, nil); err != nil {
		t.Fatal(err)
	}
	next(t, w, 10*time.Second, "re-armed watch sees a new child", func(s zkwatch.Snapshot) bool {
		return slices.Equal(s.Children, []string{"new"})
	})
}

func waitEvent(t *testing.T, ch <-chan zkwatch.SessionEvent, d time.Duration, ok func(zkwatch.SessionEvent) bool) zkwatch.SessionEvent {
	t.Helper()
	timeout := time.After(d)
	for {
		select {
		case e, open := <-ch:
			if !open {
				t.Fatal("session events closed")
			}
			if ok(e) {
				return e
			}
		case <-timeout:
			t.Fatalf("session event not seen within %s", d)
		}
	}
}

func TestOneSessionConnEndsAtExpiry(t *testing.T) {
	cl := shared.Get(t)
	ctx := testCtx(t, time.Minute)
	var capture cluster.SessionCapture
	c := dial(t, "/zkw-one", zkwatch.Config{Dialer: capture.Dialer, OneSession: true})
	events := c.Subscribe(ctx)
	w := c.WatchChildren(ctx, "/")
	<-w
	id, pw := capture.Credentials()
	if err := cl.ExpireSession(ctx, id, pw); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, events, 20*time.Second, func(e zkwatch.SessionEvent) bool { return e.State == zkwatch.StateExpired })
	select {
	case <-c.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("Done not closed after expiry")
	}
	if _, _, err := c.Get(ctx, "/"); !errors.Is(err, zkwatch.ErrSessionExpired) {
		t.Fatalf("call after expiry: %v, want ErrSessionExpired", err)
	}
	if err := c.WaitSession(ctx); !errors.Is(err, zkwatch.ErrSessionExpired) {
		t.Fatalf("WaitSession after expiry: %v", err)
	}
	for range w { // must be closed
	}
	time.Sleep(500 * time.Millisecond)
	if c.State() == zkwatch.StateHasSession {
		t.Fatal("a OneSession conn opened a new session")
	}
}

// TestWatchChildrenNotify: changed comes before the snapshot it announces,
// which is Notified; seen sees every snapshot, in order.
func TestWatchChildrenNotify(t *testing.T) {
	shared.Get(t)
	ctx := testCtx(t, time.Minute)
	c := dial(t, "/zkw-notify", zkwatch.Config{})
	if err := c.EnsurePath(ctx, "/ids", nil); err != nil {
		t.Fatal(err)
	}
	log := make(chan string, 16)
	w := c.WatchChildrenNotify(ctx, "/ids", func() { log <- "changed" }, func(s zkwatch.Snapshot) {
		log <- fmt.Sprintf("seen %v %v", s.Children, s.Notified)
	})
	first := next(t, w, 10*time.Second, "empty", func(s zkwatch.Snapshot) bool { return s.Exists && len(s.Children) == 0 })
	if first.Notified {
		t.Fatal("the first snapshot is not a notified change")
	}
	if _, err := c.Create(ctx, "/ids/a", nil, zkwatch.FlagEphemeral, nil); err != nil {
		t.Fatal(err)
	}
	s := next(t, w, 10*time.Second, "a", func(s zkwatch.Snapshot) bool { return slices.Equal(s.Children, []string{"a"}) })
	if !s.Notified {
		t.Fatal("the snapshot after a change is Notified")
	}
	want := []string{"seen [] false", "changed", "seen [a] true"}
	for i, w := range want {
		select {
		case got := <-log:
			if got != w {
				t.Fatalf("call %d: %q, want %q", i, got, w)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("call %d: none, want %q", i, w)
		}
	}
}
