package cluster_test

import (
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/zkbalance/zkbalance/internal/cluster"
)

// fakeTB records what Shared.Get does to its test: Fatal and Skip end the
// calling goroutine, as testing's do.
type fakeTB struct {
	testing.TB
	fatal, skip string
}

func (f *fakeTB) Helper() {}

func (f *fakeTB) Fatal(args ...any) { f.fatal = fmt.Sprint(args...); runtime.Goexit() }

func (f *fakeTB) Skip(args ...any) { f.skip = fmt.Sprint(args...); runtime.Goexit() }

// get calls s.Get on a fakeTB in its own goroutine and returns the record.
func get(s *cluster.Shared) (*fakeTB, *cluster.Cluster) {
	f := &fakeTB{}
	var c *cluster.Cluster
	done := make(chan struct{})
	go func() {
		defer close(done)
		c = s.Get(f)
	}()
	<-done
	return f, c
}

// TestSharedGetFails: a Shared whose start fails (or that was closed before
// any Get) fails every Get with the reason and starts nothing; under -short
// every Get skips instead. No JVM is involved either way.
func TestSharedGetFails(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func() *cluster.Shared
		want  []string // in every Fatal
	}{
		{"start fails", func() *cluster.Shared { return cluster.NewShared(cluster.Config{Chroot: "kafka"}) },
			[]string{"start the real ZooKeeper + Kafka cluster", `chroot "kafka" must start`}},
		{"closed before use", func() *cluster.Shared {
			s := cluster.NewShared(cluster.Config{})
			s.Close()
			return s
		}, []string{"used after its tests ended"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.setup()
			defer s.Close()
			for i := range 2 {
				f, c := get(s)
				switch {
				case testing.Short():
					if f.skip != cluster.ShortSkip || f.fatal != "" {
						t.Errorf("Get %d under -short: skip %q, fatal %q; want skip %q", i, f.skip, f.fatal, cluster.ShortSkip)
					}
				case c != nil || f.skip != "":
					t.Errorf("Get %d: cluster %v, skip %q; want a failure", i, c, f.skip)
				default:
					for _, w := range tc.want {
						if !strings.Contains(f.fatal, w) {
							t.Errorf("Get %d: fatal %q lacks %q", i, f.fatal, w)
						}
					}
				}
			}
		})
	}
}
