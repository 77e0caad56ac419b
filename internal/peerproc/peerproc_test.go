package peerproc_test

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/zkbalance/zkbalance/internal/peerproc"
)

var errExited = errors.New("test: exited")

func start(t *testing.T, script string) *peerproc.Proc[string] {
	t.Helper()
	p, err := peerproc.Start(exec.Command("sh", "-c", script), peerproc.Config[string]{
		Parse:     func(line string, _ time.Time) string { return strings.ToUpper(line) },
		MaxStderr: 2,
		ErrExited: errExited,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Kill() })
	return p
}

func TestEventsStderrAndExit(t *testing.T) {
	p := start(t, "echo a; echo b; for i in 1 2 3 4 5 6; do echo e$i >&2; done; exit 3")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.Wait(ctx, func(evs []string) bool { return len(evs) == 2 }); err != nil {
		t.Fatal(err)
	}
	err := p.Wait(ctx, func(evs []string) bool { return len(evs) > 2 })
	if !errors.Is(err, errExited) {
		t.Fatalf("Wait past the exit = %v, want errExited", err)
	}
	if got := strings.Join(p.Events(), ","); got != "A,B" {
		t.Errorf("Events = %s, want A,B", got)
	}
	if !p.Exited() || p.ExitErr() == nil {
		t.Errorf("Exited %v, ExitErr %v: want exited with status 3", p.Exited(), p.ExitErr())
	}
	if got := p.Stderr(10); !strings.HasSuffix(got, "e5\ne6") || strings.Contains(got, "e1") {
		t.Errorf("Stderr(10) = %q, want the last lines only (at least 2, at most 4)", got)
	}
	if got := p.Stderr(1); got != "e6" {
		t.Errorf("Stderr(1) = %q, want e6", got)
	}
}

func TestTerminate(t *testing.T) {
	// Exits on SIGTERM.
	p := start(t, "trap 'echo bye; exit 0' TERM; echo up; while :; do sleep 0.05; done")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.Wait(ctx, func(evs []string) bool { return len(evs) > 0 }); err != nil {
		t.Fatal(err)
	}
	if p.Terminate(10 * time.Second) {
		t.Error("Terminate killed a process that exits on SIGTERM")
	}
	if p.Terminate(time.Millisecond) {
		t.Error("Terminate after the exit reported a kill")
	}
	// Ignores SIGTERM: killed after the grace.
	q := start(t, "trap '' TERM; echo up; while :; do sleep 0.05; done")
	if err := q.Wait(ctx, func(evs []string) bool { return len(evs) > 0 }); err != nil {
		t.Fatal(err)
	}
	if !q.Terminate(200 * time.Millisecond) {
		t.Error("Terminate did not report the kill of a process that ignores SIGTERM")
	}
	if !q.Exited() {
		t.Error("not exited after Terminate")
	}
}

func TestWaitContext(t *testing.T) {
	p := start(t, "sleep 30")
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := p.Wait(ctx, func([]string) bool { return false }); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait = %v, want the deadline", err)
	}
	if err := p.Kill(); err != nil || !p.Exited() {
		t.Fatalf("Kill = %v, exited %v", err, p.Exited())
	}
}

func TestFilter(t *testing.T) {
	got := peerproc.Filter([]int{1, 2, 3, 4}, func(i int) bool { return i%2 == 0 })
	if len(got) != 2 || got[0] != 2 || got[1] != 4 {
		t.Errorf("Filter = %v, want [2 4]", got)
	}
	if peerproc.Filter([]int{1}, func(int) bool { return false }) != nil {
		t.Error("Filter with no match is not nil")
	}
}
