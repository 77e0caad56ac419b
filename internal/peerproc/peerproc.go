// Package peerproc runs one peer program (a Java or pykafka test member) as
// a child process: in its own process group, killed when the calling process
// dies, its stdout lines parsed into events as they come and the tail of its
// stderr kept. The peer packages (internal/javapeer, internal/pykafka) parse
// their own lines and build their waits on Proc.Wait.
package peerproc

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Config says how a Proc reads its process.
type Config[E any] struct {
	// Parse turns one stdout line, read at at, into an event.
	Parse func(line string, at time.Time) E
	// MaxStderr is how many stderr lines the Proc keeps (at least).
	MaxStderr int
	// ErrExited is what Wait wraps when the process exits before its
	// condition holds (the peer package's sentinel).
	ErrExited error
}

// Proc is one running peer process and the events of its stdout.
type Proc[E any] struct {
	cfg  Config[E]
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited and its output is read

	mu      sync.Mutex
	events  []E
	changed chan struct{} // closed and replaced on every new event
	stderr  []string
	exitErr error
}

// Start starts cmd (not yet started, Stdout and Stderr unset) in its own
// process group with SIGKILL as its parent-death signal, and reads its
// stdout (into events, by cfg.Parse) and stderr until it exits. The process
// runs until it exits, Terminate or Kill.
func Start[E any](cmd *exec.Cmd, cfg Config[E]) (*Proc[E], error) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &Proc[E]{cfg: cfg, cmd: cmd, done: make(chan struct{}), changed: make(chan struct{})}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); p.readStdout(stdout) }()
	go func() { defer wg.Done(); p.readStderr(stderr) }()
	go func() { // owned by the process: ends when it has exited
		wg.Wait()
		err := cmd.Wait()
		p.mu.Lock()
		p.exitErr = err
		p.mu.Unlock()
		close(p.done)
	}()
	return p, nil
}

func (p *Proc[E]) readStdout(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	for sc.Scan() {
		ev := p.cfg.Parse(sc.Text(), time.Now())
		p.mu.Lock()
		p.events = append(p.events, ev)
		close(p.changed)
		p.changed = make(chan struct{})
		p.mu.Unlock()
	}
	_, _ = io.Copy(io.Discard, r)
}

func (p *Proc[E]) readStderr(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	for sc.Scan() {
		p.mu.Lock()
		p.stderr = append(p.stderr, sc.Text())
		if len(p.stderr) > 2*p.cfg.MaxStderr {
			p.stderr = slices.Clone(p.stderr[len(p.stderr)-p.cfg.MaxStderr:])
		}
		p.mu.Unlock()
	}
	_, _ = io.Copy(io.Discard, r)
}

// Pid is the process id (also its process group id).
func (p *Proc[E]) Pid() int { return p.cmd.Process.Pid }

// Events returns a copy of every event so far, in order.
func (p *Proc[E]) Events() []E {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.events)
}

// Wait returns nil once cond holds for the events so far (checked after
// each new event), the Config's ErrExited when the process exits first (cond
// is checked on the final events before), or the cause when ctx is done.
// cond must not keep or change the slice.
func (p *Proc[E]) Wait(ctx context.Context, cond func(events []E) bool) error {
	for {
		p.mu.Lock()
		evs, changed := p.events, p.changed
		p.mu.Unlock()
		if cond(evs[:len(evs):len(evs)]) {
			return nil
		}
		select {
		case <-changed:
		case <-p.done:
			if cond(p.Events()) {
				return nil
			}
			return fmt.Errorf("%w (%v)", p.cfg.ErrExited, p.ExitErr())
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
}

// Done is closed when the process has exited.
func (p *Proc[E]) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has exited.
func (p *Proc[E]) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// ExitErr is the process's exit status (nil for status 0) once it exited.
func (p *Proc[E]) ExitErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.exitErr
}

// Terminate sends SIGTERM to the process group, unless the process has
// exited, and waits for the exit; after grace it sends SIGKILL, waits for
// the exit and reports killed.
func (p *Proc[E]) Terminate(grace time.Duration) (killed bool) {
	if p.Exited() {
		return false
	}
	_ = syscall.Kill(-p.Pid(), syscall.SIGTERM)
	select {
	case <-p.done:
		return false
	case <-time.After(grace):
		_ = syscall.Kill(-p.Pid(), syscall.SIGKILL)
		<-p.done
		return true
	}
}

// Kill sends SIGKILL to the process group, unless the process has exited,
// and waits for the exit.
func (p *Proc[E]) Kill() error {
	if !p.Exited() {
		_ = syscall.Kill(-p.Pid(), syscall.SIGKILL)
	}
	<-p.done
	return nil
}

// Stderr returns the last n lines the process wrote to stderr.
func (p *Proc[E]) Stderr(n int) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	lines := p.stderr
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Filter returns the events of evs that keep accepts, in order (nil when none).
func Filter[E any](evs []E, keep func(E) bool) []E {
	var out []E
	for _, e := range evs {
		if keep(e) {
			out = append(out, e)
		}
	}
	return out
}
