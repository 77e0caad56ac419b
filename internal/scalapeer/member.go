package scalapeer

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/zkbalance/zkbalance/internal/jvmpeer"
	"github.com/zkbalance/zkbalance/internal/peerproc"
)

// Assignment strategies (Args.Strategy): the consumer's
// partition.assignment.strategy.
const (
	Range      = "range"      // kafka.consumer.RangeAssignor
	RoundRobin = "roundrobin" // kafka.consumer.RoundRobinAssignor
)

// Sentinel errors.
var (
	// ErrArgs: Start was given Args it cannot run.
	ErrArgs = errors.New("scalapeer: bad member arguments")
	// ErrExited: the member's process exited before what was waited for.
	ErrExited = errors.New("scalapeer: member exited")
)

// StopGrace is how long Stop waits after SIGTERM before it sends SIGKILL.
const StopGrace = 60 * time.Second

// maxStderr is how many stderr lines a Member keeps (at least).
const maxStderr = 400

// Args configures one Scala member.
type Args struct {
	// ZooKeeper is the zookeeper.connect string, with the brokers' chroot
	// if they have one (cluster.KafkaZooKeeperConnect).
	ZooKeeper string
	// Group is the consumer group (group.id).
	Group string
	// Topics are subscribed to (a static subscription); names must not
	// contain ',' or ' '.
	Topics []string
	// Strategy is the assignor: Range (the default) or RoundRobin.
	Strategy string
	// Streams is the number of consumer threads (message streams) per
	// topic. Default 1.
	Streams int
	// Delay is slept per message while processing it (whole milliseconds).
	Delay time.Duration
	// ID, when set, is the consumer.id: the member registers as
	// <Group>_<ID>. Default: the consumer's own <host>-<millis>-<uuid8>.
	ID string
}

func (a Args) argv() ([]string, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrArgs, fmt.Sprintf(format, args...))
	}
	if a.ZooKeeper == "" || strings.ContainsAny(a.ZooKeeper, " \t\n") {
		return nil, bad("ZooKeeper %q is empty or has spaces", a.ZooKeeper)
	}
	if a.Group == "" || strings.ContainsAny(a.Group, " /\t\n") {
		return nil, bad("Group %q is empty or has spaces or '/'", a.Group)
	}
	if len(a.Topics) == 0 || slices.ContainsFunc(a.Topics, func(t string) bool { return t == "" || strings.ContainsAny(t, ", ") }) {
		return nil, bad("Topics needs at least one topic, none empty or with ',' or ' ', got %q", a.Topics)
	}
	strategy := cmp.Or(a.Strategy, Range)
	if strategy != Range && strategy != RoundRobin {
		return nil, bad("unknown Strategy %q (known: %s, %s)", a.Strategy, Range, RoundRobin)
	}
	streams := a.Streams
	if streams == 0 {
		streams = 1
	}
	if streams < 0 {
		return nil, bad("negative Streams %d", a.Streams)
	}
	if a.Delay < 0 {
		return nil, bad("negative Delay %s", a.Delay)
	}
	id := cmp.Or(a.ID, "-")
	if strings.ContainsFunc(a.ID, func(r rune) bool { return r <= ' ' || r == '/' }) || a.ID == "-" {
		return nil, bad("ID %q has spaces, control characters or '/'", a.ID)
	}
	return []string{a.ZooKeeper, a.Group, strings.Join(a.Topics, ","), strategy,
		strconv.Itoa(streams), strconv.FormatInt(a.Delay.Milliseconds(), 10), id}, nil
}

// Member is one running Scala consumer process. Its process methods (Pid,
// Events, Wait, Done, Exited, ExitErr, Terminate) are peerproc.Proc's;
// Wait's error wraps ErrExited when the member exits first.
type Member struct {
	*proc
	args Args
	id   string
}

type proc = peerproc.Proc[Event]

// peer is how jvmpeer's helpers read the member's events.
var peer = jvmpeer.Peer[Event]{
	Pkg:  "scalapeer",
	Proc: peerproc.Config[Event]{Parse: parseLine, MaxStderr: maxStderr, ErrExited: ErrExited},
	Kind: func(e Event) string { return string(e.Kind) },
	Line: func(e Event) string { return e.Line },
}

// Start builds the member if needed (Build), starts its JVM and waits until
// it printed its started event: it is registered in the group and its first
// rebalance ran (createMessageStreams returned). ctx bounds only this
// start; the process runs until Stop or Kill, in its own process group, and
// is killed when the calling process dies. On failure the error carries the
// member's errors and the tail of its stderr.
func Start(ctx context.Context, args Args) (*Member, error) {
	argv, err := args.argv()
	if err != nil {
		return nil, err
	}
	prog, err := Build(ctx)
	if err != nil {
		return nil, err
	}
	p, err := peer.Start(prog.Java, prog.Classpath(), "ScalaMember", argv)
	if err != nil {
		return nil, err
	}
	m := &Member{proc: p, args: args, id: "?"}
	if err := peer.WaitStarted(ctx, p, m); err != nil {
		return nil, err
	}
	m.id = filter(m.Events(), KindStarted)[0].Text
	return m, nil
}

// String names the member for messages.
func (m *Member) String() string { return fmt.Sprintf("scala member %s (pid %d)", m.id, m.Pid()) }

// ID is the member's consumer id, the name of its registration under
// /consumers/<group>/ids: <group>_<Args.ID or host-millis-uuid8>.
func (m *Member) ID() string { return m.id }

// Args returns the arguments the member was started with.
func (m *Member) Args() Args { return m.args }

// Messages returns the processed messages so far (KindMsg events), in order.
func (m *Member) Messages() []Event { return filter(m.Events(), KindMsg) }

// Dropped returns the dropped events so far.
func (m *Member) Dropped() []Event { return filter(m.Events(), KindDropped) }

// Errors returns the error events so far.
func (m *Member) Errors() []Event { return filter(m.Events(), KindError) }

// Owned returns the partitions the member processes now (its last owned
// event, none after a released one), sorted.
func (m *Member) Owned() []TopicPartition { return owned(m.Events()) }

// Assignment returns the group's assignment of the member's last completed
// rebalance (nil before the first).
func (m *Member) Assignment() map[TopicPartition]string {
	evs := filter(m.Events(), KindAssignment)
	if len(evs) == 0 {
		return nil
	}
	return maps.Clone(evs[len(evs)-1].Assignment)
}

// Committed returns the last committed next offset per partition, from the
// member's commit events.
func (m *Member) Committed() map[TopicPartition]int64 {
	out := map[TopicPartition]int64{}
	for _, e := range filter(m.Events(), KindCommit) {
		maps.Copy(out, e.Commits)
	}
	return out
}

// WaitOwned waits until the member's current partitions (Owned) satisfy ok.
func (m *Member) WaitOwned(ctx context.Context, ok func(owned []TopicPartition) bool) error {
	return m.Wait(ctx, func(evs []Event) bool { return ok(owned(evs)) })
}

// WaitMessages waits until the member has processed at least n messages.
func (m *Member) WaitMessages(ctx context.Context, n int) error {
	return m.Wait(ctx, func(evs []Event) bool { return len(filter(evs, KindMsg)) >= n })
}

// Stop sends SIGTERM: the member stops processing, commits what it
// processed, prints released, shuts its connector down (closing its
// ZooKeeper session, so its registration and owner znodes go and the
// others rebalance), prints closed and exits 0. Stop waits for the exit, at
// most StopGrace, then sends SIGKILL and reports that. It returns nil when
// the member exited with status 0 after its closed event, also when that
// was before the call.
func (m *Member) Stop() error { return peer.Stop(m.proc, StopGrace, m, "connector") }

// FailedRebalances counts the rebalance attempts the consumer logged as
// failed ("Rebalancing attempt failed", at INFO: an owner znode it wanted
// was still held, or ZooKeeper changed under it) in the stderr lines kept
// (the last maxStderr at least); each is retried after
// rebalance.backoff.ms (2 s), at most rebalance.max.retries (4) times in
// one rebalance.
func (m *Member) FailedRebalances() int {
	return strings.Count(m.Stderr(maxStderr), "Rebalancing attempt failed")
}

// Kill sends SIGKILL to the member's process group and waits for the exit.
// Its registration and owner znodes stay until its ZooKeeper session
// (zookeeper.session.timeout.ms 6 s) expires.
func (m *Member) Kill() error { return m.proc.Kill() }

// Stderr returns the last n lines the member wrote to stderr (the
// consumer's log: warnings and its rebalance lines).
func (m *Member) Stderr(n int) string { return m.proc.Stderr(n) }
