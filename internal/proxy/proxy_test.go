package proxy_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/zkbalance/zkbalance/internal/cluster"
	"github.com/zkbalance/zkbalance/internal/proxy"
	"github.com/zkbalance/zkbalance/internal/zk"
	"github.com/zkbalance/zkbalance/zkwatch"
)

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// server is a local TCP server. With a handler it runs the handler on each
// connection; without one it hands each connection to the test on conns.
type server struct {
	ln    *net.TCPListener
	conns chan *net.TCPConn
	wg    sync.WaitGroup
	mu    sync.Mutex
	open  []*net.TCPConn
}

func startServer(t *testing.T, handler func(*net.TCPConn)) *server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &server{ln: ln.(*net.TCPListener), conns: make(chan *net.TCPConn, 16)}
	s.wg.Add(1)
	go func() { // owned by s: ends when the listener is closed
		defer s.wg.Done()
		for {
			c, err := s.ln.AcceptTCP()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.open = append(s.open, c)
			s.mu.Unlock()
			if handler == nil {
				s.conns <- c
				continue
			}
			s.wg.Add(1)
			go func() { defer s.wg.Done(); handler(c) }()
		}
	}()
	t.Cleanup(s.close)
	return s
}

func (s *server) addr() string { return s.ln.Addr().String() }

func (s *server) close() {
	_ = s.ln.Close()
	s.mu.Lock()
	for _, c := range s.open {
		_ = c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// next returns the next connection the server accepted.
func (s *server) next(t *testing.T) *net.TCPConn {
	t.Helper()
	select {
	case c := <-s.conns:
		return c
	case <-time.After(10 * time.Second):
		t.Fatal("server accepted no connection")
		return nil
	}
}

// none checks that the server accepts no connection within d.
func (s *server) none(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case <-s.conns:
		t.Fatal("server accepted a connection")
	case <-time.After(d):
	}
}

func echo(c *net.TCPConn) {
	_, _ = io.Copy(c, c)
	_ = c.Close()
}

func newProxy(t *testing.T, ctx context.Context, target string) *proxy.Proxy {
	t.Helper()
	p, err := proxy.New(ctx, target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

func dial(t *testing.T, addr string) *net.TCPConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c.(*net.TCPConn)
}

func write(t *testing.T, c net.Conn, s string) {
	t.Helper()
	_ = c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte(s)); err != nil {
		t.Fatal(err)
	}
}

// read reads exactly len(want) bytes within 10 s and compares them.
func read(t *testing.T, c net.Conn, want string) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	got := make([]byte, len(want))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatalf("read %q: %v (got %q)", want, err, got)
	}
	if string(got) != want {
		t.Fatalf("read %q, want %q", got, want)
	}
}

// silent checks that nothing (no byte, EOF or error) arrives on c within d.
func silent(t *testing.T, c net.Conn, d time.Duration) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(d))
	n, err := c.Read(make([]byte, 1))
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("expected silence, got %d bytes, %v", n, err)
	}
}

// readReset expects a connection reset on c within 10 s, after any bytes.
func readReset(t *testing.T, c net.Conn) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := io.Copy(io.Discard, c)
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("expected a connection reset, got %v", err)
	}
}

// waitFor polls cond for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestCloseLeavesNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	func() {
		ctx := ctxT(t, time.Minute)
		srv := startServer(t, echo)
		defer srv.close()
		var clients []net.Conn
		defer func() {
			for _, c := range clients {
				_ = c.Close()
			}
		}()
		connect := func(p *proxy.Proxy, payload string, wantEcho bool) {
			c, err := net.DialTimeout("tcp", p.Addr(), 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			clients = append(clients, c)
			write(t, c, payload)
			if wantEcho {
				read(t, c, payload)
			}
		}
		var proxies []*proxy.Proxy
		for range 3 {
			p, err := proxy.New(ctx, srv.addr())
			if err != nil {
				t.Fatal(err)
			}
			proxies = append(proxies, p)
			connect(p, "plain", true)
		}
		proxies[0].Pause()
		connect(proxies[0], "held by pause", false)
		proxies[1].Drop(time.Hour)
		connect(proxies[1], "held by drop", false)
		proxies[2].Stall(time.Hour)
		connect(proxies[2], "held by stall", false)
		delayed, err := proxy.New(ctx, srv.addr()) // bytes in a delay queue
		if err != nil {
			t.Fatal(err)
		}
		proxies = append(proxies, delayed)
		delayed.SetLatency(time.Hour)
		connect(delayed, "held by latency", false)
		waiting, err := proxy.Listen(ctx) // no target: connections wait
		if err != nil {
			t.Fatal(err)
		}
		proxies = append(proxies, waiting)
		connect(waiting, "waiting for a target", false)

		cctx, cancel := context.WithCancel(ctx) // ended by its context
		byCtx, err := proxy.New(cctx, srv.addr())
		if err != nil {
			t.Fatal(err)
		}
		connect(byCtx, "ctx", true)
		cancel()
		proxies = append(proxies, byCtx)

		closed := make(chan error, len(proxies))
		for _, p := range proxies {
			go func() { closed <- p.Close() }()
		}
		for range proxies {
			select {
			case err := <-closed:
				if err != nil {
					t.Errorf("close: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Close did not return within 10 s")
			}
		}
		// Close has waited for every goroutine of the proxies: one may still
		// be returning after its WaitGroup.Done, but none is blocked.
		for _, g := range proxyGoroutines() {
			if state := g[strings.Index(g, "[")+1:]; !strings.HasPrefix(state, "runnable") && !strings.HasPrefix(state, "running") {
				t.Errorf("proxy goroutine still working after Close:\n%s", g)
			}
		}
		waitFor(t, "proxy goroutines to return", func() bool { return len(proxyGoroutines()) == 0 })
		for i, p := range proxies {
			if err := p.Close(); err != nil {
				t.Errorf("second close: %v", err)
			}
			if st := p.Stats(); st.Active != 0 {
				t.Errorf("proxy %d: %d connections active after Close", i, st.Active)
			}
			if c, err := net.DialTimeout("tcp", p.Addr(), time.Second); err == nil {
				c.Close()
				t.Errorf("proxy %d still accepts after Close", i)
			}
		}
		// every client sees its connection closed
		for _, c := range clients {
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := io.Copy(io.Discard, c); err != nil && !errors.Is(err, syscall.ECONNRESET) {
				t.Errorf("client after Close: %v", err)
			}
		}
	}()
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		var b bytes.Buffer
		_ = pprof.Lookup("goroutine").WriteTo(&b, 1)
		t.Fatalf("%d goroutines before, %d after Close:\n%s", before, n, b.String())
	}
}

// proxyGoroutines returns the stacks of the goroutines running code of
// package proxy (not of the test).
func proxyGoroutines() []string {
	var stacks bytes.Buffer
	_ = pprof.Lookup("goroutine").WriteTo(&stacks, 2)
	var out []string
	for g := range strings.SplitSeq(stacks.String(), "\n\n") {
		if strings.Contains(g, "zkbalance/internal/proxy.") {
			out = append(out, g)
		}
	}
	return out
}

func TestForwardsInOrder(t *testing.T) {
	ctx := ctxT(t, time.Minute)
	srv := startServer(t, echo)
	p := newProxy(t, ctx, srv.addr())
	const clients, size = 8, 1 << 20
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for i := range clients {
		wg.Go(func() {
			if err := echoRoundTrip(p.Addr(), size, uint64(i)); err != nil {
				errs <- fmt.Errorf("client %d: %w", i, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	waitFor(t, "connections to close", func() bool { return p.Stats().Active == 0 })
	st := p.Stats()
	if st.Accepted != clients || st.BytesToTarget != clients*size || st.BytesToClient != clients*size {
		t.Fatalf("stats %+v", st)
	}
}

// echoRoundTrip writes size random bytes in random-sized chunks through an
// echo server while reading them back, then half-closes and expects exactly
// the same bytes followed by EOF.
func echoRoundTrip(addr string, size int, seed uint64) error {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	rng := rand.New(rand.NewPCG(seed, 42))
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	werr := make(chan error, 1)
	go func() { // owned by echoRoundTrip: it waits for werr
		for rest := data; len(rest) > 0; {
			n := min(len(rest), 1+rng.IntN(64<<10))
			if _, err := c.Write(rest[:n]); err != nil {
				werr <- err
				return
			}
			rest = rest[n:]
		}
		werr <- c.(*net.TCPConn).CloseWrite()
	}()
	got, rerr := io.ReadAll(c)
	if err := <-werr; err != nil {
		return fmt.Errorf("write: %w", err)
	}
	if rerr != nil {
		return fmt.Errorf("read: %w", rerr)
	}
	if !bytes.Equal(got, data) {
		return fmt.Errorf("echo differs: got %d bytes, want %d", len(got), len(data))
	}
	return nil
}

func TestReset(t *testing.T) {
	ctx := ctxT(t, time.Minute)
	srv := startServer(t, nil)
	p := newProxy(t, ctx, srv.addr())
	c := dial(t, p.Addr())
	write(t, c, "hello")
	s := srv.next(t)
	read(t, s, "hello")

	p.Reset()
	readReset(t, c)
	readReset(t, s)
	waitFor(t, "no active connection", func() bool { return p.Stats().Active == 0 })

	c2 := dial(t, p.Addr()) // later connections are forwarded
	write(t, c2, "again")
	s2 := srv.next(t)
	read(t, s2, "again")
	write(t, s2, "back")
	read(t, c2, "back")
	if st := p.Stats(); st.Resets != 1 || st.FaultResets != 1 || st.Active != 1 || st.Accepted != 2 {
		t.Fatalf("stats %+v", st)
	}
}

func TestStallHoldsThenDeliversInOrder(t *testing.T) {
	ctx := ctxT(t, time.Minute)
	srv := startServer(t, nil)
	p := newProxy(t, ctx, srv.addr())
	c := dial(t, p.Addr())
	write(t, c, "a")
	s := srv.next(t)
	read(t, s, "a")

	const stall = 400 * time.Millisecond
	start := time.Now()
	p.Stall(stall)
	for _, chunk := range []string{"b", "cd", "efg"} {
		write(t, c, chunk)
		write(t, s, chunk)
	}
	if err := c.CloseWrite(); err != nil { // the FIN stays behind the bytes
		t.Fatal(err)
	}
	late := dial(t, p.Addr()) // new connections are dialled, their bytes held too
	write(t, late, "late")

	for _, side := range []*net.TCPConn{c, s} {
		_ = side.SetReadDeadline(time.Now().Add(10 * time.Second))
		got := make([]byte, 6)
		if _, err := io.ReadFull(side, got); err != nil || string(got) != "bcdefg" {
			t.Fatalf("after the stall: %q, %v", got, err)
		}
		if d := time.Since(start); d < stall {
			t.Fatalf("bytes delivered %v after a %v stall began", d, stall)
		}
	}
	if n, err := s.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Fatalf("server after the client's FIN: %d, %v", n, err)
	}
	s2 := srv.next(t)
	read(t, s2, "late")
	write(t, s, "still open")
	read(t, c, "still open")
	if st := p.Stats(); st.Stalls != 1 || st.Active != 2 || st.FaultResets != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestPauseResume(t *testing.T) {
	ctx := ctxT(t, time.Minute)
	srv := startServer(t, nil)
	p := newProxy(t, ctx, srv.addr())
	c := dial(t, p.Addr())
	write(t, c, "x")
	s := srv.next(t)
	read(t, s, "x")

	p.Pause()
	var want bytes.Buffer
	for i := range 2000 { // more than one read buffer in flight
		chunk := fmt.Sprintf("%06d|", i)
		want.WriteString(chunk)
		write(t, c, chunk)
	}
	write(t, s, "pong")
	silent(t, s, 300*time.Millisecond)
	silent(t, c, 100*time.Millisecond)

	p.Resume()
	read(t, s, want.String())
	read(t, c, "pong")
	// counters are bumped just after each write returns
	waitFor(t, "byte counts", func() bool {
		st := p.Stats()
		return st.BytesToTarget == int64(1+want.Len()) && st.BytesToClient == 4
	})
	if st := p.Stats(); st.Pauses != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestDropIsAPartitionThenResets(t *testing.T) {
	ctx := ctxT(t, time.Minute)
	srv := startServer(t, nil)
	p := newProxy(t, ctx, srv.addr())
	c := dial(t, p.Addr())
	write(t, c, "before")
	s := srv.next(t)
	read(t, s, "before")

	const drop = time.Second
	start := time.Now()
	p.Drop(drop)
	write(t, c, "lost")
	if err := c.CloseWrite(); err != nil { // not even the FIN gets through
		t.Fatal(err)
	}
	write(t, s, "lost too")
	silent(t, s, 300*time.Millisecond)
	silent(t, c, 50*time.Millisecond)

	during := dial(t, p.Addr()) // accepted, but never reaches the server
	write(t, during, "hello?")
	srv.none(t, 200*time.Millisecond)
	silent(t, during, 50*time.Millisecond)
	if st := p.Stats(); st.Active != 2 {
		t.Fatalf("during the drop: %+v", st)
	}

	// at the end of the drop everything it caught is reset on both sides
	readReset(t, c)
	if d := time.Since(start); d < drop {
		t.Fatalf("reset %v after a %v drop began", d, drop)
	}
	readReset(t, s)
	readReset(t, during)
	srv.none(t, 100*time.Millisecond)

	after := dial(t, p.Addr())
	write(t, after, "after")
	s2 := srv.next(t)
	read(t, s2, "after")
	waitFor(t, "dropped connections to go", func() bool { return p.Stats().Active == 1 })
	if st := p.Stats(); st.Drops != 1 || st.FaultResets != 2 || st.Accepted != 3 {
		t.Fatalf("stats %+v", st)
	}
}

func TestRefuseResetsThenRefusesNewConnections(t *testing.T) {
	ctx := ctxT(t, time.Minute)
	srv := startServer(t, nil)
	p := newProxy(t, ctx, srv.addr())
	c := dial(t, p.Addr())
	write(t, c, "before")
	s := srv.next(t)
	read(t, s, "before")

	const refuse = time.Second
	start := time.Now()
	p.Refuse(refuse)
	readReset(t, c)
	readReset(t, s)
	// during the refusal a new connection is reset at once and never
	// dialled (the reset may even beat the end of the client's connect)
	if during, err := net.DialTimeout("tcp", p.Addr(), 5*time.Second); err == nil {
		defer during.Close()
		readReset(t, during)
	} else if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatal(err)
	}
	srv.none(t, 100*time.Millisecond)
	if d := time.Since(start); d >= refuse {
		t.Fatalf("the checks took %v, longer than the %v refusal", d, refuse)
	}

	time.Sleep(time.Until(start.Add(refuse)))
	after := dial(t, p.Addr())
	write(t, after, "after")
	read(t, srv.next(t), "after")
	waitFor(t, "refused connections to go", func() bool { return p.Stats().Active == 1 })
	if st := p.Stats(); st.Refusals != 1 || st.FaultResets != 2 || st.Accepted != 3 {
		t.Fatalf("stats %+v", st)
	}
}

func TestListenThenSetTarget(t *testing.T) {
	ctx := ctxT(t, time.Minute)
	srv := startServer(t, echo)
	p, err := proxy.Listen(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	c := dial(t, p.Addr()) // accepted before a target is known
	write(t, c, "early")
	silent(t, c, 200*time.Millisecond)
	p.SetTarget(srv.addr())
	read(t, c, "early")
	c2 := dial(t, p.Addr())
	write(t, c2, "later")
	read(t, c2, "later")

	// a connection waiting for a target ends with the proxy's context
	lctx, cancel := context.WithCancel(ctx)
	q, err := proxy.Listen(lctx)
	if err != nil {
		t.Fatal(err)
	}
	w := dial(t, q.Addr())
	write(t, w, "waiting")
	waitFor(t, "the connection to be accepted", func() bool { return q.Stats().Active == 1 })
	cancel()
	_ = w.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := w.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("waiting connection after the context ended: %d, %v", n, err)
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestUnreachableTarget(t *testing.T) {
	ctx := ctxT(t, time.Minute)
	if _, err := proxy.New(ctx, "no port"); err == nil {
		t.Fatal("New accepted a target without a port")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	p := newProxy(t, ctx, dead)
	// the client's connection is reset, like a refused one (the reset may
	// even beat the end of the client's connect)
	c, err := net.DialTimeout("tcp", p.Addr(), 5*time.Second)
	if err == nil {
		defer c.Close()
		readReset(t, c)
	} else if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatal(err)
	}
	waitFor(t, "the dial error", func() bool { return p.Stats().DialErrors == 1 })
	if st := p.Stats(); st.DialErrors != 1 || st.Active != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// sessionEvents records the session states a go-zookeeper connection goes
// through (its event channel drops events when nobody reads it).
type sessionEvents struct {
	mu     sync.Mutex
	states []zkwatch.State
	times  []time.Time
}

func (e *sessionEvents) callback(ev zkwatch.Event) {
	if ev.Type != zk.EventSession {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.states = append(e.states, ev.State)
	e.times = append(e.times, time.Now())
}

func (e *sessionEvents) mark() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.states)
}

func (e *sessionEvents) since(i int) []zkwatch.State {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]zkwatch.State(nil), e.states[i:]...)
}

// await waits until the states recorded from index from contain want in
// order and returns the time each of them was seen.
func (e *sessionEvents) await(t *testing.T, from int, timeout time.Duration, want ...zkwatch.State) []time.Time {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		e.mu.Lock()
		var at []time.Time
		for i := from; i < len(e.states) && len(at) < len(want); i++ {
			if e.states[i] == want[len(at)] {
				at = append(at, e.times[i])
			}
		}
		seen := append([]zkwatch.State(nil), e.states[from:]...)
		e.mu.Unlock()
		if len(at) == len(want) {
			return at
		}
		if time.Now().After(deadline) {
			t.Fatalf("states %v do not contain %v in order within %v", seen, want, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type nopLogger struct{}

func (nopLogger) Printf(string, ...any) {}

func TestZooKeeperSessionThroughProxy(t *testing.T) {
	cluster.SkipShort(t) // its own ZooKeeper
	ctx := ctxT(t, 3*time.Minute)
	cl, err := cluster.Start(ctx, cluster.Config{ZooKeeperOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	p := newProxy(t, ctx, cl.ZooKeeperAddr())

	const sessionTimeout = 2 * time.Second
	var events sessionEvents
	conn, _, err := zk.Connect([]string{p.Addr()}, sessionTimeout,
		zk.WithEventCallback(events.callback), zk.WithLogger(nopLogger{}))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	events.await(t, 0, 30*time.Second, zkwatch.StateHasSession)
	session := conn.SessionID()
	if _, err := conn.Create("/proxy-eph", nil, zkwatch.FlagEphemeral, zkwatch.WorldACL(zkwatch.PermAll)); err != nil {
		t.Fatal(err)
	}

	// A stall well inside the client's receive timeout (2/3 of the session
	// timeout) delays the answer but keeps the connection and the session.
	if _, _, err := conn.Exists("/proxy-eph"); err != nil { // fresh traffic: the read deadline was just renewed
		t.Fatal(err)
	}
	mark := events.mark()
	const stall = 500 * time.Millisecond
	start := time.Now()
	p.Stall(stall)
	ok, _, err := conn.Exists("/proxy-eph")
	if err != nil || !ok {
		t.Fatalf("exists during a stall: %v, %v", ok, err)
	}
	if d := time.Since(start); d < stall {
		t.Fatalf("answer took %v through a %v stall", d, stall)
	}
	time.Sleep(sessionTimeout) // pings keep flowing after the stall
	if got := events.since(mark); len(got) != 0 || conn.SessionID() != session {
		t.Fatalf("after a short stall: states %v, session %x (was %x)", got, conn.SessionID(), session)
	}
	t.Logf("stall %v: answer after %v, no state change", stall, time.Since(start)-sessionTimeout)

	// A reset disconnects; the client reconnects through the proxy into the
	// same session and its ephemeral node survives.
	mark = events.mark()
	p.Reset()
	events.await(t, mark, 20*time.Second, zkwatch.StateDisconnected, zkwatch.StateHasSession)
	if conn.SessionID() != session {
		t.Fatalf("session changed across a reset: %x -> %x", session, conn.SessionID())
	}
	if ok, _, err := conn.Exists("/proxy-eph"); err != nil || !ok {
		t.Fatalf("ephemeral after a reset: %v, %v", ok, err)
	}
	t.Logf("reset: states %v, same session", events.since(mark))

	// A drop longer than the session timeout is a partition: the client
	// times out, ZooKeeper expires the session, and once the drop ends the
	// client learns it and starts a new one.
	mark = events.mark()
	const drop = 3 * sessionTimeout
	start = time.Now()
	p.Drop(drop)
	at := events.await(t, mark, 30*time.Second, zkwatch.StateDisconnected, zkwatch.StateExpired, zkwatch.StateHasSession)
	if d := at[0].Sub(start); d >= drop {
		t.Errorf("client noticed the partition only after %v", d)
	}
	if d := at[1].Sub(start); d < drop {
		t.Errorf("expiry seen %v into a %v partition", d, drop)
	}
	if conn.SessionID() == session || conn.SessionID() == 0 {
		t.Fatalf("session after the partition: %x (was %x)", conn.SessionID(), session)
	}
	if ok, _, err := conn.Exists("/proxy-eph"); err != nil || ok {
		t.Fatalf("ephemeral after expiry: %v, %v", ok, err)
	}
	t.Logf("drop %v: states %v, disconnected after %v, expired after %v, stats %+v",
		drop, events.since(mark), at[0].Sub(start).Round(time.Millisecond),
		at[1].Sub(start).Round(time.Millisecond), p.Stats())
	if st := p.Stats(); st.FaultResets < 2 || st.Resets != 1 || st.Drops != 1 || st.Stalls != 1 {
		t.Fatalf("stats %+v", st)
	}
}
