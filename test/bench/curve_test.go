package bench_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/zkbalance/zkbalance/partition"
	"github.com/zkbalance/zkbalance/test/bench"
)

// curveProc is a test/member process of the scale curve. Its stdout
// reader records the member id and every "owned" report.
type curveProc struct {
	cmd    *exec.Cmd
	stderr string
	done   chan struct{} // closed when the process has exited and was reaped

	mu    sync.Mutex
	id    string
	set   []partition.TopicPartition // the last reported set, sorted
	at    time.Time                  // when the member printed it
	heard bool                       // a set was reported
	start time.Time                  // its start line (zero: not yet)
}

// procGroup is one group of the curve: member processes, a notify channel
// every report and exit signals.
type procGroup struct {
	bin, dir, zk, group, topic string
	assignor                   partition.Assignor
	topics                     partition.Topics
	members                    []*curveProc
	seq                        int
	notify                     chan struct{}
}

func (g *procGroup) poke() {
	select {
	case g.notify <- struct{}{}:
	default:
	}
}

// start runs a member process; its reader goroutine ends at the process's
// exit (stdout EOF) and reaps it.
func (g *procGroup) start() (*curveProc, error) {
	g.seq++
	name := fmt.Sprintf("c%d", g.seq)
	stderr := filepath.Join(g.dir, g.group+"-"+name+".stderr")
	errf, err := os.Create(stderr)
	if err != nil {
		return nil, err
	}
	defer errf.Close()
	cmd := exec.Command(g.bin, "-name", name, "-zookeeper", g.zk, "-group", g.group, "-topics", g.topic,
		"-assignor", g.assignor.Name(), "-log", os.DevNull)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.Stderr = errf
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &curveProc{cmd: cmd, stderr: stderr, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		defer g.poke()
		sc := bufio.NewScanner(stdout)
		sc.Buffer(nil, 16<<20)
		for sc.Scan() {
			line := sc.Text()
			if id, ok := strings.CutPrefix(line, "member-id "); ok {
				p.mu.Lock()
				p.id = id
				p.mu.Unlock()
				continue
			}
			if ns, ok := strings.CutPrefix(line, "start "); ok {
				if at, err := strconv.ParseInt(ns, 10, 64); err == nil {
					p.mu.Lock()
					p.start = time.Unix(0, at)
					p.mu.Unlock()
				}
				continue
			}
			rest, ok := strings.CutPrefix(line, "owned ")
			if !ok {
				continue
			}
			ns, list, _ := strings.Cut(rest, " ")
			at, err := strconv.ParseInt(ns, 10, 64)
			if err != nil {
				continue
			}
			set := parseOwned(list)
			p.mu.Lock()
			p.set, p.at, p.heard = set, time.Unix(0, at), true
			p.mu.Unlock()
			g.poke()
		}
		_, _ = io.Copy(io.Discard, stdout)
		_ = cmd.Wait()
	}()
	return p, nil
}

// parseOwned parses "t:0,t:1" ("-": none), sorted.
func parseOwned(list string) []partition.TopicPartition {
	var out []partition.TopicPartition
	if list == "-" || list == "" {
		return out
	}
	for f := range strings.SplitSeq(list, ",") {
		i := strings.LastIndexByte(f, ':')
		if i < 0 {
			continue
		}
		n, err := strconv.Atoi(f[i+1:])
		if err != nil {
			continue
		}
		out = append(out, partition.TopicPartition{Topic: f[:i], Partition: int32(n)})
	}
	slices.SortFunc(out, partition.CompareTopicPartitions)
	return out
}

func (p *curveProc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *curveProc) tail() string {
	data, _ := os.ReadFile(p.stderr)
	if len(data) > 2000 {
		data = data[len(data)-2000:]
	}
	return strings.TrimSpace(string(data))
}

// stop sends SIGTERM (a clean leave) and waits; SIGKILL when ctx ends.
func (p *curveProc) stop(ctx context.Context) {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-ctx.Done():
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

func stopProcs(ctx context.Context, ps []*curveProc) {
	var wg sync.WaitGroup
	for _, p := range ps {
		wg.Go(func() { p.stop(ctx) })
	}
	wg.Wait()
}

// converged checks the members' last reports against the assignor's
// answer for them (the reported sets as the previous owners, so for
// sticky: a fixed point). It returns the latest report time when they
// match.
func (g *procGroup) converged(ms []*curveProc) (time.Time, bool, error) {
	in := partition.Input{Topics: g.topics, Previous: map[partition.TopicPartition]string{}}
	sets := make([][]partition.TopicPartition, len(ms))
	ids := make([]string, len(ms))
	var latest time.Time
	for i, p := range ms {
		if p.exited() {
			return time.Time{}, false, fmt.Errorf("a member exited: %s", p.tail())
		}
		p.mu.Lock()
		id, set, at, heard := p.id, p.set, p.at, p.heard
		p.mu.Unlock()
		if id == "" || !heard {
			return time.Time{}, false, nil
		}
		ids[i], sets[i] = id, set
		if at.After(latest) {
			latest = at
		}
		for _, tp := range set {
			if _, dup := in.Previous[tp]; dup {
				return time.Time{}, false, nil
			}
			in.Previous[tp] = id
		}
		in.Members = append(in.Members, partition.Member{ID: id, Subscription: map[string]int{g.topic: 1}})
	}
	asg, err := g.assignor.Assign(in)
	if err != nil {
		return time.Time{}, false, err
	}
	for i, id := range ids {
		key := id
		if strings.HasPrefix(g.assignor.Name(), "scala-") {
			key = partition.ThreadID(id, 0)
		}
		if !slices.Equal(sets[i], asg.Partitions(key)) {
			return time.Time{}, false, nil
		}
	}
	return latest, true, nil
}

// waitConverged waits until the members hold their shares and returns the
// time the last of them reported its set (not before since).
func (g *procGroup) waitConverged(ctx context.Context, ms []*curveProc, since time.Time) (time.Time, error) {
	for {
		at, ok, err := g.converged(ms)
		if err != nil {
			return time.Time{}, failf("a member failed", "%v", err)
		}
		if ok {
			if at.Before(since) {
				at = since
			}
			return at, nil
		}
		select {
		case <-g.notify:
		case <-time.After(time.Second): // a member that never reports: re-check exits
		case <-ctx.Done():
			return time.Time{}, failf("not converged within the bound", "%d members: %v", len(ms), context.Cause(ctx))
		}
	}
}

// owners maps each partition to its member in the members' reports.
func owners(ms []*curveProc) map[partition.TopicPartition]string {
	out := map[partition.TopicPartition]string{}
	for _, p := range ms {
		p.mu.Lock()
		for _, tp := range p.set {
			out[tp] = p.id
		}
		p.mu.Unlock()
	}
	return out
}

// zkReceived is the ZooKeeper server's count of packets received
// (zk_packets_received of the four-letter mntr).
// waitZKQuiet waits until ZooKeeper has received at most about one
// request a member a second (their pings, one every 2 s, and little else)
// in each of three half-second intervals in a row, and reports how long
// that took. A request may be a multiRead of 128 reads, so a busy group
// shows only as few packets: the bound is low and must hold a while.
func waitZKQuiet(ctx context.Context, addr string, members int) (time.Duration, error) {
	start := time.Now()
	last, err := zkReceived(addr)
	if err != nil {
		return 0, err
	}
	for quiet := 0; quiet < 3; {
		select {
		case <-ctx.Done():
			return time.Since(start), context.Cause(ctx)
		case <-time.After(500 * time.Millisecond):
		}
		n, err := zkReceived(addr)
		if err != nil {
			return time.Since(start), err
		}
		if n-last <= int64(max(members/2, 10)) {
			quiet++
		} else {
			quiet = 0
		}
		last = n
	}
	return time.Since(start), nil
}

func zkReceived(addr string) (int64, error) {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Write([]byte("mntr")); err != nil {
		return 0, err
	}
	out, err := io.ReadAll(conn)
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(out), "\n") {
		if v, ok := strings.CutPrefix(line, "zk_packets_received"); ok {
			return strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		}
	}
	return 0, fmt.Errorf("mntr of %s: no zk_packets_received in %q", addr, out)
}

// runCurve measures joins at every size of the curve, for each assignor,
// with every member its own test/member process.
func (r *run) runCurve(t *testing.T) {
	s := r.sizes
	dir := t.TempDir()
	bctx, cancel := context.WithTimeout(r.ctx, 5*time.Minute)
	bin, err := buildMember(bctx, dir)
	cancel()
	for _, parts := range s.curvePartitions {
		topic := ""
		if err == nil {
			topic, err = createTopic(r.ctx, r.cl, "curve", parts)
		}
		for _, n := range s.curveMembers {
			for _, a := range s.curveAssignors {
				c := bench.Curve{Assignor: a, Members: n, Partitions: parts}
				if err != nil {
					c.Err = err.Error()
				} else {
					start := time.Now()
					c = r.measureCurve(t, c, bin, dir, topic)
					t.Logf("curve %s %d x %d: %d of %d joins, p50 %s, p99 %s, requests %v, moved %v, writes %v (%s in all)", a, n, parts,
						len(c.Joins), c.Attempted, bench.Percentile(c.Joins, .5), bench.Percentile(c.Joins, .99), c.Requests, c.Moved, c.OwnerWrites,
						time.Since(start).Round(time.Second))
				}
				r.report.Curve = append(r.report.Curve, c)
			}
		}
	}
}

func (r *run) measureCurve(t *testing.T, c bench.Curve, bin, dir, topic string) bench.Curve {
	a, err := partition.Lookup(c.Assignor)
	if err != nil {
		c.Err = err.Error()
		return c
	}
	g := &procGroup{bin: bin, dir: dir, zk: r.cl.ZooKeeperAddr(), group: uniq("g-curve"), topic: topic, assignor: a,
		topics: partition.Topics{topic: {}}, notify: make(chan struct{}, 1)}
	for p := range int32(c.Partitions) {
		g.topics[topic][p] = -1
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(r.ctx), 2*time.Minute)
		stopProcs(sctx, g.members)
		cancel()
	}()
	// Bounds grow with the group: starting 64 processes on 2 cores takes a
	// while.
	bound := *flagJoinTimeout
	formBound := 2*bound + time.Duration(c.Members)*time.Second
	fctx, cancel := context.WithTimeout(r.ctx, formBound)
	defer cancel()
	for range c.Members {
		p, err := g.start()
		if err != nil {
			c.Err = "start a member: " + err.Error()
			return c
		}
		g.members = append(g.members, p)
	}
	t0 := time.Now()
	if _, err := g.waitConverged(fctx, g.members, t0); err != nil {
		c.Err = "the group did not form: " + reason(err)
		return c
	}
	t.Logf("curve %s %d x %d: group formed in %s", c.Assignor, c.Members, c.Partitions, time.Since(t0).Round(time.Millisecond))
	// Converged is not yet quiet: members re-read the owners once they stop
	// changing (sticky), and each reads a topic's owners whole once per
	// session. A join is measured from a quiet group.
	if q, err := waitZKQuiet(fctx, r.cl.ZooKeeperAddr(), c.Members); err == nil {
		t.Logf("curve %s %d x %d: ZooKeeper quiet after %s more", c.Assignor, c.Members, c.Partitions, q.Round(time.Millisecond))
	}
	ownersDir := fmt.Sprintf("/consumers/%s/owners/%s", g.group, topic)
	cversion := func() (int32, error) {
		ctx, cancel := context.WithTimeout(r.ctx, 10*time.Second)
		defer cancel()
		_, st, err := r.obs.Exists(ctx, ownersDir)
		if err != nil || st == nil {
			return 0, fmt.Errorf("stat %s: %v", ownersDir, err)
		}
		return st.Cversion, nil
	}
	for i := range r.sizes.curveJoins {
		c.Attempted++
		before := owners(g.members)
		recv0, err := zkReceived(r.cl.ZooKeeperAddr())
		if err != nil {
			c.Err = err.Error()
			return c
		}
		cv0, err := cversion()
		if err != nil {
			c.Err = err.Error()
			return c
		}
		jctx, cancel := context.WithTimeout(r.ctx, bound)
		start := time.Now()
		j, err := g.start()
		if err != nil {
			cancel()
			c.Err = "start the joiner: " + err.Error()
			return c
		}
		all := append(slices.Clone(g.members), j)
		at, err := g.waitConverged(jctx, all, start)
		cancel()
		if err != nil {
			c.Failures = append(c.Failures, reason(err))
			t.Logf("curve %s %d x %d, join %d: %v", c.Assignor, c.Members, c.Partitions, i, err)
			g.members = all // stopped with the others
			c.Note = appendNote(c.Note, fmt.Sprintf("stopped after join %d did not converge", i))
			return c
		}
		recv1, rerr := zkReceived(r.cl.ZooKeeperAddr())
		cv1, cerr := cversion()
		j.mu.Lock()
		began := j.start
		j.mu.Unlock()
		if began.IsZero() || began.Before(start) {
			began = start // no start line read: from the exec
		}
		c.Joins = append(c.Joins, at.Sub(began))
		c.ExecJoins = append(c.ExecJoins, at.Sub(start))
		if rerr == nil {
			c.Requests = append(c.Requests, recv1-recv0)
		}
		if cerr == nil {
			after := owners(all)
			moved := 0
			for tp, o := range after {
				if before[tp] != o {
					moved++
				}
			}
			c.Moved = append(c.Moved, moved)
			c.OwnerWrites = append(c.OwnerWrites, int(cv1-cv0))
		}
		for _, p := range all {
			if mib, err := procStatusMiB(p.cmd.Process.Pid, "VmRSS"); err == nil {
				c.RSSMiB = append(c.RSSMiB, mib)
			}
		}
		// The joiner leaves; the group settles before the next join.
		lctx, cancel := context.WithTimeout(r.ctx, bound)
		j.stop(lctx)
		_, err = g.waitConverged(lctx, g.members, time.Now())
		if err == nil {
			_, err = waitZKQuiet(lctx, r.cl.ZooKeeperAddr(), c.Members)
		}
		cancel()
		if err != nil {
			c.Note = appendNote(c.Note, "the group did not settle after a leave: "+reason(err))
			return c
		}
	}
	return c
}

func (r *run) curveMethod() []string {
	s := r.sizes
	return []string{
		fmt.Sprintf("For each topic size %v, group size %v and assignor %v: a new group of member processes (test/member, built without the race detector, "+
			"defaults) on one empty topic, settled (converged, and then ZooKeeper quiet: at most one request per two members in each of three half-seconds in a row); then %d times: one member process joins, and after convergence it leaves (SIGTERM) and the group settles the same way.",
			s.curvePartitions, s.curveMembers, s.curveAssignors, s.curveJoins),
		"Convergence is measured from outside the members: each member prints its whole set after every change (from its OnAssigned, OnRevoked and OnLost hooks: " +
			"claimed and handlers started, or released), with the time it printed it; the test process reads the lines and compares every member's last set with " +
			"the assignor's answer for the members (their reported sets as previous owners, so for sticky: the assignment is its fixed point). Join time = from the joiner's " +
			"start line (printed just before balanced.New, as the in-process latency rows start at balanced.New) until the last of the member sets that " +
			"together converged was printed (ZooKeeper session and Kafka bootstrap included). \"from exec\" times the same joins from just before the " +
			"joiner's exec: the Go process's start-up on this loaded machine adds about 100–300 ms that no library can save.",
		"ZooKeeper requests per join = the growth of the server's zk_packets_received (four-letter mntr) from before the exec to convergence, from every " +
			"member (pings included). moved = partitions whose owner differs before and after the join; owner writes = the growth of the owner directory's " +
			"cversion (each owner znode create or delete). RSS = each member process's VmRSS after each join.",
	}
}
