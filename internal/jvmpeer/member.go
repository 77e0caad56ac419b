package jvmpeer

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"time"

	"github.com/zkbalance/zkbalance/internal/peerproc"
)

// The event words both members print: "started <id>" once it is up,
// "error <exception>" for what it caught, "closed" before a clean exit.
const (
	KindStarted = "started"
	KindError   = "error"
	KindClosed  = "closed"
)

// jvmFlags are the java flags a member runs with: a small heap and a quick
// start.
var jvmFlags = []string{"-Xms32m", "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"}

// Command is the java command running class main from classpath with argv.
func Command(java, classpath, main string, argv []string) *exec.Cmd {
	args := append(append(append([]string{}, jvmFlags...), "-cp", classpath, main), argv...)
	return exec.Command(java, args...)
}

// Peer is what the shared member helpers know of a peer package's events.
type Peer[E any] struct {
	// Pkg prefixes errors ("javapeer").
	Pkg string
	// Proc reads the member's process (its Parse, MaxStderr, ErrExited).
	Proc peerproc.Config[E]
	// Kind is an event's first word (KindOther's for a line that did not
	// parse); Line its raw line.
	Kind func(E) string
	Line func(E) string
}

// Has reports whether evs hold an event of kind k.
func (p Peer[E]) Has(evs []E, k string) bool {
	for _, e := range evs {
		if p.Kind(e) == k {
			return true
		}
	}
	return false
}

// ErrorLines is the raw lines of evs' error events, each after a newline.
func (p Peer[E]) ErrorLines(evs []E) string {
	var b strings.Builder
	for _, e := range evs {
		if p.Kind(e) == KindError {
			b.WriteString("\n" + p.Line(e))
		}
	}
	return b.String()
}

// Start starts the JVM running class main from classpath with argv
// (Command) as a peerproc.Proc; the process runs until it exits, Terminate
// or Kill, in its own process group, killed when the calling process dies.
func (p Peer[E]) Start(java, classpath, main string, argv []string) (*peerproc.Proc[E], error) {
	proc, err := peerproc.Start(Command(java, classpath, main, argv), p.Proc)
	if err != nil {
		return nil, fmt.Errorf("%s: start %s: %w", p.Pkg, java, err)
	}
	return proc, nil
}

// WaitStarted waits until proc printed its started event. On failure it
// kills proc and returns an error naming m with proc's error lines and the
// tail of its stderr.
func (p Peer[E]) WaitStarted(ctx context.Context, proc *peerproc.Proc[E], m fmt.Stringer) error {
	err := proc.Wait(ctx, func(evs []E) bool { return p.Has(evs, KindStarted) })
	if err != nil {
		_ = proc.Kill()
		return fmt.Errorf("%s: %s did not start: %w%s\n%s", p.Pkg, m, err, p.ErrorLines(proc.Events()), proc.Stderr(40))
	}
	return nil
}

// Stop terminates proc (SIGTERM, SIGKILL after grace) and returns nil when
// it exited with status 0 after its closed event, also when that was
// before the call; else an error naming m (what is the thing the member
// closes: "consumer") with its error lines and the tail of its stderr.
func (p Peer[E]) Stop(proc *peerproc.Proc[E], grace time.Duration, m fmt.Stringer, what string) error {
	if proc.Terminate(grace) {
		return fmt.Errorf("%s: %s did not stop within %s after SIGTERM; killed%s\n%s", p.Pkg, m, grace, p.ErrorLines(proc.Events()), proc.Stderr(40))
	}
	if err := proc.ExitErr(); err != nil {
		return fmt.Errorf("%s: %s: %w%s\n%s", p.Pkg, m, err, p.ErrorLines(proc.Events()), proc.Stderr(40))
	}
	if !p.Has(proc.Events(), KindClosed) {
		return fmt.Errorf("%s: %s exited without closing its %s%s\n%s", p.Pkg, m, what, p.ErrorLines(proc.Events()), proc.Stderr(40))
	}
	return nil
}
