package zkwatch_test

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/zkbalance/zkbalance/internal/proxy"
	"github.com/zkbalance/zkbalance/zkwatch"
)

// treeLog records a tree watch's events.
type treeLog struct {
	mu  sync.Mutex
	evs []string
	ch  chan struct{}
}

func newTreeLog() *treeLog { return &treeLog{ch: make(chan struct{}, 1)} }

func (l *treeLog) add(ev zkwatch.TreeEvent) {
	kinds := map[zkwatch.TreeEventKind]string{zkwatch.TreeWatching: "watching", zkwatch.TreeLost: "lost",
		zkwatch.TreeCreated: "created", zkwatch.TreeDeleted: "deleted", zkwatch.TreeDataChanged: "changed"}
	l.mu.Lock()
	l.evs = append(l.evs, kinds[ev.Kind]+" "+ev.Path)
	l.mu.Unlock()
	select {
	case l.ch <- struct{}{}:
	default:
	}
}

func (l *treeLog) snapshot() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.evs)
}

// waitFor waits until the log holds want (in order, from the start of
// the log or after the mark'th event).
func (l *treeLog) waitFor(t *testing.T, mark int, want ...string) {
	t.Helper()
	deadline := time.After(15 * time.Second)
	for {
		got := l.snapshot()
		if len(got) >= mark && slices.Equal(got[mark:min(len(got), mark+len(want))], want) {
			return
		}
		select {
		case <-l.ch:
		case <-deadline:
			t.Fatalf("tree events after #%d = %q, want %q", mark, got[min(mark, len(got)):], want)
		}
	}
}

// TestWatchTree: a persistent recursive watch sees creations, data changes
// and deletions below its path (which need not exist), in order; a reply
// arrives only after the events of the changes it reflects; a lost
// connection is reported and the watch is set again on the next one.
func TestWatchTree(t *testing.T) {
	cl := shared.Get(t)
	ctx := testCtx(t, 2*time.Minute)
	writer := dial(t, "/zkw-tree", zkwatch.Config{})
	px, err := proxy.New(ctx, cl.ZooKeeperAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer px.Close()
	c, err := zkwatch.Dial(ctx, zkwatch.Config{Servers: px.Addr() + "/zkw-tree", SessionTimeout: 20 * time.Second, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	log := newTreeLog()
	stop, err := c.WatchTree(ctx, "/owners", log.add)
	if err != nil {
		t.Fatal(err)
	}
	log.waitFor(t, 0, "watching /owners")

	if err := writer.EnsurePath(ctx, "/owners/t", nil); err != nil {
		t.Fatal(err)
	}
	for p := range 2 {
		if _, err := writer.Create(ctx, fmt.Sprintf("/owners/t/%d", p), []byte("m"), zkwatch.FlagPersistent, nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := writer.Set(ctx, "/owners/t/1", []byte("n"), -1); err != nil {
		t.Fatal(err)
	}
	if err := writer.Delete(ctx, "/owners/t/0", -1); err != nil {
		t.Fatal(err)
	}
	if _, err := writer.Create(ctx, "/elsewhere", nil, zkwatch.FlagPersistent, nil); err != nil {
		t.Fatal(err)
	}
	// Our own read of the last change: its event is in by the reply.
	if _, _, err := c.Get(ctx, "/owners/t/1"); err != nil {
		t.Fatal(err)
	}
	if ok, _, err := c.Exists(ctx, "/owners/t/0"); err != nil || ok {
		t.Fatalf("exists /owners/t/0 = %v, %v", ok, err)
	}
	want := []string{"watching /owners", "created /owners", "created /owners/t", "created /owners/t/0",
		"created /owners/t/1", "changed /owners/t/1", "deleted /owners/t/0"}
	if got := log.snapshot(); !slices.Equal(got, want) {
		t.Fatalf("events by the reply = %q, want %q", got, want)
	}

	// A lost connection: reported, then the watch is set again.
	id := c.SessionID()
	px.Reset()
	log.waitFor(t, len(want), "lost /owners", "watching /owners")
	if c.SessionID() != id {
		t.Fatalf("session changed: %x -> %x", id, c.SessionID())
	}
	mark := len(log.snapshot())
	if _, err := writer.Create(ctx, "/owners/t/2", nil, zkwatch.FlagPersistent, nil); err != nil {
		t.Fatal(err)
	}
	log.waitFor(t, mark, "created /owners/t/2")

	// After stop no more callbacks.
	stop()
	mark = len(log.snapshot())
	if err := writer.Delete(ctx, "/owners/t/2", -1); err != nil {
		t.Fatal(err)
	}
	if ok, _, err := c.Exists(ctx, "/owners/t/2"); err != nil || ok {
		t.Fatalf("exists /owners/t/2 = %v, %v", ok, err)
	}
	if got := log.snapshot(); len(got) != mark {
		t.Fatalf("events after stop: %q", got[mark:])
	}
}
