package zkwatch

import (
	"testing"
	"time"
)

func TestCapDeadline(t *testing.T) {
	now := time.Unix(1000, 0)
	s := time.Second
	for _, tt := range []struct {
		name             string
		in               time.Time
		limit, handshake time.Duration
		want             time.Time
	}{
		{"no deadline", time.Time{}, 6 * s, 2 * s, time.Time{}},
		{"a read within the limit", now.Add(4 * s), 6 * s, 2 * s, now.Add(4 * s)},
		{"a read beyond the limit", now.Add(9 * s), 6 * s, 2 * s, now.Add(6 * s)},
		{"the handshake (10 x 2/3 of the session)", now.Add(40 * s), 6 * s, 2 * s, now.Add(2 * s)},
		{"one server: the handshake gets the limit", now.Add(40 * s), 6 * s, 6 * s, now.Add(6 * s)},
		{"no limit", now.Add(40 * s), 0, 0, now.Add(40 * s)},
	} {
		if got := capDeadline(tt.in, now, tt.limit, tt.handshake); !got.Equal(tt.want) {
			t.Errorf("%s: capDeadline = %v, want %v", tt.name, got.Sub(now), tt.want.Sub(now))
		}
	}
}

func TestHandshakeBound(t *testing.T) {
	s := time.Second
	for _, tt := range []struct {
		session time.Duration
		servers int
		want    time.Duration
	}{
		{6 * s, 1, 6 * s},
		{6 * s, 3, 2 * s},
		{2 * s, 3, s},
		{500 * time.Millisecond, 3, 500 * time.Millisecond},
		{30 * s, 5, 6 * s},
	} {
		if got := handshakeBound(tt.session, tt.servers); got != tt.want {
			t.Errorf("handshakeBound(%s, %d) = %s, want %s", tt.session, tt.servers, got, tt.want)
		}
	}
}
