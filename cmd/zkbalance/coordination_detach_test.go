package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/zkbalance/zkbalance/internal/zkformat"
)

// 'coordination --detach-zookeeper' with two real follow members
// (consume --coordination follow): refused while the group is in
// zookeeper mode and, after the switch to kafka, while a member is still
// registered in /ids (a test-written Scala registration), naming it;
// written once it is gone: the follow members drop their follower znodes,
// 'coordination' and 'status' show the group detached, and --to zookeeper
// is refused because the members no longer watch ZooKeeper.
func TestCoordinationDetachZooKeeper(t *testing.T) {
	ctx := stCtx(t, 4*time.Minute)
	conn := stDial(t, ctx)
	topic := stTopic(t, ctx, 3, 3, 3, 3)
	group := stName(t, "g")
	var members []*bgProc
	for _, id := range []string{"f1", "f2"} {
		members = append(members, startBin(t, 4*time.Minute, cmdArgs(t, "consume", "--group", group, "--topics", topic,
			"--coordination", "follow", "--member-id", id)...))
	}
	waitFor := func(what string, d time.Duration, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(d)
		for !ok() {
			for _, m := range members {
				if m.exited() {
					t.Fatalf("a follow member exited while waiting for %s\nstderr:\n%s", what, m.stderr)
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within %s", what, d)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	waitFor("both registered", 60*time.Second, func() bool {
		_, a := stGet(t, ctx, conn, "/consumers/"+group+"/ids/f1")
		_, b := stGet(t, ctx, conn, "/consumers/"+group+"/ids/f2")
		return a && b
	})

	// In zookeeper mode: the dry run says why not, --apply refuses.
	dry := runBin(t, time.Minute, cmdArgs(t, "coordination", "--group", group, "--detach-zookeeper")...)
	if dry.code != 0 || !strings.Contains(dry.stdout, "--apply would refuse: (mode znode): the group is in zookeeper mode") ||
		!strings.Contains(dry.stdout, "f1: registered in /ids") {
		t.Fatalf("dry run in zookeeper mode: exit %d\n%s%s", dry.code, dry.stdout, dry.stderr)
	}
	refused := runBin(t, time.Minute, cmdArgs(t, "coordination", "--group", group, "--detach-zookeeper", "--apply")...)
	if refused.code != 1 || !strings.Contains(refused.stderr, "refusing to detach group "+group+" from zookeeper: (mode znode)") ||
		!strings.Contains(refused.stderr, "pass --force") {
		t.Fatalf("apply in zookeeper mode: exit %d\n%s%s", refused.code, refused.stdout, refused.stderr)
	}
	t.Logf("refused in zookeeper mode: %s", strings.TrimSpace(refused.stderr))
	if _, ok := stGet(t, ctx, conn, zkformat.CoordinationPath(group)); ok {
		t.Fatal("a refused detach wrote the mode znode")
	}

	if sw := runBin(t, time.Minute, cmdArgs(t, "coordination", "--group", group, "--to", "kafka", "--apply")...); sw.code != 0 {
		t.Fatalf("--to kafka: exit %d\n%s%s", sw.code, sw.stdout, sw.stderr)
	}
	joined := func(id string) bool {
		v, _ := stGet(t, ctx, conn, zkformat.FollowerPath(group, id))
		_, registered := stGet(t, ctx, conn, "/consumers/"+group+"/ids/"+id)
		mode, kid, err := zkformat.ParseFollower([]byte(v))
		return err == nil && mode == "kafka" && kid != "" && !registered
	}
	waitFor("both in kafka mode and joined", 90*time.Second, func() bool { return joined("f1") && joined("f2") })

	// A member still in zookeeper mode (not a follower) blocks the detach.
	const legacy = "legacy-scala-1"
	stPut(t, ctx, conn, "/consumers/"+group+"/ids/"+legacy,
		`{"version":1,"subscription":{"`+topic+`":1},"pattern":"static","timestamp":"1700000000000"}`, true)
	refused = runBin(t, time.Minute, cmdArgs(t, "coordination", "--group", group, "--detach-zookeeper", "--apply")...)
	if refused.code != 1 || !strings.Contains(refused.stderr, "refusing to detach group "+group+" from zookeeper: "+legacy+": registered in /ids") ||
		strings.Contains(refused.stderr, "(mode znode)") {
		t.Fatalf("apply with a member in zookeeper mode: exit %d\n%s%s", refused.code, refused.stdout, refused.stderr)
	}
	t.Logf("refused with a member in zookeeper mode: %s", strings.TrimSpace(refused.stderr))
	if v, _ := stGet(t, ctx, conn, zkformat.CoordinationPath(group)); v != `{"version":1,"mode":"kafka"}` {
		t.Fatalf("a refused detach changed the mode znode: %s", v)
	}
	if err := conn.Delete(ctx, "/consumers/"+group+"/ids/"+legacy, -1); err != nil {
		t.Fatal(err)
	}

	applied := runBin(t, time.Minute, cmdArgs(t, "coordination", "--group", group, "--detach-zookeeper", "--apply")...)
	if applied.code != 0 || !strings.Contains(applied.stdout, "detached from zookeeper (kafka mode → kafka, zookeeper detached)") {
		t.Fatalf("detach: exit %d\n%s%s", applied.code, applied.stdout, applied.stderr)
	}
	t.Logf("detach:\n%s", applied.stdout)
	if v, _ := stGet(t, ctx, conn, zkformat.CoordinationPath(group)); v != `{"version":1,"mode":"kafka","zookeeper":"detached"}` {
		t.Fatalf("mode znode after detach: %s", v)
	}
	waitFor("follower znodes gone", 30*time.Second, func() bool {
		_, a := stGet(t, ctx, conn, zkformat.FollowerPath(group, "f1"))
		_, b := stGet(t, ctx, conn, zkformat.FollowerPath(group, "f2"))
		return !a && !b
	})
	owners, _, err := conn.Children(ctx, "/consumers/"+group+"/owners/"+topic)
	if err != nil || len(owners) != 0 {
		t.Fatalf("owner znodes after detach: %v %v", owners, err)
	}

	show := runBin(t, time.Minute, cmdArgs(t, "coordination", "--group", group)...)
	if show.code != 0 || !strings.Contains(show.stdout, "coordination kafka (zookeeper detached) (from /consumers/"+group+"/coordination)") ||
		strings.Contains(show.stdout, "still uses ZooKeeper") {
		t.Fatalf("show after detach: exit %d\n%s%s", show.code, show.stdout, show.stderr)
	}
	t.Logf("coordination:\n%s", show.stdout)
	js := runBin(t, time.Minute, cmdArgs(t, "coordination", "--group", group, "--json")...)
	var st struct {
		Mode     string `json:"mode"`
		Detached bool   `json:"zookeeper_detached"`
		Members  []struct {
			Follower     bool `json:"follower"`
			InKafkaGroup bool `json:"in_kafka_group"`
		} `json:"members"`
	}
	if err := json.Unmarshal([]byte(js.stdout), &st); err != nil || st.Mode != "kafka" || !st.Detached || len(st.Members) != 2 ||
		st.Members[0].Follower || !st.Members[0].InKafkaGroup {
		t.Fatalf("--json after detach: %+v %v\n%s", st, err, js.stdout)
	}
	again := runBin(t, time.Minute, cmdArgs(t, "coordination", "--group", group, "--detach-zookeeper", "--apply")...)
	if again.code != 0 || !strings.Contains(again.stdout, "already detached") {
		t.Fatalf("detach twice: exit %d\n%s%s", again.code, again.stdout, again.stderr)
	}

	status := runBin(t, time.Minute, cmdArgs(t, "status", "--group", group)...)
	if status.code != 0 || !strings.Contains(status.stdout, "coordination kafka (mode znode: kafka (zookeeper detached))") {
		t.Fatalf("status after detach: exit %d\n%s%s", status.code, status.stdout, status.stderr)
	}
	sj := runBin(t, time.Minute, cmdArgs(t, "status", "--group", group, "--json")...)
	var sst struct {
		Mode     string `json:"coordination_mode"`
		Detached bool   `json:"zookeeper_detached"`
	}
	if err := json.Unmarshal([]byte(sj.stdout), &sst); err != nil || sst.Mode != "kafka" || !sst.Detached {
		t.Fatalf("status --json after detach: %+v %v", sst, err)
	}

	back := runBin(t, time.Minute, cmdArgs(t, "coordination", "--group", group, "--to", "zookeeper", "--apply")...)
	if back.code != 1 || !strings.Contains(back.stderr, "no longer watch ZooKeeper") ||
		!strings.Contains(back.stderr, "restart them in follow mode first") || !strings.Contains(back.stderr, "pass --force") {
		t.Fatalf("--to zookeeper after detach: exit %d\n%s%s", back.code, back.stdout, back.stderr)
	}
	t.Logf("--to zookeeper refused: %s", strings.TrimSpace(back.stderr))
	if v, _ := stGet(t, ctx, conn, zkformat.CoordinationPath(group)); v != `{"version":1,"mode":"kafka","zookeeper":"detached"}` {
		t.Fatalf("a refused switch changed the mode znode: %s", v)
	}
	for _, m := range members {
		if m.exited() {
			t.Errorf("a follow member exited by itself\n%s", m.stderr)
		}
		m.cancel()
		m.wait(t)
	}
}
