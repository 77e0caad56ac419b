package zk

import (
	"bytes"
	"strings"
	"testing"
)

// encodeRequest grows the send buffer to the packet, up to its limit.
func TestEncodeRequestGrowsBuffer(t *testing.T) {
	cases := []struct {
		name    string
		data    int
		max     int
		wantErr error
		wantLen int // len(c.buf) after, 0: unchanged
	}{
		{"fits", 100, bufferSize, nil, 0},
		{"grows", 100_000, bufferSize, nil, 128 * 1024},
		{"grows to the limit", 1_060_000, 1_100_000, nil, 1_100_000},
		{"over the limit", 200_000, 64 * 1024, ErrShortBuffer, 64 * 1024},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := &Conn{buf: make([]byte, initialBufferSize), maxSendBuf: tc.max}
			data := bytes.Repeat([]byte{7}, tc.data)
			req := &request{xid: 5, opcode: opSetData, pkt: &SetDataRequest{Path: "/a", Data: data, Version: -1}}
			n, err := c.encodeRequest(req)
			if err != tc.wantErr {
				t.Fatalf("err %v, want %v", err, tc.wantErr)
			}
			want := initialBufferSize
			if tc.wantLen != 0 {
				want = tc.wantLen
			}
			if len(c.buf) != want {
				t.Fatalf("buffer %d bytes, want %d", len(c.buf), want)
			}
			if err != nil {
				return
			}
			var h requestHeader
			if _, err := decodePacket(c.buf[4:4+n], &h); err != nil || h.Xid != 5 || h.Opcode != opSetData {
				t.Fatalf("header %+v, %v", h, err)
			}
			var got SetDataRequest
			if _, err := decodePacket(c.buf[4+8:4+n], &got); err != nil || !bytes.Equal(got.Data, data) || got.Path != "/a" {
				t.Fatalf("packet decodes to path %q, %d bytes, %v", got.Path, len(got.Data), err)
			}
		})
	}
}

// A multi of every size around the send buffer's end grows it: a multi
// header's Done bool falling on the buffer's last byte panicked with index
// out of range (not recovered) before the zkbalance patch.
func TestEncodeRequestMultiAtBufferEnd(t *testing.T) {
	for pathLen := 2; pathLen < 200; pathLen++ {
		c := &Conn{buf: make([]byte, initialBufferSize), maxSendBuf: bufferSize}
		req := &multiRequest{DoneHeader: multiHeader{Type: -1, Done: true, Err: -1}}
		path := "/" + strings.Repeat("p", pathLen-1)
		for range 500 {
			op := &DeleteRequest{Path: path, Version: 3}
			req.Ops = append(req.Ops, multiRequestOp{multiHeader{opDelete, false, -1}, op})
		}
		if _, err := c.encodeRequest(&request{xid: 1, opcode: opMulti, pkt: req}); err != nil {
			t.Fatalf("500 deletes of a %d-byte path: %v", pathLen, err)
		}
	}
}
