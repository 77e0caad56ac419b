package bench_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/zkbalance/zkbalance/test/bench"
)

// failure is a join or settle that did not succeed: reason is short and
// shared by like failures (the report groups them), detail is logged.
type failure struct{ reason, detail string }

func (f *failure) Error() string { return f.reason + ": " + f.detail }

func failf(reason, format string, args ...any) error {
	return &failure{reason: reason, detail: fmt.Sprintf(format, args...)}
}

func reason(err error) string {
	var f *failure
	if errors.As(err, &f) {
		return f.reason
	}
	return err.Error()
}

// joinGroup is one contender's group for the latency measurement.
type joinGroup interface {
	// form starts n members in a new group and waits until it settled.
	form(ctx context.Context, n int) error
	// join starts one member and returns the time until every partition
	// was owned by its assigned member and fetching (and, where the
	// contender shows it apart, until owned).
	join(ctx context.Context) (fetching, owned time.Duration, err error)
	// leave stops the joiner and waits until the others settled.
	leave(ctx context.Context) error
	// close stops every member.
	close(ctx context.Context) error
}

// maxConsecutiveFailures ends a size's joins early.
const maxConsecutiveFailures = 3

// runLatency forms a group of n, then joins (and leaves) `joins` times.
// A join that does not converge within the bound, or a leave after which
// the group does not settle, re-forms the group (new name) before the next
// join.
func runLatency(t *testing.T, ctx context.Context, l bench.Latency, g joinGroup, joins int) bench.Latency {
	bound := *flagJoinTimeout
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
		defer cancel()
		if err := g.close(cctx); err != nil {
			t.Logf("latency %s: closing the group: %v", l.Contender, err)
		}
	}()
	form := func() error {
		fctx, cancel := context.WithTimeout(ctx, 2*bound)
		defer cancel()
		start := time.Now()
		err := g.form(fctx, l.Members)
		t.Logf("latency %s (%s): group of %d formed in %s (err %v)", l.Contender, l.Variant, l.Members, time.Since(start).Round(time.Millisecond), err)
		return err
	}
	if err := form(); err != nil {
		l.Err = "the group did not form: " + reason(err)
		t.Logf("latency %s (%s) %d x %d: %v", l.Contender, l.Variant, l.Members, l.Partitions, err)
		return l
	}
	consecutive, reformed := 0, 0
	for i := range joins {
		if ctx.Err() != nil {
			l.Note = fmt.Sprintf("stopped after %d joins: %v", i, context.Cause(ctx))
			break
		}
		jctx, cancel := context.WithTimeout(ctx, bound)
		l.Attempted++
		fetching, owned, err := g.join(jctx)
		cancel()
		if err == nil {
			t.Logf("latency %s (%s) %d x %d, join %d: fetching after %s (owned %s)", l.Contender, l.Variant, l.Members, l.Partitions, i,
				fetching.Round(time.Millisecond), owned.Round(time.Millisecond))
			consecutive = 0
			l.Fetching = append(l.Fetching, fetching)
			if owned > 0 {
				l.Owned = append(l.Owned, owned)
			}
			lctx, cancel := context.WithTimeout(ctx, bound)
			err = g.leave(lctx)
			cancel()
			if err == nil {
				continue
			}
			t.Logf("latency %s (%s) %d x %d, join %d: after the leave: %v", l.Contender, l.Variant, l.Members, l.Partitions, i, err)
			l.Note = appendNote(l.Note, "a group did not settle after a leave: "+reason(err))
		} else {
			consecutive++
			l.Failures = append(l.Failures, reason(err))
			t.Logf("latency %s (%s) %d x %d, join %d: %v", l.Contender, l.Variant, l.Members, l.Partitions, i, err)
			if consecutive >= maxConsecutiveFailures {
				l.Note = appendNote(l.Note, fmt.Sprintf("stopped after %d consecutive failed joins", consecutive))
				break
			}
		}
		if i == joins-1 {
			break
		}
		cctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		_ = g.close(cctx)
		cancel()
		reformed++
		if err := form(); err != nil {
			l.Note = appendNote(l.Note, "the group did not re-form: "+reason(err))
			break
		}
	}
	if reformed > 0 {
		l.Note = appendNote(l.Note, fmt.Sprintf("group re-formed %d times", reformed))
	}
	return l
}

func appendNote(note, s string) string {
	if note == "" {
		return s
	}
	return note + "; " + s
}
