package jvmpeer

import (
	"context"
	"errors"
	"io/fs"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zkbalance/zkbalance/internal/peerproc"
)

// ev is a stand-in event: the first word and the line.
type ev struct{ kind, line string }

func parse(line string, _ time.Time) ev {
	w, _, _ := strings.Cut(line, " ")
	return ev{w, line}
}

var testPeer = Peer[ev]{Pkg: "p", Kind: func(e ev) string { return e.kind }, Line: func(e ev) string { return e.line }}

var errExited = errors.New("p: member exited")

func TestCommand(t *testing.T) {
	cmd := Command("/j/java", "/c:/l/*", "Member", []string{"a", "b"})
	want := []string{"/j/java", "-Xms32m", "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-cp", "/c:/l/*", "Member", "a", "b"}
	if cmd.Path != "/j/java" || !slices.Equal(cmd.Args, want) {
		t.Fatalf("Command: %s %q, want %q", cmd.Path, cmd.Args, want)
	}
	if Command("j", "c", "M", nil); !slices.Equal(jvmFlags, want[1:5]) {
		t.Fatalf("Command changed jvmFlags: %q", jvmFlags)
	}
}

func TestHasAndErrorLines(t *testing.T) {
	for _, c := range []struct {
		lines      []string
		hasStarted bool
		errors     string
	}{
		{nil, false, ""},
		{[]string{"started x", "msg t 0 1"}, true, ""},
		{[]string{"error a: b", "started x", "error c <- d: e"}, true, "\nerror a: b\nerror c <- d: e"},
		{[]string{"errors x", "startedx"}, false, ""},
	} {
		var evs []ev
		for _, l := range c.lines {
			evs = append(evs, parse(l, time.Time{}))
		}
		if got := testPeer.Has(evs, KindStarted); got != c.hasStarted {
			t.Errorf("%q: Has(started) = %v", c.lines, got)
		}
		if got := testPeer.ErrorLines(evs); got != c.errors {
			t.Errorf("%q: ErrorLines = %q, want %q", c.lines, got, c.errors)
		}
	}
}

type name string

func (n name) String() string { return string(n) }

func start(t *testing.T, script string) *peerproc.Proc[ev] {
	t.Helper()
	p, err := peerproc.Start(exec.Command("sh", "-c", script), peerproc.Config[ev]{Parse: parse, MaxStderr: 10, ErrExited: errExited})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Kill() })
	return p
}

func TestStop(t *testing.T) {
	for _, c := range []struct {
		script string
		want   string // "" for nil, else a part of the error
	}{
		// Exited before the call.
		{"echo started x; echo closed", ""},
		{"echo started x", "m exited without closing its consumer"},
		{"echo 'error E: boom' ; echo oops >&2; exit 3", "p: m: exit status 3\nerror E: boom\noops"},
		// Still running: SIGTERM ends it, and that is its exit status.
		{"echo started x; echo closed; exec sleep 60", "p: m: signal: terminated"},
	} {
		p := start(t, c.script)
		if !strings.Contains(c.script, "sleep") {
			<-p.Done()
		} else {
			_ = p.Wait(context.Background(), func(evs []ev) bool { return testPeer.Has(evs, KindClosed) })
		}
		err := testPeer.Stop(p, 10*time.Second, name("m"), "consumer")
		if c.want == "" {
			if err != nil {
				t.Errorf("%s: Stop: %v", c.script, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: Stop: %v, want one containing %q", c.script, err, c.want)
		}
	}
}

func TestStopKills(t *testing.T) {
	p := start(t, "trap '' TERM; echo started x; while :; do sleep 0.1; done")
	_ = p.Wait(context.Background(), func(evs []ev) bool { return len(evs) > 0 })
	err := testPeer.Stop(p, 200*time.Millisecond, name("m"), "consumer")
	if err == nil || !strings.Contains(err.Error(), "p: m did not stop within 200ms after SIGTERM; killed") {
		t.Fatalf("Stop of a member ignoring SIGTERM: %v", err)
	}
}

func TestWaitStarted(t *testing.T) {
	if err := testPeer.WaitStarted(context.Background(), start(t, "echo started x; exec sleep 60"), name("m")); err != nil {
		t.Fatalf("WaitStarted: %v", err)
	}
	p := start(t, "echo 'error E: no' ; echo why >&2")
	err := testPeer.WaitStarted(context.Background(), p, name("m"))
	if !errors.Is(err, errExited) || !strings.Contains(err.Error(), "p: m did not start: ") || !strings.Contains(err.Error(), "\nerror E: no\nwhy") {
		t.Fatalf("WaitStarted of a member that exits: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	p = start(t, "exec sleep 60")
	if err := testPeer.WaitStarted(ctx, p, name("m")); !errors.Is(err, context.DeadlineExceeded) || !p.Exited() {
		t.Fatalf("WaitStarted past its ctx: %v (exited %v), want DeadlineExceeded and the process killed", err, p.Exited())
	}
}

func TestStartMissingJava(t *testing.T) {
	p := testPeer
	p.Proc = peerproc.Config[ev]{Parse: parse, MaxStderr: 10, ErrExited: errExited}
	_, err := p.Start("/nonexistent/java", "c", "M", nil)
	if err == nil || !strings.HasPrefix(err.Error(), "p: start /nonexistent/java: ") || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Start of a missing java: %v", err)
	}
}
