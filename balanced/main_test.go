package balanced_test

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/zkbalance/zkbalance/internal/cluster"
)

// shared is the package's real ZooKeeper + Kafka: 3 brokers, so that broker
// changes can be tested with replication factor 3.
var shared = cluster.NewShared(cluster.Config{Brokers: 3})

func TestMain(m *testing.M) {
	shared.Main(m)
}

func testCtx(t testing.TB, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// testLogger logs through t.Log at the given level.
func testLogger(t testing.TB, level slog.Level) *slog.Logger {
	if f := os.Getenv("ZKBALANCE_TEST_LOGFILE"); f != "" {
		w, err := os.OpenFile(f, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err == nil {
			t.Cleanup(func() { w.Close() })
			return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
		}
	}
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: level}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }

// levelFromEnv is the member log level: ZKBALANCE_TEST_LOG=debug|info, warn by default.
func levelFromEnv() slog.Level {
	switch os.Getenv("ZKBALANCE_TEST_LOG") {
	case "debug":
		return slog.LevelDebug
	case "info":
		return slog.LevelInfo
	}
	return slog.LevelWarn
}
