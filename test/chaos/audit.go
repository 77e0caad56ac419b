package chaos

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/zkbalance/zkbalance/partition"
	"github.com/zkbalance/zkbalance/zkwatch"
)

// audit is the independent ownership checker: every quarter second it
// reads the group's members and owners, and it flags a partition owned by
// a member that is not registered for longer than grace (the session
// timeout plus a margin). Two owners of one partition cannot exist in the
// Scala layout (one znode per partition); an owner value naming no thread id
// is flagged too.
//
// It polls and sets no watches: go-zookeeper (v1.0.4) re-sends a
// connection's watches on reconnect while its receive loop already runs and
// both touch the connection's last zxid unsynchronised (go-zookeeper/zk
// pull request 35, open), a data race the race detector reports when the
// test's own connection reconnects after a ZooKeeper restart. A connection
// without watches skips that step.
type audit struct {
	conn   *zkwatch.Conn
	group  string
	topics []string
	grace  time.Duration

	mu         sync.Mutex
	deadSince  map[string]time.Time // "t/p" -> first seen owned by an unregistered member
	violations []string
	checks     int
	wg         sync.WaitGroup
}

func startAudit(ctx context.Context, conn *zkwatch.Conn, group string, topics []string, grace time.Duration) *audit {
	a := &audit{conn: conn, group: group, topics: topics, grace: grace, deadSince: map[string]time.Time{}}
	a.wg.Go(func() {
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			a.check(ctx)
		}
	})
	return a
}

func (a *audit) check(ctx context.Context) {
	ids, _, err := a.conn.Children(ctx, "/consumers/"+a.group+"/ids")
	if err != nil && !errors.Is(err, zk.ErrNoNode) {
		return // ZooKeeper down (a fault): check again later
	}
	live := map[string]bool{}
	for _, id := range ids {
		live[id] = true
	}
	now := time.Now()
	seen := map[string]bool{}
	for _, t := range a.topics {
		dir := "/consumers/" + a.group + "/owners/" + t
		names, _, err := a.conn.Children(ctx, dir)
		if err != nil {
			if errors.Is(err, zk.ErrNoNode) {
				continue
			}
			return
		}
		for _, n := range names {
			data, _, err := a.conn.Get(ctx, dir+"/"+n)
			if errors.Is(err, zk.ErrNoNode) {
				continue
			}
			if err != nil {
				return
			}
			key := t + "/" + n
			member, _, ok := partition.SplitThreadID(string(data))
			if !ok {
				a.flag("%s: owner value %q is not a thread id", key, data)
				continue
			}
			if live[member] {
				continue
			}
			seen[key] = true
			a.mu.Lock()
			since, ok := a.deadSince[key]
			if !ok {
				a.deadSince[key] = now
			} else if now.Sub(since) > a.grace {
				a.violations = append(a.violations, fmt.Sprintf("%s owned by unregistered member %s for %s (> %s)",
					key, shortID(member), now.Sub(since).Round(time.Millisecond), a.grace))
				a.deadSince[key] = now // report again only after another grace period
			}
			a.mu.Unlock()
		}
	}
	a.mu.Lock()
	for k := range a.deadSince {
		if !seen[k] {
			delete(a.deadSince, k)
		}
	}
	a.checks++
	a.mu.Unlock()
}

func (a *audit) flag(format string, args ...any) {
	a.mu.Lock()
	a.violations = append(a.violations, fmt.Sprintf(format, args...))
	a.mu.Unlock()
}

// result waits for the audit's goroutines (ctx must be done) and returns
// what it found.
func (a *audit) result() (violations []string, checks int) {
	a.wg.Wait()
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.violations, a.checks
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
