package balanced

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"github.com/IBM/sarama"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/zkbalance/zkbalance/internal/zkformat"
	"github.com/zkbalance/zkbalance/partition"
	"github.com/zkbalance/zkbalance/zkwatch"
)

// Layout is the ZooKeeper layout a group uses (see docs/PROTOCOL.md, "Layouts").
type Layout string

// Layouts.
const (
	// LayoutScala is the Scala high-level consumer's layout: JSON member
	// registrations, owner znodes /owners/<t>/<p> holding thread ids, and
	// offsets in ZooKeeper or Kafka. The default.
	LayoutScala Layout = "scala"
	// LayoutPykafka is pykafka BalancedConsumer's: the registration value is
	// the raw topic name, owner znodes are /owners/<t>/<leader>-<p> holding
	// the member id, offsets are in Kafka. One topic per member. pykafka on
	// Python 3 writes its owner znodes under /owners/b'<t>' instead (it
	// formats the topic's bytes into the path, pykafka issue #888), so each
	// of our claims creates the znode in both directories in one
	// transaction and waits while either is held: pykafka members on Python
	// 2 and 3 both see it, and we see theirs.
	LayoutPykafka Layout = "pykafka"
)

// OffsetStorage selects where a group's committed offsets are kept.
type OffsetStorage string

// Offset storages.
const (
	OffsetsZooKeeper OffsetStorage = "zookeeper" // /consumers/<g>/offsets/<t>/<p>
	OffsetsKafka     OffsetStorage = "kafka"     // the group coordinator
	OffsetsDual      OffsetStorage = "dual"      // both; reads the higher
)

// defaultRevokeTimeout is Config.RevokeTimeout's default for layout l: half
// the window in which the legacy members of that layout retry a claim
// before giving up (see Config.RevokeTimeout).
func defaultRevokeTimeout(l Layout) time.Duration {
	if l == LayoutPykafka {
		return 6 * time.Second // pykafka: 5 attempts after sleeps of 0+2+4+6 s: 12 s
	}
	return 3 * time.Second // Scala: 4 attempts 2 s apart: 6 s
}

// Config configures a Consumer. Zero fields take the defaults documented on
// each field; New validates it once and returns a *ConfigError naming the
// field (it matches ErrInvalidConfig).
type Config struct {
	// Group is the consumer group id. Required; no "/".
	Group string
	// Topics to consume (static subscription). Exactly one of Topics and
	// TopicPattern is required.
	Topics []string
	// TopicPattern is a regular expression matched against whole topic
	// names (the Scala consumer's white_list); internal topics ("__...")
	// never match. Topics that appear later are picked up without restart.
	TopicPattern string
	// ZooKeeper is the connect string, "host:port[,host:port][/chroot]",
	// of the ZooKeeper the brokers register in. Required, except with
	// CoordinationKafka and Brokers set: then an empty ZooKeeper means no
	// ZooKeeper at all (for Kafka 4 in KRaft mode, which has none): no
	// owner znodes are claimed, nothing is written under /consumers, and
	// the invariant that a partition is processed only by the holder of
	// its owner znode does not apply; only the Kafka group generation
	// fences the member (a handler is stopped when its partition is
	// revoked, and a commit of a generation that is over is refused).
	// That is for groups without ZooKeeper members left: zookeeper-mode
	// members and legacy Scala or pykafka consumers cannot see such a
	// member. SessionTimeout, LostAfterDisconnect, ZooKeeperDialer,
	// ZooKeeperAuth and ACL need ZooKeeper, and the Sarama Version must be
	// at least V2_1_0_0 (the oldest request versions Kafka 4 still
	// accepts).
	ZooKeeper string
	// Brokers are bootstrap addresses for fetching (and, in kafka mode,
	// for the group coordinator). Default: the endpoints registered in
	// /brokers/ids (listener Listener). Required without ZooKeeper.
	Brokers []string
	// Listener names the broker listener to use from /brokers/ids when
	// Brokers is empty. Default: the first endpoint whose security protocol
	// fits the Kafka connection: PLAINTEXT, SSL (TLS enabled), SASL_PLAINTEXT
	// (SASL enabled) or SASL_SSL (both), whether enabled by TLS and SASL
	// below or in Sarama.
	Listener string
	// Layout is the group's ZooKeeper layout. Default LayoutScala.
	Layout Layout
	// MemberID overrides the generated member id (Scala:
	// <group>_<host>-<ms>-<8 hex>; pykafka: <host>:<uuid4>).
	MemberID string
	// SessionTimeout is the ZooKeeper session timeout: how long a crashed
	// member keeps its partitions. Default 6s.
	SessionTimeout time.Duration
	// LostAfterDisconnect: when no ZooKeeper server has answered for this
	// long, the member stops every handler (as lost, committing nothing),
	// because the server expires the session one session timeout after it
	// last heard from the member and may then give the partitions to
	// others; it resumes when ZooKeeper answers again in the same session.
	// It counts from the last answer (a reply, or go-zookeeper's ping
	// reply, every third of the session timeout), not from when a
	// disconnect is noticed: a reset connection (a server restarted or
	// killed) is noticed at once, a silent network partition only after
	// 2/3 of the session timeout. So a member that reconnects to another
	// server of the ensemble within the limit pauses nothing, while a silent
	// partition stops the handlers at the limit, before the server can
	// expire the session. Default 0: SessionTimeout/2. Otherwise it must be
	// more than SessionTimeout/3 (the ping interval: less would stop the
	// handlers between two pings) and less than SessionTimeout. When the
	// server grants a shorter session timeout than SessionTimeout, the limit
	// shrinks in proportion. In kafka mode the silence ends the generation
	// (ErrSessionExpired) instead of suspending it.
	LostAfterDisconnect time.Duration
	// ConnectTimeout bounds the first connection to ZooKeeper in Run, and
	// then the Kafka client's bootstrap (its TLS and SASL handshakes and
	// first metadata request; sarama's own Net and Metadata.Retry settings
	// apply within it).
	// Default 30s.
	ConnectTimeout time.Duration
	// Assignor is a partition.Lookup name. Default "scala-range" for
	// LayoutScala and "pykafka-range" for LayoutPykafka. Every member of a
	// group must use the same one.
	Assignor string
	// Offsets selects where offsets are kept. Default OffsetsZooKeeper for
	// LayoutScala, OffsetsKafka for LayoutPykafka (which requires it);
	// CoordinationKafka requires OffsetsKafka, CoordinationFollow
	// OffsetsDual in the Scala layout and OffsetsKafka in the pykafka one
	// (the defaults).
	Offsets OffsetStorage
	// InitialOffset is where a partition with no stored offset starts, and
	// where an out-of-range offset is reset to: sarama.OffsetOldest
	// (default) or sarama.OffsetNewest.
	InitialOffset int64
	// CommitInterval is how often marked offsets are committed. Offsets are
	// also committed on revoke and on close. Default 1s.
	CommitInterval time.Duration
	// RevokeTimeout is how long a rebalance waits for a revoked
	// partition's handler to return after its context is cancelled, before
	// committing what was marked and releasing the partition anyway.
	// Default 3s for LayoutScala, 6s for LayoutPykafka.
	//
	// The rule behind the defaults: a legacy member that is assigned a
	// partition this member still holds retries its whole rebalance a fixed
	// number of times and then gives up for good. The Scala consumer makes
	// rebalance.max.retries (4) attempts rebalance.backoff.ms (2s) apart,
	// the last one 6s after the first, then fails with
	// ConsumerRebalanceFailedException; pykafka makes rebalance_max_retries
	// (5) attempts after sleeps of 0, 1, 2 and 3 times rebalance_backoff_ms
	// (2s), the last one 12s after the first, then fails with
	// PartitionOwnedError. The default is half of that window, so that even
	// a handler that ignores its cancelled context lets go in time, with
	// the other half left for the change to reach this member, the final
	// commit and the release. If the legacy members of a group use other
	// retry settings, keep RevokeTimeout at most half the time from their
	// first attempt to their last. (Members of zkbalance never give up a
	// claim; in a group of them only, a longer timeout just delays the new
	// owner.)
	RevokeTimeout time.Duration
	// ClaimBackoff paces retries while another member still holds a
	// partition this member was assigned. A claim waits on a watch of the
	// holder's owner znode and looks again when it fires, or after the
	// backoff's longest delay (Max); the shorter delays apply only when no
	// watch could be set. Default partition.DefaultBackoff (50ms doubling
	// to 2s, 20% jitter). Claims never give up by themselves.
	ClaimBackoff partition.Backoff
	// RebalanceDelay is the quiet period that coalesces bursts of ZooKeeper
	// events into one rebalance (bounded at 20x). Default 20ms.
	RebalanceDelay time.Duration
	// HandlerRestartDelay is the pause before a handler that returned (or
	// failed) while its partition is still owned is started again from the
	// last marked offset. Default 1s.
	HandlerRestartDelay time.Duration
	// Hooks are called on assignment changes.
	Hooks Hooks
	// Logger receives the consumer's logs. Default slog.Default().
	Logger *slog.Logger
	// Registerer, when set, registers the consumer's Prometheus metrics
	// (zkbalance_*, labelled group and member: the member id). Members of
	// one group, or of several, may share a Registerer: their series differ
	// by member, so that summing over members gives the group's value. Two
	// consumers with the same MemberID in one Registerer make New fail with
	// ErrInvalidConfig. The series are unregistered when Run returns (or by
	// Close when Run never ran). The metrics are listed in the package
	// documentation.
	Registerer prometheus.Registerer
	// LagInterval is how often the log end offsets of the owned partitions
	// are listed (one ListOffsets request per leader broker) for
	// zkbalance_lag_messages, so that the lag of a partition whose handler
	// is stuck keeps growing; the fetched high-water mark updates it in
	// between while messages flow. A newly acquired partition takes its log
	// end from its first fetch response, or is listed about a second after
	// it was acquired if none came by then. Default 10s (under a usual
	// scrape interval of 15s); minimum 10ms.
	LagInterval time.Duration
	// Sarama is the base client config for fetching (copied; the consumer
	// sets what it needs). Default sarama.NewConfig() with Version 2.1,
	// Consumer.MaxWaitTime 5s (an idle member sends a fetch per broker
	// this often; a fetch returns as soon as messages arrive, and newly
	// assigned partitions start on fresh connections, so they do not wait
	// for it), Consumer.Fetch.MaxBytes 8 MiB (what the
	// member's fetching may hold in all: the fetch responses whose
	// messages are queued for handlers plus the requests in flight to
	// every broker; sarama's default is 50 MiB per response) and a
	// MetricRegistry that keeps nothing: sarama's
	// go-metrics (request rates and sizes, fetch batch sizes) cost a
	// registry lookup and a histogram update per partition in every fetch
	// response, and the consumer exports its own metrics instead. Set
	// Sarama, with a registry of yours, to keep them. Metadata.Full is
	// ignored: the member's clients ask for the metadata of the topics
	// they use only, never for every topic of the cluster.
	Sarama *sarama.Config
	// ZooKeeperDialer, when set, opens ZooKeeper TCP connections (tests,
	// proxies).
	ZooKeeperDialer zkwatch.Dialer
	// ZooKeeperAuth are credentials added (ZooKeeper's addauth) to every
	// ZooKeeper session of the consumer — the first and each one opened
	// after an expiry — before it makes any request; go-zookeeper re-sends
	// them on every reconnect. Use DigestAuth(user, password) for the
	// digest scheme. Default none (world:anyone only).
	ZooKeeperAuth []ZooKeeperAuth
	// ACL is the access control list of every znode the consumer creates:
	// its registration under /consumers/<group>/ids, its owner znodes, its
	// offset znodes, and the parents of those it has to create
	// (/consumers/<group> and below; /consumers itself, shared by every
	// group, is created world:anyone ALL as Kafka does). Existing znodes
	// keep their ACL. The credentials in ZooKeeperAuth must grant read,
	// write, create and delete through it, or New fails with
	// ErrInvalidConfig. DigestACL(user, password) is the usual choice:
	// all permissions for that digest user and read for everyone, which is
	// zkwatch.DigestACL(zkwatch.PermAll, user, password) plus
	// zkwatch.WorldACL(zkwatch.PermRead). Default (nil or empty):
	// zkwatch.WorldACL(zkwatch.PermAll), world:anyone ALL, as before.
	ACL []zkwatch.ACL
	// TLS, when set, encrypts every connection to Kafka (the consumer's
	// client, its fetch clients and the Kafka offset store) with a clone
	// of this config: set RootCAs to trust a private CA, Certificates for
	// client authentication. The server name is taken from each broker's
	// address when ServerName is empty. Setting it together with
	// Sarama.Net.TLS.Enable is an ErrInvalidConfig. Default nil: no TLS
	// (unless Sarama enables it).
	TLS *tls.Config
	// Coordination chooses who decides the assignment: CoordinationZooKeeper
	// (the default: the members' registrations in ZooKeeper, as the Scala
	// consumer and pykafka do) or CoordinationKafka (Kafka's group
	// coordinator, with the group named Group, protocol type "consumer" and
	// KafkaStrategy, so that Java KafkaConsumers with the same eager
	// assignor can share the group). In kafka mode the member still claims
	// each partition's owner znode (same layout) before it starts it and
	// releases it after the final commit, offsets are kept in Kafka
	// (Offsets must be OffsetsKafka or empty) and commits are fenced by the
	// generation; it does not register under /consumers/<group>/ids, so
	// zookeeper-mode members of the same group do not see it: all zkbalance
	// members of a group must use the same mode. With an empty ZooKeeper
	// (and Brokers set) it uses no ZooKeeper at all and claims no owner
	// znodes: see ZooKeeper. See coord_kafka.go.
	// CoordinationFollow: the group's mode znode decides between the two,
	// and the member switches live when it changes (see coord_follow.go);
	// offsets are then kept in both stores (Offsets must be OffsetsDual or
	// empty) and the Kafka settings below apply in kafka mode.
	Coordination Coordination
	// KafkaStrategy is the assignor (Kafka's partition.assignment.strategy
	// name) a kafka-mode member offers and, when it is the group leader,
	// runs: KafkaRange (the default), KafkaRoundRobin or KafkaSticky, the
	// eager assignors of the Java client. Only with CoordinationKafka.
	KafkaStrategy string
	// KafkaSessionTimeout is the group session timeout sent in JoinGroup:
	// how long the coordinator keeps a member that stopped heartbeating.
	// It must lie within the brokers' group.min.session.timeout.ms (6s) and
	// group.max.session.timeout.ms (30m). Default 10s. Only with
	// CoordinationKafka.
	KafkaSessionTimeout time.Duration
	// HeartbeatInterval is how often a kafka-mode member heartbeats (from
	// its own goroutine, never blocked by handlers); below
	// KafkaSessionTimeout. Default 3s. For the first 2 s of a generation
	// the heartbeats go every 100 ms (or HeartbeatInterval if shorter), so
	// that a member joining just after a generation formed is let in at
	// once.
	HeartbeatInterval time.Duration
	// RebalanceTimeout is the JoinGroup rebalance timeout: how long the
	// coordinator waits for every member to rejoin after a rebalance began.
	// A kafka-mode member rejoins after its handlers stopped (at most
	// RevokeTimeout), its offsets were committed and its owner znodes
	// released. Default RevokeTimeout + 20s.
	RebalanceTimeout time.Duration
	// SASL, when set, authenticates every connection to Kafka with SASL
	// PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (over TLS when TLS is set too).
	// Setting it together with Sarama.Net.SASL.Enable is an
	// ErrInvalidConfig. Default nil: no SASL (unless Sarama enables it).
	SASL *SASL
}

// withDefaults validates c and returns a copy with every default filled.
func (c Config) withDefaults() (Config, error) {
	bad := func(field, format string, args ...any) (Config, error) {
		return Config{}, &ConfigError{Field: field, Reason: fmt.Sprintf(format, args...)}
	}
	if c.Group == "" || strings.Contains(c.Group, "/") {
		return bad("Group", "must be non-empty and contain no '/' (got %q)", c.Group)
	}
	if (len(c.Topics) == 0) == (c.TopicPattern == "") {
		return bad("Topics", "set exactly one of Topics and TopicPattern")
	}
	seen := map[string]bool{}
	for _, t := range c.Topics {
		if !zkformat.ValidTopic(t) {
			return bad("Topics", "invalid topic name %q", t)
		}
		if seen[t] {
			return bad("Topics", "topic %q listed twice", t)
		}
		seen[t] = true
	}
	if c.TopicPattern != "" {
		if _, err := regexp.Compile(c.TopicPattern); err != nil {
			return bad("TopicPattern", "%v", err)
		}
	}
	if c.ZooKeeper == "" {
		if field, err := c.checkNoZooKeeper(); err != nil {
			return bad(field, "%v", err)
		}
	} else if _, _, err := zkwatch.ParseServers(c.ZooKeeper); err != nil {
		return bad("ZooKeeper", "%v", err)
	}
	switch c.Layout {
	case "":
		c.Layout = LayoutScala
	case LayoutScala, LayoutPykafka:
	default:
		return bad("Layout", "unknown layout %q (scala or pykafka)", c.Layout)
	}
	if c.Layout == LayoutPykafka && (len(c.Topics) != 1 || c.TopicPattern != "") {
		return bad("Topics", "the pykafka layout registers exactly one topic per member")
	}
	if c.MemberID != "" && (strings.Contains(c.MemberID, "/") || strings.TrimSpace(c.MemberID) != c.MemberID) {
		return bad("MemberID", "no '/' or surrounding spaces (got %q)", c.MemberID)
	}
	if c.Assignor == "" {
		c.Assignor = partition.ScalaRange
		if c.Layout == LayoutPykafka {
			c.Assignor = partition.PykafkaRange
		}
	}
	if _, err := partition.Lookup(c.Assignor); err != nil {
		return bad("Assignor", "%v", err)
	}
	pyAssignor := strings.HasPrefix(c.Assignor, "pykafka-")
	if pyAssignor != (c.Layout == LayoutPykafka) {
		return bad("Assignor", "%s does not fit the %s layout", c.Assignor, c.Layout)
	}
	switch c.Offsets {
	case "":
		c.Offsets = OffsetsZooKeeper
		if c.Layout == LayoutPykafka || c.Coordination == CoordinationKafka {
			c.Offsets = OffsetsKafka
		}
		if c.Coordination == CoordinationFollow {
			c.Offsets = followOffsets(c.Layout)
		}
	case OffsetsZooKeeper, OffsetsKafka, OffsetsDual:
	default:
		return bad("Offsets", "unknown storage %q (zookeeper, kafka or dual)", c.Offsets)
	}
	if c.Layout == LayoutPykafka && c.Offsets != OffsetsKafka {
		return bad("Offsets", "pykafka keeps offsets in Kafka only, in every coordination mode (got %q)", c.Offsets)
	}
	switch c.InitialOffset {
	case 0:
		c.InitialOffset = sarama.OffsetOldest
	case sarama.OffsetOldest, sarama.OffsetNewest:
	default:
		return bad("InitialOffset", "must be sarama.OffsetOldest or sarama.OffsetNewest (got %d)", c.InitialOffset)
	}
	durations := []struct {
		name string
		d    *time.Duration
		def  time.Duration
		min  time.Duration
	}{
		{"SessionTimeout", &c.SessionTimeout, 6 * time.Second, time.Second},
		{"ConnectTimeout", &c.ConnectTimeout, 30 * time.Second, 100 * time.Millisecond},
		{"CommitInterval", &c.CommitInterval, time.Second, 10 * time.Millisecond},
		{"RevokeTimeout", &c.RevokeTimeout, defaultRevokeTimeout(c.Layout), time.Millisecond},
		{"RebalanceDelay", &c.RebalanceDelay, 20 * time.Millisecond, time.Millisecond},
		{"HandlerRestartDelay", &c.HandlerRestartDelay, time.Second, time.Millisecond},
		{"LagInterval", &c.LagInterval, 10 * time.Second, 10 * time.Millisecond},
	}
	for _, d := range durations {
		if *d.d < 0 {
			return bad(d.name, "negative duration %s", *d.d)
		}
		if *d.d == 0 {
			*d.d = d.def
		}
		if *d.d < d.min {
			return bad(d.name, "%s is below the minimum %s", *d.d, d.min)
		}
	}
	if field, err := c.coordinationDefaults(); err != nil {
		return bad(field, "%v", err)
	}
	if c.LostAfterDisconnect < 0 {
		return bad("LostAfterDisconnect", "negative duration %s", c.LostAfterDisconnect)
	}
	if c.LostAfterDisconnect != 0 && (c.LostAfterDisconnect <= c.SessionTimeout/3 || c.LostAfterDisconnect >= c.SessionTimeout) {
		return bad("LostAfterDisconnect", "%s is not between SessionTimeout/3 (%s, the ping interval) and SessionTimeout (%s)",
			c.LostAfterDisconnect, c.SessionTimeout/3, c.SessionTimeout)
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if field, err := c.checkZooKeeperSecurity(); err != nil {
		return bad(field, "%v", err)
	}
	sc := sarama.NewConfig()
	if c.Sarama != nil {
		cp := *c.Sarama
		sc = &cp
	} else {
		sc.Version = sarama.V2_1_0_0
		// A broker holds an empty fetch this long (franz-go's default; the
		// Java client's and sarama's is 500ms). A fetch returns as soon as
		// a message arrives, so the wait costs no latency; it only paces an
		// idle member, which sends one fetch per broker per MaxWaitTime. An
		// idle group of 64 members on 4096 partitions took 1.4 cores of
		// this 2-core machine at 100ms, 0.76 at 500ms; at 5s the brokers
		// spent 0.06 cores instead of 0.19 and the members 0.06 instead of
		// 0.14, and a join at 64 x 4096 (make bench's curve, 10 joins, same
		// hour) took 333 ms instead of 428-470 (scala-range), 212 instead
		// of 260-290 (sticky), the machine being busy throughout a join.
		// Partitions added to a loop wait for its request in flight, so
		// the fetcher polls briefly while they come (fetchShortWait) and
		// never adds one to a loop in a long poll while it can open another
		// (fetcher.go).
		sc.Consumer.MaxWaitTime = 5 * time.Second
		// sarama's client metrics: none is read (see discardMetrics).
		sc.MetricRegistry = discardMetrics{}
		// The fetcher's budget (fetcher.go held): responses whose
		// messages are queued plus requests in flight, for all brokers
		// together (sarama's default is 50 MiB for one response). One
		// member reading 8 partitions of 1 KiB messages on 3 brokers
		// (BenchmarkConsumeBalanced, same hour): 6 MiB about 55 % of raw
		// sarama's rate, 8 MiB 72-95 %, 16 MiB 106-120 %. A member
		// catching up 1 GiB over 1000 partitions peaked at 58-65 MiB
		// RSS with 8 MiB, 79-81 MiB with 16 MiB. (Measured before a
		// request was capped at a quarter of the budget: since then
		// 8 MiB costs the same CPU per message as raw sarama at 8
		// partitions, 1.17 x with 6 MiB, and the 1 GiB catch-up peaks at
		// 57-60 MiB; BENCHMARKS.md.)
		sc.Consumer.Fetch.MaxBytes = 8 << 20
	}
	sc.Consumer.Return.Errors = true
	sc.Consumer.Offsets.Initial = c.InitialOffset
	if sc.ClientID == "" || sc.ClientID == "sarama" {
		sc.ClientID = "zkbalance"
	}
	if field, err := c.applyKafkaSecurity(sc); err != nil {
		return bad(field, "%v", err)
	}
	if err := sc.Validate(); err != nil {
		return bad("Sarama", "%v", err)
	}
	if c.Coordination != CoordinationZooKeeper && !sc.Version.IsAtLeast(sarama.V0_10_1_0) {
		return bad("Sarama", "Coordination %s needs Version 0.10.1 or later (JoinGroup v1), got %s", c.Coordination, sc.Version)
	}
	if c.ZooKeeper == "" && !sc.Version.IsAtLeast(minVersionWithoutZooKeeper) {
		return bad("Sarama", "without ZooKeeper (Kafka 4 brokers) Version must be %s or later: Kafka 4 refuses the older request versions; got %s", minVersionWithoutZooKeeper, sc.Version)
	}
	c.Sarama = sc
	return c, nil
}
