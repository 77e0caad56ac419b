package ctxsleep_test

import (
	"context"
	"testing"
	"time"

	"github.com/zkbalance/zkbalance/internal/ctxsleep"
)

func TestSleep(t *testing.T) {
	if !ctxsleep.Sleep(context.Background(), time.Millisecond) {
		t.Error("a full sleep reported as cut short")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	if ctxsleep.Sleep(ctx, time.Hour) {
		t.Error("a sleep under a done context reported as full")
	}
	if time.Since(start) > time.Second {
		t.Error("a done context did not end the sleep at once")
	}
}
