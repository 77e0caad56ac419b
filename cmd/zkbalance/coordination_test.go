package main

import (
	"encoding/json"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/zkbalance/zkbalance/internal/zkformat"
)

// 'coordination' on a group with a real follow-mode member (consume
// --coordination follow) and a test-written Scala registration without a
// follower znode: it shows both, the legacy one as unable to follow; the
// dry run and --apply name it and refuse; --force writes the mode znode,
// and the follow member switches to kafka mode (its follower znode says
// so).
func TestCoordinationRefusesLegacyMember(t *testing.T) {
	ctx := stCtx(t, 3*time.Minute)
	conn := stDial(t, ctx)
	topic := stTopic(t, ctx, 3, 3)
	group := stName(t, "g")
	follower := startBin(t, 3*time.Minute, cmdArgs(t, "consume", "--group", group, "--topics", topic,
		"--coordination", "follow", "--member-id", "f1")...)
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, ok := stGet(t, ctx, conn, "/consumers/"+group+"/ids/f1"); ok {
			break
		}
		if time.Now().After(deadline) || follower.exited() {
			t.Fatalf("follow member never registered\nstderr:\n%s", follower.stderr)
		}
		time.Sleep(100 * time.Millisecond)
	}
	const legacy = "legacy-scala-1"
	stPut(t, ctx, conn, "/consumers/"+group+"/ids/"+legacy,
		`{"version":1,"subscription":{"`+topic+`":1},"pattern":"static","timestamp":"1700000000000"}`, true)

	show := runBin(t, time.Minute, cmdArgs(t, "coordination", "--group", group, "--json")...)
	if show.code != 0 {
		t.Fatalf("show: exit %d: %s", show.code, show.stderr)
	}
	var st struct {
		Mode    string `json:"mode"`
		ModeSet bool   `json:"mode_set"`
		Members []struct {
			ID        string `json:"id"`
			Follower  bool   `json:"follower"`
			Mode      string `json:"mode"`
			CanFollow bool   `json:"can_follow"`
		} `json:"members"`
	}
	if err := json.Unmarshal([]byte(show.stdout), &st); err != nil {
		t.Fatalf("show --json: %v\n%s", err, show.stdout)
	}
	if st.Mode != "zookeeper" || st.ModeSet || len(st.Members) != 2 ||
		st.Members[0].ID != "f1" || !st.Members[0].CanFollow || st.Members[0].Mode != "zookeeper" ||
		st.Members[1].ID != legacy || st.Members[1].CanFollow {
		t.Fatalf("show: %+v", st)
	}
	text := runBin(t, time.Minute, cmdArgs(t, "coordination", "--group", group)...)
	t.Logf("coordination:\n%s", text.stdout)

	dry := runBin(t, time.Minute, cmdArgs(t, "coordination", "--group", group, "--to", "kafka")...)
	if dry.code != 0 || !strings.Contains(dry.stdout, "would refuse: member "+legacy+" cannot follow") {
		t.Fatalf("dry run: exit %d\n%s%s", dry.code, dry.stdout, dry.stderr)
	}
	t.Logf("dry run:\n%s", dry.stdout)
	refused := runBin(t, time.Minute, cmdArgs(t, "coordination", "--group", group, "--to", "kafka", "--apply")...)
	if refused.code != 1 || !strings.Contains(refused.stderr, "refusing to switch group "+group+" to kafka: member "+legacy+" cannot follow") {
		t.Fatalf("apply: exit %d\n%s%s", refused.code, refused.stdout, refused.stderr)
	}
	t.Logf("apply refused: %s", strings.TrimSpace(refused.stderr))
	if v, ok := stGet(t, ctx, conn, zkformat.CoordinationPath(group)); ok {
		t.Fatalf("refused apply wrote the mode znode: %s", v)
	}
	forced := runBin(t, time.Minute, cmdArgs(t, "coordination", "--group", group, "--to", "kafka", "--apply", "--force")...)
	if forced.code != 0 || !strings.Contains(forced.stdout, "switched zookeeper → kafka") {
		t.Fatalf("apply --force: exit %d\n%s%s", forced.code, forced.stdout, forced.stderr)
	}
	if v, _ := stGet(t, ctx, conn, zkformat.CoordinationPath(group)); v != `{"version":1,"mode":"kafka"}` {
		t.Fatalf("mode znode after --force: %q", v)
	}
	for {
		v, _ := stGet(t, ctx, conn, zkformat.FollowerPath(group, "f1"))
		_, registered := stGet(t, ctx, conn, "/consumers/"+group+"/ids/f1")
		if mode, kid, err := zkformat.ParseFollower([]byte(v)); err == nil && mode == "kafka" && kid != "" && !registered {
			break // switched, and joined the Kafka group
		}
		if time.Now().After(deadline.Add(60*time.Second)) || follower.exited() {
			t.Fatalf("follow member did not switch to kafka (follower znode %q, registered %v)\nstderr:\n%s", v, registered, follower.stderr)
		}
		time.Sleep(100 * time.Millisecond)
	}
	after := runBin(t, time.Minute, cmdArgs(t, "coordination", "--group", group, "--json")...)
	var st2 struct {
		Mode    string `json:"mode"`
		Members []struct {
			ID            string `json:"id"`
			InKafkaGroup  bool   `json:"in_kafka_group"`
			Mode          string `json:"mode"`
			KafkaMemberID string `json:"kafka_member_id"`
		} `json:"members"`
		KafkaChecked bool `json:"kafka_checked"`
	}
	if err := json.Unmarshal([]byte(after.stdout), &st2); err != nil {
		t.Fatalf("show --json after the switch: %v\n%s%s", err, after.stdout, after.stderr)
	}
	if st2.Mode != "kafka" || !st2.KafkaChecked || len(st2.Members) != 2 || st2.Members[0].ID != "f1" ||
		st2.Members[0].Mode != "kafka" || !st2.Members[0].InKafkaGroup || st2.Members[0].KafkaMemberID == "" {
		t.Errorf("after the switch: %+v", st2)
	}
	follower.cancel()
	follower.wait(t)
}

// 'coordination' on a pykafka-layout group with a real follow-mode member
// (consume --layout pykafka --coordination follow) and a test-written
// pykafka registration (the topic name, no follower znode): the first can
// follow, the second is a pykafka member that cannot, and the switch is
// refused naming it. Forced, the follower leaves zookeeper mode but waits
// at the border while the pykafka registration is there (Kafka would
// refuse that member's commits once the Kafka group has members); once it
// is gone the follower joins the Kafka group, claims pykafka-layout owner
// znodes (<leader>-<p> under owners/<t> and owners/b'<t>') and commits the
// log end to Kafka.
func TestCoordinationPykafkaLayout(t *testing.T) {
	ctx := stCtx(t, 3*time.Minute)
	conn := stDial(t, ctx)
	topic := stTopic(t, ctx, 5, 5, 5)
	group := stName(t, "g")
	follower := startBin(t, 3*time.Minute, cmdArgs(t, "consume", "--group", group, "--topics", topic,
		"--layout", "pykafka", "--coordination", "follow", "--member-id", "f1")...)
	deadline := time.Now().Add(60 * time.Second)
	for {
		if v, ok := stGet(t, ctx, conn, "/consumers/"+group+"/ids/f1"); ok && v == topic {
			break
		}
		if time.Now().After(deadline) || follower.exited() {
			t.Fatalf("follow member never registered with the pykafka registration\nstderr:\n%s", follower.stderr)
		}
		time.Sleep(100 * time.Millisecond)
	}
	const py = "pyhost:4b0c7c52-2f5b-4a8e-9d55-0e2a1c3b4d5e"
	idsPy := "/consumers/" + group + "/ids/" + py
	stPut(t, ctx, conn, idsPy, topic, true)

	show := runBin(t, time.Minute, cmdArgs(t, "coordination", "--group", group, "--json")...)
	if show.code != 0 {
		t.Fatalf("show: exit %d: %s", show.code, show.stderr)
	}
	var st struct {
		Members []struct {
			ID        string `json:"id"`
			Layout    string `json:"layout"`
			Follower  bool   `json:"follower"`
			Mode      string `json:"mode"`
			CanFollow bool   `json:"can_follow"`
			Reason    string `json:"reason"`
		} `json:"members"`
	}
	if err := json.Unmarshal([]byte(show.stdout), &st); err != nil {
		t.Fatalf("show --json: %v\n%s", err, show.stdout)
	}
	if len(st.Members) != 2 ||
		st.Members[0].ID != "f1" || !st.Members[0].CanFollow || !st.Members[0].Follower || st.Members[0].Layout != "pykafka" || st.Members[0].Mode != "zookeeper" ||
		st.Members[1].ID != py || st.Members[1].CanFollow || st.Members[1].Follower || st.Members[1].Layout != "pykafka" || !strings.Contains(st.Members[1].Reason, "pykafka member") {
		t.Fatalf("show: %+v", st)
	}
	text := runBin(t, time.Minute, cmdArgs(t, "coordination", "--group", group, "--to", "kafka")...)
	t.Logf("dry run:\n%s", text.stdout)
	if !strings.Contains(text.stdout, "offsets committed to Kafka (pykafka layout)") {
		t.Errorf("dry run does not say the offsets go to Kafka only:\n%s", text.stdout)
	}
	refused := runBin(t, time.Minute, cmdArgs(t, "coordination", "--group", group, "--to", "kafka", "--apply")...)
	if refused.code != 1 || !strings.Contains(refused.stderr, "member "+py+" cannot follow (pykafka member") {
		t.Fatalf("apply: exit %d\n%s%s", refused.code, refused.stdout, refused.stderr)
	}
	forced := runBin(t, time.Minute, cmdArgs(t, "coordination", "--group", group, "--to", "kafka", "--apply", "--force")...)
	if forced.code != 0 {
		t.Fatalf("apply --force: exit %d\n%s%s", forced.code, forced.stdout, forced.stderr)
	}
	// At the border: in kafka mode, deregistered, not in the Kafka group.
	follower1 := func() (mode, kid string, registered bool) {
		v, _ := stGet(t, ctx, conn, zkformat.FollowerPath(group, "f1"))
		mode, kid, _ = zkformat.ParseFollower([]byte(v))
		_, registered = stGet(t, ctx, conn, "/consumers/"+group+"/ids/f1")
		return mode, kid, registered
	}
	for {
		if mode, _, registered := follower1(); mode == "kafka" && !registered {
			break
		}
		if time.Now().After(deadline.Add(30*time.Second)) || follower.exited() {
			t.Fatalf("follow member did not leave zookeeper mode\nstderr:\n%s", follower.stderr)
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(3 * time.Second)
	if mode, kid, _ := follower1(); mode != "kafka" || kid != "" {
		t.Fatalf("with a pykafka member registered the follower is in mode %q with kafka member id %q: it joined the Kafka group", mode, kid)
	}
	if err := conn.Delete(ctx, idsPy, -1); err != nil {
		t.Fatal(err)
	}
	for {
		if mode, kid, _ := follower1(); mode == "kafka" && kid != "" {
			break
		}
		if time.Now().After(deadline.Add(90*time.Second)) || follower.exited() {
			t.Fatalf("follow member did not join the Kafka group once the pykafka member was gone\nstderr:\n%s", follower.stderr)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Its owner znodes are pykafka's, in both directories.
	for {
		n := 0
		for _, dir := range []string{topic, "b'" + topic + "'"} {
			names, _, err := conn.Children(ctx, "/consumers/"+group+"/owners/"+dir)
			if err == nil {
				for _, name := range names {
					if v, _ := stGet(t, ctx, conn, "/consumers/"+group+"/owners/"+dir+"/"+name); v == "f1" && strings.Contains(name, "-") {
						n++
					}
				}
			}
		}
		if n == 6 {
			break
		}
		if time.Now().After(deadline.Add(120*time.Second)) || follower.exited() {
			t.Fatalf("%d of 6 pykafka-layout owner znodes held by f1\nstderr:\n%s", n, follower.stderr)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for {
		if got := stKafkaCommitted(t, group, topic, 3); maps.Equal(got, map[int32]int64{0: 5, 1: 5, 2: 5}) {
			break
		} else if time.Now().After(deadline.Add(120*time.Second)) || follower.exited() {
			t.Fatalf("kafka offsets %v, want the log end 5 each\nstderr:\n%s", got, follower.stderr)
		}
		time.Sleep(200 * time.Millisecond)
	}
	follower.cancel()
	follower.wait(t)
}
