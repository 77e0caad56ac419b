package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/zkbalance/zkbalance/groupstate"
)

// defaultWatch is the interval of a bare --watch.
const defaultWatch = 2 * time.Second

// parseWatch parses --watch's interval: a Go duration ("200ms", "5s") or
// a number of seconds ("5", "0.5"), positive.
func parseWatch(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		f, ferr := strconv.ParseFloat(s, 64)
		if ferr != nil {
			return 0, fmt.Errorf("%q is not a duration (200ms, 2s) or a number of seconds", s)
		}
		d = time.Duration(f * float64(time.Second))
	}
	if d <= 0 {
		return 0, fmt.Errorf("%q: the interval must be positive", s)
	}
	return d, nil
}

// watchArgs rewrites a bare --watch (not followed by an interval) to
// --watch=2s and "--watch 5s" to --watch=5s, since the flag package wants
// a value for every non-boolean flag.
func watchArgs(args []string) []string {
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return append(out, args[i:]...)
		}
		if a != "--watch" && a != "-watch" {
			out = append(out, a)
			continue
		}
		if i+1 < len(args) {
			if looksLikeInterval(args[i+1]) { // "0" and "-1s" too: parseWatch says why not
				out = append(out, "--watch="+args[i+1])
				i++
				continue
			}
		}
		out = append(out, "--watch="+defaultWatch.String())
	}
	return out
}

// looksLikeInterval reports whether s is meant as --watch's interval: a
// duration or a number, valid or not.
func looksLikeInterval(s string) bool {
	if _, err := time.ParseDuration(s); err == nil {
		return true
	}
	_, err := strconv.ParseFloat(s, 64)
	return err == nil
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// watchConfig is how --watch draws.
type watchConfig struct {
	interval time.Duration
	json     bool // one JSON object per frame
	terminal bool // clear the screen before each frame
}

// clearScreen moves the cursor home and clears the screen (ANSI).
const clearScreen = "\x1b[H\x1b[2J"

// watchStatus reads the group with read every interval and draws a frame,
// until ctx is done (the interrupt): then it returns nil. The first read's
// error is returned; later ones are drawn as the frame and the watch goes
// on.
func watchStatus(ctx context.Context, w io.Writer, cfg watchConfig, read func(context.Context) (*groupstate.Status, error)) error {
	var prev map[rowKey]int64
	ticker := time.NewTicker(cfg.interval)
	defer ticker.Stop()
	for n := 0; ; n++ {
		st, err := read(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil && n == 0 {
			return err
		}
		now := time.Now().UTC()
		var buf bytes.Buffer // a frame is written at once
		switch {
		case err != nil && cfg.json:
			if n > 0 && !cfg.terminal {
				buf.WriteString("\n")
			}
			if err := writeJSON(&buf, watchError{Time: now, Error: err.Error()}); err != nil {
				return err
			}
		case err != nil:
			drawHeader(&buf, cfg, n, now)
			fmt.Fprintf(&buf, "read failed (retrying): %v\n", err)
		default:
			rows := statusRows(st.Partitions)
			prev = withLagChange(rows, prev)
			if err := drawFrame(&buf, cfg, n, now, st, rows); err != nil {
				return err
			}
		}
		if _, err := w.Write(buf.Bytes()); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
	}
}

// watchError is the JSON frame of a failed read.
type watchError struct {
	Time  time.Time `json:"time"`
	Error string    `json:"error"`
}

// drawHeader starts frame n: the screen cleared on a terminal, else a
// blank line between frames; then the time line (not with JSON, which has
// the time in the object).
func drawHeader(w io.Writer, cfg watchConfig, n int, now time.Time) {
	switch {
	case cfg.terminal && !cfg.json:
		io.WriteString(w, clearScreen)
	case n > 0:
		io.WriteString(w, "\n")
	}
	if !cfg.json {
		fmt.Fprintf(w, "%s%s, every %s (interrupt to stop)\n\n", watchTimePrefix, now.Format(time.RFC3339Nano), cfg.interval)
	}
}

// watchTimePrefix starts each frame's time line.
const watchTimePrefix = "status at "

// drawFrame draws one frame of a successful read.
func drawFrame(w io.Writer, cfg watchConfig, n int, now time.Time, st *groupstate.Status, rows []statusRow) error {
	if cfg.json {
		if n > 0 && !cfg.terminal {
			io.WriteString(w, "\n")
		}
		return writeJSON(w, statusJSON{Status: st, Rows: rows, Time: &now})
	}
	drawHeader(w, cfg, n, now)
	return printGroupStatus(w, st, rows, true)
}
