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
		{"blocked-consume", []string{"--legacy-lock", "--count", "200", "--idle", "1s", "--legacy-retries", "3", "--legacy-backoff", "200ms"},
			[]string{"legacy-B join FAILED", "PartitionOwnedError", "PASS blocked-consume", "lost 0, duplicates 0, overlap 0"}},
		{"slow-handler", []string{"--count", "60", "--delay", "100ms"},
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

// TestScenarioMigrate runs 'demo scenario migrate': the follow-mode members
// switch live to kafka and back, the timeline shows it, exit 0 with PASS.
func TestScenarioMigrate(t *testing.T) {
	shared.Get(t)
	args := append(append([]string{"scenario", "migrate"}, clusterArgs(t)...), "--dwell", "2s")
	r := runDemo(t, 3*time.Minute, args...)
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	for _, w := range []string{"toggle written: the mode znode says kafka", "A in kafka mode", "switch to zookeeper done",
		"PASS migrate", "lost 0, duplicates 0, overlap 0", "gap to kafka p50"} {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("output lacks %q:\n%s", w, r.stdout)
		}
	}
	if r := runDemo(t, time.Minute, append(append([]string{"scenario", "migrate"}, clusterArgs(t)...), "--members", "0")...); r.code != 2 {
		t.Errorf("--members 0: exit %d, stderr %q", r.code, r.stderr)
	}
}
