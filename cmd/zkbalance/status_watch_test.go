package main

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zkbalance/zkbalance/internal/cluster"
)

// stZKGroup registers a Scala-layout member of a new group subscribed to
// topic and other, owning partitions 0 and 1 of topic, with ZooKeeper
// offsets 4 (p0) and 1 (p1) and none for p2, and offset 1 for other's p0.
// It returns the group and the member id.
func stZKGroup(t *testing.T, topic, other string) (string, string) {
	t.Helper()
	ctx := stCtx(t, 2*time.Minute)
	conn := stDial(t, ctx)
	group := stName(t, "g")
	g := "/consumers/" + group
	member := group + "_testhost-1700000000000-0a1b2c3d"
	stPut(t, ctx, conn, g+"/ids/"+member, fmt.Sprintf(`{"version":1,"subscription":{%q:2,%q:1},"pattern":"static","timestamp":"1700000000000"}`, topic, other), true)
	stPut(t, ctx, conn, g+"/owners/"+topic+"/0", member+"-0", true)
	stPut(t, ctx, conn, g+"/owners/"+topic+"/1", member+"-1", true)
	stPut(t, ctx, conn, g+"/offsets/"+topic+"/0", "4", false)
	stPut(t, ctx, conn, g+"/offsets/"+topic+"/1", "1", false)
	stPut(t, ctx, conn, g+"/offsets/"+other+"/0", "1", false)
	return group, member
}

// hasRowOf reports whether a line of out starts with topic's name (a row
// of the partition table).
func hasRowOf(out, topic string) bool {
	for line := range strings.SplitSeq(out, "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] == topic {
			return true
		}
	}
	return false
}

// TestStatusTable: the partition table of a ZooKeeper group with a member
// and committed offsets, a partition with nothing committed ("-"), the
// --topic filter, and the rows of --json with null for unknown.
func TestStatusTable(t *testing.T) {
	ctx := stCtx(t, 5*time.Minute)
	topic := stTopic(t, ctx, 6, 2, 5)
	other := stTopic(t, ctx, 3)
	group, member := stZKGroup(t, topic, other)

	r := runBin(t, 2*time.Minute, append([]string{"status", "--group", group}, clusterArgs(t)...)...)
	if r.code != 0 {
		t.Fatalf("status: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	t.Logf("status:\n%s", r.stdout)
	rows := [][]string{
		{"TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG", "OWNER", "STORE"},
		{topic, "0", "4", "6", "2", member + "-0", "zookeeper"},
		{topic, "1", "1", "2", "1", member + "-1", "zookeeper"},
		{topic, "2", "-", "5", "-", "-", "-"}, // nothing committed, not owned
		{other, "0", "1", "3", "2", "-", "zookeeper"},
	}
	for _, row := range rows {
		if !containsFields(r.stdout, row...) {
			t.Errorf("status lacks the row %q", row)
		}
	}
	for _, want := range []string{"group " + group + ": layout scala, offsets in zookeeper, 1 member(s), coordination zookeeper",
		"TOTAL: 4 partition(s), 2 owned, 3 committed, log end 16, lag 5"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("status lacks %q", want)
		}
	}

	// --topic: only that topic's rows.
	r = runBin(t, 2*time.Minute, append([]string{"status", "--group", group, "--topic", other}, clusterArgs(t)...)...)
	t.Logf("status --topic %s:\n%s", other, r.stdout)
	if r.code != 0 || !containsFields(r.stdout, rows[4]...) || hasRowOf(r.stdout, topic) ||
		!strings.Contains(r.stdout, "TOTAL: 1 partition(s), 0 owned, 1 committed, log end 3, lag 2") {
		t.Errorf("status --topic %s: exit %d\nstdout:\n%s\nstderr:\n%s", other, r.code, r.stdout, r.stderr)
	}
	r = runBin(t, 2*time.Minute, append([]string{"status", "--group", group, "--topic", topic, "--topic", "st-nosuch"}, clusterArgs(t)...)...)
	if r.code != 0 || !containsFields(r.stdout, rows[1]...) || !containsFields(r.stdout, rows[3]...) || hasRowOf(r.stdout, other) ||
		!strings.Contains(r.stdout, "warning: --topic st-nosuch: the group has no partition of it") {
		t.Errorf("status --topic %s --topic st-nosuch: exit %d\nstdout:\n%s\nstderr:\n%s", topic, r.code, r.stdout, r.stderr)
	}

	// --json: rows with null for unknown, filtered too.
	r = runBin(t, 2*time.Minute, append([]string{"status", "--group", group, "--topic", topic, "--json"}, clusterArgs(t)...)...)
	if r.code != 0 {
		t.Fatalf("status --json: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	var js struct {
		Rows       []map[string]any `json:"rows"`
		Partitions []struct {
			Topic string `json:"topic"`
		} `json:"partitions"`
		Totals struct {
			Partitions int `json:"partitions"`
		} `json:"totals"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &js); err != nil {
		t.Fatalf("status --json: %v\n%s", err, r.stdout)
	}
	t.Logf("status --json rows: %v", js.Rows)
	wantRows := []string{
		fmt.Sprintf(`{"current_offset":4,"lag":2,"log_end_offset":6,"owner":%q,"partition":0,"store":"zookeeper","topic":%q}`, member+"-0", topic),
		fmt.Sprintf(`{"current_offset":1,"lag":1,"log_end_offset":2,"owner":%q,"partition":1,"store":"zookeeper","topic":%q}`, member+"-1", topic),
		fmt.Sprintf(`{"current_offset":null,"lag":null,"log_end_offset":5,"owner":null,"partition":2,"store":null,"topic":%q}`, topic),
	}
	if len(js.Rows) != len(wantRows) || len(js.Partitions) != 3 || js.Totals.Partitions != 3 {
		t.Fatalf("status --json: %d rows, %d partitions, totals %d; want 3:\n%s", len(js.Rows), len(js.Partitions), js.Totals.Partitions, r.stdout)
	}
	for i, row := range js.Rows {
		b, _ := json.Marshal(row) // map keys sorted
		if string(b) != wantRows[i] {
			t.Errorf("row %d: %s\nwant   %s", i, b, wantRows[i])
		}
	}
}

// TestStatusWatch: --watch 200ms on a non-terminal prints frames with a
// time line each; after more messages are produced a frame shows the lag
// change; SIGINT ends it with exit 0.
func TestStatusWatch(t *testing.T) {
	cl := shared.Get(t)
	ctx := stCtx(t, 5*time.Minute)
	topic := stTopic(t, ctx, 6, 2, 5)
	other := stTopic(t, ctx, 3)
	group, member := stZKGroup(t, topic, other)

	d := startBin(t, 3*time.Minute, append([]string{"status", "--group", group, "--topic", topic, "--watch", "200ms"}, clusterArgs(t)...)...)
	waitOut := func(what string, ok func(string) bool) string {
		t.Helper()
		deadline := time.Now().Add(time.Minute)
		for time.Now().Before(deadline) && !d.exited() {
			if out := d.stdout.String(); ok(out) {
				return out
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatalf("watch: no %s (exited %v)\nstdout:\n%s\nstderr:\n%s", what, d.exited(), d.stdout.String(), d.stderr.String())
		return ""
	}
	first := []string{topic, "0", "4", "6", "2", "-", member + "-0", "zookeeper"}
	waitOut("first frame", func(out string) bool { return containsFields(out, first...) })

	// 3 more messages on partition 0: its lag goes from 2 to 5.
	msgs := make([]cluster.Message, 3)
	for i := range msgs {
		msgs[i] = cluster.Message{Partition: 0, Value: fmt.Appendf(nil, "more-%d", i)}
	}
	if _, err := cl.Produce(ctx, topic, msgs); err != nil {
		t.Fatal(err)
	}
	changed := []string{topic, "0", "4", "9", "5", "+3", member + "-0", "zookeeper"}
	waitOut("frame with the lag change", func(out string) bool { return containsFields(out, changed...) })
	// And the frame after: no change.
	waitOut("frame after the change", func(out string) bool {
		frames := strings.Split(out, "\n"+watchTimePrefix)
		i := slices.IndexFunc(frames, func(f string) bool { return containsFields(f, changed...) })
		return i >= 0 && slices.ContainsFunc(frames[i+1:], func(f string) bool {
			return containsFields(f, topic, "0", "4", "9", "5", "0", member+"-0", "zookeeper")
		})
	})
	if err := d.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if code := d.wait(t); code != 0 {
		t.Errorf("watch after SIGINT: exit %d; want 0\nstderr:\n%s", code, d.stderr.String())
	}
	out := d.stdout.String()
	frames := strings.Split(out, "\n"+watchTimePrefix)
	t.Logf("watch: %d frames; the first two:\n%s", len(frames), strings.Join(frames[:2], "\n"+watchTimePrefix))
	if len(frames) < 3 || !strings.HasPrefix(out, watchTimePrefix) || strings.Contains(out, clearScreen) {
		t.Fatalf("watch output: want ≥3 frames, each after a blank line and a time line, no screen clears:\n%s", out)
	}
	for i, f := range frames {
		line, _, _ := strings.Cut(f, "\n")
		line = strings.TrimPrefix(line, watchTimePrefix)
		stamp, rest, _ := strings.Cut(line, ",")
		if _, err := time.Parse(time.RFC3339Nano, stamp); err != nil || rest != " every 200ms (interrupt to stop)" {
			t.Errorf("frame %d time line %q: %v", i, line, err)
		}
		if !strings.Contains(f, "LAG-CHANGE") || hasRowOf(f, other) {
			t.Errorf("frame %d: no LAG-CHANGE column, or %s despite --topic:\n%s", i, other, f)
		}
	}
	if !containsFields(frames[0], topic, "2", "-", "5", "-", "-", "-", "-") {
		t.Errorf("first frame: uncommitted partition 2 not all '-':\n%s", frames[0])
	}
}
