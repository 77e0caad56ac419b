package scenario_test

import (
	"bytes"
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/zkbalance/zkbalance/internal/cluster"
	"github.com/zkbalance/zkbalance/scenario"
)

var shared = cluster.NewShared(cluster.Config{Brokers: 1})

func TestMain(m *testing.M) {
	shared.Main(m)
}

func env(t *testing.T, out *bytes.Buffer) scenario.Env {
	cl := shared.Get(t)
	return scenario.Env{ZooKeeper: cl.KafkaZooKeeperConnect(), Brokers: cl.BrokerAddrs(), Out: out,
		Logger: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }

// TestBlockedConsume runs S1 with the legacy members first: the legacy
// newcomer must fail with PartitionOwnedError (the seed's bug, reproduced),
// and the zkbalance newcomer must get its share with nothing lost.
func TestBlockedConsume(t *testing.T) {
	shared.Get(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var out bytes.Buffer
	res, err := scenario.BlockedConsume(ctx, env(t, &out), scenario.BlockedOptions{
		Messages: 300, Idle: time.Second, Legacy: true, LegacyRetries: 3, LegacyBackoff: 200 * time.Millisecond})
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatal(err)
	}
	if !res.Pass {
		t.Fatalf("FAIL: %s", res.Reason)
	}
	if res.Legacy == nil || res.Legacy.NewcomerErr == "" || !res.Legacy.OldBlocked {
		t.Fatalf("the legacy members did not reproduce the seed's failure: %+v", res.Legacy)
	}
	if !bytes.Contains(out.Bytes(), []byte("PASS blocked-consume")) {
		t.Fatal("no PASS line in the timeline")
	}
}

// TestSlowHandler runs S2 with a short handler delay.
func TestSlowHandler(t *testing.T) {
	shared.Get(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	var out bytes.Buffer
	res, err := scenario.SlowHandler(ctx, env(t, &out), scenario.SlowOptions{Messages: 120, Delay: 100 * time.Millisecond})
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatal(err)
	}
	if !res.Pass {
		t.Fatalf("FAIL: %s", res.Reason)
	}
}

// TestMigrate runs the migration story: follow-mode members switch live
// zookeeper -> kafka -> zookeeper while messages flow; lost 0, overlap 0.
func TestMigrate(t *testing.T) {
	shared.Get(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var out bytes.Buffer
	res, err := scenario.Migrate(ctx, env(t, &out), scenario.MigrateOptions{Dwell: 2 * time.Second})
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatal(err)
	}
	if !res.Pass {
		t.Fatalf("FAIL: %s", res.Reason)
	}
	if len(res.Switches) != 2 || res.Switches[0].To != "kafka" || res.Switches[1].To != "zookeeper" {
		t.Fatalf("switches %+v", res.Switches)
	}
	for _, s := range res.Switches {
		if s.GapMax <= 0 || s.GapP50 > s.GapMax {
			t.Errorf("switch to %s: gap p50 %s max %s", s.To, s.GapP50, s.GapMax)
		}
	}
	if res.Produced == 0 || !bytes.Contains(out.Bytes(), []byte("PASS migrate")) {
		t.Fatalf("produced %d; no PASS line", res.Produced)
	}
}
