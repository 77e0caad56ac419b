package chaos

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zkbalance/zkbalance/internal/ctxsleep"
	"github.com/zkbalance/zkbalance/internal/zkformat"
	"github.com/zkbalance/zkbalance/partition"
	"github.com/zkbalance/zkbalance/zkwatch"
)

const (
	// auditTick is the audit's safety-net check interval, besides its
	// watches.
	auditTick = 250 * time.Millisecond
	// auditDialTimeout bounds one connection's wait for its session.
	auditDialTimeout = 10 * time.Second
	// auditSession is the audit connections' session timeout. A connection
	// is closed when it loses its server, so the server ends such a session
	// by expiry; the audit has no ephemeral znodes, nothing waits for it.
	auditSession = 10 * time.Second
	// auditReadTimeout bounds one check's reads.
	auditReadTimeout = 5 * time.Second
)

// errConnLost ends an audit connection: it lost its server (and is never
// reconnected, see audit).
var errConnLost = errors.New("audit: ZooKeeper connection lost")

// audit is the independent ownership checker. It reads the group's
// registered members and owner znodes on every change (its own watches:
// the children of /consumers/<g>/ids and of every /consumers/<g>/owners/<t>,
// watched for creation while absent) and every quarter second as a safety
// net, and flags
//
//   - a partition with two owner znodes at once. In the Scala layout
//     ("<p>", one znode per partition) this cannot happen; in the pykafka
//     layout ("<leader>-<p>") it can: a claim under another leader's name
//     does not collide with the old owner's znode;
//   - a partition owned by a member that is not registered for longer than
//     grace (the session timeout plus a margin);
//   - an owner znode whose name is not "<p>" or "<leader>-<p>", or whose
//     value in the Scala layout names no thread id.
//
// The audit owns its connections, dialled from the members' connect string,
// and works in epochs: a new go-zookeeper connection, the watches armed on
// it, checks on every watch event and tick, and as soon as the connection
// loses its server it is closed and the next epoch dials a new one. No
// connection is ever reconnected: go-zookeeper (v1.0.4) re-sends a
// connection's watches on reconnect while the new connection's receive loop
// already runs, and both touch the connection's last zxid unsynchronised
// (go-zookeeper/zk pull request 35, open), a data race the race detector
// reports. Closing the connection on the disconnect event alone would race
// go-zookeeper's redial, so each connection's dialer opens one TCP
// connection and refuses every later dial (oneConnDialer): go-zookeeper
// then never gets as far as re-sending, and a brand-new connection has no
// watches to re-send. (The test's own long-lived observer connection sets
// no watches, so it may reconnect.)
type audit struct {
	servers string
	group   string
	topics  []string
	grace   time.Duration
	wg      sync.WaitGroup // the epoch loop and the watch forwarders

	mu         sync.Mutex
	deadSince  map[string]time.Time // "t/<znode>" -> first seen owned by an unregistered member
	reported   map[string]bool      // immediate violations already reported
	violations []string
	stats      auditStats
}

// auditStats counts what the audit did.
type auditStats struct {
	Checks      int // completed checks
	OnWatch     int // ... run on a watch event (or a watch's arming)
	OnTick      int // ... run on the tick
	Failed      int // checks cut short by a failed read (connection lost)
	WatchEvents int // fired watches, as delivered (close ones coalesce)
	Conns       int // connections (epochs) that had a session

	Reading, MaxRead time.Duration // time spent reading (all checks), the longest read
}

func (s auditStats) String() string {
	mean := time.Duration(0)
	if n := s.Checks + s.Failed; n > 0 {
		mean = s.Reading / time.Duration(n)
	}
	return fmt.Sprintf("%d checks (%d on a watch event or arming, %d on the %s tick; %d more cut short), %d watch events, %d connections; reads %s mean, %s max",
		s.Checks, s.OnWatch, s.OnTick, auditTick, s.Failed, s.WatchEvents, s.Conns,
		mean.Round(100*time.Microsecond), s.MaxRead.Round(100*time.Microsecond))
}

// listing is one read of a group: its registered members and, per topic,
// its owner znodes (name -> value).
type listing struct {
	members map[string]bool
	owners  map[string]map[string]string
}

func newAudit(servers, group string, topics []string, grace time.Duration) *audit {
	return &audit{servers: servers, group: group, topics: topics, grace: grace,
		deadSince: map[string]time.Time{}, reported: map[string]bool{}}
}

// startAudit starts auditing group's ownership of topics through its own
// connections to servers (a ZooKeeper connect string, with the chroot the
// members use, if any) until ctx is done; then result returns the findings.
func startAudit(ctx context.Context, servers, group string, topics []string, grace time.Duration) *audit {
	a := newAudit(servers, group, topics, grace)
	a.wg.Go(func() {
		for {
			_ = a.epoch(ctx) // a lost connection or a failed dial: dial again
			// A short pause before the next dial; a dial while ZooKeeper is
			// down waits in go-zookeeper's own one-second retry pace.
			if !ctxsleep.Sleep(ctx, auditTick) {
				return
			}
		}
	})
	return a
}

// epoch audits through one new connection until it loses its server or
// ctx is done. Everything it starts has ended or been handed to a.wg when it
// returns.
func (a *audit) epoch(ctx context.Context) error {
	ctx, lost := context.WithCancelCause(ctx)
	defer lost(nil)
	dctx, cancel := context.WithTimeout(ctx, auditDialTimeout)
	conn, err := zkwatch.Dial(dctx, zkwatch.Config{
		Servers:        a.servers,
		SessionTimeout: auditSession,
		Dialer:         oneConnDialer(ctx, lost),
		Logger:         slog.New(slog.DiscardHandler),
	})
	cancel()
	if err != nil {
		return err
	}
	sessions := conn.Subscribe(ctx)
	defer func() {
		conn.Close() // ends the watches: their channels close, the forwarders end
		lost(nil)
		for range sessions { // until the subscription's goroutine has ended
		}
	}()
	if conn.State() != zkwatch.StateHasSession { // lost before the subscription
		return errConnLost
	}
	a.mu.Lock()
	a.stats.Conns++
	a.mu.Unlock()

	// Each WatchChildren delivers the current listing once armed, then one
	// after every change (re-armed before it is delivered, watching for
	// creation while the znode is absent); its channel closes when ctx is
	// done or conn is closed, which ends the forwarder.
	changed := make(chan struct{}, 1)
	paths := []string{"/consumers/" + a.group + "/ids"}
	for _, t := range a.topics {
		paths = append(paths, "/consumers/"+a.group+"/owners/"+t)
	}
	for _, p := range paths {
		snaps := conn.WatchChildren(ctx, p)
		a.wg.Go(func() {
			armed := false
			for range snaps {
				if armed {
					a.mu.Lock()
					a.stats.WatchEvents++
					a.mu.Unlock()
				}
				armed = true
				select {
				case changed <- struct{}{}:
				default: // a check is due already
				}
			}
		})
	}

	tick := time.NewTicker(auditTick)
	defer tick.Stop()
	for {
		onWatch := true
		select {
		case <-changed: // a change first: the tick may be due as well after a long check
		default:
			select {
			case <-ctx.Done():
				return context.Cause(ctx)
			case ev, ok := <-sessions:
				if !ok || ev.State != zkwatch.StateHasSession && ev.State != zkwatch.StateConnected {
					return errConnLost // closed on the spot: see audit
				}
				continue
			case <-changed:
			case <-tick.C:
				onWatch = false
			}
		}
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		a.check(ctx, conn, onWatch)
	}
}

// oneConnDialer is a go-zookeeper dialer that opens one TCP connection
// (failed attempts before it do not count) and refuses every later dial,
// calling lost: the go-zookeeper connection never reconnects, so it never
// re-sends its watches. ctx bounds the dial.
func oneConnDialer(ctx context.Context, lost context.CancelCauseFunc) zkwatch.Dialer {
	var used atomic.Bool
	return func(network, address string, timeout time.Duration) (net.Conn, error) {
		if used.Load() {
			lost(errConnLost)
			return nil, errConnLost
		}
		d := net.Dialer{Timeout: timeout}
		c, err := d.DialContext(ctx, network, address)
		if err == nil {
			used.Store(true)
		}
		return c, err
	}
}

// check reads the group once through conn and evaluates the listing.
func (a *audit) check(ctx context.Context, conn *zkwatch.Conn, onWatch bool) {
	ctx, cancel := context.WithTimeout(ctx, auditReadTimeout)
	defer cancel()
	start := time.Now()
	l, err := a.read(ctx, conn)
	now := time.Now()
	a.mu.Lock()
	defer a.mu.Unlock()
	a.stats.Reading += now.Sub(start)
	a.stats.MaxRead = max(a.stats.MaxRead, now.Sub(start))
	if err != nil {
		a.stats.Failed++ // the connection is lost (a fault): the next epoch checks again
		return
	}
	a.evaluate(l, now)
	a.stats.Checks++
	if onWatch {
		a.stats.OnWatch++
	} else {
		a.stats.OnTick++
	}
}

// read lists the group's members and owner znodes with their values. It
// reads the values concurrently (go-zookeeper pipelines the requests on the
// connection) and waits for every read. An owner znode deleted between the
// listing and its read is left out.
func (a *audit) read(ctx context.Context, conn *zkwatch.Conn) (listing, error) {
	l := listing{members: map[string]bool{}, owners: map[string]map[string]string{}}
	ids, _, err := conn.Children(ctx, "/consumers/"+a.group+"/ids")
	if err != nil && !errors.Is(err, zkwatch.ErrNoNode) {
		return l, err
	}
	for _, id := range ids {
		l.members[id] = true
	}
	type owner struct {
		topic, name string
		value       []byte
		err         error
	}
	var owners []*owner
	for _, t := range a.topics {
		names, _, err := conn.Children(ctx, "/consumers/"+a.group+"/owners/"+t)
		if errors.Is(err, zkwatch.ErrNoNode) {
			continue
		}
		if err != nil {
			return l, err
		}
		l.owners[t] = map[string]string{}
		for _, n := range names {
			owners = append(owners, &owner{topic: t, name: n})
		}
	}
	var wg sync.WaitGroup
	for _, o := range owners {
		wg.Go(func() {
			o.value, _, o.err = conn.Get(ctx, "/consumers/"+a.group+"/owners/"+o.topic+"/"+o.name)
		})
	}
	wg.Wait()
	for _, o := range owners {
		if errors.Is(o.err, zkwatch.ErrNoNode) {
			continue
		}
		if o.err != nil {
			return l, o.err
		}
		l.owners[o.topic][o.name] = string(o.value)
	}
	return l, nil
}

// evaluate checks a listing read at now and records violations; a.mu is
// held. It needs no ZooKeeper (audit_internal_test.go feeds it listings).
func (a *audit) evaluate(l listing, now time.Time) {
	dead := map[string]bool{}
	for _, t := range a.topics {
		owned := l.owners[t]
		names := slices.Sorted(maps.Keys(owned))
		byPartition := map[int32][]string{}
		for _, name := range names {
			value, key := owned[name], t+"/"+name
			o, ok := zkformat.ParseOwnerName(name)
			if !ok {
				a.flagOnce("%s: not an owner znode name (<p> or <leader>-<p>)", key)
				continue
			}
			byPartition[o.Partition] = append(byPartition[o.Partition], name)
			member := value // pykafka owner znodes hold the member id
			if !o.Pykafka {
				m, _, ok := partition.SplitThreadID(value)
				if !ok {
					a.flagOnce("%s: owner value %q is not a thread id", key, value)
					continue
				}
				member = m
			}
			if l.members[member] {
				continue
			}
			dead[key] = true
			since, ok := a.deadSince[key]
			if !ok {
				a.deadSince[key] = now
			} else if now.Sub(since) > a.grace {
				a.violations = append(a.violations, fmt.Sprintf("%s owned by unregistered member %s for %s (> %s)",
					key, shortID(member), now.Sub(since).Round(time.Millisecond), a.grace))
				a.deadSince[key] = now // report again only after another grace period
			}
		}
		for _, p := range slices.Sorted(maps.Keys(byPartition)) {
			zs := byPartition[p]
			if len(zs) < 2 {
				continue
			}
			var desc []string
			for _, z := range zs {
				desc = append(desc, z+"="+owned[z])
			}
			a.flagOnce("%s/%d: two owners at once: %s", t, p, strings.Join(desc, ", "))
		}
	}
	for k := range a.deadSince {
		if !dead[k] {
			delete(a.deadSince, k)
		}
	}
}

// flagOnce records a violation unless the same one was recorded before (a
// lasting state is seen by every check); a.mu is held.
func (a *audit) flagOnce(format string, args ...any) {
	v := fmt.Sprintf(format, args...)
	if a.reported[v] {
		return
	}
	a.reported[v] = true
	a.violations = append(a.violations, v)
}

// result waits for the audit's goroutines (ctx must be done) and returns
// what it found.
func (a *audit) result() (violations []string, stats auditStats) {
	a.wg.Wait()
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.violations, a.stats
}

func shortID(id string) string {
	if i := strings.LastIndexByte(id, '-'); i > 0 && len(id)-i < 12 {
		return "…" + id[max(0, i-6):]
	}
	return id
}

func partitionOf(name string) int32 {
	p, _ := strconv.ParseInt(name, 10, 32)
	return int32(p)
}
