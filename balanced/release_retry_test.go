package balanced

import (
	"errors"
	"fmt"
	"testing"

	"github.com/zkbalance/zkbalance/partition"
	"github.com/zkbalance/zkbalance/zkwatch"
)

func TestRetryableRelease(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{fmt.Errorf("zkwatch: multi: %w", zkwatch.ErrConnectionClosed), true},
		{errors.Join(fmt.Errorf("release /p: %w", zkwatch.ErrNoServer)), true},
		{fmt.Errorf("release /p: %w", partition.ErrNotHeld), false},
		{fmt.Errorf("release /p: %w", zkwatch.ErrNoAuth), false},
		{fmt.Errorf("release /p: %w", zkwatch.ErrBadVersion), false},
	} {
		if got := retryableRelease(c.err); got != c.want {
			t.Errorf("retryableRelease(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}
