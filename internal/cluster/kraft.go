package cluster

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// listenerController is the KRaft node's controller listener (security
// protocol PLAINTEXT). Only the node itself uses it; it is not one of
// Listeners and not advertised to clients.
const listenerController = "CONTROLLER"

// checkKRaft refuses what Config.KRaft does not support.
func (cfg Config) checkKRaft() error {
	if !cfg.KRaft {
		return nil
	}
	switch {
	case cfg.Brokers > 1:
		return fmt.Errorf("cluster: KRaft mode runs one combined broker and controller; Brokers = %d is not supported", cfg.Brokers)
	case cfg.ZooKeeperOnly:
		return fmt.Errorf("cluster: KRaft mode has no ZooKeeper; ZooKeeperOnly is not supported with it")
	case cfg.Chroot != "":
		return fmt.Errorf("cluster: KRaft mode has no ZooKeeper; Chroot %q is not supported with it", cfg.Chroot)
	case len(cfg.SASLUsers) > 0:
		return fmt.Errorf("cluster: SASLUsers are not supported in KRaft mode")
	}
	return nil
}

// kraftProps are the server.properties of KRaft node id, a broker and the
// only voter of its own controller quorum, which it reaches on
// 127.0.0.1:controllerPort (advertised.listeners, log.dirs and the security
// entries are added by writeConfigs). listeners and protocols are the
// client listeners ("NAME://127.0.0.1:port", "NAME:PROTOCOL").
func kraftProps(id int32, controllerPort int, listeners, protocols []string) map[string]string {
	controller := "127.0.0.1:" + strconv.Itoa(controllerPort)
	props := commonBrokerProps("1")
	props["process.roles"] = "broker,controller"
	props["node.id"] = strconv.Itoa(int(id))
	props["controller.quorum.bootstrap.servers"] = controller
	props["controller.listener.names"] = listenerController
	props["listeners"] = strings.Join(slices.Concat(listeners, []string{listenerController + "://" + controller}), ",")
	props["listener.security.protocol.map"] = strings.Join(slices.Concat(protocols, []string{listenerController + ":PLAINTEXT"}), ",")
	props["inter.broker.listener.name"] = ListenerPlaintext
	// After a kill -9 the restarted controller keeps the broker's previous
	// registration until its session times out (default 9 s), refusing the
	// new one meanwhile (DUPLICATE_BROKER_REGISTRATION): a restart after
	// KillBroker took 12-15 s, about 7 s with 4 s.
	props["broker.session.timeout.ms"] = "4000"
	props["broker.heartbeat.interval.ms"] = "1000"
	props["share.coordinator.state.topic.replication.factor"] = "1"
	props["share.coordinator.state.topic.min.isr"] = "1"
	return props
}

// newClusterID returns a random Kafka cluster id: 16 random bytes in
// unpadded URL-safe base64 (22 characters), as Kafka's Uuid.randomUuid
// makes them (never starting with '-', never the reserved ids 0 and 1).
func newClusterID() string {
	for {
		var b [16]byte
		_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
		id := base64.RawURLEncoding.EncodeToString(b[:])
		reserved := b[15] <= 1 && slices.Equal(b[:15], make([]byte, 15))
		if id[0] != '-' && !reserved {
			return id
		}
	}
}

// startKRaft writes the node's configs, formats its storage (a new cluster
// id, the node the only voter: StorageTool format --standalone), starts it
// and waits until a metadata request lists it.
func (c *Cluster) startKRaft(ctx, proxyCtx context.Context) error {
	if err := c.writeConfigs(proxyCtx); err != nil {
		return err
	}
	for _, id := range c.BrokerIDs() {
		if err := c.formatStorage(ctx, c.brokers[id]); err != nil {
			return err
		}
		if err := c.brokers[id].proc.start(); err != nil {
			return err
		}
	}
	return c.waitBrokers(ctx)
}

// formatStorage runs kafka-storage format (kafka.tools.StorageTool) on b's
// server.properties with a new cluster id: once, before its first start.
func (c *Cluster) formatStorage(ctx context.Context, b *broker) error {
	args := append(c.jvmArgs(c.logConfig, "256m"), "kafka.tools.StorageTool", "format",
		"--cluster-id", newClusterID(), "--config", b.propPath, "--standalone")
	cmd := exec.CommandContext(ctx, c.java, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("cluster: format the storage of KRaft node %d (kafka.tools.StorageTool): %w\n%s", b.id, err, Tail(out, 20))
	}
	return nil
}

// log4j2Props is the log4j2 configuration of Kafka 4 (log4j2 properties
// format): INFO to stdout, which the harness writes to the process log.
const log4j2Props = `status = warn
appender.stdout.type = Console
appender.stdout.name = STDOUT
appender.stdout.layout.type = PatternLayout
appender.stdout.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.stdout.ref = STDOUT
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.state.name = state.change.logger
logger.state.level = WARN
`
