// Package cmdtest builds the module's commands for their tests and runs
// them as processes: each binary is built once per test process (with the
// race detector) into a temp dir that the package's TestMain removes with
// Cleanup.
package cmdtest

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

var (
	dirOnce sync.Once
	dir     string
	dirErr  error
)

// Cleanup removes the binaries built so far; call it from TestMain after
// the tests ran.
func Cleanup() {
	if dir != "" {
		_ = os.RemoveAll(dir)
	}
}

// Binary is a command built on first use.
type Binary struct {
	pkg, name string
	once      sync.Once
	path      string
	err       error
}

// NewBinary is the command in package pkg (a path relative to the test's
// package directory, or an import path), built as name.
func NewBinary(pkg, name string) *Binary { return &Binary{pkg: pkg, name: name} }

// Path builds the binary (once; with -race) and returns its path; a failed
// build fails t with the compiler's output.
func (b *Binary) Path(t testing.TB) string {
	t.Helper()
	b.once.Do(func() {
		dirOnce.Do(func() { dir, dirErr = os.MkdirTemp("", "zkbalance-cmd-test-") })
		if dirErr != nil {
			b.err = dirErr
			return
		}
		b.path = filepath.Join(dir, b.name)
		out, err := exec.Command("go", "build", "-race", "-o", b.path, b.pkg).CombinedOutput()
		if err != nil {
			b.err = errors.New("go build " + b.pkg + ": " + err.Error() + "\n" + string(out))
		}
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

// Env is the environment the binaries run with: the test's, with the
// connection and password variables of cmd/zkbalance cleared so that only explicit flags
// count.
func Env() []string {
	return append(os.Environ(), "ZKBALANCE_ZOOKEEPER=", "ZKBALANCE_BROKERS=", "ZKBALANCE_ZK_PASSWORD=", "ZKBALANCE_SASL_PASSWORD=")
}

// Result is one finished run.
type Result struct {
	Stdout, Stderr string
	Code           int
}

// Run runs bin with args in dir and returns what it printed and its exit
// code; it fails t if bin cannot be run or does not finish within timeout.
func Run(t testing.TB, bin, dir string, timeout time.Duration, args ...string) Result {
	t.Helper()
	return RunEnv(t, bin, dir, timeout, nil, args...)
}

// RunEnv is Run with extra KEY=VALUE entries added to Env (they win over
// it), e.g. a password variable.
func RunEnv(t testing.TB, bin, dir string, timeout time.Duration, env []string, args ...string) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	cmd.Env = append(Env(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := Result{Stdout: out.String(), Stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.Code = ee.ExitCode()
	default:
		t.Fatalf("run %s %v: %v", filepath.Base(bin), args, err)
	}
	if ctx.Err() != nil {
		t.Fatalf("%s %v did not finish within %s\nstdout:\n%s\nstderr:\n%s", filepath.Base(bin), args, timeout, r.Stdout, r.Stderr)
	}
	return r
}
