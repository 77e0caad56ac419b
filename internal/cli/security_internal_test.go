package cli

import (
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/IBM/sarama"

	"github.com/zkbalance/zkbalance/zkwatch"
)

func TestSecurityResolve(t *testing.T) {
	files := map[string]string{"pw": "s3cret\n", "crlf": "s3cret\r\n", "two": "a\nb\n", "empty": "\n", "ca": "not pem"}
	readFile := func(name string) ([]byte, error) {
		if s, ok := files[name]; ok {
			return []byte(s), nil
		}
		return nil, fmt.Errorf("open %s: %w", name, os.ErrNotExist)
	}
	env := map[string]string{EnvZKPassword: "zk-env", EnvSASLPassword: "sasl-env"}
	for _, tc := range []struct {
		name      string
		args      []string
		noEnv     bool
		check     func(*Security) string
		wantErr   string
		wantUsage bool
	}{
		{name: "nothing: unsecured", check: func(s *Security) string {
			if s.ZooKeeperAuth != nil || s.ACL != nil || s.SASL != nil || s.TLS != nil || s.Protocol() != "PLAINTEXT" {
				return fmt.Sprintf("%+v", s)
			}
			return ""
		}},
		{name: "zk user, password from env, digest ACL", args: []string{"--zk-user", "ops"}, check: func(s *Security) string {
			if len(s.ZooKeeperAuth) != 1 || string(s.ZooKeeperAuth[0].Auth) != "ops:zk-env" || len(s.ACL) != 2 || s.ACL[1] != zkwatch.WorldACL(zkwatch.PermRead)[0] {
				return fmt.Sprintf("%+v", s)
			}
			return ""
		}},
		{name: "zk password file wins over env", args: []string{"--zk-user", "ops", "--zk-password-file", "crlf", "--zk-acl", "digest-only"}, check: func(s *Security) string {
			if string(s.ZooKeeperAuth[0].Auth) != "ops:s3cret" || len(s.ACL) != 1 || s.ACL[0] != zkwatch.DigestACL(zkwatch.PermAll, "ops", "s3cret")[0] {
				return fmt.Sprintf("%+v", s)
			}
			return ""
		}},
		{name: "zk user with world ACL", args: []string{"--zk-user", "ops", "--zk-acl", "world"}, check: func(s *Security) string {
			if s.ACL != nil {
				return fmt.Sprintf("%+v", s.ACL)
			}
			return ""
		}},
		{name: "zk user without password", args: []string{"--zk-user", "ops"}, noEnv: true, wantErr: "$" + EnvZKPassword, wantUsage: true},
		{name: "zk user with colon", args: []string{"--zk-user", "a:b"}, wantErr: "':'", wantUsage: true},
		{name: "zk password file without user", args: []string{"--zk-password-file", "pw"}, wantErr: "--zk-user", wantUsage: true},
		{name: "digest ACL without user", args: []string{"--zk-acl", "digest"}, wantErr: "--zk-user", wantUsage: true},
		{name: "bad ACL", args: []string{"--zk-acl", "open"}, wantErr: "--zk-acl", wantUsage: true},
		{name: "missing password file", args: []string{"--zk-user", "ops", "--zk-password-file", "nope"}, wantErr: "--zk-password-file: open nope"},
		{name: "two-line password file", args: []string{"--sasl-user", "u", "--sasl-password-file", "two"}, wantErr: "one line"},
		{name: "empty password file", args: []string{"--sasl-user", "u", "--sasl-password-file", "empty"}, wantErr: "empty"},
		{name: "sasl default PLAIN from env", args: []string{"--sasl-user", "u"}, check: func(s *Security) string {
			if s.SASL == nil || s.SASL.Mechanism != "PLAIN" || s.SASL.Password != "sasl-env" || s.Protocol() != "SASL_PLAINTEXT" {
				return fmt.Sprintf("%+v", s.SASL)
			}
			return ""
		}},
		{name: "sasl scram lower case, file, tls", args: []string{"--sasl-user", "u", "--sasl-mechanism", "scram-sha-512", "--sasl-password-file", "pw", "--tls"}, check: func(s *Security) string {
			if s.SASL.Mechanism != "SCRAM-SHA-512" || s.SASL.Password != "s3cret" || s.Protocol() != "SASL_SSL" || s.describe() != ` (SASL_SSL, SCRAM-SHA-512 as "u")` {
				return fmt.Sprintf("%+v %s", s.SASL, s.Protocol())
			}
			sc := sarama.NewConfig()
			if err := s.ApplySarama(sc); err != nil || sc.Net.SASL.SCRAMClientGeneratorFunc == nil || !sc.Net.TLS.Enable {
				return fmt.Sprintf("ApplySarama: %v", err)
			}
			return ""
		}},
		{name: "bad mechanism", args: []string{"--sasl-user", "u", "--sasl-mechanism", "GSSAPI"}, wantErr: "--sasl-mechanism", wantUsage: true},
		{name: "mechanism without user", args: []string{"--sasl-mechanism", "PLAIN"}, wantErr: "--sasl-user", wantUsage: true},
		{name: "server name implies tls", args: []string{"--tls-server-name", "kafka.example.com"}, check: func(s *Security) string {
			if s.TLS == nil || s.TLS.ServerName != "kafka.example.com" || s.TLS.MinVersion != tls.VersionTLS12 || s.Protocol() != "SSL" {
				return fmt.Sprintf("%+v", s.TLS)
			}
			return ""
		}},
		{name: "ca file without certificates", args: []string{"--tls-ca", "ca"}, wantErr: "no PEM certificate"},
		{name: "cert without key", args: []string{"--tls-cert", "c"}, wantErr: "--tls-key", wantUsage: true},
		{name: "listener", args: []string{"--listener", "INTERNAL"}, check: func(s *Security) string {
			if s.Listener != "INTERNAL" {
				return s.Listener
			}
			return ""
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := flag.NewFlagSet("x", flag.ContinueOnError)
			sf := AddSecurityFlags(fs)
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			getenv := func(k string) string {
				if tc.noEnv {
					return ""
				}
				return env[k]
			}
			s, err := sf.resolve(getenv, readFile)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || errors.Is(err, ErrUsage) != tc.wantUsage {
					t.Fatalf("err %v; want one with %q (usage error: %v)", err, tc.wantErr, tc.wantUsage)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if msg := tc.check(s); msg != "" {
				t.Fatalf("resolved: %s", msg)
			}
		})
	}
	var nilFlags *SecurityFlags
	if s, err := nilFlags.Resolve(); err != nil || s.Protocol() != "PLAINTEXT" {
		t.Errorf("nil SecurityFlags: %+v, %v", s, err)
	}
}

func TestExplainSecurity(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string // "" : unchanged
	}{
		{fmt.Errorf("read: %w", zkwatch.ErrNoAuth), "(NOAUTH): pass --zk-user"},
		{fmt.Errorf("kafka client: %w", sarama.ErrSASLAuthenticationFailed), "Kafka SASL authentication failed: check --sasl-user"},
		{fmt.Errorf("x: %w", errors.New("remote error: tls: bad certificate")), "check --tls-cert and --tls-key"},
		{fmt.Errorf("kafka: %w", tls.AlertError(116)), "check --tls-cert"},
		{errors.New("connection refused"), ""},
		{nil, ""},
	} {
		got := ExplainSecurity(tc.err)
		switch {
		case tc.want == "" && got != tc.err: //nolint:errorlint // identity is the point
			t.Errorf("ExplainSecurity(%v) = %v; want it unchanged", tc.err, got)
		case tc.want != "" && (!strings.Contains(got.Error(), tc.want) || !errors.Is(got, tc.err)):
			t.Errorf("ExplainSecurity(%v) = %v; want %q, wrapping it", tc.err, got, tc.want)
		}
		if IsSecurityError(tc.err) != (tc.want != "") {
			t.Errorf("IsSecurityError(%v) = %v", tc.err, !(tc.want != ""))
		}
	}
}
