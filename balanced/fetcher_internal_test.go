package balanced

import (
	"testing"
	"time"

	"github.com/IBM/sarama"
)

// testFetcher is a fetcher with one broker loop and no client: enough for
// deliver, take and close, which do no I/O.
func testFetcher(maxBytes int32, tps ...TopicPartition) (*fetcher, *brokerLoop, []*partFetch) {
	conf := sarama.NewConfig()
	conf.Version = sarama.V2_1_0_0
	conf.Consumer.Fetch.MaxBytes = maxBytes
	f := newFetcher(nil, conf)
	l := &brokerLoop{f: f, wake: make(chan struct{}, 1), parts: map[*partFetch]struct{}{}}
	var pfs []*partFetch
	for _, tp := range tps {
		pf := &partFetch{f: f, tp: tp, ready: make(chan struct{}, 1), offset: 0, fetchSize: conf.Consumer.Fetch.Default, tooLargeAt: -1, loop: l}
		f.parts[tp] = pf
		l.parts[pf] = struct{}{}
		pfs = append(pfs, pf)
	}
	return f, l, pfs
}

// respond delivers one response carrying n one-byte messages for each of
// pfs from its next offset, as the loop does after a request (n 0: nothing,
// they are caught up).
func respond(t *testing.T, l *brokerLoop, n int, pfs ...*partFetch) {
	t.Helper()
	respondAfter(t, l, n, nil, pfs...)
}

// respondAfter is respond with between (if not nil) run while the request
// is in flight.
func respondAfter(t *testing.T, l *brokerLoop, n int, between func(), pfs ...*partFetch) {
	t.Helper()
	resp := &sarama.FetchResponse{Version: 10, Blocks: map[string]map[int32]*sarama.FetchResponseBlock{}}
	var batch []fetchEntry
	for _, pf := range pfs {
		pf.mu.Lock()
		off := pf.offset
		pf.inFlight = true
		pf.mu.Unlock()
		if resp.Blocks[pf.tp.Topic] == nil {
			resp.Blocks[pf.tp.Topic] = map[int32]*sarama.FetchResponseBlock{}
		}
		b := &sarama.FetchResponseBlock{HighWaterMarkOffset: off + int64(n)}
		if n > 0 {
			b.RecordsSet = []*sarama.Records{recordBatch(off, n, nil)}
		}
		resp.Blocks[pf.tp.Topic][pf.tp.Partition] = b
		batch = append(batch, fetchEntry{pf, off})
	}
	reserved := l.f.reserve(int64(n * len(pfs)))
	if between != nil {
		between()
	}
	l.deliver(resp, batch)
	l.f.release(reserved)
}

func takeN(t *testing.T, pf *partFetch, n int) {
	t.Helper()
	for i := range n {
		if m, _, _ := pf.take(); m == nil {
			t.Fatalf("%s/%d: message %d of %d missing", pf.tp.Topic, pf.tp.Partition, i, n)
		}
	}
}

func expectHeld(t *testing.T, f *fetcher, want int64, when string) {
	t.Helper()
	if got := f.held.Load(); got != want {
		t.Fatalf("%s: held %d bytes, want %d", when, got, want)
	}
}

// TestFetcherHeldCountsResponsesUntilTaken: a response's bytes count in
// held until the last of its messages is taken (its buffer stays in memory
// until then), whichever partitions they went to and however the queues
// span responses; closing a partition gives back what it still queued.
func TestFetcherHeldCountsResponsesUntilTaken(t *testing.T) {
	f, l, pfs := testFetcher(1<<20, TopicPartition{Topic: "t", Partition: 0}, TopicPartition{Topic: "t", Partition: 1})
	a, b := pfs[0], pfs[1]

	respond(t, l, 3, a, b) // response 1: 3 + 3 bytes
	expectHeld(t, f, 6, "response 1 queued")
	takeN(t, a, 3)
	expectHeld(t, f, 6, "a took its part of response 1, b not yet")
	takeN(t, b, 2)
	respond(t, l, 4, b) // response 2 (fetched ahead): b's queue spans both
	expectHeld(t, f, 10, "response 2 queued behind b's last of response 1")
	takeN(t, b, 1)
	expectHeld(t, f, 4, "response 1 all taken")
	takeN(t, b, 2)
	expectHeld(t, f, 4, "half of response 2 taken")
	respond(t, l, 5, a, b) // response 3
	expectHeld(t, f, 14, "response 3 queued")
	a.close()
	expectHeld(t, f, 14, "a closed: response 3 is still b's")
	b.close()
	expectHeld(t, f, 0, "both closed")
	if m, _, end := b.take(); m != nil || end != errFetchClosed {
		t.Fatalf("after close: %v, %v", m, end)
	}
}

func TestFetcherReserve(t *testing.T) {
	const limit = 1 << 20
	tests := []struct {
		name       string
		held, want int64
		reserved   int64
	}{
		{"all it wants", 0, 300 << 10, 300 << 10},
		{"what is left", limit - 400<<10, 500 << 10, 400 << 10},
		{"less than the floor left: the floor", limit - 100<<10, 500 << 10, fetchMinBytes},
		{"nothing left: the floor", limit, 300 << 10, fetchMinBytes},
		{"over: the floor", limit + 5<<20, 300 << 10, fetchMinBytes},
		{"less than the floor wanted", limit, 1 << 10, 1 << 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, _, _ := testFetcher(limit)
			f.held.Store(tt.held)
			if got := f.reserve(tt.want); got != tt.reserved {
				t.Fatalf("reserve(%d) at %d held: %d, want %d", tt.want, tt.held, got, tt.reserved)
			}
			if got := f.held.Load(); got != tt.held+tt.reserved {
				t.Fatalf("held %d after, want %d", got, tt.held+tt.reserved)
			}
		})
	}
}

func TestFetchAhead(t *testing.T) {
	const limit, def = 8 << 20, 1 << 20 // Fetch.MaxBytes and sarama's Fetch.Default
	tests := []struct {
		name         string
		queued, held int64
		size         int32
		ahead        bool
	}{
		{"empty queue, nothing held", 0, 0, def, true},
		{"less than a fetch queued", def - 1, 0, def, true},
		{"a whole fetch queued", def, 0, def, false},
		{"room for a whole fetch", 0, limit - def, def, true},
		{"less room than a fetch", 0, limit - def + 1, def, false},
		{"a quarter left, fetch size grown past it", 0, limit - limit/4, 4 * def, true},
		{"less than a quarter left, fetch size grown", 0, limit - limit/4 + 1, 4 * def, false},
		{"over the limit", 0, limit + 1, def, false},
	}
	f, _, _ := testFetcher(limit)
	for _, tt := range tests {
		if got := f.fetchAhead(tt.queued, tt.held, tt.size); got != tt.ahead {
			t.Errorf("%s: fetchAhead(%d, %d, %d) = %v, want %v", tt.name, tt.queued, tt.held, tt.size, got, tt.ahead)
		}
	}
}

func TestExpectBytes(t *testing.T) {
	const size = 1 << 20
	tests := []struct {
		name             string
		behind, msgBytes int64
		want             int64
	}{
		{"message size not known yet", 3, 0, size},
		{"behind more than a fetch", 5000, 1024, size},
		{"behind exactly a fetch", 1024, 1024, size},
		{"behind less than a fetch", 10, 1024, 10 * 1024},
		{"one message behind", 1, 100, 100},
	}
	for _, tt := range tests {
		if got := expectBytes(tt.behind, tt.msgBytes, size); got != tt.want {
			t.Errorf("%s: expectBytes(%d, %d, %d) = %d, want %d", tt.name, tt.behind, tt.msgBytes, size, got, tt.want)
		}
	}
}

// TestFetchRequestLeavesBehindPartitionsBeyondRoom: partitions behind their
// high-water marks join a request only until what they are expected to
// bring covers what its response may carry (a quarter of Fetch.MaxBytes, or
// what is left of it); caught-up partitions always join, for their long
// poll.
func TestFetchRequestLeavesBehindPartitionsBeyondRoom(t *testing.T) {
	const limit = 8 << 20
	tests := []struct {
		name         string
		held         int64
		behindIn     int // behind partitions in the request
		maxBytes     int32
		caughtUpIn   int
		behindAtHand int
	}{
		{"nothing held: a quarter of the budget", 0, 2, limit / fetchMaxShare, 3, 6},
		{"what is left of the budget", limit - 1<<20, 1, 1 << 20, 3, 6},
		{"budget spent: the floor", limit, 1, fetchMinBytes, 3, 6},
		{"fewer behind than room", 0, 1, limit / fetchMaxShare, 3, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var tps []TopicPartition
			for i := range tt.behindAtHand + tt.caughtUpIn {
				tps = append(tps, TopicPartition{Topic: "t", Partition: int32(i)})
			}
			f, l, pfs := testFetcher(limit, tps...)
			behind := map[*partFetch]bool{}
			for i, pf := range pfs {
				if i < tt.behindAtHand {
					pf.hwm.Store(1 << 20) // a million 1 KiB messages to go
					pf.msgBytes = 1 << 10
					behind[pf] = true
				}
			}
			f.held.Store(tt.held)
			req, batch, reserved := l.request()
			if req == nil {
				t.Fatal("no request")
			}
			var in, caughtUp int
			for _, e := range batch {
				if behind[e.pf] {
					in++
				} else {
					caughtUp++
				}
			}
			if in != tt.behindIn || caughtUp != tt.caughtUpIn {
				t.Errorf("request has %d behind and %d caught-up partitions, want %d and %d", in, caughtUp, tt.behindIn, tt.caughtUpIn)
			}
			if req.MaxBytes != tt.maxBytes || reserved != int64(tt.maxBytes) {
				t.Errorf("MaxBytes %d, reserved %d, want %d", req.MaxBytes, reserved, tt.maxBytes)
			}
		})
	}
}

// TestFetcherSettlesIdlePartitions: a partition of a newer wave's loop
// settles into its broker's oldest loop once a response brings it nothing
// and its queue is empty: the newer loop keeps fetching it until the
// oldest takes it over between two of its requests (pullSettling), and an
// answer of the newer loop's request in flight then is dropped. One with
// messages queued stays until then, and one in the oldest loop stays
// there. The newer loop is then empty (it retires). An ended partition is
// never added to a loop.
func TestFetcherSettlesIdlePartitions(t *testing.T) {
	f, _, _ := testFetcher(1 << 20)
	loop := func(wave uint64) *brokerLoop {
		l := &brokerLoop{f: f, id: 7, wave: wave, wake: make(chan struct{}, 1), parts: map[*partFetch]struct{}{}}
		f.loops[l.key()] = l
		return l
	}
	main, fresh := loop(1), loop(3)
	part := func(p int32) *partFetch {
		pf := &partFetch{f: f, tp: TopicPartition{Topic: "t", Partition: p}, ready: make(chan struct{}, 1), fetchSize: 1 << 10, tooLargeAt: -1}
		f.parts[pf.tp] = pf
		if !fresh.adopt(pf, nil) {
			t.Fatalf("partition %d not adopted", p)
		}
		return pf
	}
	in := func(pf *partFetch, l *brokerLoop) bool {
		l.mu.Lock()
		_, ok := l.parts[pf]
		l.mu.Unlock()
		pf.mu.Lock()
		defer pf.mu.Unlock()
		return ok && pf.loop == l
	}
	requested := func(l *brokerLoop, pf *partFetch) bool {
		_, batch, reserved := l.request()
		l.f.release(reserved)
		found := false
		for _, e := range batch {
			e.pf.mu.Lock()
			e.pf.inFlight = false
			e.pf.mu.Unlock()
			found = found || e.pf == pf
		}
		return found
	}
	idle, busy := part(0), part(1)
	respond(t, fresh, 2, busy)
	respond(t, fresh, 0, idle, busy)
	if !in(idle, fresh) || !requested(fresh, idle) {
		t.Fatal("an idle partition of the newer wave left it (or was not fetched) before the oldest loop took it")
	}
	main.pullSettling()
	if !in(idle, main) || in(idle, fresh) {
		t.Fatal("an idle partition of the newer wave did not settle into the oldest loop")
	}
	if !in(busy, fresh) {
		t.Fatal("a partition with messages queued moved")
	}
	takeN(t, busy, 2)
	// Taken over while the newer loop's request for it is in flight: that
	// request's answer (two messages) goes to nobody.
	respond(t, fresh, 0, busy)
	respondAfter(t, fresh, 2, main.pullSettling, busy)
	if !in(busy, main) {
		t.Fatal("a partition whose queue emptied did not settle once idle")
	}
	if m, _, _ := busy.take(); m != nil {
		t.Fatalf("the newer loop's answer after the take-over was queued: %+v", m)
	}
	if !requested(main, busy) {
		t.Fatal("the oldest loop does not fetch the partition it took over")
	}
	if !fresh.retireIfEmpty() {
		t.Fatal("the newer wave's loop kept partitions")
	}
	respond(t, main, 0, idle)
	main.pullSettling()
	if !in(idle, main) {
		t.Fatal("a partition of the oldest loop moved")
	}
	ended := part(2)
	ended.close()
	if in(ended, fresh) || fresh.adopt(ended, nil) || in(ended, fresh) {
		t.Fatal("an ended partition is in a loop")
	}
}

// TestFetcherReusesRetiredConnections: a new loop starts on the connection
// of the last loop to the same broker that retired, if recent and to the
// same address; otherwise on a new one. Once the fetcher is closed a
// retiring loop's connection is closed, not kept.
func TestFetcherReusesRetiredConnections(t *testing.T) {
	f, _, _ := testFetcher(1 << 20)
	f.conf.Net.DialTimeout = 10 * time.Millisecond
	leader := sarama.NewBroker("127.0.0.1:1") // never dialed: only its id and address are read
	fresh := func() *sarama.Broker {
		t.Helper()
		f.mu.Lock()
		defer f.mu.Unlock()
		c := f.connLocked(leader)
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	retired := sarama.NewBroker(leader.Addr())
	f.mu.Lock()
	f.parkLocked(leader.ID(), retired)
	f.mu.Unlock()
	if got := fresh(); got != retired {
		t.Fatal("a new loop did not take the retired loop's connection")
	}
	if got := fresh(); got == retired {
		t.Fatal("a connection was taken twice")
	}
	f.mu.Lock()
	f.idle[leader.ID()] = idleConn{conn: retired, at: time.Now().Add(-2 * idleConnFor)}
	f.mu.Unlock()
	if got := fresh(); got == retired {
		t.Fatal("a stale connection was taken")
	}
	f.mu.Lock()
	f.idle[leader.ID()] = idleConn{conn: sarama.NewBroker("127.0.0.1:2"), at: time.Now()}
	f.mu.Unlock()
	if got := fresh(); got.Addr() != leader.Addr() {
		t.Fatalf("a connection to %s was taken for %s", got.Addr(), leader.Addr())
	}
	f.shutdown()
	f.mu.Lock()
	f.parkLocked(leader.ID(), sarama.NewBroker(leader.Addr()))
	kept := len(f.idle)
	f.mu.Unlock()
	if kept != 0 {
		t.Fatal("a closed fetcher kept a connection")
	}
}
