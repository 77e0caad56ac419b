package zktrace

import (
	"encoding/binary"
	"net"
	"strings"
	"testing"
)

func u32(v int32) []byte  { return binary.BigEndian.AppendUint32(nil, uint32(v)) }
func str(s string) []byte { return append(u32(int32(len(s))), s...) }
func frameOf(parts ...[]byte) []byte {
	var body []byte
	for _, p := range parts {
		body = append(body, p...)
	}
	return append(u32(int32(len(body))), body...)
}

// TestConnDecodes: requests, answers, events and malformed frames, split
// across writes and reads at odd places, never a panic.
func TestConnDecodes(t *testing.T) {
	client, server := net.Pipe()
	defer client.Close()
	defer server.Close()
	r := New()
	c := &conn{Conn: client, r: r, who: "a", pending: map[int32]*Event{}}
	go func() { // the server side: swallow what the client writes
		buf := make([]byte, 4096)
		for {
			if _, err := server.Read(buf); err != nil {
				return
			}
		}
	}()
	var out []byte
	out = append(out, frameOf([]byte("handshake"))...)
	out = append(out, frameOf(u32(1), u32(4), str("/a/b"), []byte{0})...) // getData /a/b
	out = append(out, frameOf(u32(2), u32(14), []byte("ops"))...)         // multi
	out = append(out, frameOf(u32(3), u32(11))...)                        // ping: not recorded
	out = append(out, frameOf(u32(4), u32(3), u32(1<<30))...)             // exists, bad path length
	out = append(out, frameOf([]byte{1, 2})...)                           // too short
	for i := 0; i < len(out); i += 5 {
		if _, err := c.Write(out[i:min(i+5, len(out))]); err != nil {
			t.Fatal(err)
		}
	}
	var in []byte
	in = append(in, frameOf([]byte("handshake answer"))...)
	in = append(in, frameOf(u32(1), make([]byte, 12))...)                               // answer to xid 1
	in = append(in, frameOf(u32(-1), make([]byte, 12), u32(2), u32(3), str("/a/b"))...) // NodeDeleted /a/b
	in = append(in, frameOf(u32(-1), make([]byte, 12))...)                              // event without a body
	go func() {
		for i := 0; i < len(in); i += 7 {
			if _, err := server.Write(in[i:min(i+7, len(in))]); err != nil {
				return
			}
		}
	}()
	buf := make([]byte, 3)
	for got := 0; got < len(in); {
		n, err := c.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		got += n
	}
	var b strings.Builder
	if err := r.Format(&b); err != nil {
		t.Fatal(err)
	}
	evs := r.Events()
	want := []struct {
		op, path string
		answered bool
	}{
		{"getData", "/a/b", true}, {"multi", "", false}, {"exists", "", false}, {"EVENT", "/a/b", true}, {"EVENT", "", true},
	}
	if len(evs) != len(want) {
		t.Fatalf("%d events, want %d:\n%s", len(evs), len(want), b.String())
	}
	for i, w := range want {
		e := evs[i]
		if e.Op != w.op || e.Path != w.path || e.Answered.IsZero() == w.answered || e.Who != "a" {
			t.Errorf("event %d: %+v, want %+v\n%s", i, e, w, b.String())
		}
	}
}
