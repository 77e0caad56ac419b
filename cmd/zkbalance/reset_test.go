package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/zkbalance/zkbalance/internal/cluster"
)

// The JSON of 'zkbalance reset-offsets --json', as its help documents it;
// decoded independently of the groupstate types.
type resetJSON struct {
	Group   string `json:"group"`
	Store   string `json:"store"`
	Spec    string `json:"spec"`
	DryRun  bool   `json:"dry_run"`
	Clamped int    `json:"clamped"`
	Offsets []struct {
		Topic        string `json:"topic"`
		Partition    int32  `json:"partition"`
		OldOffset    int64  `json:"old_offset"`
		ZooKeeperOld int64  `json:"zookeeper_offset"`
		KafkaOld     int64  `json:"kafka_offset"`
		NewOffset    int64  `json:"new_offset"`
		LogStart     int64  `json:"log_start"`
		LogEnd       int64  `json:"log_end"`
		Clamped      string `json:"clamped"`
		Applied      bool   `json:"applied"`
		Error        string `json:"error"`
	} `json:"offsets"`
}

// resetTopic creates a topic of 3 partitions and writes 5 messages to each,
// then, after a pause, 5 more; it returns the topic and a time between the
// two batches (so --to-datetime of it is offset 5 everywhere).
func resetTopic(t *testing.T) (string, time.Time) {
	t.Helper()
	ctx := stCtx(t, 2*time.Minute)
	cl := shared.Get(t)
	topic := stName(t, "t")
	if err := cl.CreateTopic(ctx, topic, 3, 1); err != nil {
		t.Fatal(err)
	}
	batch := func() {
		var msgs []cluster.Message
		for p := range int32(3) {
			for i := range 5 {
				msgs = append(msgs, cluster.Message{Partition: p, Value: fmt.Appendf(nil, "%d", i)})
			}
		}
		if _, err := cl.Produce(ctx, topic, msgs); err != nil {
			t.Fatal(err)
		}
	}
	batch()
	time.Sleep(300 * time.Millisecond)
	mid := time.Now()
	time.Sleep(300 * time.Millisecond)
	batch()
	return topic, mid
}

func resetRun(t *testing.T, group string, args ...string) result {
	t.Helper()
	r := runBin(t, 2*time.Minute, cmdArgs(t, "reset-offsets", append([]string{"--group", group}, args...)...)...)
	t.Logf("reset-offsets --group %s %s: exit %d\n%s%s", group, strings.Join(args, " "), r.code, r.stdout, r.stderr)
	return r
}

func resetRunJSON(t *testing.T, group string, args ...string) resetJSON {
	t.Helper()
	r := resetRun(t, group, append(args, "--json")...)
	if r.code != 0 {
		t.Fatalf("exit %d", r.code)
	}
	var out resetJSON
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("--json output is not the documented JSON: %v", err)
	}
	return out
}

// TestResetOffsetsZooKeeper: a group whose offsets are in ZooKeeper only;
// every mode, dry run and --apply, read back from the znodes.
func TestResetOffsetsZooKeeper(t *testing.T) {
	ctx := stCtx(t, 5*time.Minute)
	conn := stDial(t, ctx)
	topic, mid := resetTopic(t)
	group := stName(t, "g")
	g := "/consumers/" + group
	stPut(t, ctx, conn, g+"/offsets/"+topic+"/0", "3", false)
	stPut(t, ctx, conn, g+"/offsets/"+topic+"/1", "7", false)
	zk := func(what string, want map[int32]string) {
		t.Helper()
		if got := stZKOffsets(t, ctx, conn, group, topic, 3); !maps.Equal(got, want) {
			t.Fatalf("%s: zookeeper holds %v; want %v", what, got, want)
		}
		if got := stKafkaCommitted(t, group, topic, 3); len(got) != 0 {
			t.Fatalf("%s: kafka holds %v; want nothing", what, got)
		}
	}

	// Dry run: the table, nothing written.
	r := resetRun(t, group, "--topic", topic, "--to-earliest")
	if r.code != 0 || !containsFields(r.stdout, "TOPIC", "PARTITION", "OLD-OFFSET", "NEW-OFFSET", "LOG-START", "LOG-END", "NOTE") ||
		!containsFields(r.stdout, topic, "0", "3", "0", "0", "10") || !containsFields(r.stdout, topic, "1", "7", "0", "0", "10") ||
		!containsFields(r.stdout, topic, "2", "-", "0", "0", "10") ||
		!strings.Contains(r.stdout, "dry run: 3 offset(s) of group "+group+" in zookeeper would be reset (to-earliest); pass --apply") {
		t.Fatal("dry run: want the 3 rows and the summary")
	}
	zk("after the dry run", map[int32]string{0: "3", 1: "7"})

	// --to-offset of two partitions.
	r = resetRun(t, group, "--topic", topic+":2,0", "--to-offset", "8", "--apply")
	if r.code != 0 || !containsFields(r.stdout, topic, "0", "3", "8", "0", "10") || !containsFields(r.stdout, topic, "2", "-", "8", "0", "10") ||
		strings.Contains(r.stdout, topic+" 1 ") || !strings.Contains(r.stdout, "reset 2 of 2 offset(s) of group "+group+" in zookeeper (to-offset 8)") {
		t.Fatal("--to-offset 8 --apply")
	}
	zk("after --to-offset 8", map[int32]string{0: "8", 1: "7", 2: "8"})

	// --shift-by back past the log start, and beyond the log end: clamped.
	r = resetRun(t, group, "--topic", topic+":0,1", "--shift-by", "-100", "--apply")
	if r.code != 0 || !containsFields(r.stdout, topic, "0", "8", "0", "0", "10", "clamped", "to", "log-start") ||
		!containsFields(r.stdout, topic, "1", "7", "0", "0", "10", "clamped", "to", "log-start") || !strings.Contains(r.stdout, "(shift-by -100, 2 clamped)") {
		t.Fatal("--shift-by -100")
	}
	zk("after --shift-by -100", map[int32]string{0: "0", 1: "0", 2: "8"})
	r = resetRun(t, group, "--topic", topic+":0", "--shift-by", "+4", "--apply")
	if r.code != 0 || !containsFields(r.stdout, topic, "0", "0", "4", "0", "10") {
		t.Fatal("--shift-by +4")
	}
	r = resetRun(t, group, "--topic", topic+":2", "--to-offset", "1000", "--apply")
	if r.code != 0 || !containsFields(r.stdout, topic, "2", "8", "10", "0", "10", "clamped", "to", "log-end") {
		t.Fatal("--to-offset 1000")
	}
	zk("after the clamps", map[int32]string{0: "4", 1: "0", 2: "10"})

	// --to-datetime between the batches, for every topic of the group.
	r = resetRun(t, group, "--all-topics", "--to-datetime", mid.UTC().Format(time.RFC3339Nano), "--apply")
	if r.code != 0 || !strings.Contains(r.stdout, "reset 3 of 3 offset(s)") {
		t.Fatal("--all-topics --to-datetime")
	}
	zk("after --to-datetime", map[int32]string{0: "5", 1: "5", 2: "5"})
	r = resetRun(t, group, "--all-topics", "--to-latest", "--apply")
	if r.code != 0 {
		t.Fatal("--to-latest")
	}
	zk("after --to-latest", map[int32]string{0: "10", 1: "10", 2: "10"})
}

// TestResetOffsetsKafka: a group whose offsets are in Kafka only (no
// /consumers znode); --json, to-latest, to-datetime after the last message,
// shift-by; read back with the admin API.
func TestResetOffsetsKafka(t *testing.T) {
	ctx := stCtx(t, 5*time.Minute)
	conn := stDial(t, ctx)
	client := stClient(t)
	topic, _ := resetTopic(t)
	group := stName(t, "g")
	stCommitKafka(t, client, group, topic, map[int32]int64{0: 2, 1: 9})

	out := resetRunJSON(t, group, "--topic", topic, "--to-latest")
	if out.Group != group || out.Store != "kafka" || out.Spec != "to-latest" || !out.DryRun || out.Clamped != 0 || len(out.Offsets) != 3 {
		t.Fatalf("--json: %+v", out)
	}
	for i, o := range out.Offsets {
		wantOld := []int64{2, 9, -1}[i]
		if o.Topic != topic || o.Partition != int32(i) || o.OldOffset != wantOld || o.KafkaOld != wantOld || o.ZooKeeperOld != -1 ||
			o.NewOffset != 10 || o.LogStart != 0 || o.LogEnd != 10 || o.Clamped != "" || o.Applied || o.Error != "" {
			t.Errorf("--json offset %d: %+v", i, o)
		}
	}
	if got := stKafkaCommitted(t, group, topic, 3); !maps.Equal(got, map[int32]int64{0: 2, 1: 9}) {
		t.Fatalf("after the dry run kafka holds %v", got)
	}
	if _, ok := stGet(t, ctx, conn, "/consumers/"+group); ok {
		t.Fatal("the dry run created /consumers/" + group)
	}

	out = resetRunJSON(t, group, "--topic", topic, "--to-datetime", "2100-01-01T00:00:00Z", "--apply")
	if out.DryRun || len(out.Offsets) != 3 || !out.Offsets[0].Applied || !out.Offsets[2].Applied || out.Offsets[2].NewOffset != 10 {
		t.Fatalf("--to-datetime 2100 --apply: %+v", out)
	}
	if got := stKafkaCommitted(t, group, topic, 3); !maps.Equal(got, map[int32]int64{0: 10, 1: 10, 2: 10}) {
		t.Fatalf("after --to-datetime 2100 kafka holds %v; want the log ends", got)
	}
	r := resetRun(t, group, "--topic", topic+":0,1", "--shift-by", "-3", "--apply")
	if r.code != 0 || !strings.Contains(r.stdout, "reset 2 of 2 offset(s) of group "+group+" in kafka (shift-by -3)") {
		t.Fatal("--shift-by -3")
	}
	if got := stKafkaCommitted(t, group, topic, 3); !maps.Equal(got, map[int32]int64{0: 7, 1: 7, 2: 10}) {
		t.Fatalf("after --shift-by -3 kafka holds %v", got)
	}
	if _, ok := stGet(t, ctx, conn, "/consumers/"+group); ok {
		t.Fatal("a kafka reset created /consumers/" + group)
	}

	// Without ZooKeeper (as for Kafka 4): the Kafka store only.
	brokersOnly := []string{"reset-offsets", "--brokers", strings.Join(shared.Get(t).BrokerAddrs(), ","), "--env-file", "", "--group", group}
	r = runBin(t, time.Minute, append(brokersOnly, "--topic", topic+":2", "--to-offset", "4", "--apply")...)
	t.Logf("brokers only: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	if r.code != 0 || !containsFields(r.stdout, topic, "2", "10", "4", "0", "10") {
		t.Fatal("brokers only --to-offset 4")
	}
	if got := stKafkaCommitted(t, group, topic, 3); !maps.Equal(got, map[int32]int64{0: 7, 1: 7, 2: 4}) {
		t.Fatalf("after the brokers-only reset kafka holds %v", got)
	}
	r = runBin(t, time.Minute, append(brokersOnly, "--topic", topic, "--to-latest", "--store", "zookeeper")...)
	if r.code != 1 || !strings.Contains(r.stderr, "without zookeeper only the kafka store can be reset") {
		t.Errorf("brokers only, --store zookeeper: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// TestResetOffsetsDual: offsets in both stores; the default store is dual,
// both are written; --store zookeeper writes only ZooKeeper.
func TestResetOffsetsDual(t *testing.T) {
	ctx := stCtx(t, 5*time.Minute)
	conn := stDial(t, ctx)
	client := stClient(t)
	topic, _ := resetTopic(t)
	group := stName(t, "g")
	stPut(t, ctx, conn, "/consumers/"+group+"/offsets/"+topic+"/0", "4", false)
	stCommitKafka(t, client, group, topic, map[int32]int64{0: 6, 1: 1})

	r := resetRun(t, group, "--topic", topic+":0", "--shift-by", "-1")
	if r.code != 0 || !containsFields(r.stdout, topic, "0", "6", "5", "0", "10", "zookeeper", "4,", "kafka", "6") {
		t.Fatal("dual dry run: want the higher old offset and both in NOTE")
	}
	out := resetRunJSON(t, group, "--topic", topic+":0,1", "--to-earliest", "--apply")
	if out.Store != "dual" || len(out.Offsets) != 2 || out.Offsets[0].ZooKeeperOld != 4 || out.Offsets[0].KafkaOld != 6 ||
		out.Offsets[0].OldOffset != 6 || out.Offsets[1].ZooKeeperOld != -1 || out.Offsets[1].KafkaOld != 1 || !out.Offsets[1].Applied {
		t.Fatalf("dual --json: %+v", out)
	}
	if got := stZKOffsets(t, ctx, conn, group, topic, 3); !maps.Equal(got, map[int32]string{0: "0", 1: "0"}) {
		t.Errorf("zookeeper holds %v", got)
	}
	if got := stKafkaCommitted(t, group, topic, 3); !maps.Equal(got, map[int32]int64{0: 0, 1: 0}) {
		t.Errorf("kafka holds %v", got)
	}
	r = resetRun(t, group, "--topic", topic+":1", "--to-offset", "3", "--store", "zookeeper", "--apply")
	if r.code != 0 || !strings.Contains(r.stdout, "in zookeeper (to-offset 3)") {
		t.Fatal("--store zookeeper")
	}
	if got := stZKOffsets(t, ctx, conn, group, topic, 3); got[1] != "3" {
		t.Errorf("zookeeper holds %v; want 3 for partition 1", got)
	}
	if got := stKafkaCommitted(t, group, topic, 3); got[1] != 0 {
		t.Errorf("kafka holds %v; want 0 still for partition 1", got)
	}
}

// TestResetOffsetsLiveMembers: a running zkbalance member (zookeeper
// coordination) and one in kafka coordination: refused, naming them;
// --force goes on.
func TestResetOffsetsLiveMembers(t *testing.T) {
	ctx := stCtx(t, 5*time.Minute)
	conn := stDial(t, ctx)
	topic, _ := resetTopic(t)

	group := stName(t, "g")
	m := startBin(t, 3*time.Minute, cmdArgs(t, "consume", "--group", group, "--topics", topic, "--member-id", "resetm1")...)
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(100 * time.Millisecond) {
		if _, ok := stGet(t, ctx, conn, "/consumers/"+group+"/ids/resetm1"); ok {
			break
		}
		if time.Now().After(deadline) || m.exited() {
			t.Fatalf("member never registered\nstderr:\n%s", m.stderr)
		}
	}
	for _, apply := range [][]string{nil, {"--apply"}} {
		r := resetRun(t, group, append([]string{"--topic", topic, "--to-earliest", "--store", "zookeeper"}, apply...)...)
		if r.code != 1 || !strings.Contains(r.stderr, "live members: zookeeper resetm1 would overwrite") || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
			t.Fatalf("%v with a live member: want a one-line refusal naming resetm1", apply)
		}
	}
	r := resetRun(t, group, "--topic", topic, "--to-earliest", "--store", "zookeeper", "--force")
	if r.code != 0 || !strings.Contains(r.stdout, "dry run: 3 offset(s)") {
		t.Fatal("--force dry run")
	}
	r = resetRun(t, group, "--topic", topic, "--to-offset", "2", "--store", "zookeeper", "--force", "--apply")
	if r.code != 0 || !strings.Contains(r.stdout, "reset 3 of 3 offset(s)") {
		t.Fatal("--force --apply")
	}

	kgroup := stName(t, "gk")
	km := startBin(t, 3*time.Minute, cmdArgs(t, "consume", "--group", kgroup, "--topics", topic, "--coordination", "kafka", "--offsets", "kafka")...)
	var last result
	for deadline := time.Now().Add(90 * time.Second); ; time.Sleep(500 * time.Millisecond) {
		last = runBin(t, time.Minute, cmdArgs(t, "reset-offsets", "--group", kgroup, "--topic", topic, "--to-earliest", "--store", "kafka")...)
		if last.code == 1 && strings.Contains(last.stderr, "live members: kafka ") {
			break
		}
		if time.Now().After(deadline) || km.exited() {
			t.Fatalf("no refusal for a kafka-coordinated member: exit %d\n%s%s\nmember stderr:\n%s", last.code, last.stdout, last.stderr, km.stderr)
		}
	}
	t.Logf("kafka member refused: %s", strings.TrimSpace(last.stderr))
	if strings.Count(strings.TrimSpace(last.stderr), "\n") != 0 || !strings.Contains(last.stderr, "zkbalance") {
		t.Errorf("refusal: want one line naming the member's client id")
	}
	r = runBin(t, time.Minute, cmdArgs(t, "reset-offsets", "--group", kgroup, "--topic", topic, "--to-earliest", "--store", "kafka", "--force")...)
	if r.code != 0 || !strings.Contains(r.stdout, "dry run: 3 offset(s)") {
		t.Fatalf("kafka member, --force dry run: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// Kafka's coordinator refuses the admin commit (generation -1, no
	// member id) while it has members: every partition is "not written".
	r = runBin(t, time.Minute, cmdArgs(t, "reset-offsets", "--group", kgroup, "--topic", topic, "--to-earliest", "--store", "kafka", "--force", "--apply")...)
	t.Logf("kafka member, --force --apply: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	if r.code != 1 || !strings.Contains(r.stderr, "3 of 3 offset(s) not written") || strings.Count(r.stdout, "NOT WRITTEN") != 3 ||
		!strings.Contains(r.stdout, "reset 0 of 3 offset(s)") {
		t.Errorf("kafka member, --force --apply: want every partition refused by the coordinator")
	}
}

// TestResetOffsetsBadInput: usage errors (exit 2, before connecting) and
// failures (exit 1, one line, no panic).
func TestResetOffsetsBadInput(t *testing.T) {
	ctx := stCtx(t, 3*time.Minute)
	conn := stDial(t, ctx)
	topic, _ := resetTopic(t)
	group := stName(t, "g")
	noTopic := stName(t, "nosuchtopic")
	stPut(t, ctx, conn, "/consumers/"+group+"/offsets/"+topic+"/0", "3", false)
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"--topic", topic, "--to-earliest"}, 2, "--group is required"},
		{[]string{"--group", group, "--to-earliest"}, 2, "--topic T[:P,P...] (repeatable) or --all-topics"},
		{[]string{"--group", group, "--topic", topic, "--all-topics", "--to-earliest"}, 2, "or --all-topics"},
		{[]string{"--group", group, "--topic", topic}, 2, "exactly one of"},
		{[]string{"--group", group, "--topic", topic, "--to-earliest", "--to-offset", "3"}, 2, "exactly one of"},
		{[]string{"--group", group, "--topic", topic, "--to-offset", "-3"}, 2, "not a non-negative offset"},
		{[]string{"--group", group, "--topic", topic, "--shift-by", "x"}, 2, "not a whole number"},
		{[]string{"--group", group, "--topic", topic, "--to-datetime", "yesterday"}, 2, "not an RFC 3339 time"},
		{[]string{"--group", group, "--topic", topic + ":x", "--to-earliest"}, 2, `partition "x"`},
		{[]string{"--group", group, "--topic", "a/b", "--to-earliest"}, 2, "not allowed in a topic name"},
		{[]string{"--group", group, "--topic", topic, "--to-earliest", "--store", "redis"}, 2, "want zookeeper, kafka or dual"},
		{[]string{"--group", stName(t, "missing"), "--topic", topic, "--to-earliest"}, 1, "no such group"},
		{[]string{"--group", group, "--topic", noTopic, "--to-earliest"}, 1, "does not exist"},
		{[]string{"--group", group, "--topic", topic + ":1,7", "--to-earliest"}, 1, "topic " + topic + " has 3 partition(s), no partition 7"},
		{[]string{"--group", group, "--topic", topic, "--shift-by", "1"}, 1, topic + "/1: no committed offset to shift"},
	} {
		r := runBin(t, 2*time.Minute, cmdArgs(t, "reset-offsets", tc.args...)...)
		lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
		t.Logf("%v: exit %d: %s", tc.args, r.code, strings.TrimSpace(r.stderr))
		if r.code != tc.code || !strings.Contains(r.stderr, tc.msg) || len(lines) != 1 || strings.Contains(r.stderr, "panic") {
			t.Errorf("reset-offsets %v: exit %d, stderr %q; want exit %d and one line with %q", tc.args, r.code, r.stderr, tc.code, tc.msg)
		}
	}
	// The unknown topic was not created by looking at it.
	if _, ok := stGet(t, ctx, conn, "/brokers/topics/"+noTopic); ok {
		t.Errorf("resetting %s created it", noTopic)
	}
	// ZooKeeper down: nothing answers.
	r := runBin(t, time.Minute, "reset-offsets", "--zookeeper", "127.0.0.1:1", "--brokers", "127.0.0.1:1", "--timeout", "3s",
		"--group", group, "--topic", topic, "--to-earliest")
	if r.code != 1 || len(strings.Split(strings.TrimSpace(r.stderr), "\n")) != 1 || strings.Contains(r.stderr, "panic") {
		t.Errorf("zookeeper down: exit %d, stderr %q; want exit 1 and one line", r.code, r.stderr)
	}
	t.Logf("zookeeper down: %s", strings.TrimSpace(r.stderr))
	if got := stZKOffsets(t, ctx, conn, group, topic, 3); !maps.Equal(got, map[int32]string{0: "3"}) {
		t.Errorf("bad input changed the offsets: %v", got)
	}
}
