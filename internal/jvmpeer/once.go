package jvmpeer

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
)

// Classpath is the -cp value of a member: its classes directory, then
// every jar in libs.
func Classpath(classes, libs string) string {
	return classes + string(os.PathListSeparator) + filepath.Join(libs, "*")
}

// Once remembers the first successful result of a build in this process.
// Callers wait for one another through a one-slot semaphore, so a waiter
// can give up with its ctx; a failed build is tried again by the next call.
// Its zero value is not ready: use NewOnce.
type Once[T any] struct {
	pkg  string
	sem  chan struct{}
	done *T
}

// NewOnce returns a Once whose ctx errors are prefixed "<pkg>: build: ".
func NewOnce[T any](pkg string) *Once[T] {
	return &Once[T]{pkg: pkg, sem: make(chan struct{}, 1)}
}

// Do returns the remembered result, else runs build (one caller at a time)
// and remembers its result when it succeeds.
func (o *Once[T]) Do(ctx context.Context, build func(context.Context) (T, error)) (T, error) {
	var zero T
	select {
	case o.sem <- struct{}{}:
		defer func() { <-o.sem }()
	case <-ctx.Done():
		return zero, fmt.Errorf("%s: build: %w", o.pkg, context.Cause(ctx))
	}
	if o.done != nil {
		return *o.done, nil
	}
	v, err := build(ctx)
	if err != nil {
		return zero, err
	}
	o.done = &v
	return v, nil
}
