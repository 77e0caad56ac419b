package cluster

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/zkbalance/zkbalance/internal/proxy"
)

// maxZooKeeperServers bounds Config.ZooKeeperServers.
const maxZooKeeperServers = 7

// zkServer is one ZooKeeper server: the standalone one, or a member of the
// quorum (Config.ZooKeeperServers > 1), with its myid (1..n).
type zkServer struct {
	id       int
	port     int // client port
	peerPort int // quorum: followers to leader
	elecPort int // quorum: leader election
	proc     *process
	proxy    *proxy.Proxy // with Config.ZooKeeperProxies
}

// checkEnsemble refuses a Config.ZooKeeperServers or ZooKeeperProxies the
// cluster cannot run.
func (cfg Config) checkEnsemble() error {
	switch {
	case cfg.ZooKeeperServers < 0 || cfg.ZooKeeperServers > maxZooKeeperServers:
		return fmt.Errorf("cluster: ZooKeeperServers = %d: want 1 to %d", cfg.ZooKeeperServers, maxZooKeeperServers)
	case cfg.KRaft && (cfg.ZooKeeperServers > 1 || cfg.ZooKeeperProxies):
		return fmt.Errorf("cluster: KRaft mode has no ZooKeeper; ZooKeeperServers and ZooKeeperProxies are not supported with it")
	}
	return nil
}

// writeZooKeeperConfigs chooses the ports of every ZooKeeper server and
// writes its zoo.cfg (and, in a quorum, its myid), and with
// Config.ZooKeeperProxies starts a proxy in front of each; the proxies run
// until Close (proxyCtx is not cancelled before that).
func (c *Cluster) writeZooKeeperConfigs(proxyCtx context.Context) error {
	n := max(1, c.cfg.ZooKeeperServers)
	for i := 1; i <= n; i++ {
		s := &zkServer{id: i}
		var err error
		if s.port, err = freePort(); err != nil {
			return err
		}
		if n > 1 {
			if s.peerPort, err = freePort(); err != nil {
				return err
			}
			if s.elecPort, err = freePort(); err != nil {
				return err
			}
		}
		c.zks = append(c.zks, s)
	}
	for _, s := range c.zks {
		name, dataDir, cfgPath := "zookeeper", filepath.Join(c.dir, "zookeeper"), filepath.Join(c.dir, "zoo.cfg")
		mainClass := "org.apache.zookeeper.server.ZooKeeperServerMain"
		if n > 1 {
			name = fmt.Sprintf("zookeeper-%d", s.id)
			dataDir = filepath.Join(c.dir, name)
			cfgPath = filepath.Join(c.dir, fmt.Sprintf("zoo-%d.cfg", s.id))
			mainClass = "org.apache.zookeeper.server.quorum.QuorumPeerMain"
		}
		if err := os.MkdirAll(dataDir, 0o755); err != nil {
			return fmt.Errorf("cluster: %w", err)
		}
		var b strings.Builder
		fmt.Fprintf(&b, "tickTime=500\ninitLimit=10\nsyncLimit=5\ndataDir=%s\nclientPort=%d\n"+
			"clientPortAddress=127.0.0.1\nmaxClientCnxns=0\nminSessionTimeout=1000\nmaxSessionTimeout=60000\n"+
			"admin.enableServer=false\n4lw.commands.whitelist=*\n", dataDir, s.port)
		if n > 1 {
			for _, o := range c.zks {
				fmt.Fprintf(&b, "server.%d=127.0.0.1:%d:%d\n", o.id, o.peerPort, o.elecPort)
			}
			if err := os.WriteFile(filepath.Join(dataDir, "myid"), []byte(strconv.Itoa(s.id)+"\n"), 0o644); err != nil {
				return fmt.Errorf("cluster: %w", err)
			}
		}
		if err := os.WriteFile(cfgPath, []byte(b.String()), 0o644); err != nil {
			return fmt.Errorf("cluster: %w", err)
		}
		s.proc = &process{
			name: name, java: c.java, logPath: filepath.Join(c.dir, name+".log"),
			args: append(c.jvmArgs(c.logConfig, "128m"), mainClass, cfgPath),
		}
		if c.cfg.ZooKeeperProxies {
			px, err := proxy.New(proxyCtx, s.addr())
			if err != nil {
				return fmt.Errorf("cluster: proxy of ZooKeeper server %d: %w", s.id, err)
			}
			s.proxy = px
		}
	}
	c.zk, c.zkPort = c.zks[0].proc, c.zks[0].port
	return nil
}

func (s *zkServer) addr() string { return fmt.Sprintf("127.0.0.1:%d", s.port) }

// ZooKeeperServers is the number of ZooKeeper servers: 1 for a standalone
// ZooKeeper (the default), Config.ZooKeeperServers for a quorum, 0 with
// Config.KRaft.
func (c *Cluster) ZooKeeperServers() int { return len(c.zks) }

// ZooKeeperConnect is the connect string of every ZooKeeper server,
// "127.0.0.1:port1,127.0.0.1:port2,...", in server order and without
// chroot (for a standalone ZooKeeper it equals ZooKeeperAddr); "" without
// ZooKeeper (Config.KRaft).
func (c *Cluster) ZooKeeperConnect() string {
	addrs := make([]string, 0, len(c.zks))
	for _, s := range c.zks {
		addrs = append(addrs, s.addr())
	}
	return strings.Join(addrs, ",")
}

// ProxiedZooKeeperConnect is ZooKeeperConnect through the proxies of
// Config.ZooKeeperProxies: every server's proxy address, in server order;
// "" without them. A client that connects with it can be cut off one
// server at a time (ZooKeeperProxy(i).Drop, Refuse, Reset, ...); the
// brokers and the harness's own calls connect directly.
func (c *Cluster) ProxiedZooKeeperConnect() string {
	if !c.cfg.ZooKeeperProxies {
		return ""
	}
	addrs := make([]string, 0, len(c.zks))
	for _, s := range c.zks {
		addrs = append(addrs, s.proxy.Addr())
	}
	return strings.Join(addrs, ",")
}

// ZooKeeperServerAddr is "127.0.0.1:port" of ZooKeeper server i (1..n),
// "" for no such server.
func (c *Cluster) ZooKeeperServerAddr(i int) string {
	s, err := c.zkServer(i)
	if err != nil {
		return ""
	}
	return s.addr()
}

// ZooKeeperProxy is the proxy in front of ZooKeeper server i (1..n) with
// Config.ZooKeeperProxies, nil otherwise. It keeps its port across the
// server's stop, kill and restart, and is closed by Close.
func (c *Cluster) ZooKeeperProxy(i int) *proxy.Proxy {
	s, err := c.zkServer(i)
	if err != nil {
		return nil
	}
	return s.proxy
}

func (c *Cluster) zkServer(i int) (*zkServer, error) {
	if len(c.zks) == 0 {
		return nil, ErrNoZooKeeper
	}
	if i < 1 || i > len(c.zks) {
		return nil, fmt.Errorf("cluster: no ZooKeeper server %d (have 1..%d)", i, len(c.zks))
	}
	return c.zks[i-1], nil
}

// StartZooKeeperServer starts ZooKeeper server i (1..n) again on its ports
// and data, and waits until it serves clients (in a quorum: until it has
// joined the quorum as leader or follower).
func (c *Cluster) StartZooKeeperServer(ctx context.Context, i int) error {
	s, err := c.zkServer(i)
	if err != nil {
		return err
	}
	if err := s.proc.start(); err != nil {
		return err
	}
	return c.waitServing(ctx, s)
}

// StopZooKeeperServer stops ZooKeeper server i (1..n) with SIGTERM
// (SIGKILL after 5 s).
func (c *Cluster) StopZooKeeperServer(i int) error {
	return c.signalZooKeeperServer(i, sigTerm)
}

// KillZooKeeperServer kills ZooKeeper server i (1..n) with SIGKILL
// (kill -9).
func (c *Cluster) KillZooKeeperServer(i int) error {
	return c.signalZooKeeperServer(i, syscall.SIGKILL)
}

func (c *Cluster) signalZooKeeperServer(i int, sig syscall.Signal) error {
	s, err := c.zkServer(i)
	if err != nil {
		return err
	}
	if err := s.proc.signal(sig, 5*time.Second); err != nil {
		return fmt.Errorf("cluster: stop ZooKeeper server %d: %w", i, err)
	}
	return nil
}

// ZooKeeperServerRunning reports whether server i's process is alive.
func (c *Cluster) ZooKeeperServerRunning(i int) bool {
	s, err := c.zkServer(i)
	return err == nil && s.proc.running()
}

// ZooKeeperMode asks server i (1..n) for its mode with the four-letter
// word "srvr": "leader", "follower" or "standalone"; an error when it is
// down or not serving (a quorum member without a leader answers that it is
// not currently serving requests).
func (c *Cluster) ZooKeeperMode(i int) (string, error) {
	s, err := c.zkServer(i)
	if err != nil {
		return "", err
	}
	out, err := fourLetter(s.addr(), "srvr")
	if err != nil {
		return "", fmt.Errorf("cluster: ZooKeeper server %d: %w", i, err)
	}
	for line := range strings.SplitSeq(out, "\n") {
		if mode, ok := strings.CutPrefix(line, "Mode: "); ok {
			return strings.TrimSpace(mode), nil
		}
	}
	return "", fmt.Errorf("cluster: ZooKeeper server %d is not serving: %q", i, strings.TrimSpace(out))
}

// ZooKeeperLeader waits until exactly one running server reports itself
// leader and every other running server serves, and returns the leader's
// number (1..n); 1 for a standalone ZooKeeper once it serves.
func (c *Cluster) ZooKeeperLeader(ctx context.Context) (int, error) {
	if len(c.zks) == 0 {
		return 0, ErrNoZooKeeper
	}
	leader := 0
	err := poll(ctx, 50*time.Millisecond, func() error {
		leader = 0
		for _, s := range c.zks {
			if !s.proc.running() {
				continue
			}
			mode, err := c.ZooKeeperMode(s.id)
			if err != nil {
				return err
			}
			if mode == "leader" || mode == "standalone" {
				if leader != 0 {
					return fmt.Errorf("servers %d and %d both report %s", leader, s.id, mode)
				}
				leader = s.id
			}
		}
		if leader == 0 {
			return fmt.Errorf("no leader")
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("cluster: ZooKeeper leader: %w", err)
	}
	return leader, nil
}

// waitServing waits until server s answers "srvr" with a mode.
func (c *Cluster) waitServing(ctx context.Context, s *zkServer) error {
	err := poll(ctx, 100*time.Millisecond, func() error {
		if !s.proc.running() {
			return fmt.Errorf("%s exited", s.proc.name)
		}
		_, err := c.ZooKeeperMode(s.id)
		return err
	})
	if err != nil {
		return fmt.Errorf("cluster: %s did not start: %w\n%s", s.proc.name, err, s.proc.logTail(30))
	}
	return nil
}

// fourLetter sends a ZooKeeper four-letter word and returns the answer.
func fourLetter(addr, word string) (string, error) {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := conn.Write([]byte(word)); err != nil {
		return "", err
	}
	b, err := io.ReadAll(conn)
	if err != nil {
		return "", err
	}
	return string(b), nil
}
