package balanced_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/zkbalance/zkbalance/balanced"
	"github.com/zkbalance/zkbalance/zkwatch"
)

// TestMalformedMemberAndOffset puts a malformed member registration into a
// live group and a non-numeric stored offset under one partition: healthy
// members skip the bad member (logged), start the bad offset's partition from
// the initial offset (logged), keep consuming, and lose nothing.
func TestMalformedMemberAndOffset(t *testing.T) {
	cl := shared.Get(t)
	ctx := testCtx(t, 2*time.Minute)
	topic, group := uniq(t, "bad"), uniq(t, "g-bad")
	if err := cl.CreateTopic(ctx, topic, 4, 1); err != nil {
		t.Fatal(err)
	}
	conn := zkConn(t)
	if err := conn.EnsurePath(ctx, "/consumers/"+group+"/offsets/"+topic, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Create(ctx, offsetPath(group, topic, 2), []byte("not-a-number"), 0, nil); err != nil {
		t.Fatal(err)
	}
	if err := conn.EnsurePath(ctx, "/consumers/"+group+"/ids", nil); err != nil {
		t.Fatal(err)
	}
	bad := "/consumers/" + group + "/ids/broken-member"
	if _, err := conn.Create(ctx, bad, []byte(`{"version":1,"subscription":{`), zkwatch.FlagEphemeral, nil); err != nil {
		t.Fatal(err)
	}
	produced := produceSpread(t, topic, 4, 80)
	var log plog
	cfg := balanced.Config{Group: group, Topics: []string{topic}}
	a := startMember(t, "A", cfg, recorder(&log, "A", 0))
	b := startMember(t, "B", cfg, recorder(&log, "B", 0))
	waitConverged(t, 30*time.Second, "scala-range", group, map[string]int32{topic: 4}, a, b)
	waitProcessed(t, &log, 80, time.Minute)
	if an := log.Analyze(produced); an.Lost != 0 || an.Overlaps != 0 {
		t.Fatalf("lost %d, overlaps %d", an.Lost, an.Overlaps)
	}
	// The bad offset was replaced by a good one once partition 2 committed.
	deadline := time.Now().Add(10 * time.Second)
	for {
		data, _, err := conn.Get(ctx, offsetPath(group, topic, 2))
		if err == nil && string(data) == "20" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("offset of partition 2 is %q (%v), want 20", data, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := conn.Delete(context.Background(), bad, -1); err != nil && !errors.Is(err, zkwatch.ErrNoNode) {
		t.Fatal(err)
	}
}
