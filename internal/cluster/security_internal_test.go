package cluster

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSecurityConfigChecks(t *testing.T) {
	for _, users := range []map[string]string{
		{"a b": "pw"}, {"": "pw"}, {"u": ""}, {"u": "p w"}, {"u": `p"w`}, {"u": "p,w"}, {"u": "p]w"}, {"u": `p\w`},
	} {
		if err := (Config{SASLUsers: users}).checkSecurity(); err == nil {
			t.Errorf("SASLUsers %q accepted", users)
		}
	}
	if err := (Config{SASLUsers: map[string]string{"alice.b-c_d": "Secret-1!"}}).checkSecurity(); err != nil {
		t.Errorf("valid user refused: %v", err)
	}
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{}, "[PLAINTEXT]"},
		{Config{TLS: true}, "[PLAINTEXT SSL]"},
		{Config{SASLUsers: map[string]string{"u": "p"}}, "[PLAINTEXT SASL_PLAINTEXT]"},
		{Config{TLS: true, SASLUsers: map[string]string{"u": "p"}}, "[PLAINTEXT SASL_PLAINTEXT SSL SASL_SSL]"},
		{Config{ProxiedListener: true}, "[PLAINTEXT PROXIED]"},
		{Config{TLS: true, ProxiedListener: true}, "[PLAINTEXT SSL PROXIED]"},
		{Config{TLS: true, TLSClientAuth: true}, "[PLAINTEXT SSL SSL_CLIENT_AUTH]"},
		{Config{TLSClientAuth: true}, "[PLAINTEXT]"},
	} {
		if got := strings.Join(tc.cfg.listenerNames(), " "); "["+got+"]" != tc.want {
			t.Errorf("listenerNames(%+v) = [%s], want %s", tc.cfg, got, tc.want)
		}
	}
}

func TestWritePropsEscapes(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x.properties")
	if err := writeProps(p, map[string]string{"k": "a\\b\nc\r"}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(b), `k=a\\b\nc\r`+"\n"; got != want {
		t.Fatalf("written %q, want %q", got, want)
	}
}

func TestMakeTLS(t *testing.T) {
	dir := t.TempDir()
	m, err := makeTLS(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"ca.pem", "broker.pem", "broker-key.pem"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Fatal(err)
		}
	}
	if blk, _ := pem.Decode(m.keyPEM); blk == nil || blk.Type != "PRIVATE KEY" {
		t.Fatal("key is not a PKCS#8 PEM block")
	}
	pair, err := tls.X509KeyPair(m.chainPEM, m.keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, host := range []string{"127.0.0.1", "localhost"} {
		if _, err := leaf.Verify(x509.VerifyOptions{DNSName: host, Roots: m.pool}); err != nil {
			t.Errorf("verify for %s: %v", host, err)
		}
	}
	if _, err := leaf.Verify(x509.VerifyOptions{DNSName: "localhost"}); err == nil {
		t.Error("the broker certificate verifies without the test CA")
	}
}

// TestClientCertFiles: the client certificate is signed by the cluster's
// CA for client authentication, and only the SSL_CLIENT_AUTH listener
// requires one (Config.TLSClientAuth).
func TestClientCertFiles(t *testing.T) {
	dir := t.TempDir()
	m, err := makeTLS(dir)
	if err != nil {
		t.Fatal(err)
	}
	c := &Cluster{cfg: Config{TLS: true, TLSClientAuth: true}, dir: dir, tls: m}
	certFile, keyFile, err := c.ClientCertFiles("cli")
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: m.pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil || leaf.Subject.CommonName != "cli" {
		t.Errorf("client certificate %q does not verify for client auth: %v", leaf.Subject.CommonName, err)
	}
	if _, _, err := c.ClientCertFiles("a b"); err == nil {
		t.Error("bad name accepted")
	}
	if _, _, err := (&Cluster{}).ClientCertFiles("cli"); err == nil {
		t.Error("ClientCertFiles without TLS succeeded")
	}
	props := c.securityProps()
	if props["ssl.client.auth"] != "none" || props["listener.name.ssl_client_auth.ssl.client.auth"] != "required" ||
		props["listener.name.ssl_client_auth.ssl.truststore.certificates"] != string(m.caPEM) {
		t.Errorf("client auth props: %v", props)
	}
	if got := securityProtocolOf(ListenerSSLClientAuth); got != "SSL" {
		t.Errorf("security protocol of %s = %s", ListenerSSLClientAuth, got)
	}
}
