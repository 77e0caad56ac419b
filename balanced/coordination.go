package balanced

import (
	"errors"
	"fmt"
	"time"

	"github.com/IBM/sarama"
)

// Coordination is who decides a group's assignment (Config.Coordination).
type Coordination string

// Coordination modes.
const (
	// CoordinationZooKeeper: the members register in ZooKeeper and each
	// computes the assignment from the registrations, as the Scala
	// consumer and pykafka do. The default.
	CoordinationZooKeeper Coordination = "zookeeper"
	// CoordinationKafka: Kafka's group coordinator (JoinGroup, SyncGroup,
	// Heartbeat; protocol type "consumer", eager), so that Java
	// KafkaConsumers can share the group. Owner znodes are still claimed
	// in ZooKeeper, and offsets are kept in Kafka.
	CoordinationKafka Coordination = "kafka"
	// CoordinationFollow: the group's mode znode
	// (/consumers/<group>/coordination, absent: zookeeper) decides between
	// zookeeper and kafka mode, and the member switches when it changes,
	// so that a running group can move to Kafka's group coordinator and
	// back (zkbalance coordination). Offsets are kept in both stores in
	// the Scala layout, in Kafka in the pykafka layout. See coord_follow.go.
	CoordinationFollow Coordination = "follow"
)

// Kafka assignors (Config.KafkaStrategy): the names the Java client's eager
// RangeAssignor, RoundRobinAssignor and StickyAssignor announce in
// JoinGroup. The plans are computed by sarama's implementations of them.
const (
	KafkaRange      = sarama.RangeBalanceStrategyName      // "range"
	KafkaRoundRobin = sarama.RoundRobinBalanceStrategyName // "roundrobin"
	KafkaSticky     = sarama.StickyBalanceStrategyName     // "sticky"
)

// kafkaStrategy returns sarama's implementation of the named assignor.
func kafkaStrategy(name string) (sarama.BalanceStrategy, error) {
	switch name {
	case KafkaRange:
		return sarama.NewBalanceStrategyRange(), nil
	case KafkaRoundRobin:
		return sarama.NewBalanceStrategyRoundRobin(), nil
	case KafkaSticky:
		return sarama.NewBalanceStrategySticky(), nil
	}
	return nil, fmt.Errorf("unknown kafka assignor %q (%s, %s or %s)", name, KafkaRange, KafkaRoundRobin, KafkaSticky)
}

// coordinationDefaults validates the Coordination fields and fills their
// defaults (RevokeTimeout must be filled already); on error it names the
// field.
func (c *Config) coordinationDefaults() (string, error) {
	switch c.Coordination {
	case "":
		c.Coordination = CoordinationZooKeeper
	case CoordinationZooKeeper, CoordinationKafka, CoordinationFollow:
	default:
		return "Coordination", fmt.Errorf("unknown mode %q (zookeeper, kafka or follow)", c.Coordination)
	}
	if c.Coordination == CoordinationZooKeeper {
		if c.KafkaStrategy != "" || c.KafkaSessionTimeout != 0 || c.HeartbeatInterval != 0 || c.RebalanceTimeout != 0 {
			return "Coordination", errors.New("KafkaStrategy, KafkaSessionTimeout, HeartbeatInterval and RebalanceTimeout need CoordinationKafka")
		}
		return "", nil
	}
	if c.TopicPattern != "" {
		return "TopicPattern", fmt.Errorf("not supported with Coordination %s yet: list the Topics", c.Coordination)
	}
	if c.Coordination == CoordinationFollow {
		if want := followOffsets(c.Layout); c.Offsets != want {
			return "Offsets", fmt.Errorf("CoordinationFollow with the %s layout keeps offsets in %s (got %q)", c.Layout, followOffsetsText(c.Layout), c.Offsets)
		}
	} else if c.Offsets != OffsetsKafka {
		return "Offsets", fmt.Errorf("CoordinationKafka keeps offsets in Kafka (got %q)", c.Offsets)
	}
	if c.KafkaStrategy == "" {
		c.KafkaStrategy = KafkaRange
	}
	if _, err := kafkaStrategy(c.KafkaStrategy); err != nil {
		return "KafkaStrategy", err
	}
	durations := []struct {
		name     string
		d        *time.Duration
		def, min time.Duration
	}{
		{"KafkaSessionTimeout", &c.KafkaSessionTimeout, 10 * time.Second, time.Second},
		{"HeartbeatInterval", &c.HeartbeatInterval, 3 * time.Second, 10 * time.Millisecond},
		{"RebalanceTimeout", &c.RebalanceTimeout, c.RevokeTimeout + 20*time.Second, time.Second},
	}
	for _, d := range durations {
		switch {
		case *d.d < 0:
			return d.name, fmt.Errorf("negative duration %s", *d.d)
		case *d.d == 0:
			*d.d = d.def
		case *d.d < d.min:
			return d.name, fmt.Errorf("%s is below the minimum %s", *d.d, d.min)
		}
	}
	if c.HeartbeatInterval >= c.KafkaSessionTimeout {
		return "HeartbeatInterval", fmt.Errorf("%s is not below KafkaSessionTimeout %s", c.HeartbeatInterval, c.KafkaSessionTimeout)
	}
	if c.RebalanceTimeout <= c.RevokeTimeout {
		return "RebalanceTimeout", fmt.Errorf("%s is not above RevokeTimeout %s: a member would be dropped while its handlers stop", c.RebalanceTimeout, c.RevokeTimeout)
	}
	return "", nil
}

// followOffsets is the offset storage of follow mode in layout l: both
// stores in the Scala layout (the Scala consumer reads ZooKeeper, a Java
// KafkaConsumer Kafka), Kafka only in the pykafka layout, where pykafka
// keeps them (OffsetCommit under the group's name).
func followOffsets(l Layout) OffsetStorage {
	if l == LayoutPykafka {
		return OffsetsKafka
	}
	return OffsetsDual
}

// followOffsetsText names followOffsets(l) for error messages.
func followOffsetsText(l Layout) string {
	if l == LayoutPykafka {
		return "Kafka only (OffsetsKafka), as pykafka does"
	}
	return "both stores (OffsetsDual)"
}

// minVersionWithoutZooKeeper is the oldest sarama Config.Version allowed
// without ZooKeeper: Kafka 4 removed the request versions of clients older
// than Kafka 2.1 (e.g. Fetch below v4, JoinGroup below v2, OffsetCommit
// below v2), and a member without ZooKeeper is meant for Kafka 4 brokers.
var minVersionWithoutZooKeeper = sarama.V2_1_0_0

// checkNoZooKeeper validates a Config whose ZooKeeper is empty: only kafka
// mode with Brokers can run without ZooKeeper, and the ZooKeeper settings
// must be unset. It returns the field at fault.
func (c *Config) checkNoZooKeeper() (string, error) {
	if c.Coordination != CoordinationKafka {
		return "ZooKeeper", errors.New("required (only CoordinationKafka with Brokers runs without ZooKeeper)")
	}
	if len(c.Brokers) == 0 {
		return "Brokers", errors.New("required without ZooKeeper")
	}
	zkOnly := []struct {
		name string
		set  bool
	}{
		{"SessionTimeout", c.SessionTimeout != 0},
		{"LostAfterDisconnect", c.LostAfterDisconnect != 0},
		{"ZooKeeperDialer", c.ZooKeeperDialer != nil},
		{"ZooKeeperAuth", len(c.ZooKeeperAuth) > 0},
		{"ACL", len(c.ACL) > 0},
	}
	for _, f := range zkOnly {
		if f.set {
			return f.name, errors.New("set without ZooKeeper (it configures the ZooKeeper session)")
		}
	}
	return "", nil
}
