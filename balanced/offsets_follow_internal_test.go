package balanced

import "testing"

func TestHigherOffset(t *testing.T) {
	for _, tc := range []struct {
		z        int64
		zok      bool
		k        int64
		kok      bool
		want     int64
		lag      lagging
		wantSome bool
	}{
		{0, false, 0, false, 0, lagNone, false},
		{5, true, 0, false, 5, lagKafka, true},
		{0, false, 7, true, 7, lagZooKeeper, true},
		{9, true, 4, true, 9, lagKafka, true},
		{4, true, 9, true, 9, lagZooKeeper, true},
		{6, true, 6, true, 6, lagNone, true},
	} {
		got, lag, ok := higherOffset(tc.z, tc.zok, tc.k, tc.kok)
		if got != tc.want || lag != tc.lag || ok != tc.wantSome {
			t.Errorf("higherOffset(%d,%v,%d,%v) = %d,%v,%v; want %d,%v,%v", tc.z, tc.zok, tc.k, tc.kok, got, lag, ok, tc.want, tc.lag, tc.wantSome)
		}
	}
}
