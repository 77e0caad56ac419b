package balanced

import (
	"crypto/tls"
	"errors"
	"strings"
	"testing"

	"github.com/IBM/sarama"

	"github.com/zkbalance/zkbalance/internal/zk"
	"github.com/zkbalance/zkbalance/zkwatch"
)

func secureBase() Config {
	return Config{Group: "g", Topics: []string{"t"}, ZooKeeper: "127.0.0.1:2181"}
}

func TestZooKeeperSecurityConfig(t *testing.T) {
	c, err := secureBase().withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if len(c.ACL) != 1 || c.ACL[0] != zkwatch.WorldACL(zkwatch.PermAll)[0] {
		t.Fatalf("default ACL = %v, want world:anyone ALL", c.ACL)
	}

	acl := DigestACL("zkb", "secret")
	if len(acl) != 2 || acl[0].Scheme != "digest" || acl[0].Perms != zkwatch.PermAll ||
		acl[1] != zkwatch.WorldACL(zkwatch.PermRead)[0] || acl[0].ID != zkwatch.DigestACL(zkwatch.PermAll, "zkb", "secret")[0].ID {
		t.Fatalf("DigestACL = %v", acl)
	}
	if a := DigestAuth("zkb", "secret"); a.Scheme != "digest" || string(a.Auth) != "zkb:secret" {
		t.Fatalf("DigestAuth = %+v", a)
	}

	good := []struct {
		name string
		mod  func(*Config)
	}{
		{"digest with its credential", func(c *Config) {
			c.ACL, c.ZooKeeperAuth = DigestACL("zkb", "secret"), []ZooKeeperAuth{DigestAuth("zkb", "secret")}
		}},
		{"one of several credentials matches", func(c *Config) {
			c.ACL = DigestACL("zkb", "secret")
			c.ZooKeeperAuth = []ZooKeeperAuth{DigestAuth("other", "x"), DigestAuth("zkb", "secret")}
		}},
		{"auth scheme", func(c *Config) {
			c.ACL, c.ZooKeeperAuth = zk.AuthACL(zkwatch.PermAll), []ZooKeeperAuth{DigestAuth("zkb", "secret")}
		}},
		{"world all stays allowed with credentials", func(c *Config) {
			c.ACL, c.ZooKeeperAuth = zkwatch.WorldACL(zkwatch.PermAll), []ZooKeeperAuth{DigestAuth("zkb", "secret")}
		}},
		{"credentials without an ACL", func(c *Config) { c.ZooKeeperAuth = []ZooKeeperAuth{DigestAuth("zkb", "")} }},
		{"ip scheme is the server's to judge", func(c *Config) {
			c.ACL = []zkwatch.ACL{{Perms: zkwatch.PermAll, Scheme: "ip", ID: "127.0.0.1"}}
		}},
		{"empty ACL means the default", func(c *Config) { c.ACL = []zkwatch.ACL{} }},
	}
	for _, tc := range good {
		c := secureBase()
		tc.mod(&c)
		if _, err := c.withDefaults(); err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
	}

	bad := []struct {
		name, field string
		mod         func(*Config)
	}{
		{"digest ACL without credentials", "ACL", func(c *Config) { c.ACL = DigestACL("zkb", "secret") }},
		{"digest ACL with a wrong password", "ACL", func(c *Config) {
			c.ACL, c.ZooKeeperAuth = DigestACL("zkb", "secret"), []ZooKeeperAuth{DigestAuth("zkb", "wrong")}
		}},
		{"auth scheme without credentials", "ACL", func(c *Config) { c.ACL = zk.AuthACL(zkwatch.PermAll) }},
		{"read-only world", "ACL", func(c *Config) { c.ACL = zkwatch.WorldACL(zkwatch.PermRead) }},
		{"no delete", "ACL", func(c *Config) {
			c.ACL = zkwatch.DigestACL(zkwatch.PermAll&^zkwatch.PermDelete, "zkb", "secret")
			c.ZooKeeperAuth = []ZooKeeperAuth{DigestAuth("zkb", "secret")}
		}},
		{"world with another id", "ACL", func(c *Config) { c.ACL = []zkwatch.ACL{{Perms: zkwatch.PermAll, Scheme: "world", ID: "me"}} }},
		{"no scheme", "ACL", func(c *Config) { c.ACL = []zkwatch.ACL{{Perms: zkwatch.PermAll, ID: "x"}} }},
		{"unknown perms", "ACL", func(c *Config) { c.ACL = []zkwatch.ACL{{Perms: 64, Scheme: "world", ID: "anyone"}} }},
		{"malformed digest id", "ACL", func(c *Config) {
			c.ACL = []zkwatch.ACL{{Perms: zkwatch.PermAll, Scheme: "digest", ID: "zkb"}}
			c.ZooKeeperAuth = []ZooKeeperAuth{DigestAuth("zkb", "secret")}
		}},
		{"auth without scheme", "ZooKeeperAuth", func(c *Config) { c.ZooKeeperAuth = []ZooKeeperAuth{{Auth: []byte("a:b")}} }},
		{"auth without credential", "ZooKeeperAuth", func(c *Config) { c.ZooKeeperAuth = []ZooKeeperAuth{{Scheme: "digest"}} }},
		{"digest auth without colon", "ZooKeeperAuth", func(c *Config) {
			c.ZooKeeperAuth = []ZooKeeperAuth{{Scheme: "digest", Auth: []byte("user")}}
		}},
	}
	for _, tc := range bad {
		c := secureBase()
		tc.mod(&c)
		_, err := c.withDefaults()
		if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tc.field+":") {
			t.Errorf("%s: err = %v, want ErrInvalidConfig naming %s", tc.name, err, tc.field)
		}
	}

	// withDefaults copies the ACL: the caller's slice is not aliased.
	c = secureBase()
	c.ACL, c.ZooKeeperAuth = DigestACL("zkb", "secret"), []ZooKeeperAuth{DigestAuth("zkb", "secret")}
	got, err := c.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	c.ACL[0].Perms = 0
	if got.ACL[0].Perms != zkwatch.PermAll {
		t.Fatal("the validated ACL aliases the caller's slice")
	}
}

func TestKafkaSecurityConfig(t *testing.T) {
	c, err := secureBase().withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if c.Sarama.Net.TLS.Enable || c.Sarama.Net.SASL.Enable || securityProtocol(c.Sarama) != "PLAINTEXT" || describeSecurity(c.Sarama) != "" {
		t.Fatalf("default security: tls %v sasl %v", c.Sarama.Net.TLS.Enable, c.Sarama.Net.SASL.Enable)
	}

	userTLS := &tls.Config{ServerName: "kafka.internal", MinVersion: tls.VersionTLS12}
	for _, tc := range []struct {
		mech, proto string
		tls         bool
		scram       bool
	}{
		{"", "SASL_PLAINTEXT", false, false},
		{SASLPlain, "SASL_SSL", true, false},
		{SASLScramSHA256, "SASL_PLAINTEXT", false, true},
		{SASLScramSHA512, "SASL_SSL", true, true},
	} {
		in := secureBase()
		in.SASL = &SASL{Mechanism: tc.mech, User: "u", Password: "p"}
		if tc.tls {
			in.TLS = userTLS
		}
		c, err := in.withDefaults()
		if err != nil {
			t.Fatalf("%s: %v", tc.mech, err)
		}
		sc := c.Sarama
		want := tc.mech
		if want == "" {
			want = SASLPlain
		}
		if !sc.Net.SASL.Enable || string(sc.Net.SASL.Mechanism) != want || sc.Net.SASL.User != "u" || sc.Net.SASL.Password != "p" ||
			(sc.Net.SASL.SCRAMClientGeneratorFunc != nil) != tc.scram || securityProtocol(sc) != tc.proto {
			t.Fatalf("%s: sarama SASL %+v, protocol %s", tc.mech, sc.Net.SASL, securityProtocol(sc))
		}
		if tc.scram {
			cl := sc.Net.SASL.SCRAMClientGeneratorFunc()
			if err := cl.Begin("u", "p", ""); err != nil {
				t.Fatal(err)
			}
			if first, err := cl.Step(""); err != nil || !strings.HasPrefix(first, "n,,n=u,r=") {
				t.Fatalf("SCRAM client-first = %q, %v", first, err)
			}
		}
		if tc.tls {
			if !sc.Net.TLS.Enable || sc.Net.TLS.Config == userTLS || sc.Net.TLS.Config.ServerName != "kafka.internal" {
				t.Fatalf("%s: TLS not enabled with a clone of the config", tc.mech)
			}
		}
		if in.SASL.Mechanism != tc.mech {
			t.Fatal("withDefaults changed the caller's SASL")
		}
		if d := describeSecurity(sc); !strings.Contains(d, tc.proto) || !strings.Contains(d, `"u"`) || strings.Contains(d, "p\"") {
			t.Fatalf("describeSecurity = %q", d)
		}
	}

	// A Sarama config given by the caller is not modified.
	base := sarama.NewConfig()
	in := secureBase()
	in.Sarama, in.TLS = base, &tls.Config{MinVersion: tls.VersionTLS12}
	in.SASL = &SASL{User: "u", Password: "p"}
	if _, err := in.withDefaults(); err != nil {
		t.Fatal(err)
	}
	if base.Net.TLS.Enable || base.Net.SASL.Enable {
		t.Fatal("withDefaults modified the caller's Sarama config")
	}

	saramaTLS := sarama.NewConfig()
	saramaTLS.Net.TLS.Enable = true
	saramaSASL := sarama.NewConfig()
	saramaSASL.Net.SASL.Enable, saramaSASL.Net.SASL.User, saramaSASL.Net.SASL.Password = true, "u", "p"
	for _, tc := range []struct {
		name, field string
		mod         func(*Config)
	}{
		{"no user", "SASL", func(c *Config) { c.SASL = &SASL{Password: "p"} }},
		{"no password", "SASL", func(c *Config) { c.SASL = &SASL{User: "u"} }},
		{"unknown mechanism", "SASL", func(c *Config) { c.SASL = &SASL{Mechanism: "GSSAPI", User: "u", Password: "p"} }},
		{"TLS twice", "TLS", func(c *Config) { c.Sarama, c.TLS = saramaTLS, &tls.Config{} }},
		{"SASL twice", "SASL", func(c *Config) { c.Sarama, c.SASL = saramaSASL, &SASL{User: "u", Password: "p"} }},
	} {
		c := secureBase()
		tc.mod(&c)
		_, err := c.withDefaults()
		if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tc.field+":") {
			t.Errorf("%s: err = %v, want ErrInvalidConfig naming %s", tc.name, err, tc.field)
		}
	}

	// Security enabled through Sarama alone selects the listener protocol too.
	c, err = Config{Group: "g", Topics: []string{"t"}, ZooKeeper: "z:1", Sarama: saramaSASL}.withDefaults()
	if err != nil || securityProtocol(c.Sarama) != "SASL_PLAINTEXT" {
		t.Fatalf("Sarama SASL: %v %v", err, c.Sarama.Net.SASL.Enable)
	}
}
