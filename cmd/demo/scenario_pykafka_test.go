package main

import (
	"strings"
	"testing"
	"time"
)

// TestScenarioPeerPykafka runs blocked-consume with --peer pykafka through
// the binary: real pykafka 2.6.0 members first (A idles in consume() with
// no timeout, the newcomer B fails with PartitionOwnedError and stops; A
// never rebalanced), then the zkbalance members, which pass. Bad --peer
// values are usage errors.
func TestScenarioPeerPykafka(t *testing.T) {
	shared.Get(t)
	shared.Get(t)
	args := append(append([]string{"scenario", "blocked-consume", "--peer", "pykafka"}, clusterArgs(t)...),
		"--count", "200", "--idle", "1s", "--legacy-retries", "3", "--legacy-backoff", "200ms")
	r := runDemo(t, 6*time.Minute, args...)
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	for _, w := range []string{"pykafka 2.6.0 members", "pykafka-B join FAILED", "PartitionOwnedError",
		"pykafka-A still owns partitions 0,1,2,3,4", "PASS blocked-consume", "lost 0, duplicates 0, overlap 0",
		"pykafka 2.6.0 members: the newcomer failed with PartitionOwnedError"} {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("output lacks %q:\n%s", w, r.stdout)
		}
	}
	t.Logf("\n%s", r.stdout)

	r = runDemo(t, time.Minute, append([]string{"scenario", "blocked-consume", "--peer", "python"}, clusterArgs(t)...)...)
	if r.code != 2 || !strings.Contains(r.stderr, "--peer") {
		t.Errorf("--peer python: exit %d, stderr %q", r.code, r.stderr)
	}
}
