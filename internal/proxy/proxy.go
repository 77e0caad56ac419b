// Package proxy is a loopback TCP proxy with injectable network faults, for
// chaos tests that put it between a client (a consumer member) and a server
// (ZooKeeper or a Kafka broker).
//
// A Proxy listens on 127.0.0.1 at a free port and forwards every connection
// it accepts to its target: bytes in both directions, in order, and
// half-closes (a FIN from one side is passed on as a FIN once the bytes
// before it are delivered). Faults are injected on demand, apply to the whole
// proxy, and are independent of each other:
//
//   - Reset aborts every current connection with a TCP RST on both sides.
//     Later connections are not affected.
//   - Drop(d) is a network partition lasting d. Current connections and
//     connections accepted during d stay open but forward nothing: no byte,
//     FIN or RST reaches either side, and new connections are not dialled to
//     the target (the client's connect succeeds, as the proxy accepts, but
//     nothing answers). When d ends every connection caught by the drop is
//     reset on both sides, as a client and server that notice a partition
//     eventually do; what they sent meanwhile is lost.
//   - Stall(d) freezes delivery until d from now: bytes (and FINs) already
//     read or arriving before then are held and delivered afterwards, in
//     order. Connections stay open and new ones are accepted and dialled.
//   - Pause and Resume are an indefinite stall: nothing is delivered between
//     them.
//   - Refuse(d) is a server that is down for d: every current connection is
//     reset on both sides at once, and connections accepted during d are
//     reset at once without dialling the target, as by a host whose server
//     process died (the proxy's own port stays open, so the client's
//     connect may succeed, but it is reset before any answer).
//
// SetLatency is not a fault but a distance: every byte arrives d after the
// proxy read it, in each direction, as across a network with a d one-way
// delay (bytes sent back to back still arrive back to back).
//
// Outside Drop, Reset and Refuse the proxy neither loses nor reorders
// bytes. Held bytes are not read ahead into memory: a forwarding goroutine
// holds at most one read (32 KiB); the rest waits in the kernel's socket
// buffers, so a sender that keeps writing into a stalled connection
// eventually blocks, as it would on a congested network.
//
// Drop, Stall, Refuse and Reset return at once; Drop, Stall and Refuse end
// on their own. Overlapping calls extend the fault to the latest end.
//
// A proxy is cheap: one goroutine for the accept loop plus two per forwarded
// connection (one per direction), each with a 32 KiB buffer, so a test can
// run one per ZooKeeper and one per broker. Every goroutine belongs to its
// Proxy; Close (or the end of the context given to New or Listen) closes the
// listener and every connection, and Close returns once they have all exited.
//
// # Kafka brokers
//
// A Kafka client only uses the bootstrap address it is given for its first
// metadata request; after that it connects to the addresses the brokers
// advertise. Bootstrapping through a proxy in front of a broker that
// advertises its own listener therefore proxies only the bootstrap
// connection: the client's real traffic bypasses the proxy and no fault
// reaches it.
//
// For every client connection to pass through a proxy, each broker must
// advertise its proxy's address, which must be known before the broker
// starts. internal/cluster does this with Config.ProxiedListener: it starts one
// proxy per broker (New, its port known at once, its target the broker's
// port for it) and gives each broker a second listener whose advertised
// address is that proxy, keeping the first for the harness and for
// inter-broker traffic:
//
//	listeners=PLAINTEXT://127.0.0.1:<port>,PROXIED://127.0.0.1:<port2>
//	advertised.listeners=PLAINTEXT://127.0.0.1:<port>,PROXIED://<proxy addr>
//	listener.security.protocol.map=PLAINTEXT:PLAINTEXT,PROXIED:PLAINTEXT
//	inter.broker.listener.name=PLAINTEXT
//
// A broker answers a metadata request with the addresses advertised for the
// listener the request arrived on. So a client that bootstraps through the
// proxies (Cluster.ProxiedBrokerAddrs), or picks the PROXIED endpoints from
// /brokers/ids, only ever sees proxy addresses, while the harness's own
// checks (Start's readiness wait, CreateTopic, Produce) and replication keep
// using PLAINTEXT directly and are untouched by faults. A test injects
// faults through Cluster.BrokerProxy(id):
//
//	cl, err := cluster.Start(ctx, cluster.Config{Brokers: 3, ProxiedListener: true})
//	...
//	consumer bootstraps at cl.ProxiedBrokerAddrs()
//	cl.BrokerProxy(2).Drop(5 * time.Second) // broker 2 unreachable for 5 s
//
// When a proxy's target is only known after it must be advertised, Listen
// opens the proxy's port without a target and SetTarget names the target
// later; connections accepted in between wait for it.
package proxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// dialTimeout bounds each dial to the target.
const dialTimeout = 10 * time.Second

// bufSize is the read buffer of each forwarding direction.
const bufSize = 32 << 10

// Proxy is a loopback TCP proxy with injectable faults. Its methods are safe
// for concurrent use.
type Proxy struct {
	ln     *net.TCPListener
	ctx    context.Context // done on Close or when the parent context ends
	cancel context.CancelFunc
	wg     sync.WaitGroup // every goroutine and pending timer of the proxy

	mu          sync.Mutex
	target      string
	targetSet   chan struct{} // closed by the first SetTarget
	closed      bool
	closeErr    error
	links       map[*link]struct{}
	paused      bool
	stallUntil  time.Time
	dropUntil   time.Time // zero when no drop is in progress
	refuseUntil time.Time
	latency     time.Duration // SetLatency: added to each direction
	changed     chan struct{} // closed and replaced when the fault state changes
	timers      map[uint64]*time.Timer
	nextTimer   uint64

	accepted, toTarget, toClient, dialErrors, faultResets atomic.Int64
	resets, drops, stalls, pauses, refusals               atomic.Int64
}

// Stats counts what a proxy has done since it started.
type Stats struct {
	Accepted      int64 // connections accepted
	Active        int   // connections open now (including ones held by a drop)
	BytesToTarget int64 // bytes delivered from clients to the target (counted as each write returns)
	BytesToClient int64 // bytes delivered from the target to clients (likewise)
	DialErrors    int64 // connections reset because the target could not be dialled
	FaultResets   int64 // connections reset by Reset, by Refuse (current and refused ones) or at the end of a Drop

	Resets   int64 // Reset calls
	Drops    int64 // Drop calls
	Stalls   int64 // Stall calls
	Pauses   int64 // Pause calls
	Refusals int64 // Refuse calls
}

// New starts a proxy on 127.0.0.1 at a free port that forwards every
// connection to target ("host:port"). It runs until Close is called or ctx
// ends.
func New(ctx context.Context, target string) (*Proxy, error) {
	if _, _, err := net.SplitHostPort(target); err != nil {
		return nil, fmt.Errorf("proxy: target: %w", err)
	}
	p, err := Listen(ctx)
	if err != nil {
		return nil, err
	}
	p.SetTarget(target)
	return p, nil
}

// Listen starts a proxy on 127.0.0.1 at a free port without a target: its
// address is known at once, and connections it accepts wait until SetTarget
// is called (or the proxy is closed, or ctx ends). It runs until Close is
// called or ctx ends. See the package documentation for its use with Kafka.
func Listen(ctx context.Context) (*Proxy, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("proxy: %w", err)
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("proxy: listen: %w", err)
	}
	p := &Proxy{
		ln:        ln.(*net.TCPListener),
		targetSet: make(chan struct{}),
		links:     map[*link]struct{}{},
		changed:   make(chan struct{}),
		timers:    map[uint64]*time.Timer{},
	}
	p.ctx, p.cancel = context.WithCancel(ctx)
	p.wg.Add(2)
	context.AfterFunc(p.ctx, func() { // runs once, on Close or when ctx ends
		defer p.wg.Done()
		p.shutdown()
	})
	go p.acceptLoop()
	return p, nil
}

// Addr is the "127.0.0.1:port" clients connect to.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// SetTarget sets the address ("host:port") new connections are forwarded to,
// and releases the connections waiting for a first target. Connections
// already forwarded keep their target. An unreachable target shows up as a
// reset client connection and in Stats.DialErrors.
func (p *Proxy) SetTarget(target string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.target = target
	select {
	case <-p.targetSet:
	default:
		close(p.targetSet)
	}
}

// Close closes the listener and every connection (with a FIN, not a reset),
// ends all faults and waits until every goroutine and timer of the proxy has
// finished. It is safe to call more than once and concurrently; it returns
// the listener's close error.
func (p *Proxy) Close() error {
	p.cancel()
	p.wg.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closeErr
}

// Reset aborts every current connection with a TCP RST to both the client
// and the target. Connections accepted afterwards are not affected.
func (p *Proxy) Reset() {
	p.resets.Add(1)
	p.mu.Lock()
	defer p.mu.Unlock()
	for l := range p.links {
		if l.abortLocked(true) {
			p.faultResets.Add(1)
		}
	}
}

// Drop partitions the proxy for d: current connections and connections
// accepted during d forward nothing and see no FIN or RST, new connections
// are not dialled to the target, and when d ends all of them are reset on
// both sides. Connections accepted after d are forwarded normally. Drop
// returns at once; a Drop during a drop extends it to the later end.
func (p *Proxy) Drop(d time.Duration) {
	p.drops.Add(1)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	if until := time.Now().Add(d); until.After(p.dropUntil) {
		p.dropUntil = until
	}
	for l := range p.links {
		l.dropped = true
	}
	p.broadcastLocked()
	id := p.nextTimer
	p.nextTimer++
	p.wg.Add(1)
	p.timers[id] = time.AfterFunc(d, func() { p.endDrop(id) })
}

// Stall holds every byte (and FIN) not yet delivered, in both directions of
// every connection, until d from now, then delivers it in order.
// Connections stay open and new ones are accepted and forwarded, subject to
// the same hold. Stall returns at once; a Stall during a stall extends it to
// the later end.
func (p *Proxy) Stall(d time.Duration) {
	p.stalls.Add(1)
	p.mu.Lock()
	defer p.mu.Unlock()
	if until := time.Now().Add(d); until.After(p.stallUntil) {
		p.stallUntil = until
	}
	p.broadcastLocked()
}

// Refuse makes the target look down for d: every current connection is
// reset on both sides (including ones held by a drop or waiting for a
// target), and every connection accepted during d is reset at once, without
// dialling the target. Connections accepted after d are forwarded normally.
// Refuse returns at once; a Refuse during a refusal extends it to the later
// end.
func (p *Proxy) Refuse(d time.Duration) {
	p.refusals.Add(1)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	if until := time.Now().Add(d); until.After(p.refuseUntil) {
		p.refuseUntil = until
	}
	for l := range p.links {
		if l.abortLocked(true) {
			p.faultResets.Add(1)
		}
	}
}

// Pause holds every byte (and FIN) not yet delivered until Resume, like a
// Stall without an end.
func (p *Proxy) Pause() {
	p.pauses.Add(1)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.paused = true
	p.broadcastLocked()
}

// Resume ends a Pause: held bytes are delivered in order (unless a Stall or
// Drop still holds them).
func (p *Proxy) Resume() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.paused = false
	p.broadcastLocked()
}

// SetLatency delays every byte (and FIN) by d in each direction from the
// moment the proxy reads it, as a network d away each way (a round trip
// through the proxy takes 2d longer). It is a latency, not a bandwidth
// limit: bytes sent back to back arrive back to back, d later, so
// pipelined requests keep their overlap. It applies to bytes read from
// now on, on current and new connections; 0 ends it (bytes already
// delayed are still delivered in order). Faults act before the delay: a
// stalled byte is delayed once the stall releases it. Delayed bytes wait
// in memory: up to 64 reads (of at most 32 KiB) per direction, after which
// the sender blocks, as on a full network.
func (p *Proxy) SetLatency(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.latency = max(d, 0)
}

// Stats returns the proxy's counters.
func (p *Proxy) Stats() Stats {
	p.mu.Lock()
	active := len(p.links)
	p.mu.Unlock()
	return Stats{
		Accepted:      p.accepted.Load(),
		Active:        active,
		BytesToTarget: p.toTarget.Load(),
		BytesToClient: p.toClient.Load(),
		DialErrors:    p.dialErrors.Load(),
		FaultResets:   p.faultResets.Load(),
		Resets:        p.resets.Load(),
		Drops:         p.drops.Load(),
		Stalls:        p.stalls.Load(),
		Pauses:        p.pauses.Load(),
		Refusals:      p.refusals.Load(),
	}
}

// broadcastLocked wakes every forwarding goroutine waiting on a fault.
func (p *Proxy) broadcastLocked() {
	close(p.changed)
	p.changed = make(chan struct{})
}

// endDrop runs when the drop timer id fires: unless a later Drop extended
// the partition, it resets every connection the drop caught.
func (p *Proxy) endDrop(id uint64) {
	defer p.wg.Done()
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.timers, id)
	if p.closed || p.dropUntil.IsZero() || time.Now().Before(p.dropUntil) {
		return
	}
	p.dropUntil = time.Time{}
	for l := range p.links {
		if l.dropped && l.abortLocked(true) {
			p.faultResets.Add(1)
		}
	}
}

// shutdown closes the listener and every connection and cancels pending
// timers. It runs once, when p.ctx ends.
func (p *Proxy) shutdown() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	if err := p.ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		p.closeErr = fmt.Errorf("proxy: close: %w", err)
	}
	for l := range p.links {
		l.abortLocked(false)
	}
	for id, t := range p.timers {
		if t.Stop() { // not fired: its endDrop will never run
			p.wg.Done()
		}
		delete(p.timers, id)
	}
	p.paused, p.stallUntil, p.dropUntil, p.refuseUntil = false, time.Time{}, time.Time{}, time.Time{}
	p.broadcastLocked()
}

func (p *Proxy) acceptLoop() {
	defer p.wg.Done()
	for {
		c, err := p.ln.AcceptTCP()
		if err != nil {
			if p.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			select { // e.g. out of file descriptors: back off and retry
			case <-p.ctx.Done():
				return
			case <-time.After(10 * time.Millisecond):
			}
			continue
		}
		p.accepted.Add(1)
		l := &link{p: p, client: c, done: make(chan struct{})}
		l.halves.Store(2)
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			_ = c.Close()
			return
		}
		if time.Now().Before(p.refuseUntil) {
			p.mu.Unlock()
			_ = c.SetLinger(0) // close sends RST
			_ = c.Close()
			p.faultResets.Add(1)
			continue
		}
		l.dropped = !p.dropUntil.IsZero()
		p.links[l] = struct{}{}
		p.wg.Add(1)
		p.mu.Unlock()
		go l.run()
	}
}

// link is one proxied connection: the accepted client side and the dialled
// target side.
type link struct {
	p      *Proxy
	client *net.TCPConn
	halves atomic.Int32 // forwarding directions not yet finished

	// guarded by p.mu
	server  *net.TCPConn
	dropped bool          // caught by a drop: forward nothing, reset at its end
	closed  bool          // done is closed and both sides are closed
	done    chan struct{} // closed when the link is closed or aborted
}

// abortLocked closes both sides of l, with a RST when rst is set, and wakes
// its goroutines. It reports whether l was open. p.mu is held.
func (l *link) abortLocked(rst bool) bool {
	delete(l.p.links, l)
	if l.closed {
		return false
	}
	l.closed = true
	close(l.done)
	for _, c := range []*net.TCPConn{l.client, l.server} {
		if c == nil {
			continue
		}
		if rst {
			_ = c.SetLinger(0) // close sends RST instead of FIN
		}
		_ = c.Close()
	}
	return true
}

func (l *link) abort(rst bool) {
	l.p.mu.Lock()
	defer l.p.mu.Unlock()
	l.abortLocked(rst)
}

// halfDone is called as each direction finishes; the last one closes the
// link (a no-op if it was aborted).
func (l *link) halfDone() {
	if l.halves.Add(-1) == 0 {
		l.abort(false)
	}
}

// run connects l to the target and forwards client → target, starting a
// second goroutine for target → client.
func (l *link) run() {
	defer l.p.wg.Done()
	server, ok := l.connect()
	if !ok {
		l.abort(true)
		return
	}
	l.p.wg.Add(1)
	go func() {
		defer l.p.wg.Done()
		l.pipe(l.client, server, &l.p.toClient)
	}()
	l.pipe(server, l.client, &l.p.toTarget)
}

// connect waits for a target and dials it; a link caught by a drop is held
// undialled until the drop ends.
func (l *link) connect() (*net.TCPConn, bool) {
	p := l.p
	select {
	case <-p.targetSet:
	case <-l.done:
		return nil, false
	case <-p.ctx.Done():
		return nil, false
	}
	p.mu.Lock()
	target, dropped := p.target, l.dropped
	p.mu.Unlock()
	if dropped { // a partitioned network never reaches the server
		<-l.done
		return nil, false
	}
	d := net.Dialer{Timeout: dialTimeout}
	c, err := d.DialContext(p.ctx, "tcp", target)
	if err != nil {
		if p.ctx.Err() == nil {
			p.dialErrors.Add(1)
		}
		return nil, false
	}
	server := c.(*net.TCPConn)
	p.mu.Lock()
	defer p.mu.Unlock()
	if l.closed { // reset or closed while dialling
		_ = server.SetLinger(0)
		_ = server.Close()
		return nil, false
	}
	l.server = server
	return server, true
}

// pipe forwards src to dst until src ends or l is aborted. Every read result
// (bytes, FIN or error) passes the fault gate before it reaches dst, so a
// held FIN or RST stays behind the bytes before it. While the proxy has a
// latency (SetLatency), or once it has had one on this direction, bytes
// and the FIN go through a delayed writer instead, in order.
func (l *link) pipe(dst, src *net.TCPConn, count *atomic.Int64) {
	defer l.halfDone()
	var delayed *delayWriter
	defer func() {
		if delayed != nil {
			delayed.finish()
		}
	}()
	buf := make([]byte, bufSize)
	for {
		n, err := src.Read(buf)
		read := time.Now()
		if !l.p.gate(l) {
			return
		}
		l.p.mu.Lock()
		latency := l.p.latency
		l.p.mu.Unlock()
		if delayed == nil && latency > 0 {
			delayed = l.newDelayWriter(dst, count)
		}
		eof := errors.Is(err, io.EOF)
		if delayed != nil {
			if n > 0 || eof {
				if !delayed.send(delayedChunk{data: bytes.Clone(buf[:n]), eof: eof, due: read.Add(latency)}) {
					return
				}
			}
		} else if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				l.abort(true)
				return
			}
			count.Add(int64(n))
		}
		switch {
		case err == nil:
		case eof:
			if delayed == nil {
				_ = dst.CloseWrite()
			}
			return
		default: // reset by the peer (or closed): pass the reset on
			l.abort(true)
			return
		}
	}
}

// delayedChunk is one read (or the FIN) waiting for its due time.
type delayedChunk struct {
	data []byte
	eof  bool
	due  time.Time
}

// delayWriter writes a direction's chunks to dst at their due times, in
// order. Its goroutine belongs to the link's proxy.
type delayWriter struct {
	l     *link
	queue chan delayedChunk
	done  chan struct{} // closed when the writer goroutine has returned
}

// delayQueue bounds the chunks a delayed direction holds (each at most
// bufSize bytes); a full queue blocks the reader, as a full network does.
const delayQueue = 64

func (l *link) newDelayWriter(dst *net.TCPConn, count *atomic.Int64) *delayWriter {
	w := &delayWriter{l: l, queue: make(chan delayedChunk, delayQueue), done: make(chan struct{})}
	l.p.wg.Add(1)
	go func() {
		defer l.p.wg.Done()
		defer close(w.done)
		timer := time.NewTimer(time.Hour)
		timer.Stop() // Go ≥ 1.23: a stopped timer delivers no stale tick
		defer timer.Stop()
		for c := range w.queue {
			if wait := time.Until(c.due); wait > 0 {
				timer.Reset(wait)
				select {
				case <-timer.C:
				case <-l.done:
					return
				}
			}
			if len(c.data) > 0 {
				if _, err := dst.Write(c.data); err != nil {
					l.abort(true)
					return
				}
				count.Add(int64(len(c.data)))
			}
			if c.eof {
				_ = dst.CloseWrite()
			}
		}
	}()
	return w
}

// send queues c; false when the link was closed meanwhile.
func (w *delayWriter) send(c delayedChunk) bool {
	select {
	case w.queue <- c:
		return true
	case <-w.l.done:
		return false
	case <-w.done:
		return false
	}
}

// finish lets the writer deliver what is queued and waits for it (or for
// the link to close).
func (w *delayWriter) finish() {
	close(w.queue)
	select {
	case <-w.done:
	case <-w.l.done:
	}
}

// gate blocks while a fault holds l's bytes. It returns false when l has
// been closed or aborted, and the bytes must be discarded.
func (p *Proxy) gate(l *link) bool {
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		p.mu.Lock()
		closed, held := l.closed, l.dropped || p.paused
		wait := time.Until(p.stallUntil)
		changed := p.changed
		p.mu.Unlock()
		if closed {
			return false
		}
		if !held && wait <= 0 {
			return true
		}
		var expired <-chan time.Time
		if !held {
			if timer != nil {
				timer.Stop()
			}
			timer = time.NewTimer(wait)
			expired = timer.C
		}
		select {
		case <-changed:
		case <-expired:
		case <-l.done:
			return false
		}
	}
}
