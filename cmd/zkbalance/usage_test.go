package main

import (
	"strings"
	"testing"
	"time"
)

// TestUsage: the command list, --help of every command (usage,
// description, examples, flags on stdout, exit 0), 'help <command>',
// unknown commands (exit 2) and version.
func TestUsage(t *testing.T) {
	r := runBin(t, time.Minute, "help")
	if r.code != 0 || !strings.Contains(r.stdout, "usage: zkbalance <command>") {
		t.Errorf("zkbalance help: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if r = runBin(t, time.Minute); r.code != 2 || !strings.Contains(r.stderr, "usage: zkbalance <command>") {
		t.Errorf("zkbalance without a command: exit %d\nstderr:\n%s", r.code, r.stderr)
	}
	for _, cmd := range []string{"consume", "produce", "status", "migrate-offsets", "reset-offsets", "coordination", "version"} {
		for _, args := range [][]string{{cmd, "--help"}, {"help", cmd}} {
			r := runBin(t, time.Minute, args...)
			if r.code != 0 || !strings.HasPrefix(r.stdout, "usage: zkbalance "+cmd) || !strings.Contains(r.stdout, "\nexamples:\n  zkbalance "+cmd) {
				t.Errorf("zkbalance %v: exit %d; want the usage and examples on stdout\nstdout:\n%s\nstderr:\n%s", args, r.code, r.stdout, r.stderr)
			}
		}
	}
	for _, cmd := range []string{"up", "down", "scenario"} {
		if r := runBin(t, time.Minute, cmd); r.code != 2 || !strings.HasPrefix(r.stderr, `zkbalance: unknown command "`+cmd+`"`) {
			t.Errorf("zkbalance %s: exit %d, stderr %q; want exit 2, unknown command", cmd, r.code, r.stderr)
		}
	}
	r = runBin(t, time.Minute, "version")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "zkbalance ") || !strings.Contains(r.stdout, "Apache Kafka 3.9.2") {
		t.Errorf("zkbalance version: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}
