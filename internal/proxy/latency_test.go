package proxy_test

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// SetLatency delays each direction by d: a round trip takes 2d longer,
// requests written back to back come back back to back (a latency, not a
// serialisation), and SetLatency(0) ends it.
func TestLatencyAddsTwiceTheDelayPerRoundTrip(t *testing.T) {
	ctx := ctxT(t, time.Minute)
	srv := startServer(t, echo)
	p := newProxy(t, ctx, srv.addr())
	c := dial(t, p.Addr())
	write(t, c, "warm")
	read(t, c, "warm")

	const d = 40 * time.Millisecond
	p.SetLatency(d)
	start := time.Now()
	write(t, c, "ping")
	read(t, c, "ping")
	if rtt := time.Since(start); rtt < 2*d || rtt > 2*d+time.Second {
		t.Fatalf("round trip with %v each way took %v, want about %v", d, rtt, 2*d)
	}

	// Ten requests 5 ms apart: pipelined, the last answer is back about
	// 45 ms + 2d after the first request, not 10 × 2d.
	start = time.Now()
	for i := range 10 {
		write(t, c, fmt.Sprintf("r%d", i))
		time.Sleep(5 * time.Millisecond)
	}
	for i := range 10 {
		read(t, c, fmt.Sprintf("r%d", i))
	}
	if took := time.Since(start); took < 2*d || took > 5*d {
		t.Fatalf("10 pipelined requests took %v, want about %v (not serialised)", took, 45*time.Millisecond+2*d)
	}

	p.SetLatency(0)
	write(t, c, "late") // still queued behind the delayed writer: in order
	read(t, c, "late")
}

// A FIN written after delayed bytes arrives after them; a big transfer
// through a delayed proxy is delivered whole and in order, and Close
// leaves no goroutine behind (the package's leak check runs on Close).
func TestLatencyKeepsOrderAndFIN(t *testing.T) {
	ctx := ctxT(t, time.Minute)
	srv := startServer(t, echo)
	p := newProxy(t, ctx, srv.addr())
	p.SetLatency(10 * time.Millisecond)
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			if err := echoRoundTrip(p.Addr(), 4<<20, uint64(100+i)); err != nil {
				t.Errorf("client %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	waitFor(t, "connections to close", func() bool { return p.Stats().Active == 0 })
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
}
