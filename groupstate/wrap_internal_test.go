package groupstate

import (
	"errors"
	"fmt"
	"testing"
)

func TestWrapfOnePrefix(t *testing.T) {
	inner := fmt.Errorf("%w: topic t does not exist", ErrBadReset)
	for _, c := range []struct {
		err  error
		want string
	}{
		{wrapf(inner, "reset offsets of group %s", "g"), "groupstate: reset offsets of group g: bad offset reset: topic t does not exist"},
		{wrapf(wrapf(fmt.Errorf("%w: /consumers/g", ErrNoGroup), "read group %s", "g"), "read coordination of %s", "g"),
			"groupstate: read coordination of g: read group g: no such group: /consumers/g"},
		{wrapf(errors.New("zkwatch: connection closed"), "list groups"), "groupstate: list groups: zkwatch: connection closed"},
	} {
		if got := c.err.Error(); got != c.want {
			t.Errorf("got %q, want %q", got, c.want)
		}
	}
	if err := wrapf(inner, "x"); !errors.Is(err, ErrBadReset) {
		t.Errorf("wrapf lost the sentinel: %v", err)
	}
}
