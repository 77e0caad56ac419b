package cachedir_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zkbalance/zkbalance/internal/cachedir"
)

func TestEnsure(t *testing.T) {
	ctx := context.Background()
	base := t.TempDir()
	dir := filepath.Join(base, "sub", "thing-1")
	var fills atomic.Int32
	spec := cachedir.Spec{
		Dir:   dir,
		Stamp: []byte("v1\n"),
		Fill: func(_ context.Context, tmp string) error {
			fills.Add(1)
			if tmp != dir+".tmp" {
				t.Errorf("Fill got %s, want %s.tmp", tmp, dir)
			}
			time.Sleep(50 * time.Millisecond) // let the others wait for the lock
			return os.WriteFile(filepath.Join(tmp, "a"), []byte("x"), 0o644)
		},
	}
	// A leftover without the marker is replaced.
	if err := os.MkdirAll(filepath.Join(dir, "stale"), 0o755); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			if err := cachedir.Ensure(ctx, spec); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := fills.Load(); n != 1 {
		t.Errorf("Fill ran %d times, want 1", n)
	}
	if b, err := os.ReadFile(filepath.Join(dir, cachedir.Complete)); err != nil || string(b) != "v1\n" {
		t.Errorf("marker = %q, %v; want the stamp", b, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "a")); err != nil {
		t.Error(err)
	}
	for _, gone := range []string{filepath.Join(dir, "stale"), dir + ".tmp"} {
		if _, err := os.Stat(gone); !os.IsNotExist(err) {
			t.Errorf("%s: %v, want it gone", gone, err)
		}
	}
	if _, err := os.Stat(filepath.Join(base, "sub", ".thing-1.lock")); err != nil {
		t.Errorf("default lock file: %v", err)
	}
	if err := cachedir.Ensure(ctx, spec); err != nil || fills.Load() != 1 {
		t.Errorf("second Ensure: %v, fills %d; want nil and no fill", err, fills.Load())
	}
}

func TestEnsureErrors(t *testing.T) {
	ctx := context.Background()
	base := t.TempDir()
	errFill, errCheck := errors.New("fill"), errors.New("check")
	dir := filepath.Join(base, "d")
	err := cachedir.Ensure(ctx, cachedir.Spec{Dir: dir, Fill: func(context.Context, string) error { return errFill }})
	if !errors.Is(err, errFill) {
		t.Errorf("Ensure = %v, want the Fill error", err)
	}
	if _, err := os.Stat(dir + ".tmp"); !os.IsNotExist(err) {
		t.Errorf("tmp after a failed Fill: %v, want it gone", err)
	}
	err = cachedir.Ensure(ctx, cachedir.Spec{
		Dir:   dir,
		Lock:  filepath.Join(base, "my.lock"),
		Fill:  func(context.Context, string) error { return nil },
		Check: func(_ context.Context, d string) error { return errCheck },
	})
	if !errors.Is(err, errCheck) {
		t.Errorf("Ensure = %v, want the Check error", err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("dir after a failed Check: %v, want it gone", err)
	}
	if _, err := os.Stat(filepath.Join(base, "my.lock")); err != nil {
		t.Errorf("Spec.Lock not used: %v", err)
	}
}

func TestEnsureLockContext(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "d")
	hold, release, finished := make(chan struct{}), make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		_ = cachedir.Ensure(context.Background(), cachedir.Spec{Dir: dir, Fill: func(context.Context, string) error {
			close(hold)
			<-release
			return nil
		}})
	}()
	<-hold
	defer func() { close(release); <-finished }()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	err := cachedir.Ensure(ctx, cachedir.Spec{Dir: dir, Fill: func(context.Context, string) error { return nil }})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Ensure while locked = %v, want the deadline", err)
	}
}
