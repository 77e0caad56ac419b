package main

import (
	"encoding/json"
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
