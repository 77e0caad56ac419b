package cli

import (
	"flag"
	"fmt"
	"log/slog"
	"time"
)

// CommonFlags are the flags every zkbalance command has, added the same
// way by AddCommonFlags: --log-json and --timeout.
type CommonFlags struct {
	logJSON *bool
	timeout time.Duration
}

// AddCommonFlags adds --log-json (log to stderr as JSON instead of text)
// and --timeout (a positive duration, default def) to fs; timeoutUsage
// says what the command bounds with it.
func AddCommonFlags(fs *flag.FlagSet, def time.Duration, timeoutUsage string) *CommonFlags {
	c := &CommonFlags{logJSON: fs.Bool("log-json", false, "log to stderr as JSON instead of text"), timeout: def}
	fs.Var((*timeoutValue)(&c.timeout), "timeout", timeoutUsage+" (a `duration`)")
	return c
}

// timeoutValue is --timeout's flag.Value: a positive duration, which
// String gives back (flag.Visit users copy flags by it: demo up --detach).
type timeoutValue time.Duration

func (v *timeoutValue) String() string {
	if v == nil || *v == 0 {
		return ""
	}
	return time.Duration(*v).String()
}

func (v *timeoutValue) Set(s string) error {
	d, err := time.ParseDuration(s)
	switch {
	case err != nil:
		return fmt.Errorf("%q is not a duration such as 30s or 2m", s)
	case d <= 0:
		return fmt.Errorf("must be positive (got %s)", s)
	}
	*v = timeoutValue(d)
	return nil
}

// Timeout is --timeout.
func (c *CommonFlags) Timeout() time.Duration { return c.timeout }

// LogJSON is --log-json.
func (c *CommonFlags) LogJSON() bool { return *c.logJSON }

// Logger logs to stderr from level up, as JSON with --log-json.
func (c *CommonFlags) Logger(level slog.Level) *slog.Logger { return NewLogger(*c.logJSON, level) }
