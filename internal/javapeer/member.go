package javapeer

import (
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
// partition.assignment.strategy, one assignor.
const (
	Range             = "range"              // org.apache.kafka.clients.consumer.RangeAssignor (eager)
	RoundRobin        = "roundrobin"         // RoundRobinAssignor (eager)
	Sticky            = "sticky"             // StickyAssignor (eager)
	CooperativeSticky = "cooperative-sticky" // CooperativeStickyAssignor (incremental)
)

var assignors = map[string]string{
	Range:             "org.apache.kafka.clients.consumer.RangeAssignor",
	RoundRobin:        "org.apache.kafka.clients.consumer.RoundRobinAssignor",
	Sticky:            "org.apache.kafka.clients.consumer.StickyAssignor",
	CooperativeSticky: "org.apache.kafka.clients.consumer.CooperativeStickyAssignor",
}

// Sentinel errors.
var (
	// ErrArgs: Start was given Args it cannot run.
	ErrArgs = errors.New("javapeer: bad member arguments")
	// ErrExited: the member's process exited before what was waited for.
	ErrExited = errors.New("javapeer: member exited")
)

// StopGrace is how long Stop waits after SIGTERM before it sends SIGKILL
// (the member itself gives its commit and close 60 s).
const StopGrace = 70 * time.Second

// maxStderr is how many stderr lines a Member keeps (at least).
const maxStderr = 400

// Args configures one Java member.
type Args struct {
	// Bootstrap are the bootstrap brokers ("127.0.0.1:9092").
	Bootstrap []string
	// Group is the consumer group (group.id).
	Group string
	// Topics are subscribed to; names must not contain ','.
	Topics []string
	// Strategy is the assignor: Range (the default), RoundRobin, Sticky or
	// CooperativeSticky.
	Strategy string
	// Delay is slept per record while processing it (whole milliseconds).
	Delay time.Duration
	// ID is the client.id, also printed in the started event. Default "javapeer".
	ID string
}

func (a Args) argv() ([]string, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrArgs, fmt.Sprintf(format, args...))
	}
	if len(a.Bootstrap) == 0 || slices.Contains(a.Bootstrap, "") {
		return nil, bad("Bootstrap needs at least one broker address, got %q", a.Bootstrap)
	}
	if a.Group == "" {
		return nil, bad("Group is empty")
	}
	if len(a.Topics) == 0 || slices.ContainsFunc(a.Topics, func(t string) bool { return t == "" || strings.ContainsAny(t, ", ") }) {
		return nil, bad("Topics needs at least one topic, none empty or with ',' or ' ', got %q", a.Topics)
	}
	strategy := a.Strategy
	if strategy == "" {
		strategy = Range
	}
	class, ok := assignors[strategy]
	if !ok {
		return nil, bad("unknown Strategy %q (known: %s, %s, %s, %s)", a.Strategy, Range, RoundRobin, Sticky, CooperativeSticky)
	}
	if a.Delay < 0 {
		return nil, bad("negative Delay %s", a.Delay)
	}
	id := a.ID
	if id == "" {
		id = "javapeer"
	}
	if strings.ContainsFunc(id, func(r rune) bool { return r <= ' ' }) {
		return nil, bad("ID %q has spaces or control characters", id)
	}
	return []string{strings.Join(a.Bootstrap, ","), a.Group, strings.Join(a.Topics, ","), class,
		strconv.FormatInt(a.Delay.Milliseconds(), 10), id}, nil
}

// Member is one running Java KafkaConsumer process. Its process methods
// (Pid, Events, Wait, Done, Exited, ExitErr, Terminate) are peerproc.Proc's;
// Wait's error wraps ErrExited when the member exits first.
type Member struct {
	*proc
	args Args
	id   string
}

type proc = peerproc.Proc[Event]

// peer is how jvmpeer's helpers read the member's events.
var peer = jvmpeer.Peer[Event]{
	Pkg:  "javapeer",
	Proc: peerproc.Config[Event]{Parse: parseLine, MaxStderr: maxStderr, ErrExited: ErrExited},
	Kind: func(e Event) string { return string(e.Kind) },
	Line: func(e Event) string { return e.Line },
}

// Start compiles the member if needed (Build), starts its JVM and waits
// until it printed its started event (its KafkaConsumer exists; joining the
// group comes next: WaitAssigned). ctx bounds only this start; the process
// runs until Stop or Kill, in its own process group, and is killed when the
// calling process dies. On failure the error carries the member's errors and
// the tail of its stderr.
func Start(ctx context.Context, args Args) (*Member, error) {
	argv, err := args.argv()
	if err != nil {
		return nil, err
	}
	prog, err := Build(ctx)
	if err != nil {
		return nil, err
	}
	p, err := peer.Start(prog.Java, prog.Classpath(), "Member", argv)
	if err != nil {
		return nil, err
	}
	m := &Member{proc: p, args: args, id: argv[5]}
	if err := peer.WaitStarted(ctx, p, m); err != nil {
		return nil, err
	}
	return m, nil
}

// String names the member for messages.
func (m *Member) String() string { return fmt.Sprintf("java member %s (pid %d)", m.id, m.Pid()) }

// ID is the member's client.id.
func (m *Member) ID() string { return m.id }

// Args returns the arguments the member was started with.
func (m *Member) Args() Args { return m.args }

// Messages returns the processed records so far (KindMsg events), in order.
func (m *Member) Messages() []Event { return filter(m.Events(), KindMsg) }

// Errors returns the error events so far.
func (m *Member) Errors() []Event { return filter(m.Events(), KindError) }

// Lost returns the lost events so far.
func (m *Member) Lost() []Event { return filter(m.Events(), KindLost) }

// Owned returns the member's current assignment as its assigned, revoked
// and lost events tell it, sorted; empty before the first assignment and
// after the close.
func (m *Member) Owned() []TopicPartition { return owned(m.Events()) }

// Committed returns the last committed next offset per partition, from the
// member's commit events.
func (m *Member) Committed() map[TopicPartition]int64 {
	out := map[TopicPartition]int64{}
	for _, e := range filter(m.Events(), KindCommit) {
		maps.Copy(out, e.Commits)
	}
	return out
}

// WaitAssigned waits for the member's first assigned event: it has joined
// the group and completed a rebalance (its assignment may be empty).
func (m *Member) WaitAssigned(ctx context.Context) error {
	return m.Wait(ctx, func(evs []Event) bool { return len(filter(evs, KindAssigned)) > 0 })
}

// WaitOwned waits until the member's current assignment (Owned) satisfies ok.
func (m *Member) WaitOwned(ctx context.Context, ok func(owned []TopicPartition) bool) error {
	return m.Wait(ctx, func(evs []Event) bool { return ok(owned(evs)) })
}

// WaitMessages waits until the member has processed at least n records.
func (m *Member) WaitMessages(ctx context.Context, n int) error {
	return m.Wait(ctx, func(evs []Event) bool { return len(filter(evs, KindMsg)) >= n })
}

// Stop sends SIGTERM: the member commits what it processed, closes its
// consumer (which leaves the group, so the others rebalance at once), prints
// closed and exits 0. Stop waits for the exit, at most StopGrace, then sends
// SIGKILL and reports that. It returns nil when the member exited with
// status 0 after its closed event, also when that was before the call.
func (m *Member) Stop() error { return peer.Stop(m.proc, StopGrace, m, "consumer") }

// Kill sends SIGKILL to the member's process group and waits for the exit.
// Its group membership stays until the group coordinator's session timeout
// (session.timeout.ms, 45 s by default) ends it.
func (m *Member) Kill() error { return m.proc.Kill() }

// Stderr returns the last n lines the member wrote to stderr (the Kafka
// client's log: warnings and the coordinator's join and assignment lines).
func (m *Member) Stderr(n int) string { return m.proc.Stderr(n) }
