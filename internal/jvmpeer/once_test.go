package jvmpeer

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestClasspath(t *testing.T) {
	if got := Classpath("/c/x-1", "/c/libs"); got != "/c/x-1:/c/libs/*" {
		t.Fatalf("Classpath = %q", got)
	}
}

func TestOnce(t *testing.T) {
	o := NewOnce[int]("p")
	ctx := context.Background()
	calls := 0
	boom := errors.New("boom")
	for i, c := range []struct {
		result int
		err    error
		want   int
		calls  int
	}{
		{0, boom, 0, 1}, // a failure is not remembered
		{7, nil, 7, 2},
		{8, nil, 7, 2}, // the first success is
	} {
		got, err := o.Do(ctx, func(context.Context) (int, error) { calls++; return c.result, c.err })
		if got != c.want || !errors.Is(err, c.err) || calls != c.calls {
			t.Errorf("call %d: %d, %v after %d builds; want %d, %v after %d", i, got, err, calls, c.want, c.err, c.calls)
		}
	}
}

// A caller waiting behind a running build gives up with its ctx.
func TestOnceWaitEndsWithCtx(t *testing.T) {
	o := NewOnce[int]("p")
	inside, release := make(chan struct{}), make(chan struct{})
	done := make(chan struct{})
	go func() { // ends when release is closed
		defer close(done)
		_, _ = o.Do(context.Background(), func(context.Context) (int, error) { close(inside); <-release; return 1, nil })
	}()
	<-inside
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := o.Do(ctx, func(context.Context) (int, error) { t.Error("a second build ran"); return 0, nil })
	close(release)
	<-done
	if !errors.Is(err, context.Canceled) || !strings.HasPrefix(err.Error(), "p: build: ") {
		t.Fatalf("Do with a done ctx behind a build: %v", err)
	}
	if v, err := o.Do(context.Background(), nil); v != 1 || err != nil {
		t.Fatalf("after the build: %d, %v", v, err)
	}
}
