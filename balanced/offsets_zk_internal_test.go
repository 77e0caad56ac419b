package balanced

import (
	"errors"
	"testing"
)

// TestParseZooKeeperOffset covers what balanced adds to zkformat.ParseOffset
// (tested there): ErrBadOffset and its message.
func TestParseZooKeeperOffset(t *testing.T) {
	if off, err := parseZooKeeperOffset("/p", []byte("42")); err != nil || off != 42 {
		t.Fatalf("42: %d, %v", off, err)
	}
	for value, want := range map[string]string{
		"":    "balanced: malformed stored offset: /p is empty",
		"x":   `balanced: malformed stored offset: /p holds "x", not a decimal number`,
		"-3":  "balanced: malformed stored offset: /p holds the negative offset -3",
		"1e3": `balanced: malformed stored offset: /p holds "1e3", not a decimal number`,
	} {
		if _, err := parseZooKeeperOffset("/p", []byte(value)); !errors.Is(err, ErrBadOffset) || err.Error() != want {
			t.Errorf("%q: %v; want ErrBadOffset %q", value, err, want)
		}
	}
}
