package cluster

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestKRaftConfigChecks(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string // "" for accepted
	}{
		{Config{KRaft: true}, ""},
		{Config{KRaft: true, Brokers: 1, TLS: true, ProxiedListener: true}, ""},
		{Config{KRaft: true, Brokers: 3}, "Brokers = 3"},
		{Config{KRaft: true, ZooKeeperOnly: true}, "ZooKeeperOnly"},
		{Config{KRaft: true, Chroot: "/kafka"}, `Chroot "/kafka"`},
		{Config{KRaft: true, SASLUsers: map[string]string{"u": "p"}}, "SASLUsers"},
		{Config{Brokers: 3, Chroot: "/kafka", SASLUsers: map[string]string{"u": "p"}}, ""},
	} {
		err := tc.cfg.checkKRaft()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("checkKRaft(%+v) = %v, want nil", tc.cfg, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("checkKRaft(%+v) = %v, want an error naming %q", tc.cfg, err, tc.want)
		}
	}
}

func TestKRaftProps(t *testing.T) {
	props := kraftProps(1, 20001,
		[]string{"PLAINTEXT://127.0.0.1:20002", "PROXIED://127.0.0.1:20003"},
		[]string{"PLAINTEXT:PLAINTEXT", "PROXIED:PLAINTEXT"})
	for k, want := range map[string]string{
		"process.roles":                       "broker,controller",
		"node.id":                             "1",
		"controller.quorum.bootstrap.servers": "127.0.0.1:20001",
		"controller.listener.names":           "CONTROLLER",
		"listeners":                           "PLAINTEXT://127.0.0.1:20002,PROXIED://127.0.0.1:20003,CONTROLLER://127.0.0.1:20001",
		"listener.security.protocol.map":      "PLAINTEXT:PLAINTEXT,PROXIED:PLAINTEXT,CONTROLLER:PLAINTEXT",
		"inter.broker.listener.name":          "PLAINTEXT",
		"offsets.topic.replication.factor":    "1",
		"transaction.state.log.min.isr":       "1",
		"group.initial.rebalance.delay.ms":    "0",
	} {
		if props[k] != want {
			t.Errorf("%s = %q, want %q", k, props[k], want)
		}
	}
	// A static quorum, ZooKeeper and broker.id belong to the other modes.
	for _, k := range []string{"controller.quorum.voters", "zookeeper.connect", "broker.id"} {
		if v, ok := props[k]; ok {
			t.Errorf("%s = %q set", k, v)
		}
	}
}

func TestNewClusterID(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := newClusterID()
		b, err := base64.RawURLEncoding.DecodeString(id)
		if err != nil || len(b) != 16 || len(id) != 22 || id[0] == '-' {
			t.Fatalf("cluster id %q: %d bytes, %v", id, len(b), err)
		}
		if seen[id] {
			t.Fatalf("cluster id %q twice", id)
		}
		seen[id] = true
	}
}

// TestKafkaVersionsMatchPoms: the versions KafkaVersion reports are the
// ones the embedded poms resolve.
func TestKafkaVersionsMatchPoms(t *testing.T) {
	for _, tc := range []struct {
		name    string
		pom     []byte
		version string
	}{{"pom.xml", pom, KafkaVersionZooKeeper}, {"pom-kafka4.xml", pomKafka4, KafkaVersionKRaft}} {
		want := "<artifactId>kafka_2.13</artifactId>\n      <version>" + tc.version + "</version>"
		if !bytes.Contains(tc.pom, []byte(want)) {
			t.Errorf("%s does not pin kafka_2.13 %s", tc.name, tc.version)
		}
	}
	if bytes.Equal(pom, pomKafka4) {
		t.Error("the two poms are the same (they would share a cache directory)")
	}
	if v := (&Cluster{cfg: Config{KRaft: true}}).KafkaVersion(); v != KafkaVersionKRaft {
		t.Errorf("KRaft KafkaVersion = %q", v)
	}
	if v := (&Cluster{}).KafkaVersion(); v != KafkaVersionZooKeeper {
		t.Errorf("KafkaVersion = %q", v)
	}
}

// TestKRaftHasNoZooKeeper: every ZooKeeper method of a KRaft cluster
// reports ErrNoZooKeeper instead of dialing or panicking (no JVM needed:
// none of them reaches a process).
func TestKRaftHasNoZooKeeper(t *testing.T) {
	c := &Cluster{cfg: Config{KRaft: true}, brokers: map[int32]*broker{}}
	if c.HasZooKeeper() || !c.KRaft() || c.ZooKeeperAddr() != "" || c.KafkaZooKeeperConnect() != "" {
		t.Fatalf("HasZooKeeper %v, KRaft %v, ZooKeeperAddr %q, KafkaZooKeeperConnect %q",
			c.HasZooKeeper(), c.KRaft(), c.ZooKeeperAddr(), c.KafkaZooKeeperConnect())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, dialErr := c.DialZooKeeper(ctx, time.Second)
	for name, err := range map[string]error{
		"StartZooKeeper": c.StartZooKeeper(ctx),
		"StopZooKeeper":  c.StopZooKeeper(),
		"KillZooKeeper":  c.KillZooKeeper(),
		"DialZooKeeper":  dialErr,
		"ExpireSession":  c.ExpireSession(ctx, 1, []byte("pw")),
	} {
		if !errors.Is(err, ErrNoZooKeeper) {
			t.Errorf("%s = %v, want ErrNoZooKeeper", name, err)
		}
	}
	if s := c.LogTails(5); s != "" {
		t.Errorf("LogTails = %q", s)
	}
	if err := c.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}
