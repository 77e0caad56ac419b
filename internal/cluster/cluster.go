// Package cluster starts a real Apache ZooKeeper and real Apache Kafka brokers
// (ZooKeeper mode, Kafka 3.9) as child JVM processes, from jars resolved once
// from Maven Central, for tests and for the demo binary. With Config.KRaft it
// starts Kafka 4 in KRaft mode instead: one combined broker and controller,
// no ZooKeeper.
//
// Ports are chosen free on 127.0.0.1 at start, data lives in a temporary
// directory, and every child is killed on Close or when the test binary dies.
// One cluster per test package (a Shared, started by the first test that
// needs it) is the intended use; tests isolate themselves by unique topic and
// group names.
package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/IBM/sarama"

	"github.com/zkbalance/zkbalance/internal/proxy"
)

// Config describes the cluster to start. The zero value is one broker, no
// chroot, a temporary directory and the default jar cache.
type Config struct {
	// Brokers is the number of Kafka brokers (ids 1..Brokers). Default 1.
	Brokers int
	// ZooKeeperOnly starts ZooKeeper alone (Brokers is ignored).
	ZooKeeperOnly bool
	// ZooKeeperServers is the number of ZooKeeper servers. Default 1: one
	// standalone server. More (3 for the usual ensemble; at most 7) start
	// a quorum from the same jars, servers 1..n on their own client,
	// quorum and election ports and data directories; the brokers connect
	// with every server in zookeeper.connect. ZooKeeperConnect lists them
	// all (ZooKeeperAddr is server 1's); StopZooKeeperServer,
	// KillZooKeeperServer and StartZooKeeperServer act on one server,
	// ZooKeeperLeader finds the leader (four-letter word srvr), while
	// StartZooKeeper, StopZooKeeper and KillZooKeeper act on all.
	// Refused with KRaft.
	ZooKeeperServers int
	// ZooKeeperProxies puts an internal/proxy.Proxy in front of every
	// ZooKeeper server (ZooKeeperProxy(i)); ProxiedZooKeeperConnect lists
	// them, so a client that connects with it can be cut off one server
	// while the others, the brokers and the harness stay connected. The
	// proxies keep their ports across server restarts and are closed by
	// Close. Default false. Refused with KRaft.
	ZooKeeperProxies bool
	// Chroot, when set (e.g. "/kafka"), is the ZooKeeper chroot Kafka uses:
	// zookeeper.connect is "127.0.0.1:port/kafka".
	Chroot string
	// Dir holds data and logs. Default: a new temporary directory, removed on Close.
	Dir string
	// CacheDir holds the resolved jars. Default: CacheDir().
	CacheDir string
	// StartTimeout bounds the wait for all brokers to register and answer
	// a metadata request. Default 120s.
	StartTimeout time.Duration
	// BrokerProps are extra server.properties entries for every broker
	// (they win over the harness's own).
	BrokerProps map[string]string
	// SASLUsers, when not empty, gives every broker a SASL_PLAINTEXT
	// listener (and a SASL_SSL one with TLS) that accepts these users
	// (name -> password) with SASL/PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512;
	// their SCRAM credentials are stored in ZooKeeper before the brokers
	// start. Names: letters, digits, '_', '.', '-'; passwords: no spaces,
	// quotes, backslashes, ',', '=', '[' or ']'. Default none.
	SASLUsers map[string]string
	// TLS gives every broker an SSL listener (and a SASL_SSL one with
	// SASLUsers) presenting a certificate for 127.0.0.1 and localhost signed
	// by a CA made at start (Cluster.TLSConfig, Cluster.CACertPEM). Default
	// false.
	TLS bool
	// TLSClientAuth (with TLS) gives every broker one more SSL listener,
	// ListenerSSLClientAuth, that requires a client certificate signed by
	// the cluster's CA (Cluster.ClientCertFiles). Default false.
	TLSClientAuth bool
	// ProxiedListener gives every broker one more listener, ListenerProxied
	// (security protocol PLAINTEXT), whose advertised address is a
	// internal/proxy.Proxy the cluster starts and owns, one per broker,
	// forwarding to that broker's real PROXIED port. A client that
	// bootstraps at ProxiedBrokerAddrs (or picks the PROXIED endpoints from
	// /brokers/ids) is told the proxy addresses in every metadata answer,
	// so all its broker connections go through the proxies, where a test
	// injects faults (BrokerProxy(id).Drop, Stall, Refuse, Reset, Pause).
	// Inter-broker traffic and the harness's own calls (readiness waits,
	// CreateTopic, Produce, LogEndOffsets) stay on PLAINTEXT and are not
	// affected. The proxies keep their ports across broker stop, kill and
	// restart (a broker restarts on the same ports; connections made while
	// it is down are reset) and are closed by Close. Default false.
	ProxiedListener bool
	// KRaft starts Apache Kafka 4 (KafkaVersionKRaft) in KRaft mode
	// instead of ZooKeeper and Kafka 3.9: one node that is both broker and
	// controller (id 1, its own single-voter quorum on a CONTROLLER
	// listener of its own), from its own jars (KRaftJars), with storage
	// formatted at start. There is no ZooKeeper: HasZooKeeper is false,
	// ZooKeeperAddr and KafkaZooKeeperConnect are "", and the ZooKeeper
	// methods (StartZooKeeper, DialZooKeeper, ExpireSession, ...) return
	// ErrNoZooKeeper. Brokers must be 0 or 1; ZooKeeperOnly, Chroot and
	// SASLUsers are refused. TLS, ProxiedListener and BrokerProps work as
	// without KRaft. Kafka 4 has dropped the request versions of clients
	// older than Kafka 2.1 (sarama: Config.Version V2_1_0_0 or later).
	// Default false.
	KRaft bool
	// Logger receives progress lines. Default: discard.
	Logger *slog.Logger
}

// Kafka versions the harness runs: the jars of the embedded poms.
const (
	KafkaVersionZooKeeper = "3.9.2" // ZooKeeper mode (pom.xml)
	KafkaVersionKRaft     = "4.1.1" // Config.KRaft (pom-kafka4.xml)
)

// ErrNoZooKeeper is returned by the ZooKeeper methods of a cluster that has
// no ZooKeeper (Config.KRaft).
var ErrNoZooKeeper = errors.New("cluster: no ZooKeeper in this cluster (KRaft mode)")

// Cluster is a running ZooKeeper plus Kafka brokers, or (Config.KRaft) one
// Kafka 4 node without ZooKeeper.
type Cluster struct {
	cfg    Config
	dir    string
	ownDir bool
	libs   string
	java   string
	zkPort int
	zk     *process    // server 1's; nil with Config.KRaft
	zks    []*zkServer // every ZooKeeper server (ensemble.go); none with Config.KRaft
	// logConfig is the log4j (log4j2 with Config.KRaft) configuration file.
	logConfig string
	brokers   map[int32]*broker
	tls       *tlsMaterial           // with Config.TLS
	proxies   map[int32]*proxy.Proxy // with Config.ProxiedListener

	closeOnce sync.Once
}

type broker struct {
	id       int32
	port     int            // PLAINTEXT
	ports    map[string]int // listener name -> port it listens on, PLAINTEXT included
	propPath string         // its server.properties
	proc     *process
}

// Start resolves the jars (first run only), starts ZooKeeper and the brokers
// and waits until every broker is registered in /brokers/ids and a metadata
// request lists them all. With Config.KRaft it formats the node's storage,
// starts the node and waits until a metadata request lists it. On failure
// everything started is stopped and the error carries the tail of the
// process logs.
func Start(ctx context.Context, cfg Config) (c *Cluster, err error) {
	if err := cfg.checkKRaft(); err != nil {
		return nil, err
	}
	if err := cfg.checkEnsemble(); err != nil {
		return nil, err
	}
	if cfg.Brokers <= 0 {
		cfg.Brokers = 1
	}
	if cfg.ZooKeeperOnly {
		cfg.Brokers = 0
	}
	if cfg.StartTimeout <= 0 {
		cfg.StartTimeout = 120 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Chroot != "" && (!strings.HasPrefix(cfg.Chroot, "/") || strings.HasSuffix(cfg.Chroot, "/")) {
		return nil, fmt.Errorf("cluster: chroot %q must start and not end with /", cfg.Chroot)
	}
	if err := cfg.checkSecurity(); err != nil {
		return nil, err
	}
	if cfg.CacheDir == "" {
		if cfg.CacheDir, err = CacheDir(); err != nil {
			return nil, err
		}
	}
	c = &Cluster{cfg: cfg, brokers: map[int32]*broker{}, proxies: map[int32]*proxy.Proxy{}}
	if c.java, err = JavaPath(); err != nil {
		return nil, err
	}
	cfg.Logger.Info("resolving jars", "cache", cfg.CacheDir, "kafka", c.KafkaVersion())
	resolve := Jars
	if cfg.KRaft {
		resolve = KRaftJars
	}
	if c.libs, err = resolve(ctx, cfg.CacheDir); err != nil {
		return nil, err
	}
	c.dir = cfg.Dir
	if c.dir == "" {
		if c.dir, err = os.MkdirTemp("", "zkbalance-cluster-"); err != nil {
			return nil, fmt.Errorf("cluster: %w", err)
		}
		c.ownDir = true
	}
	started := c // "return nil, err" sets c to nil before this runs
	defer func() {
		if err != nil {
			started.Close()
		}
	}()
	ctx, cancel := context.WithTimeout(ctx, cfg.StartTimeout)
	defer cancel()
	if cfg.KRaft {
		if err = c.startKRaft(ctx, context.WithoutCancel(ctx)); err != nil {
			return nil, err
		}
		cfg.Logger.Info("cluster up", "kafka", c.KafkaVersion(), "mode", "KRaft", "brokers", c.BrokerAddrs())
		return c, nil
	}
	if err = c.writeConfigs(context.WithoutCancel(ctx)); err != nil {
		return nil, err
	}
	if err = c.StartZooKeeper(ctx); err != nil {
		return nil, err
	}
	if cfg.Brokers > 0 {
		if err = c.createScramUsers(ctx); err != nil {
			return nil, err
		}
	}
	for id := int32(1); id <= int32(cfg.Brokers); id++ {
		if err = c.brokers[id].proc.start(); err != nil {
			return nil, err
		}
	}
	if cfg.Brokers > 0 {
		if err = c.waitBrokers(ctx); err != nil {
			return nil, err
		}
	}
	cfg.Logger.Info("cluster up", "zookeeper", c.ZooKeeperConnect(), "brokers", c.BrokerAddrs())
	return c, nil
}

// writeConfigs chooses the ports, writes the ZooKeeper (none with
// Config.KRaft) and broker configs and, with Config.ProxiedListener, starts
// the broker proxies; they run until Close (proxyCtx is not cancelled before
// that).
func (c *Cluster) writeConfigs(proxyCtx context.Context) error {
	var err error
	logProps := log4jProps
	c.logConfig = filepath.Join(c.dir, "log4j.properties")
	if c.cfg.KRaft {
		logProps = log4j2Props
		c.logConfig = filepath.Join(c.dir, "log4j2.properties")
	}
	if err := os.WriteFile(c.logConfig, []byte(logProps), 0o644); err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	if !c.cfg.KRaft {
		if err := c.writeZooKeeperConfigs(proxyCtx); err != nil {
			return err
		}
	}
	if c.cfg.TLS && c.cfg.Brokers > 0 {
		if c.tls, err = makeTLS(c.dir); err != nil {
			return fmt.Errorf("cluster: TLS certificates: %w", err)
		}
	}
	security := c.securityProps()
	for id := int32(1); id <= int32(c.cfg.Brokers); id++ {
		ports := map[string]int{}
		var listeners, advertised, protocols []string
		for _, name := range c.cfg.listenerNames() {
			if ports[name], err = freePort(); err != nil {
				return err
			}
			addr := fmt.Sprintf("127.0.0.1:%d", ports[name])
			listeners = append(listeners, name+"://"+addr)
			protocols = append(protocols, name+":"+securityProtocolOf(name))
			if name == ListenerProxied {
				px, err := proxy.New(proxyCtx, addr)
				if err != nil {
					return fmt.Errorf("cluster: proxy of broker %d: %w", id, err)
				}
				c.proxies[id] = px
				addr = px.Addr()
			}
			advertised = append(advertised, name+"://"+addr)
		}
		logDir := filepath.Join(c.dir, fmt.Sprintf("kafka-%d", id))
		var props map[string]string
		heap := "768m"
		if c.cfg.KRaft {
			controllerPort, err := freePort()
			if err != nil {
				return err
			}
			props = kraftProps(id, controllerPort, listeners, protocols)
			heap = "512m"
		} else {
			props = c.zkBrokerProps(id, listeners, protocols)
		}
		props["advertised.listeners"] = strings.Join(advertised, ",")
		props["log.dirs"] = logDir
		for k, v := range security {
			props[k] = v
		}
		for k, v := range c.cfg.BrokerProps {
			props[k] = v
		}
		propPath := filepath.Join(c.dir, fmt.Sprintf("server-%d.properties", id))
		if err := writeProps(propPath, props); err != nil {
			return err
		}
		c.brokers[id] = &broker{id: id, port: ports[ListenerPlaintext], ports: ports, propPath: propPath, proc: &process{
			name: fmt.Sprintf("kafka-%d", id), java: c.java,
			logPath: filepath.Join(c.dir, fmt.Sprintf("kafka-%d.log", id)),
			args:    append(c.jvmArgs(c.logConfig, heap), "kafka.Kafka", propPath),
		}}
	}
	return nil
}

// zkBrokerProps are the server.properties of ZooKeeper-mode broker id
// (advertised.listeners, log.dirs and the security entries are added by
// writeConfigs).
func (c *Cluster) zkBrokerProps(id int32, listeners, protocols []string) map[string]string {
	rf := strconv.Itoa(min(3, c.cfg.Brokers))
	props := commonBrokerProps(rf)
	props["broker.id"] = strconv.Itoa(int(id))
	props["listeners"] = strings.Join(listeners, ",")
	props["zookeeper.connect"] = c.KafkaZooKeeperConnect()
	props["zookeeper.session.timeout.ms"] = "10000"
	props["delete.topic.enable"] = "true"
	props["controlled.shutdown.enable"] = "true"
	if len(listeners) > 1 {
		props["inter.broker.listener.name"] = ListenerPlaintext
		props["listener.security.protocol.map"] = strings.Join(protocols, ",")
	}
	return props
}

// commonBrokerProps are the server.properties entries of both modes;
// rf is the replication factor of the internal topics.
func commonBrokerProps(rf string) map[string]string {
	return map[string]string{
		"offsets.topic.replication.factor":         rf,
		"offsets.topic.num.partitions":             "10",
		"transaction.state.log.replication.factor": rf,
		"transaction.state.log.min.isr":            "1",
		"group.initial.rebalance.delay.ms":         "0",
		"auto.create.topics.enable":                "false",
		"num.network.threads":                      "2",
		"num.io.threads":                           "4",
		"num.partitions":                           "1",
		"log.flush.interval.messages":              "9223372036854775807",
	}
}

func (c *Cluster) jvmArgs(log4j, heap string) []string {
	logConfig := "-Dlog4j.configuration=file:" + log4j
	if c.cfg.KRaft {
		logConfig = "-Dlog4j2.configurationFile=" + log4j // Kafka 4 logs through log4j2
	}
	return []string{
		"-Xms64m", "-Xmx" + heap, "-XX:+UseSerialGC", "-XX:-UsePerfData", "-Djava.awt.headless=true",
		logConfig, "-Dzookeeper.admin.enableServer=false",
		"-cp", filepath.Join(c.libs, "*"),
	}
}

const log4jProps = `log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.request.logger=WARN
log4j.logger.state.change.logger=WARN
log4j.logger.org.apache.zookeeper.server.PrepRequestProcessor=WARN
`

func writeProps(path string, props map[string]string) error {
	var b strings.Builder
	// Backslashes and line breaks in values are escaped as
	// java.util.Properties reads them (PEM values span lines).
	esc := strings.NewReplacer(`\`, `\\`, "\n", `\n`, "\r", `\r`)
	for k, v := range props {
		fmt.Fprintf(&b, "%s=%s\n", k, esc.Replace(v))
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	return nil
}

// Listen ports are chosen below Linux's ephemeral range (32768-60999 by
// default), from which the kernel also takes the source ports of outgoing
// connections: a port found free there could be taken by some client's
// connection in the seconds before the JVM binds it (seen: a broker of
// test/security failed with "Address already in use"). Ports handed out by
// this process are not handed out again.
const (
	portLow  = 20000
	portHigh = 32767
)

var (
	portsMu    sync.Mutex
	portsGiven = map[int]bool{}
)

func freePort() (int, error) {
	portsMu.Lock()
	defer portsMu.Unlock()
	for range 200 {
		port := portLow + rand.IntN(portHigh-portLow+1)
		if portsGiven[port] {
			continue
		}
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue // in use
		}
		l.Close()
		portsGiven[port] = true
		return port, nil
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("cluster: free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Dir is the directory holding data, configs and process logs.
func (c *Cluster) Dir() string { return c.dir }

// ZooKeeperAddr is "127.0.0.1:port" of ZooKeeper (of server 1 in a quorum:
// see ZooKeeperConnect), without chroot; "" when the cluster has none
// (Config.KRaft).
func (c *Cluster) ZooKeeperAddr() string {
	if !c.HasZooKeeper() {
		return ""
	}
	return fmt.Sprintf("127.0.0.1:%d", c.zkPort)
}

// KafkaZooKeeperConnect is the zookeeper.connect string the brokers use,
// including the chroot when one is configured; "" when the cluster has no
// ZooKeeper (Config.KRaft).
func (c *Cluster) KafkaZooKeeperConnect() string {
	if !c.HasZooKeeper() {
		return ""
	}
	return c.ZooKeeperConnect() + c.cfg.Chroot
}

// HasZooKeeper reports whether the cluster runs a ZooKeeper: false for a
// KRaft cluster (Config.KRaft), whose ZooKeeper methods return
// ErrNoZooKeeper.
func (c *Cluster) HasZooKeeper() bool { return !c.cfg.KRaft }

// KRaft reports whether the cluster is Kafka 4 in KRaft mode (Config.KRaft).
func (c *Cluster) KRaft() bool { return c.cfg.KRaft }

// KafkaVersion is the version of the Kafka the brokers run:
// KafkaVersionZooKeeper ("3.9.2"), or KafkaVersionKRaft ("4.1.1") with
// Config.KRaft.
func (c *Cluster) KafkaVersion() string {
	if c.cfg.KRaft {
		return KafkaVersionKRaft
	}
	return KafkaVersionZooKeeper
}

// Chroot is the configured ZooKeeper chroot of the brokers ("" for none).
func (c *Cluster) Chroot() string { return c.cfg.Chroot }

// BrokerIDs lists the broker ids in ascending order.
func (c *Cluster) BrokerIDs() []int32 {
	ids := make([]int32, 0, len(c.brokers))
	for id := int32(1); id <= int32(len(c.brokers)); id++ {
		ids = append(ids, id)
	}
	return ids
}

// BrokerAddrs lists "127.0.0.1:port" of every broker, running or not, by id.
func (c *Cluster) BrokerAddrs() []string {
	var out []string
	for _, id := range c.BrokerIDs() {
		out = append(out, c.BrokerAddr(id))
	}
	return out
}

// BrokerAddr is the listener address of broker id.
func (c *Cluster) BrokerAddr(id int32) string {
	b, ok := c.brokers[id]
	if !ok {
		return ""
	}
	return fmt.Sprintf("127.0.0.1:%d", b.port)
}

// LogTails returns the last n lines of every process log, for failure reports.
func (c *Cluster) LogTails(n int) string {
	var b strings.Builder
	for _, s := range c.zks {
		fmt.Fprintf(&b, "--- %s (%s)\n%s\n", s.proc.name, s.proc.logPath, s.proc.logTail(n))
	}
	for _, id := range c.BrokerIDs() {
		p := c.brokers[id].proc
		fmt.Fprintf(&b, "--- kafka-%d (%s)\n%s\n", id, p.logPath, p.logTail(n))
	}
	return b.String()
}

// Close stops every process (SIGTERM, then SIGKILL after a few seconds) and
// removes the temporary directory it created. It is safe to call twice.
func (c *Cluster) Close() error {
	c.closeOnce.Do(func() {
		var wg sync.WaitGroup
		for _, b := range c.brokers {
			wg.Add(1)
			go func() { defer wg.Done(); _ = b.proc.signal(sigTerm, 10*time.Second) }()
		}
		wg.Wait()
		for _, px := range c.proxies {
			_ = px.Close()
		}
		for _, s := range c.zks {
			wg.Add(1)
			go func() { defer wg.Done(); _ = s.proc.signal(sigTerm, 5*time.Second) }()
		}
		wg.Wait()
		for _, s := range c.zks {
			if s.proxy != nil {
				_ = s.proxy.Close()
			}
		}
		if c.ownDir && os.Getenv("ZKBALANCE_KEEP_CLUSTER_DIR") == "" {
			_ = os.RemoveAll(c.dir)
		}
	})
	return nil
}

// newSaramaConfig is the client config the harness uses for admin and produce.
func newSaramaConfig() *sarama.Config {
	sc := sarama.NewConfig()
	sc.Version = sarama.V3_9_0_0
	sc.ClientID = "zkbalance-harness"
	sc.Producer.Return.Successes = true
	sc.Producer.RequiredAcks = sarama.WaitForAll
	sc.Producer.Retry.Max = 10
	sc.Producer.Retry.Backoff = 200 * time.Millisecond
	sc.Metadata.Retry.Max = 10
	sc.Metadata.Retry.Backoff = 200 * time.Millisecond
	sc.Admin.Timeout = 30 * time.Second
	return sc
}

// errTimeout marks waits that ran out of time.
var errTimeout = errors.New("cluster: timed out")
