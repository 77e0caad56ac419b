// Package cli is what the two binaries, zkbalance (the ops tool for real
// clusters) and demo (the local cluster and the scenarios), share: the
// command dispatcher with its exit statuses, help texts and flag parsing,
// the connection flags, the env file 'demo up' writes, loggers and the
// metrics server.
//
// Exit statuses: 0 on success (and for --help), 1 on failure with a
// one-line reason on stderr, 2 on bad usage (ErrUsage).
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
)

// ErrUsage marks command-line mistakes: the dispatcher exits with status 2.
var ErrUsage = errors.New("usage")

// Usagef returns a usage error (exit status 2) with a formatted reason.
func Usagef(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrUsage, fmt.Sprintf(format, args...))
}

// Help is what a command's --help prints: "usage: " + Usage, then
// Description, Examples and the flags.
type Help struct {
	// Usage is the synopsis, e.g. "zkbalance status --group G [flags]";
	// further lines are alternatives.
	Usage string
	// Description says what the command does; paragraphs separated by
	// blank lines.
	Description string
	// Examples are command lines, one a line, each optionally followed by
	// "  # comment".
	Examples string
}

// Command is one subcommand of a binary.
type Command struct {
	Name    string
	Summary string // one line for the command list
	Help
	// Run parses args with fs (a FlagSet whose --help prints Help) and
	// runs the command, writing its results to stdout.
	Run func(ctx context.Context, fs *flag.FlagSet, args []string, stdout io.Writer) error
}

// App is a binary: a name and its commands.
type App struct {
	Name     string
	Summary  string // what the binary is for, first line of its usage
	Commands []Command
	Footer   string // printed after the command list
	// Explain, when set, rewrites a failed command's error before it is
	// printed (e.g. ExplainSecurity, to name the flags that fix it).
	Explain func(error) error
}

// Main runs the command named by args[0] and returns the exit status.
func (a *App) Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		a.usage(stderr)
		return 2
	}
	name := args[0]
	switch name {
	case "-h", "-help", "--help":
		a.usage(stdout)
		return 0
	case "help":
		if len(args) == 1 {
			a.usage(stdout)
			return 0
		}
		name, args = args[1], []string{args[1], "--help"}
	}
	for i := range a.Commands {
		c := &a.Commands[i]
		if c.Name != name {
			continue
		}
		fs := NewFlagSet(a.Name+" "+c.Name, c.Help)
		err := c.Run(ctx, fs, args[1:], stdout)
		switch {
		case err == nil, errors.Is(err, flag.ErrHelp):
			return 0
		case errors.Is(err, ErrUsage):
			fmt.Fprintf(stderr, "%s %s: %s\n", a.Name, c.Name, OneLine(err))
			return 2
		default:
			if a.Explain != nil {
				err = a.Explain(err)
			}
			fmt.Fprintf(stderr, "%s %s: %s\n", a.Name, c.Name, OneLine(err))
			return 1
		}
	}
	fmt.Fprintf(stderr, "%s: unknown command %q (run '%s help')\n", a.Name, name, a.Name)
	return 2
}

func (a *App) usage(w io.Writer) {
	fmt.Fprintf(w, "%s\n\nusage: %s <command> [flags]\n\ncommands:\n", a.Summary, a.Name)
	width := 0
	for _, c := range a.Commands {
		width = max(width, len(c.Name))
	}
	for _, c := range a.Commands {
		fmt.Fprintf(w, "  %-*s  %s\n", width, c.Name, c.Summary)
	}
	fmt.Fprintf(w, "\nRun '%s <command> --help' for its flags and examples.\n", a.Name)
	if a.Footer != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimSpace(a.Footer))
	}
}

// NewFlagSet makes a FlagSet named name whose --help prints h and the
// flags (see Parse).
func NewFlagSet(name string, h Help) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.Usage = func() {
		w := fs.Output()
		for i, line := range strings.Split(strings.TrimSpace(h.Usage), "\n") {
			if i == 0 {
				fmt.Fprintf(w, "usage: %s\n", line)
			} else {
				fmt.Fprintf(w, "       %s\n", strings.TrimSpace(line))
			}
		}
		if d := strings.TrimSpace(h.Description); d != "" {
			fmt.Fprintf(w, "\n%s\n", d)
		}
		if e := strings.TrimSpace(h.Examples); e != "" {
			fmt.Fprintln(w, "\nexamples:")
			for line := range strings.SplitSeq(e, "\n") {
				fmt.Fprintf(w, "  %s\n", strings.TrimSpace(line))
			}
		}
		n := 0
		fs.VisitAll(func(*flag.Flag) { n++ })
		if n > 0 {
			fmt.Fprintln(w, "\nflags:")
			fs.PrintDefaults()
		}
	}
	return fs
}

// Parse parses args with fs. --help prints fs's usage to stdout and
// returns flag.ErrHelp (exit status 0); a bad flag or a stray argument is
// a usage error with a one-line reason.
func Parse(fs *flag.FlagSet, args []string) error {
	fs.SetOutput(io.Discard) // the reason goes into the returned error
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		fs.SetOutput(os.Stdout)
		fs.Usage()
		return err
	}
	if err != nil {
		return fmt.Errorf("%w: %w (see --help)", ErrUsage, err)
	}
	if fs.NArg() > 0 {
		return Usagef("unexpected arguments %q", fs.Args())
	}
	return nil
}

// NewLogger logs to stderr, as text or JSON, from level up.
func NewLogger(json bool, level slog.Level) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if json {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}

// OneLine flattens a multi-line error (errors.Join) into one line, keeping
// it matchable with errors.Is.
func OneLine(err error) error {
	if err == nil || !strings.Contains(err.Error(), "\n") {
		return err
	}
	return oneLineError{err}
}

type oneLineError struct{ err error }

func (e oneLineError) Error() string { return strings.ReplaceAll(e.err.Error(), "\n", "; ") }
func (e oneLineError) Unwrap() error { return e.err }

// SplitList splits a comma-separated list, trimming items and dropping
// empty ones.
func SplitList(s string) []string {
	var out []string
	for v := range strings.SplitSeq(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}
