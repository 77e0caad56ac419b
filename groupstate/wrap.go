package groupstate

import (
	"fmt"
	"strings"
)

// wrapf wraps err with "groupstate: <format>: ", dropping the "groupstate: "
// prefixes of the errors it wraps from its message (they came from this
// package's own calls), so that the message carries the package prefix once.
// err stays matchable with errors.Is and errors.As.
func wrapf(err error, format string, args ...any) error {
	inner := strings.ReplaceAll(err.Error(), prefix, "")
	return &wrapped{msg: prefix + fmt.Sprintf(format, args...) + ": " + inner, err: err}
}

const prefix = "groupstate: "

// wrapped is wrapf's error.
type wrapped struct {
	msg string
	err error
}

func (e *wrapped) Error() string { return e.msg }
func (e *wrapped) Unwrap() error { return e.err }
