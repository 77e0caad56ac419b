package main

import (
	"strings"
	"testing"
	"time"
)

// TestScenarioCommands runs both seed scenarios through the binary against
// the package's cluster: each exits 0 with its PASS line; the legacy run
// shows the seed's PartitionOwnedError first.
func TestScenarioCommands(t *testing.T) {
	shared.Get(t)
	shared.Get(t)
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"blocked-consume", []string{"--legacy-lock", "--messages", "200", "--idle", "1s", "--legacy-retries", "3", "--legacy-backoff", "200ms"},
			[]string{"legacy-B join FAILED", "PartitionOwnedError", "PASS blocked-consume", "lost 0, duplicates 0, overlap 0"}},
		{"slow-handler", []string{"--messages", "60", "--delay", "100ms"},
			[]string{"PASS slow-handler", "overlap 0", "no member expelled"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append(append([]string{"scenario", tc.name}, clusterArgs(t)...), tc.args...)
			r := runDemo(t, 4*time.Minute, args...)
			if r.code != 0 {
				t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(r.stdout, w) {
					t.Errorf("output lacks %q:\n%s", w, r.stdout)
				}
			}
		})
	}
	r := runDemo(t, time.Minute, append([]string{"scenario", "no-such"}, clusterArgs(t)...)...)
	if r.code != 2 || !strings.Contains(r.stderr, "unknown scenario") {
		t.Errorf("unknown scenario: exit %d, stderr %q", r.code, r.stderr)
	}
}
