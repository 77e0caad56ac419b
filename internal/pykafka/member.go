package pykafka

import (
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/zkbalance/zkbalance/internal/peerproc"
)

//go:embed member.py
var memberPy []byte

// NoTimeout as MemberArgs.ConsumerTimeoutMS is consumer_timeout_ms=-1:
// consume() blocks until a message arrives (pykafka's default).
const NoTimeout = -1

// DefaultBrokerVersion is the KafkaClient broker_version members use unless
// told otherwise. Any version >= 0.10.0 makes pykafka ask the broker for its
// API versions (ApiVersions v0) and use the highest it implements itself;
// 0.9.0 (pykafka's own default) uses a hard-coded list instead. Both work
// against Kafka 3.9; see the package doc.
const DefaultBrokerVersion = "1.0.0"

// StopGrace is how long Stop waits after SIGTERM before it sends SIGKILL.
const StopGrace = 30 * time.Second

// MemberArgs configures one pykafka member. Zero values take the defaults
// noted, which are pykafka's own where not said otherwise.
type MemberArgs struct {
	// ZooKeeper is zookeeper_connect, with the chroot if any
	// ("127.0.0.1:2181/kafka"): use Cluster.KafkaZooKeeperConnect().
	ZooKeeper string
	// Brokers are the bootstrap brokers ("127.0.0.1:9092").
	Brokers []string
	// Topic and Group are the topic to consume and the consumer group.
	Topic, Group string
	// ConsumerTimeoutMS is consumer_timeout_ms. 0 means 1000; NoTimeout (-1)
	// blocks in consume(), which in pykafka 2.6 holds the rebalance lock
	// while no message comes (the PartitionOwnedError scenario).
	ConsumerTimeoutMS int
	// Delay is slept per message before it is reported and committed.
	Delay time.Duration
	// Name labels the member in its member event and stderr lines. Default "pykafka".
	Name string
	// ID, when set, replaces the consumer id pykafka makes (<hostname>:<uuid4>).
	ID string
	// BrokerVersion is KafkaClient's broker_version. Default DefaultBrokerVersion.
	BrokerVersion string
	// NoAutoCommit turns auto_commit_enable off (on by default here).
	NoAutoCommit bool
	// AutoCommitInterval is auto_commit_interval_ms. Default 1s.
	AutoCommitInterval time.Duration
	// CommitEvery: commit_offsets() after every n processed messages.
	// 0 means 1; negative means never explicitly.
	CommitEvery int
	// RebalanceMaxRetries is rebalance_max_retries. Default 5.
	RebalanceMaxRetries int
	// RebalanceBackoff is rebalance_backoff_ms. Default 2s.
	RebalanceBackoff time.Duration
	// SessionTimeout is zookeeper_connection_timeout_ms, which pykafka
	// passes to kazoo as the session timeout. Default 6s.
	SessionTimeout time.Duration
	// Py2OwnerPath makes the member write its owner znodes under
	// /consumers/<g>/owners/<t>, where pykafka on Python 2 writes them (the
	// layout of docs/PROTOCOL.md). Unset, it runs pykafka as it is on Python 3,
	// which writes them under /consumers/<g>/owners/b'<t>' (the repr of the
	// topic name bytes; pykafka issue #888). Only that path differs.
	Py2OwnerPath bool
	// LogLevel is the level of pykafka's log on stderr. Default INFO.
	LogLevel string
	// CountOnly > 0 makes the member print no msg or commit lines: after
	// that many messages it prints one done event (count and the time from
	// its first to its last message) and stops, for throughput
	// measurements that should not measure the pipe. Commits follow
	// CommitEvery and the auto-commit settings as usual.
	CountOnly int
}

func (a MemberArgs) argv() []string {
	def := func(v, d int) int {
		if v == 0 {
			return d
		}
		return v
	}
	ms := func(d time.Duration, def time.Duration) string {
		if d <= 0 {
			d = def
		}
		return strconv.FormatInt(d.Milliseconds(), 10)
	}
	str := func(s, d string) string {
		if s == "" {
			return d
		}
		return s
	}
	commitEvery := def(a.CommitEvery, 1)
	if commitEvery < 0 {
		commitEvery = 0
	}
	autoCommit := "1"
	if a.NoAutoCommit {
		autoCommit = "0"
	}
	args := []string{
		"--zookeeper", a.ZooKeeper,
		"--brokers", strings.Join(a.Brokers, ","),
		"--topic", a.Topic,
		"--group", a.Group,
		"--timeout-ms", strconv.Itoa(def(a.ConsumerTimeoutMS, 1000)),
		"--delay", strconv.FormatFloat(a.Delay.Seconds(), 'f', -1, 64),
		"--member-name", str(a.Name, "pykafka"),
		"--broker-version", str(a.BrokerVersion, DefaultBrokerVersion),
		"--auto-commit", autoCommit,
		"--auto-commit-interval-ms", ms(a.AutoCommitInterval, time.Second),
		"--commit-every", strconv.Itoa(commitEvery),
		"--rebalance-max-retries", strconv.Itoa(def(a.RebalanceMaxRetries, 5)),
		"--rebalance-backoff-ms", ms(a.RebalanceBackoff, 2*time.Second),
		"--zk-session-timeout-ms", ms(a.SessionTimeout, 6*time.Second),
		"--log-level", str(a.LogLevel, "INFO"),
	}
	if a.ID != "" {
		args = append(args, "--member-id", a.ID)
	}
	if a.Py2OwnerPath {
		args = append(args, "--py2-owner-path", "1")
	}
	if a.CountOnly > 0 {
		args = append(args, "--count-only", strconv.Itoa(a.CountOnly))
	}
	return args
}

// EventKind is the first word of a line the member program prints.
type EventKind string

// The lines of the member program (member.py).
const (
	// EventMember: "member <id> <name> <pykafka version>", once, before joining.
	EventMember EventKind = "member"
	// EventPaths: "paths <ids path> <owners path>", once, after member: the
	// member's ZooKeeper paths below the chroot, /consumers/<g>/ids and
	// /consumers/<g>/owners/<t> (or .../owners/b'<t>', see Py2OwnerPath).
	EventPaths EventKind = "paths"
	// EventOwned: "owned <p,p,...>", the partition set after a rebalance
	// that changed it, and once after start (possibly empty).
	EventOwned EventKind = "owned"
	// EventMsg: "msg <topic> <partition> <offset> <member id> <value hex|->",
	// a message processed (after Delay, before its commit).
	EventMsg EventKind = "msg"
	// EventCommit: "commit <partition> <next offset>", commit_offsets() of
	// all held partitions returned after that message.
	EventCommit EventKind = "commit"
	// EventError: "error <ExceptionName> <message>", an exception raised to
	// the member's loop, logged by pykafka with a traceback, or stored by a
	// pykafka watch thread.
	EventError EventKind = "error"
	// EventNote: "note <kind> <message>", something pykafka did that is
	// benign: "stop-race", a watch thread's ConsumerStoppedException while
	// the member's own Stop was stopping the consumer (Name is the kind).
	EventNote EventKind = "note"
	// EventDone: "done <n> <seconds>", with MemberArgs.CountOnly: n
	// messages consumed, Elapsed from the first to the last; the member
	// stops next.
	EventDone EventKind = "done"
	// EventStopped: "stopped", the consumer was stopped and its ZooKeeper
	// session closed; the process exits next.
	EventStopped EventKind = "stopped"
	// EventOther is a line that did not parse.
	EventOther EventKind = "other"
)

// Event is one parsed line of the member's stdout.
type Event struct {
	Kind EventKind
	At   time.Time // when the line was read
	Line string    // the raw line

	// EventMsg
	Topic     string
	Partition int32 // also EventCommit
	Offset    int64 // EventCommit: the next offset, as committed
	Value     []byte
	MemberID  string // also EventMember

	// EventOwned
	Partitions []int32

	// EventPaths
	IDsPath, OwnersPath string

	// EventDone: messages consumed and the time from the first to the last.
	Count   int64
	Elapsed time.Duration

	// EventError: Name is the exception's class name, Message its text.
	// EventMember: Name is the member's label, Message the pykafka version.
	// EventNote: Name is the kind, Message the rest of the line.
	Name, Message string
}

func parseLine(line string, at time.Time) Event {
	ev := Event{Kind: EventOther, At: at, Line: line}
	f := strings.Fields(line)
	if len(f) == 0 {
		return ev
	}
	bad := func() Event { return Event{Kind: EventOther, At: at, Line: line} }
	switch EventKind(f[0]) {
	case EventMember:
		if len(f) != 4 {
			return bad()
		}
		ev.MemberID, ev.Name, ev.Message = f[1], f[2], f[3]
	case EventPaths:
		if len(f) != 3 {
			return bad()
		}
		ev.IDsPath, ev.OwnersPath = f[1], f[2]
	case EventOwned:
		ev.Partitions = []int32{}
		if len(f) > 2 {
			return bad()
		}
		if len(f) == 2 {
			for _, s := range strings.Split(f[1], ",") {
				p, err := strconv.ParseInt(s, 10, 32)
				if err != nil {
					return bad()
				}
				ev.Partitions = append(ev.Partitions, int32(p))
			}
		}
	case EventMsg:
		if len(f) != 6 {
			return bad()
		}
		p, err1 := strconv.ParseInt(f[2], 10, 32)
		o, err2 := strconv.ParseInt(f[3], 10, 64)
		if err1 != nil || err2 != nil {
			return bad()
		}
		ev.Topic, ev.Partition, ev.Offset, ev.MemberID = f[1], int32(p), o, f[4]
		if f[5] != "-" {
			v, err := hex.DecodeString(f[5])
			if err != nil {
				return bad()
			}
			ev.Value = v
		}
	case EventNote:
		if len(f) < 2 {
			return bad()
		}
		ev.Name, ev.Message = f[1], strings.Join(f[2:], " ")
	case EventCommit:
		if len(f) != 3 {
			return bad()
		}
		p, err1 := strconv.ParseInt(f[1], 10, 32)
		o, err2 := strconv.ParseInt(f[2], 10, 64)
		if err1 != nil || err2 != nil {
			return bad()
		}
		ev.Partition, ev.Offset = int32(p), o
	case EventError:
		if len(f) < 2 {
			return bad()
		}
		ev.Name = f[1]
		ev.Message = strings.Join(f[2:], " ")
	case EventStopped:
		if len(f) != 1 {
			return bad()
		}
	case EventDone:
		if len(f) != 3 {
			return bad()
		}
		n, err1 := strconv.ParseInt(f[1], 10, 64)
		secs, err2 := strconv.ParseFloat(f[2], 64)
		if err1 != nil || err2 != nil || n < 0 || secs < 0 {
			return bad()
		}
		ev.Count, ev.Elapsed = n, time.Duration(secs*float64(time.Second))
	default:
		return ev
	}
	ev.Kind = EventKind(f[0])
	return ev
}

// Member is one running pykafka BalancedConsumer process. Its process
// methods (Pid, Events, Wait, Done, Exited, ExitErr, Terminate) are
// peerproc.Proc's; Wait's error wraps ErrExited when the member exits first.
type Member struct {
	*proc
	args MemberArgs
}

type proc = peerproc.Proc[Event]

const maxStderr = 2000

// ErrExited is returned by waits when the member exited first.
var ErrExited = errors.New("pykafka: member exited")

var script struct {
	once sync.Once
	path string
	err  error
}

// scriptPath writes the embedded member program once per content to the
// temp dir (atomically) and returns its path.
func scriptPath() (string, error) {
	script.once.Do(func() {
		sum := sha256.Sum256(memberPy)
		p := filepath.Join(os.TempDir(), "zkbalance-pykafka-member-"+hex.EncodeToString(sum[:6])+".py")
		if b, err := os.ReadFile(p); err == nil && string(b) == string(memberPy) {
			script.path = p
			return
		}
		f, err := os.CreateTemp(os.TempDir(), "zkbalance-pykafka-member-*.py.tmp")
		if err != nil {
			script.err = fmt.Errorf("pykafka: member program: %w", err)
			return
		}
		_, err = f.Write(memberPy)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = os.Rename(f.Name(), p)
		}
		if err != nil {
			_ = os.Remove(f.Name())
			script.err = fmt.Errorf("pykafka: member program: %w", err)
			return
		}
		script.path = p
	})
	return script.path, script.err
}

// Start runs the member program with python (from Venv) and waits until it
// printed its member and paths lines (it has connected to Kafka and is about
// to join the group). ctx bounds only this start; the process runs until Stop or
// Kill, in its own process group, and is killed when the calling process
// dies. On failure the error carries the tail of its stderr.
func Start(ctx context.Context, python string, args MemberArgs) (*Member, error) {
	if args.ZooKeeper == "" || len(args.Brokers) == 0 || args.Topic == "" || args.Group == "" {
		return nil, fmt.Errorf("pykafka: MemberArgs needs ZooKeeper, Brokers, Topic and Group")
	}
	path, err := scriptPath()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(python, append([]string{"-u", path}, args.argv()...)...)
	cmd.Env = append(os.Environ(), "PYTHONUNBUFFERED=1")
	p, err := peerproc.Start(cmd, peerproc.Config[Event]{Parse: parseLine, MaxStderr: maxStderr, ErrExited: ErrExited})
	if err != nil {
		return nil, fmt.Errorf("pykafka: start %s: %w", python, err)
	}
	m := &Member{proc: p, args: args}
	err = m.Wait(ctx, func(evs []Event) bool {
		return slices.ContainsFunc(evs, func(e Event) bool { return e.Kind == EventPaths })
	})
	if err != nil {
		_ = m.Kill()
		return nil, fmt.Errorf("pykafka: member %s did not start: %w\n%s", m.name(), err, m.Stderr(40))
	}
	return m, nil
}

// Name is the member's label, MemberArgs.Name ("pykafka" when unset).
func (m *Member) Name() string { return m.name() }

func (m *Member) name() string {
	if m.args.Name != "" {
		return m.args.Name
	}
	return "pykafka"
}

// String names the member for messages.
func (m *Member) String() string { return fmt.Sprintf("pykafka member %s (%s)", m.name(), m.ID()) }

// ID is the member's consumer id, as registered in /consumers/<g>/ids.
func (m *Member) ID() string {
	for _, e := range m.Events() {
		if e.Kind == EventMember {
			return e.MemberID
		}
	}
	return ""
}

// OwnersPath is the parent of the member's owner znodes below the chroot:
// /consumers/<g>/owners/<t>, or /consumers/<g>/owners/b'<t>' unless
// Py2OwnerPath was set.
func (m *Member) OwnersPath() string {
	for _, e := range m.Events() {
		if e.Kind == EventPaths {
			return e.OwnersPath
		}
	}
	return ""
}

// Version is the pykafka version the member runs.
func (m *Member) Version() string {
	for _, e := range m.Events() {
		if e.Kind == EventMember {
			return e.Message
		}
	}
	return ""
}

func filter(evs []Event, k EventKind) []Event {
	return peerproc.Filter(evs, func(e Event) bool { return e.Kind == k })
}

// Messages returns the processed messages so far, in order.
func (m *Member) Messages() []Event { return filter(m.Events(), EventMsg) }

// Errors returns the error events so far.
func (m *Member) Errors() []Event { return filter(m.Events(), EventError) }

// Owned returns the last reported partition set; ok is false before any.
func (m *Member) Owned() (parts []int32, ok bool) {
	evs := filter(m.Events(), EventOwned)
	if len(evs) == 0 {
		return nil, false
	}
	return slices.Clone(evs[len(evs)-1].Partitions), true
}

// WaitMessages waits until the member has processed at least n messages.
func (m *Member) WaitMessages(ctx context.Context, n int) error {
	return m.Wait(ctx, func(evs []Event) bool { return len(filter(evs, EventMsg)) >= n })
}

// WaitOwned waits until the last reported partition set satisfies ok.
func (m *Member) WaitOwned(ctx context.Context, ok func(parts []int32) bool) error {
	return m.Wait(ctx, func(evs []Event) bool {
		o := filter(evs, EventOwned)
		return len(o) > 0 && ok(o[len(o)-1].Partitions)
	})
}

// Stop sends SIGTERM (the member stops its consumer, which closes its
// ZooKeeper session and so removes its znodes, and exits) and waits for the
// exit; after StopGrace it sends SIGKILL and reports that. It returns nil
// when the member exited with status 0, also when it had exited before.
func (m *Member) Stop() error {
	if m.Terminate(StopGrace) {
		return fmt.Errorf("pykafka: %s did not stop within %s after SIGTERM; killed\n%s", m, StopGrace, m.Stderr(40))
	}
	if err := m.ExitErr(); err != nil {
		return fmt.Errorf("pykafka: %s: %w\n%s", m, err, m.Stderr(40))
	}
	return nil
}

// Kill sends SIGKILL to the member's process group and waits for the exit.
// Its ZooKeeper session (and so its znodes) stays until the session timeout.
func (m *Member) Kill() error { return m.proc.Kill() }

// Stderr returns the last n lines the member wrote to stderr (pykafka's log
// and tracebacks).
func (m *Member) Stderr(n int) string { return m.proc.Stderr(n) }
