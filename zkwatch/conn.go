package zkwatch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zkbalance/zkbalance/internal/zk"
)

// Sentinel errors.
var (
	// ErrClosed is returned by calls on a closed Conn.
	ErrClosed = errors.New("zkwatch: connection closed")
	// ErrBadServers is returned by ParseServers for an unusable connect string.
	ErrBadServers = errors.New("zkwatch: bad ZooKeeper connect string")
	// ErrSessionExpired is returned by calls on a OneSession Conn whose
	// session has expired.
	ErrSessionExpired = errors.New("zkwatch: session expired")
	// ErrUnreachable is returned by Dial with Config.FailFast when every
	// dial of every server failed for that long; the error wraps the last
	// dial error too (e.g. "connect: connection refused").
	ErrUnreachable = errors.New("zkwatch: no ZooKeeper server reachable")
)

// Config configures Dial. Zero fields take the documented defaults.
type Config struct {
	// Servers is a ZooKeeper connect string, "host:port[,host:port...][/chroot]".
	Servers string
	// SessionTimeout is the requested session timeout (the server may
	// negotiate it within its min/max). Default 10s.
	SessionTimeout time.Duration
	// Dialer, when set, opens the TCP connections (tests use it to capture
	// session credentials or to route through a fault-injecting proxy).
	// Either way Dial wraps it in BoundedDialer with SessionTimeout, and
	// bounds each session handshake by SessionTimeout divided by the
	// number of servers (at least a second), as ZooKeeper's Java client
	// does: a server that accepts and never answers leaves time to try
	// the others within the session.
	Dialer Dialer
	// Logger receives connection and watch diagnostics. Default slog.Default().
	Logger *slog.Logger
	// OneSession ties the Conn to its first session: when that session
	// expires the Conn ends (Done is closed, calls fail with
	// ErrSessionExpired) instead of opening a new session. No request made
	// in the old session can then be sent in a new one, which is what
	// fencing by ephemeral znodes needs. Open a new Conn to go on.
	OneSession bool
	// Auth are credentials added to the connection (ZooKeeper's addauth)
	// as soon as it has its first session, before Dial returns and so
	// before any other request; Dial fails if one is rejected.
	// go-zookeeper re-sends them, ahead of any queued request, on every
	// reconnect and with every new session. Default none: the connection
	// acts as world:anyone only.
	Auth []Auth
	// FailFast, when positive, makes Dial give up once every dial of every
	// server has failed (refused, unroutable, ...) for this long without a
	// single TCP connection: Dial then returns ErrUnreachable wrapping the
	// last dial error. For one-shot tools, where a wrong address should be
	// said at once. A server that accepts connections but does not answer
	// is still waited for until ctx is done. Default 0: wait for ZooKeeper
	// to come up until ctx is done (Dial's error then still names the last
	// dial error).
	FailFast time.Duration
}

// Auth is one credential for ZooKeeper's addauth: a scheme and its
// scheme-specific bytes, e.g. DigestAuth("user", "password").
type Auth struct {
	// Scheme is the authentication scheme, e.g. "digest".
	Scheme string
	// Auth is the credential in the scheme's format ("user:password" for
	// digest).
	Auth []byte
}

// DigestAuth is the digest-scheme credential "user:password"; znodes
// created with DigestACL(perms, user, password) grant it perms.
func DigestAuth(user, password string) Auth {
	return Auth{Scheme: "digest", Auth: []byte(user + ":" + password)}
}

// ParseServers splits a connect string into its server list and chroot
// ("" when none; a lone "/" is no chroot).
func ParseServers(s string) (servers []string, chroot string, err error) {
	hosts := s
	if i := strings.IndexByte(s, '/'); i >= 0 {
		hosts, chroot = s[:i], s[i:]
		if chroot == "/" {
			chroot = ""
		}
		if chroot != "" && (strings.HasSuffix(chroot, "/") || strings.Contains(chroot, "//") || path.Clean(chroot) != chroot) {
			return nil, "", fmt.Errorf("%w: chroot %q", ErrBadServers, chroot)
		}
	}
	for _, h := range strings.Split(hosts, ",") {
		h = strings.TrimSpace(h)
		if h == "" {
			continue
		}
		servers = append(servers, h)
	}
	if len(servers) == 0 {
		return nil, "", fmt.Errorf("%w: %q has no host", ErrBadServers, s)
	}
	return servers, chroot, nil
}

// SessionEvent is a change of the connection's session state.
type SessionEvent struct {
	// State is the new state (StateHasSession, StateDisconnected,
	// StateExpired, ...).
	State State
	// SessionID is the session the event belongs to: for StateExpired the
	// session that ended, for StateHasSession the (possibly new) session.
	SessionID int64
	// Time is when the event was observed.
	Time time.Time
}

// Conn is a ZooKeeper connection with context-aware calls whose paths are
// relative to the chroot of the connect string. It is safe for concurrent
// use. After a session expiry it opens a new session by itself; subscribers
// see StateExpired and then StateHasSession with the new id.
type Conn struct {
	zk     *zk.Conn
	chroot string
	log    *slog.Logger

	mu        sync.Mutex
	state     State
	sessionID int64
	changed   chan struct{} // closed and replaced on every state change
	subs      map[*subscriber]struct{}
	closed    bool
	expired   bool
	done      chan struct{}
	oneSess   bool

	// noMultiRead: the server answered multiRead UNIMPLEMENTED (before
	// ZooKeeper 3.6): GetMany reads one znode a request.
	noMultiRead atomic.Bool
	// multiReadOK: a multiRead was answered; CreateThenGet's merged reads
	// may then ride right behind their multi (createbatch.go).
	multiReadOK atomic.Bool
	// creates merges concurrent CreateThenGet calls (createbatch.go).
	creates createCoalescer
}

// Dial connects and waits until the connection has a session, or ctx is done.
func Dial(ctx context.Context, cfg Config) (*Conn, error) {
	servers, chroot, err := ParseServers(cfg.Servers)
	if err != nil {
		return nil, err
	}
	if cfg.SessionTimeout <= 0 {
		cfg.SessionTimeout = 10 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	c := &Conn{
		chroot:  chroot,
		log:     cfg.Logger,
		changed: make(chan struct{}),
		subs:    map[*subscriber]struct{}{},
		done:    make(chan struct{}),
		oneSess: cfg.OneSession,
	}
	dials := &dialLog{}
	opts := sliceOf(zk.WithLogger(zkLogger{cfg.Logger}), zk.WithEventCallback(c.onEvent),
		zk.WithDialer(dials.wrap(boundedDialer(cfg.Dialer, cfg.SessionTimeout, handshakeBound(cfg.SessionTimeout, len(servers))))))
	conn, _, err := zk.Connect(servers, cfg.SessionTimeout, opts...)
	if err != nil {
		return nil, fmt.Errorf("zkwatch: connect %s: %w", cfg.Servers, err)
	}
	if cfg.FailFast > 0 {
		var cancel context.CancelCauseFunc
		ctx, cancel = context.WithCancelCause(ctx)
		defer cancel(nil)
		t := time.AfterFunc(cfg.FailFast, func() {
			if derr := dials.onlyFailures(); derr != nil {
				cancel(&unreachableError{servers: cfg.Servers, after: cfg.FailFast, dial: derr})
			}
		})
		defer t.Stop()
	}
	c.mu.Lock()
	c.zk = conn
	if c.state == zk.StateHasSession && c.sessionID == 0 {
		// The first session event raced ahead of Connect's return and could
		// not read the id yet.
		c.sessionID = conn.SessionID()
	}
	c.mu.Unlock()
	if err := c.WaitSession(ctx); err != nil {
		c.Close()
		return nil, dialError(cfg.Servers, err, dials.onlyFailures())
	}
	for _, a := range cfg.Auth {
		if err := c.addAuth(ctx, a); err != nil {
			c.Close()
			return nil, fmt.Errorf("zkwatch: connect %s: add %q auth: %w", cfg.Servers, a.Scheme, err)
		}
	}
	return c, nil
}

// addAuth adds one credential. go-zookeeper remembers it (for its re-sends)
// only once the server accepted it, so a connection lost with the request
// in flight is waited out and the request sent again.
func (c *Conn) addAuth(ctx context.Context, a Auth) error {
	for {
		_, err := do(ctx, c, func(z *zk.Conn) (struct{}, error) { return struct{}{}, z.AddAuth(a.Scheme, a.Auth) })
		if err == nil || !errors.Is(err, zk.ErrConnectionClosed) {
			return err
		}
		if err := c.WaitSession(ctx); err != nil {
			return err
		}
	}
}

// onEvent runs on go-zookeeper's goroutine for every event; it must not block.
func (c *Conn) onEvent(ev Event) {
	if ev.Type != zk.EventSession {
		return
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	id := c.sessionID
	switch ev.State {
	case zk.StateHasSession:
		if c.zk != nil {
			id = c.zk.SessionID()
		}
	case zk.StateExpired:
		// id stays the expired session's
	}
	if ev.State == zk.StateExpired {
		c.log.Warn("zookeeper session expired", "session", fmt.Sprintf("0x%x", id))
	}
	c.state, c.sessionID = ev.State, id
	close(c.changed)
	c.changed = make(chan struct{})
	se := SessionEvent{State: ev.State, SessionID: id, Time: time.Now()}
	for s := range c.subs {
		s.push(se)
	}
	endNow := c.oneSess && ev.State == zk.StateExpired
	if endNow {
		c.expired = true
	}
	c.mu.Unlock()
	if endNow {
		// Synchronously, on go-zookeeper's own goroutine, before it can open
		// a new session: requests still queued are then failed, never sent.
		c.Close()
	}
}

// State returns the current connection state.
func (c *Conn) State() State {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state
}

// SessionID returns the current (or last) session id.
func (c *Conn) SessionID() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sessionID
}

// Chroot is the chroot of the connect string ("" for none).
func (c *Conn) Chroot() string { return c.chroot }

// WaitSession blocks until the connection has a session (returns at once if
// it has one), ctx is done, or the Conn is closed.
func (c *Conn) WaitSession(ctx context.Context) error {
	for {
		c.mu.Lock()
		st, ch, closed, expired := c.state, c.changed, c.closed, c.expired
		c.mu.Unlock()
		if expired {
			return ErrSessionExpired
		}
		if closed {
			return ErrClosed
		}
		if st == zk.StateHasSession {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-c.done:
			return c.endErr()
		}
	}
}

// endErr is the error calls on an ended Conn return.
func (c *Conn) endErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.expired {
		return ErrSessionExpired
	}
	return ErrClosed
}

// Done is closed when the Conn is closed.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Close closes the connection; ephemeral znodes of its session go at once.
// Subscriptions and watches end. Safe to call more than once.
func (c *Conn) Close() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	close(c.done)
	subs := c.subs
	c.subs = nil
	c.mu.Unlock()
	for s := range subs {
		s.close()
	}
	if c.zk != nil {
		c.zk.Close()
	}
}

// handshakeBound is the time each session handshake gets: the session
// timeout divided by the number of servers, at least a second (never more
// than the session timeout). Pure.
func handshakeBound(session time.Duration, servers int) time.Duration {
	if servers <= 1 {
		return session
	}
	return min(session, max(time.Second, session/time.Duration(servers)))
}

// zkLogger routes go-zookeeper's printf logging to slog at debug level.
type zkLogger struct{ l *slog.Logger }

func (z zkLogger) Printf(format string, args ...any) {
	z.l.Debug(fmt.Sprintf("zk: "+format, args...))
}

// sliceOf builds a slice of go-zookeeper's unexported option type.
func sliceOf[T any](xs ...T) []T { return xs }
