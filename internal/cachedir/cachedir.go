// Package cachedir makes a directory of the harness's cache once per
// machine: under a file lock, so concurrent processes wait for one maker,
// filled in <dir>.tmp and renamed into place with a .complete marker, so a
// half-made directory is never used. The jar cache (internal/cluster), the
// compiled JVM members (internal/jvmpeer, for internal/javapeer and
// internal/scalapeer) and the pykafka venvs (internal/pykafka) are made
// with it.
package cachedir

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// Complete is the marker file in a finished directory.
const Complete = ".complete"

// Spec describes one cached directory.
type Spec struct {
	// Dir is the finished directory.
	Dir string
	// Lock is the lock file; empty means .<base of Dir>.lock next to Dir.
	Lock string
	// Stamp is written to Dir/.complete (what the directory was made from).
	Stamp []byte
	// Fill makes the contents in tmp (Dir + ".tmp", created empty).
	Fill func(ctx context.Context, tmp string) error
	// Check, if set, checks Dir after the rename, still under the lock; on
	// its error Dir is removed.
	Check func(ctx context.Context, dir string) error
}

// Ensure returns nil at once when s.Dir holds the .complete marker.
// Otherwise it takes the lock (waiting for it until ctx is done), and,
// unless another process finished meanwhile, runs s.Fill on an empty
// Dir.tmp, writes the marker there, replaces Dir (a leftover without the
// marker) by it and runs s.Check. Errors of Fill and Check are returned as
// they are.
func Ensure(ctx context.Context, s Spec) error {
	done := filepath.Join(s.Dir, Complete)
	if _, err := os.Stat(done); err == nil {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(s.Dir), 0o755); err != nil {
		return fmt.Errorf("cachedir: %w", err)
	}
	lockPath := s.Lock
	if lockPath == "" {
		lockPath = filepath.Join(filepath.Dir(s.Dir), "."+filepath.Base(s.Dir)+".lock")
	}
	lock, err := os.OpenFile(lockPath, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return fmt.Errorf("cachedir: lock: %w", err)
	}
	defer lock.Close()
	if err := flock(ctx, lock); err != nil {
		return fmt.Errorf("cachedir: lock %s: %w", lockPath, err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN) //nolint:errcheck
	if _, err := os.Stat(done); err == nil {
		return nil // another process finished while we waited
	}
	tmp := s.Dir + ".tmp"
	if err := os.RemoveAll(tmp); err != nil {
		return fmt.Errorf("cachedir: %w", err)
	}
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return fmt.Errorf("cachedir: %w", err)
	}
	if err := s.Fill(ctx, tmp); err != nil {
		_ = os.RemoveAll(tmp)
		return err
	}
	if err := os.WriteFile(filepath.Join(tmp, Complete), s.Stamp, 0o644); err != nil {
		return fmt.Errorf("cachedir: %w", err)
	}
	if err := os.RemoveAll(s.Dir); err != nil { // a leftover without .complete
		return fmt.Errorf("cachedir: %w", err)
	}
	if err := os.Rename(tmp, s.Dir); err != nil {
		return fmt.Errorf("cachedir: %w", err)
	}
	if s.Check != nil {
		if err := s.Check(ctx, s.Dir); err != nil {
			_ = os.RemoveAll(s.Dir)
			return err
		}
	}
	return nil
}

// flock takes an exclusive lock on f, giving up when ctx is done.
func flock(ctx context.Context, f *os.File) error {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return nil
		}
		if err != syscall.EWOULDBLOCK {
			return err
		}
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-time.After(200 * time.Millisecond):
		}
	}
}
