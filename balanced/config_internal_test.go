package balanced

import (
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

func TestConfigDefaultsAndValidation(t *testing.T) {
	ok := Config{Group: "g", Topics: []string{"t"}, ZooKeeper: "127.0.0.1:2181/kafka"}
	c, err := ok.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if c.Layout != LayoutScala || c.Assignor != "scala-range" || c.Offsets != OffsetsZooKeeper ||
		c.InitialOffset != sarama.OffsetOldest || c.SessionTimeout != 6*time.Second || c.CommitInterval != time.Second ||
		c.RevokeTimeout != 3*time.Second || c.LostAfterDisconnect != 0 || c.Sarama == nil || c.Logger == nil {
		t.Fatalf("defaults: %+v", c)
	}
	py := Config{Group: "g", Topics: []string{"t"}, ZooKeeper: "z:1", Layout: LayoutPykafka}
	if c, err := py.withDefaults(); err != nil || c.Assignor != "pykafka-range" || c.Offsets != OffsetsKafka {
		t.Fatalf("pykafka defaults: %+v %v", c, err)
	}
	for _, tc := range []struct {
		field string
		mod   func(*Config)
	}{
		{"Group", func(c *Config) { c.Group = "" }},
		{"Group", func(c *Config) { c.Group = "a/b" }},
		{"Topics", func(c *Config) { c.Topics = nil }},
		{"Topics", func(c *Config) { c.TopicPattern = "x.*" }},
		{"Topics", func(c *Config) { c.Topics = []string{"bad topic"} }},
		{"Topics", func(c *Config) { c.Topics = []string{"a", "a"} }},
		{"TopicPattern", func(c *Config) { c.Topics = nil; c.TopicPattern = "(" }},
		{"ZooKeeper", func(c *Config) { c.ZooKeeper = "" }},
		{"ZooKeeper", func(c *Config) { c.ZooKeeper = "/chroot-only" }},
		{"Layout", func(c *Config) { c.Layout = "java" }},
		{"Topics", func(c *Config) { c.Layout = LayoutPykafka; c.Topics = []string{"a", "b"} }},
		{"Assignor", func(c *Config) { c.Assignor = "magic" }},
		{"Assignor", func(c *Config) { c.Assignor = "pykafka-range" }},
		{"Offsets", func(c *Config) { c.Offsets = "redis" }},
		{"Offsets", func(c *Config) { c.Layout = LayoutPykafka; c.Offsets = OffsetsZooKeeper }},
		{"InitialOffset", func(c *Config) { c.InitialOffset = 42 }},
		{"SessionTimeout", func(c *Config) { c.SessionTimeout = -time.Second }},
		{"SessionTimeout", func(c *Config) { c.SessionTimeout = time.Millisecond }},
		{"CommitInterval", func(c *Config) { c.CommitInterval = time.Nanosecond }},
		{"LostAfterDisconnect", func(c *Config) { c.LostAfterDisconnect = -1 }},
		{"LostAfterDisconnect", func(c *Config) { c.LostAfterDisconnect = 2 * time.Second }}, // SessionTimeout/3 of 6 s
		{"LostAfterDisconnect", func(c *Config) { c.LostAfterDisconnect = 6 * time.Second }},
		{"LostAfterDisconnect", func(c *Config) { c.SessionTimeout = 10 * time.Second; c.LostAfterDisconnect = 3 * time.Second }},
		{"MemberID", func(c *Config) { c.MemberID = "a/b" }},
		// Without ZooKeeper: only kafka mode with Brokers, no ZooKeeper
		// settings, a Sarama Version Kafka 4 accepts.
		{"ZooKeeper", func(c *Config) { c.ZooKeeper = ""; c.Brokers = []string{"k:9092"} }},
		{"Brokers", func(c *Config) { c.ZooKeeper = ""; c.Coordination = CoordinationKafka }},
		{"SessionTimeout", noZK(func(c *Config) { c.SessionTimeout = 10 * time.Second })},
		{"LostAfterDisconnect", noZK(func(c *Config) { c.LostAfterDisconnect = time.Second })},
		{"ZooKeeperAuth", noZK(func(c *Config) { c.ZooKeeperAuth = []ZooKeeperAuth{DigestAuth("u", "p")} })},
		{"ACL", noZK(func(c *Config) { c.ACL = DigestACL("u", "p") })},
		{"ZooKeeperDialer", noZK(func(c *Config) { c.ZooKeeperDialer = net.DialTimeout })},
		{"Sarama", noZK(func(c *Config) { c.Sarama = sarama.NewConfig(); c.Sarama.Version = sarama.V0_10_2_0 })},
	} {
		c := ok
		c.Topics = append([]string(nil), ok.Topics...)
		tc.mod(&c)
		_, err := c.withDefaults()
		if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%s: err = %v, want ErrInvalidConfig naming the field", tc.field, err)
		}
	}
}

// The layout-dependent defaults, and the rule behind RevokeTimeout's: at
// most half the window in which the layout's legacy members retry a claim
// with their default settings before they give up.
func TestLayoutDefaults(t *testing.T) {
	// Scala: rebalance.max.retries 4 attempts, rebalance.backoff.ms 2 s
	// between them. pykafka: rebalance_max_retries 5 attempts, after the
	// i-th failed one (from 0) it sleeps i x rebalance_backoff_ms 2 s.
	scalaWindow := time.Duration(4-1) * 2 * time.Second
	var pykafkaWindow time.Duration
	for i := range 5 - 1 {
		pykafkaWindow += time.Duration(i) * 2 * time.Second
	}
	for _, tc := range []struct {
		name     string
		cfg      Config
		window   time.Duration // of the legacy peers; 0: not a default
		revoke   time.Duration
		assignor string
		offsets  OffsetStorage
	}{
		{"scala by default", Config{}, scalaWindow, 3 * time.Second, "scala-range", OffsetsZooKeeper},
		{"scala", Config{Layout: LayoutScala, Offsets: OffsetsKafka}, scalaWindow, 3 * time.Second, "scala-range", OffsetsKafka},
		{"scala roundrobin", Config{Layout: LayoutScala, Assignor: "scala-roundrobin"}, scalaWindow, 3 * time.Second, "scala-roundrobin", OffsetsZooKeeper},
		{"sticky", Config{Assignor: "sticky"}, scalaWindow, 3 * time.Second, "sticky", OffsetsZooKeeper},
		{"pykafka", Config{Layout: LayoutPykafka}, pykafkaWindow, 6 * time.Second, "pykafka-range", OffsetsKafka},
		{"pykafka roundrobin", Config{Layout: LayoutPykafka, Assignor: "pykafka-roundrobin"}, pykafkaWindow, 6 * time.Second, "pykafka-roundrobin", OffsetsKafka},
		{"set explicitly", Config{RevokeTimeout: 10 * time.Second}, 0, 10 * time.Second, "scala-range", OffsetsZooKeeper},
		{"pykafka set explicitly", Config{Layout: LayoutPykafka, RevokeTimeout: time.Second}, 0, time.Second, "pykafka-range", OffsetsKafka},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.cfg
			in.Group, in.Topics, in.ZooKeeper = "g", []string{"t"}, "z:1"
			c, err := in.withDefaults()
			if err != nil {
				t.Fatal(err)
			}
			if c.RevokeTimeout != tc.revoke || c.Assignor != tc.assignor || c.Offsets != tc.offsets {
				t.Fatalf("RevokeTimeout %s, Assignor %s, Offsets %s; want %s, %s, %s",
					c.RevokeTimeout, c.Assignor, c.Offsets, tc.revoke, tc.assignor, tc.offsets)
			}
			if tc.window > 0 && 2*c.RevokeTimeout > tc.window {
				t.Fatalf("default RevokeTimeout %s is more than half the legacy peers' window %s", c.RevokeTimeout, tc.window)
			}
		})
	}
	if scalaWindow != 6*time.Second || pykafkaWindow != 12*time.Second {
		t.Fatalf("windows %s and %s, want the 6s and 12s the Config doc states", scalaWindow, pykafkaWindow)
	}
}

func FuzzConfig(f *testing.F) {
	f.Add("g", "t", "", "127.0.0.1:2181", "scala", "", "", int64(0), int64(0))
	f.Add("g", "", "a.*", "h:1,h:2/x", "pykafka", "pykafka-range", "kafka", int64(-2), int64(1e9))
	f.Fuzz(func(t *testing.T, group, topic, pattern, zk, layout, assignor, offsets string, initial, session int64) {
		c := Config{Group: group, TopicPattern: pattern, ZooKeeper: zk, Layout: Layout(layout), Assignor: assignor,
			Offsets: OffsetStorage(offsets), InitialOffset: initial, SessionTimeout: time.Duration(session)}
		if topic != "" {
			c.Topics = []string{topic}
		}
		got, err := c.withDefaults() // must not panic
		if err != nil {
			if !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("error without ErrInvalidConfig: %v", err)
			}
			return
		}
		if got.SessionTimeout < time.Second || got.Sarama == nil || got.Assignor == "" {
			t.Fatalf("accepted config without defaults: %+v", got)
		}
	})
}

// noZK makes a mod that first turns the config into kafka mode without
// ZooKeeper, then applies mod.
func noZK(mod func(*Config)) func(*Config) {
	return func(c *Config) {
		c.ZooKeeper, c.Brokers, c.Coordination = "", []string{"k:9092"}, CoordinationKafka
		mod(c)
	}
}

// Kafka mode runs without ZooKeeper when Brokers are set; the default
// Sarama Version is one Kafka 4 accepts.
func TestConfigWithoutZooKeeper(t *testing.T) {
	in := Config{Group: "g", Topics: []string{"t"}, Brokers: []string{"k:9092"}, Coordination: CoordinationKafka}
	c, err := in.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if c.ZooKeeper != "" || c.Offsets != OffsetsKafka || !c.Sarama.Version.IsAtLeast(minVersionWithoutZooKeeper) {
		t.Fatalf("ZooKeeper %q, Offsets %s, Version %s", c.ZooKeeper, c.Offsets, c.Sarama.Version)
	}
	for _, v := range []sarama.KafkaVersion{sarama.V2_1_0_0, sarama.V3_0_0_0, sarama.V4_0_0_0} {
		in.Sarama = sarama.NewConfig()
		in.Sarama.Version = v
		if _, err := in.withDefaults(); err != nil {
			t.Errorf("Version %s: %v", v, err)
		}
	}
}
