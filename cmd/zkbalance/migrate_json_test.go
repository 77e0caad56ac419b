package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"
)

// TestMigrateOffsetsJSON: migrate-offsets --json, dry run and --apply,
// against the real cluster; a refused migration prints no JSON.
func TestMigrateOffsetsJSON(t *testing.T) {
	shared.Get(t)
	ctx := stCtx(t, 5*time.Minute)
	conn := stDial(t, ctx)
	topic := stTopic(t, ctx, 10, 10)
	group := stName(t, "g")
	g := "/consumers/" + group
	stPut(t, ctx, conn, g+"/offsets/"+topic+"/0", "7", false)
	stPut(t, ctx, conn, g+"/offsets/"+topic+"/1", "3", false)

	type change struct {
		Topic     string `json:"topic"`
		Partition int32  `json:"partition"`
		From      int64  `json:"from"`
		To        int64  `json:"to"`
		Applied   bool   `json:"applied"`
	}
	type out struct {
		Group       string   `json:"group"`
		Source      string   `json:"source"`
		Destination string   `json:"destination"`
		DryRun      bool     `json:"dry_run"`
		Changes     []change `json:"changes"`
		Error       *string  `json:"error"`
	}
	migrate := func(args ...string) (out, result) {
		t.Helper()
		r := runBin(t, 2*time.Minute, append(append([]string{"migrate-offsets", "--group", group, "--json"}, args...), clusterArgs(t)...)...)
		var o out
		if r.code == 0 {
			if err := json.Unmarshal([]byte(r.stdout), &o); err != nil {
				t.Fatalf("migrate-offsets %v --json: %v\n%s", args, err, r.stdout)
			}
		}
		t.Logf("migrate-offsets %v --json: exit %d\n%s%s", args, r.code, r.stdout, r.stderr)
		return o, r
	}
	want := func(applied bool) []change {
		return []change{{topic, 0, -1, 7, applied}, {topic, 1, -1, 3, applied}}
	}
	eq := func(a, b []change) bool {
		return fmt.Sprint(a) == fmt.Sprint(b)
	}

	o, r := migrate()
	if r.code != 0 || o.Group != group || o.Source != "zookeeper" || o.Destination != "kafka" || !o.DryRun || o.Error != nil || !eq(o.Changes, want(false)) {
		t.Errorf("dry run: %+v", o)
	}
	if got := stKafkaCommitted(t, group, topic, 2); len(got) != 0 {
		t.Errorf("after the dry run kafka holds %v", got)
	}
	o, r = migrate("--apply")
	if r.code != 0 || o.DryRun || !eq(o.Changes, want(true)) {
		t.Errorf("--apply: %+v", o)
	}
	if got := stKafkaCommitted(t, group, topic, 2); !maps.Equal(got, map[int32]int64{0: 7, 1: 3}) {
		t.Errorf("after --apply kafka holds %v", got)
	}
	o, r = migrate("--apply")
	if r.code != 0 || o.Changes == nil || len(o.Changes) != 0 || !strings.Contains(r.stdout, `"changes": []`) {
		t.Errorf("nothing to change: %+v\n%s", o, r.stdout)
	}
	o, r = migrate("--to", "zookeeper")
	if r.code != 0 || o.Source != "kafka" || o.Destination != "zookeeper" || len(o.Changes) != 0 {
		t.Errorf("--to zookeeper (equal offsets): %+v", o)
	}

	// A registered member: refused, exit 1, the reason on stderr, no JSON.
	stPut(t, ctx, conn, g+"/ids/"+group+"_h-1-0000beef", fmt.Sprintf(`{"version":1,"subscription":{%q:1},"pattern":"static","timestamp":"1"}`, topic), true)
	_, r = migrate()
	if r.code != 1 || r.stdout != "" || !strings.Contains(r.stderr, "live members") {
		t.Errorf("live member: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
}
