package balanced_test

import (
	"context"
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zkbalance/zkbalance/balanced"
)

// TestOffsetBeyondLogEnd: a stored offset past the log end (a recreated or
// truncated topic) is reset to the initial offset with a warning; the
// partition is consumed from there and nothing produced is lost.
func TestOffsetBeyondLogEnd(t *testing.T) {
	cl := shared.Get(t)
	ctx := testCtx(t, 2*time.Minute)
	topic, group := uniq(t, "beyond"), uniq(t, "g-beyond")
	if err := cl.CreateTopic(ctx, topic, 2, 1); err != nil {
		t.Fatal(err)
	}
	conn := zkConn(t)
	if err := conn.EnsurePath(ctx, "/consumers/"+group+"/offsets/"+topic, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Create(ctx, offsetPath(group, topic, 1), []byte("1000000"), 0, nil); err != nil {
		t.Fatal(err)
	}
	produced := produceSpread(t, topic, 2, 40)
	var log plog
	a := startMember(t, "A", balanced.Config{Group: group, Topics: []string{topic}}, recorder(&log, "A", 0))
	waitConverged(t, 30*time.Second, "scala-range", group, map[string]int32{topic: 2}, a)
	waitProcessed(t, &log, 40, time.Minute)
	if an := log.Analyze(produced); an.Lost != 0 {
		t.Fatalf("%s", an)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		data, _, err := conn.Get(ctx, offsetPath(group, topic, 1))
		if err == nil && string(data) == "20" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("offset of partition 1 is %q (%v), want 20", data, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestTopicDeletedWhileConsumed: a pattern group consumes two topics; one is
// deleted. The member drops its partitions without a panic or a fatal error
// and keeps consuming the other topic.
func TestTopicDeletedWhileConsumed(t *testing.T) {
	cl := shared.Get(t)
	ctx := testCtx(t, 3*time.Minute)
	prefix := uniq(t, "del")
	keep, gone := prefix+"-keep", prefix+"-gone"
	for _, tp := range []string{keep, gone} {
		if err := cl.CreateTopic(ctx, tp, 2, 1); err != nil {
			t.Fatal(err)
		}
	}
	group := uniq(t, "g-del")
	var log plog
	a := startMember(t, "A", balanced.Config{Group: group, TopicPattern: "^" + prefix + "-.*"}, recorder(&log, "A", 0))
	waitConverged(t, 30*time.Second, "scala-range", group, map[string]int32{keep: 2, gone: 2}, a)
	produceSpread(t, gone, 2, 10)
	waitProcessed(t, &log, 10, time.Minute)
	if err := cl.DeleteTopic(ctx, gone); err != nil {
		t.Fatal(err)
	}
	waitConverged(t, 60*time.Second, "scala-range", group, map[string]int32{keep: 2}, a)
	produced := produceSpread(t, keep, 2, 40)
	waitProcessed(t, &log, 50, time.Minute)
	var fromKeep plog
	for _, r := range log.Records() {
		if r.TP.Topic == keep {
			fromKeep.Add(r)
		}
	}
	if an := fromKeep.Analyze(produced); an.Lost != 0 || an.Overlaps != 0 {
		t.Fatalf("after the delete: %s", an)
	}
	select {
	case err := <-a.done:
		t.Fatalf("Run returned after the topic was deleted: %v", err)
	default:
	}
}

// TestUnreachableAtStart: with ZooKeeper unreachable, or every broker
// unreachable, Run returns a clear wrapped error after ConnectTimeout
// instead of hanging or panicking, naming the dial error.
func TestUnreachableAtStart(t *testing.T) {
	cl := shared.Get(t)
	for _, tc := range []struct {
		name string
		cfg  balanced.Config
		want string
	}{
		{"zookeeper", balanced.Config{ZooKeeper: "127.0.0.1:1"}, "zookeeper"},
		{"brokers", balanced.Config{ZooKeeper: cl.ZooKeeperAddr(), Brokers: []string{"127.0.0.1:1"}}, "kafka"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.Group, cfg.Topics = uniq(t, "g-unreach"), []string{"none"}
			cfg.ConnectTimeout = 2 * time.Second
			cfg.Logger = testLogger(t, levelFromEnv())
			c, err := balanced.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			start := time.Now()
			err = c.Run(ctx, balanced.EachMessage(func(context.Context, *balanced.Message) error { return nil }))
			t.Logf("Run returned after %s: %v", time.Since(start).Round(time.Millisecond), err)
			if err == nil || ctx.Err() != nil {
				t.Fatalf("Run: %v (ctx %v), want an error before the test's deadline", err, ctx.Err())
			}
			if !strings.Contains(strings.ToLower(err.Error()), tc.want) {
				t.Errorf("error %q does not say what was unreachable (%q)", err, tc.want)
			}
			// The cause is named, not only the deadline.
			if !errors.Is(err, syscall.ECONNREFUSED) || !strings.Contains(err.Error(), "connection refused") {
				t.Errorf("error %q does not carry the dial error (connection refused)", err)
			}
		})
	}
}
