package cluster

import (
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/IBM/sarama"

	"github.com/zkbalance/zkbalance/internal/zk"

	"github.com/zkbalance/zkbalance/zkwatch"
)

const sigTerm = syscall.SIGTERM

// StartZooKeeper starts the ZooKeeper server (again) on its port and data
// directory and waits until it answers "ruok"; in a quorum
// (Config.ZooKeeperServers) it starts every server that is not running and
// waits until each serves as leader or follower. ErrNoZooKeeper with
// Config.KRaft.
func (c *Cluster) StartZooKeeper(ctx context.Context) error {
	if c.zk == nil {
		return ErrNoZooKeeper
	}
	if len(c.zks) > 1 {
		for _, s := range c.zks {
			if !s.proc.running() {
				if err := s.proc.start(); err != nil {
					return err
				}
			}
		}
		for _, s := range c.zks {
			if err := c.waitServing(ctx, s); err != nil {
				return err
			}
		}
		return nil
	}
	if err := c.zk.start(); err != nil {
		return err
	}
	if err := poll(ctx, 100*time.Millisecond, func() error { return ruok(c.ZooKeeperAddr()) }); err != nil {
		return fmt.Errorf("cluster: zookeeper did not start: %w\n%s", err, c.zk.logTail(30))
	}
	return nil
}

// StopZooKeeper stops ZooKeeper (every server of a quorum) with SIGTERM
// (SIGKILL after 5 s). Sessions survive a restart within their timeout
// because ZooKeeper persists them. ErrNoZooKeeper with Config.KRaft.
func (c *Cluster) StopZooKeeper() error {
	return c.signalZooKeeper(sigTerm)
}

// KillZooKeeper kills ZooKeeper (every server of a quorum) with SIGKILL.
// ErrNoZooKeeper with Config.KRaft.
func (c *Cluster) KillZooKeeper() error {
	return c.signalZooKeeper(syscall.SIGKILL)
}

// signalZooKeeper stops every running ZooKeeper server with sig; it
// returns errNotRunning when none ran.
func (c *Cluster) signalZooKeeper(sig syscall.Signal) error {
	if c.zk == nil {
		return ErrNoZooKeeper
	}
	err := errNotRunning
	for _, s := range c.zks {
		if e := s.proc.signal(sig, 5*time.Second); e == nil {
			err = nil
		}
	}
	return err
}

// StartBroker starts broker id (again) and waits until it is registered and
// answers a metadata request (with Config.KRaft: until a metadata request
// lists it, which a KRaft broker answers once the controller has unfenced
// it).
func (c *Cluster) StartBroker(ctx context.Context, id int32) error {
	b, ok := c.brokers[id]
	if !ok {
		return fmt.Errorf("cluster: no broker %d", id)
	}
	if err := b.proc.start(); err != nil {
		return err
	}
	return c.waitBrokers(ctx)
}

// StopBroker stops broker id with SIGTERM (a controlled shutdown that moves
// leadership away), SIGKILL after 30 s, and waits until it has left
// /brokers/ids (with Config.KRaft: until the process has exited; the
// node's controller stops with it).
func (c *Cluster) StopBroker(ctx context.Context, id int32) error {
	return c.stopBroker(ctx, id, sigTerm)
}

// KillBroker kills broker id with SIGKILL (kill -9) and waits until its
// registration in /brokers/ids is gone (ZooKeeper session timeout; with
// Config.KRaft: until the process has exited).
func (c *Cluster) KillBroker(ctx context.Context, id int32) error {
	return c.stopBroker(ctx, id, syscall.SIGKILL)
}

func (c *Cluster) stopBroker(ctx context.Context, id int32, sig syscall.Signal) error {
	b, ok := c.brokers[id]
	if !ok {
		return fmt.Errorf("cluster: no broker %d", id)
	}
	if err := b.proc.signal(sig, 30*time.Second); err != nil {
		return fmt.Errorf("cluster: stop broker %d: %w", id, err)
	}
	if !c.HasZooKeeper() {
		return nil // signal returns once the process has exited
	}
	return c.withZK(ctx, func(conn *zk.Conn) error {
		return poll(ctx, 100*time.Millisecond, func() error {
			ok, _, err := conn.Exists(c.cfg.Chroot + "/brokers/ids/" + strconv.Itoa(int(id)))
			if err != nil {
				return err
			}
			if ok {
				return fmt.Errorf("broker %d still registered", id)
			}
			return nil
		})
	})
}

// BrokerRunning reports whether broker id's process is alive.
func (c *Cluster) BrokerRunning(id int32) bool {
	b, ok := c.brokers[id]
	return ok && b.proc.running()
}

// waitBrokers waits until every running broker is in /brokers/ids (not
// with Config.KRaft) and a metadata request through any of them lists them
// all.
func (c *Cluster) waitBrokers(ctx context.Context) error {
	var want []int32
	for _, id := range c.BrokerIDs() {
		if c.brokers[id].proc.running() {
			want = append(want, id)
		}
	}
	exited := func() error {
		for _, id := range want {
			if !c.brokers[id].proc.running() {
				return fmt.Errorf("broker %d exited", id)
			}
		}
		return nil
	}
	var err error
	if c.HasZooKeeper() {
		err = c.withZK(ctx, func(conn *zk.Conn) error {
			return poll(ctx, 200*time.Millisecond, func() error {
				if err := exited(); err != nil {
					return err
				}
				ids, _, err := conn.Children(c.cfg.Chroot + "/brokers/ids")
				if err != nil {
					return fmt.Errorf("/brokers/ids: %w", err)
				}
				have := map[string]bool{}
				for _, s := range ids {
					have[s] = true
				}
				for _, id := range want {
					if !have[strconv.Itoa(int(id))] {
						return fmt.Errorf("broker %d not registered (have %v)", id, ids)
					}
				}
				return nil
			})
		})
	}
	if err == nil {
		err = poll(ctx, 200*time.Millisecond, func() error {
			if err := exited(); err != nil {
				return err
			}
			return c.checkMetadata(want)
		})
	}
	if err != nil {
		return fmt.Errorf("cluster: brokers not ready: %w\n%s", err, c.LogTails(25))
	}
	return nil
}

func (c *Cluster) checkMetadata(want []int32) error {
	var addrs []string
	for _, id := range want {
		addrs = append(addrs, c.BrokerAddr(id))
	}
	sc := newSaramaConfig()
	sc.Metadata.Retry.Max = 0
	client, err := sarama.NewClient(addrs, sc)
	if err != nil {
		return err
	}
	defer client.Close()
	if got := len(client.Brokers()); got != len(want) {
		return fmt.Errorf("metadata lists %d brokers, want %d", got, len(want))
	}
	return nil
}

// withZK runs fn with a fresh ZooKeeper connection (no chroot) that has a
// session, closing it afterwards.
func (c *Cluster) withZK(ctx context.Context, fn func(*zk.Conn) error) error {
	conn, err := c.DialZooKeeper(ctx, 10*time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	return fn(conn)
}

// DialZooKeeper opens a go-zookeeper connection to the cluster's ZooKeeper
// (any server of a quorum; no chroot) and waits until it has a session. The caller closes it.
// ErrNoZooKeeper with Config.KRaft.
func (c *Cluster) DialZooKeeper(ctx context.Context, sessionTimeout time.Duration) (*zk.Conn, error) {
	if !c.HasZooKeeper() {
		return nil, ErrNoZooKeeper
	}
	servers := strings.Split(c.ZooKeeperConnect(), ",")
	conn, events, err := zk.Connect(servers, sessionTimeout, zk.WithLogger(quietLogger{}),
		zk.WithDialer(zkwatch.BoundedDialer(nil, sessionTimeout)))
	if err != nil {
		return nil, fmt.Errorf("cluster: zookeeper connect: %w", err)
	}
	for {
		select {
		case ev := <-events:
			if ev.State == zkwatch.StateHasSession {
				return conn, nil
			}
		case <-ctx.Done():
			conn.Close()
			return nil, fmt.Errorf("cluster: zookeeper connect: %w", context.Cause(ctx))
		}
	}
}

type quietLogger struct{}

func (quietLogger) Printf(string, ...any) {}

// ruok asks ZooKeeper's four-letter "ruok" command.
func ruok(addr string) error {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := conn.Write([]byte("ruok")); err != nil {
		return err
	}
	b, err := io.ReadAll(conn)
	if err != nil {
		return err
	}
	if string(b) != "imok" {
		return fmt.Errorf("ruok answered %q", b)
	}
	return nil
}

// poll calls fn every interval until it returns nil or ctx is done; the
// error then names the last failure.
func poll(ctx context.Context, interval time.Duration, fn func() error) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		err := fn()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: %w (last: %v)", errTimeout, context.Cause(ctx), err)
		case <-t.C:
		}
	}
}
