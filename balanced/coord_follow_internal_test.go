package balanced

import (
	"context"
	"errors"
	"testing"
)

func TestModeOf(t *testing.T) {
	for _, tc := range []struct {
		exists bool
		data   string
		want   Coordination
		ok     bool
	}{
		{false, "", CoordinationZooKeeper, true},
		{true, `{"version":1,"mode":"kafka"}`, CoordinationKafka, true},
		{true, `{"version":1,"mode":"zookeeper"}`, CoordinationZooKeeper, true},
		{true, `{"version":1,"mode":"follow"}`, "", false},
		{true, `kafka`, "", false},
		{true, ``, "", false},
	} {
		got, err := modeOf(tc.exists, []byte(tc.data))
		if got != tc.want || (err == nil) != tc.ok {
			t.Errorf("modeOf(%v, %q) = %q, %v", tc.exists, tc.data, got, err)
		}
	}
}

func TestLeaveCause(t *testing.T) {
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(errModeSwitch)
	if got := leaveCause(ctx); !errors.Is(got, ErrRevoked) {
		t.Errorf("switch: %v", got)
	}
	ctx, cancel = context.WithCancelCause(context.Background())
	cancel(ErrClosed)
	if got := leaveCause(ctx); !errors.Is(got, ErrClosed) {
		t.Errorf("close: %v", got)
	}
}
