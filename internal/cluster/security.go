package cluster

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/zkbalance/zkbalance/internal/proxy"
	"github.com/zkbalance/zkbalance/internal/zk"
	"github.com/zkbalance/zkbalance/zkwatch"
)

// Listener names (each but ListenerProxied the security protocol of the
// same name). Every broker has a PLAINTEXT listener, which is also the
// inter-broker listener and the one the harness's own admin, produce and
// metadata calls use.
const (
	ListenerPlaintext     = "PLAINTEXT"
	ListenerSASLPlaintext = "SASL_PLAINTEXT" // with Config.SASLUsers
	ListenerSSL           = "SSL"            // with Config.TLS
	ListenerSASLSSL       = "SASL_SSL"       // with Config.SASLUsers and Config.TLS
	// ListenerSSLClientAuth (with Config.TLS and Config.TLSClientAuth)
	// speaks SSL and requires a client certificate signed by the
	// cluster's CA.
	ListenerSSLClientAuth = "SSL_CLIENT_AUTH"
	// ListenerProxied (with Config.ProxiedListener) speaks PLAINTEXT and is
	// advertised at the broker's proxy (Cluster.BrokerProxy).
	ListenerProxied = "PROXIED"
)

// SASL mechanisms the SASL listeners accept.
var saslMechanisms = []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"}

// listenerNames lists the listeners cfg gives every broker, PLAINTEXT first.
func (cfg Config) listenerNames() []string {
	names := []string{ListenerPlaintext}
	if len(cfg.SASLUsers) > 0 {
		names = append(names, ListenerSASLPlaintext)
	}
	if cfg.TLS {
		names = append(names, ListenerSSL)
	}
	if len(cfg.SASLUsers) > 0 && cfg.TLS {
		names = append(names, ListenerSASLSSL)
	}
	if cfg.TLS && cfg.TLSClientAuth {
		names = append(names, ListenerSSLClientAuth)
	}
	if cfg.ProxiedListener {
		names = append(names, ListenerProxied)
	}
	return names
}

// securityProtocolOf is the security protocol of listener name.
func securityProtocolOf(name string) string {
	switch name {
	case ListenerProxied:
		return "PLAINTEXT"
	case ListenerSSLClientAuth:
		return "SSL"
	}
	return name
}

var (
	saslUserRe = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)
	// Passwords go into a JAAS option ("...") and, for SCRAM, into
	// kafka-configs' 'SCRAM-SHA-256=[password=...]'.
	saslPasswordRe = regexp.MustCompile(`^[^"\\,=\[\]\s]+$`)
)

func (cfg Config) checkSecurity() error {
	for u, p := range cfg.SASLUsers {
		if !saslUserRe.MatchString(u) {
			return fmt.Errorf("cluster: SASL user name %q: use letters, digits, '_', '.' and '-'", u)
		}
		if !saslPasswordRe.MatchString(p) {
			return fmt.Errorf("cluster: SASL password of %q: non-empty, without spaces, quotes, backslashes, ',', '=', '[' or ']'", u)
		}
	}
	return nil
}

// securityProps are the server.properties entries of the SASL and SSL
// listeners (the listeners themselves are set by writeConfigs).
func (c *Cluster) securityProps() map[string]string {
	props := map[string]string{}
	if len(c.cfg.SASLUsers) > 0 {
		props["sasl.enabled.mechanisms"] = strings.Join(saslMechanisms, ",")
		users := slices.Sorted(func(yield func(string) bool) {
			for u := range c.cfg.SASLUsers {
				if !yield(u) {
					return
				}
			}
		})
		var plain strings.Builder
		plain.WriteString("org.apache.kafka.common.security.plain.PlainLoginModule required")
		for _, u := range users {
			fmt.Fprintf(&plain, " user_%s=\"%s\"", u, c.cfg.SASLUsers[u])
		}
		plain.WriteString(";")
		const scramModule = "org.apache.kafka.common.security.scram.ScramLoginModule required;"
		for _, l := range c.cfg.listenerNames() {
			if !strings.HasPrefix(l, "SASL_") {
				continue
			}
			prefix := "listener.name." + strings.ToLower(l) + "."
			props[prefix+"plain.sasl.jaas.config"] = plain.String()
			props[prefix+"scram-sha-256.sasl.jaas.config"] = scramModule
			props[prefix+"scram-sha-512.sasl.jaas.config"] = scramModule
		}
	}
	if c.cfg.TLS {
		// The broker's key and certificate chain inline, in PEM (KIP-651);
		// an unencrypted PKCS#8 key needs no ssl.key.password. No client
		// certificates are asked for (ssl.client.auth=none).
		props["ssl.keystore.type"] = "PEM"
		props["ssl.keystore.certificate.chain"] = string(c.tls.chainPEM)
		props["ssl.keystore.key"] = string(c.tls.keyPEM)
		props["ssl.client.auth"] = "none"
		if c.cfg.TLSClientAuth {
			// Only this listener asks for client certificates, verified
			// against the cluster's CA (a PEM truststore, KIP-651).
			prefix := "listener.name." + strings.ToLower(ListenerSSLClientAuth) + "."
			props[prefix+"ssl.client.auth"] = "required"
			props[prefix+"ssl.truststore.type"] = "PEM"
			props[prefix+"ssl.truststore.certificates"] = string(c.tls.caPEM)
		}
	}
	return props
}

// tlsMaterial is the cluster's test CA and the certificate all brokers
// present (for 127.0.0.1 and localhost), made at start.
type tlsMaterial struct {
	caKey    *ecdsa.PrivateKey
	caCert   *x509.Certificate
	caPEM    []byte
	chainPEM []byte // broker certificate, then the CA
	keyPEM   []byte // PKCS#8
	pool     *x509.CertPool
}

// makeTLS creates a CA and a broker certificate signed by it (ECDSA P-256,
// valid from an hour ago for a year) and writes ca.pem, broker.pem
// (certificate chain) and broker-key.pem into dir.
func makeTLS(dir string) (*tlsMaterial, error) {
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "zkbalance test CA", Organization: []string{"zkbalance"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(1, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "kafka", Organization: []string{"zkbalance"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.AddDate(1, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	m := &tlsMaterial{
		caKey:  caKey,
		caCert: caCert,
		caPEM:  pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		keyPEM: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
		pool:   x509.NewCertPool(),
	}
	m.chainPEM = append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leafDER}), m.caPEM...)
	m.pool.AddCert(caCert)
	for name, b := range map[string][]byte{"ca.pem": m.caPEM, "broker.pem": m.chainPEM, "broker-key.pem": m.keyPEM} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// ClientCertFiles makes a client certificate for common name cn, signed by
// the cluster's CA (ECDSA P-256, for client authentication, valid from an
// hour ago for a day), and writes it and its PKCS#8 key in PEM to
// Dir()/client-<cn>.pem and Dir()/client-<cn>-key.pem. The
// ListenerSSLClientAuth listener (Config.TLSClientAuth) accepts it. It
// fails without Config.TLS.
func (c *Cluster) ClientCertFiles(cn string) (certFile, keyFile string, err error) {
	if c.tls == nil {
		return "", "", errors.New("cluster: no TLS (Config.TLS)")
	}
	if !saslUserRe.MatchString(cn) {
		return "", "", fmt.Errorf("cluster: client certificate name %q: use letters, digits, '_', '.' and '-'", cn)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return "", "", err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial.Add(serial, big.NewInt(3)),
		Subject:      pkix.Name{CommonName: cn, Organization: []string{"zkbalance"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.tls.caCert, &key.PublicKey, c.tls.caKey)
	if err != nil {
		return "", "", fmt.Errorf("cluster: client certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", "", err
	}
	certFile = filepath.Join(c.dir, "client-"+cn+".pem")
	keyFile = filepath.Join(c.dir, "client-"+cn+"-key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		return "", "", fmt.Errorf("cluster: %w", err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return "", "", fmt.Errorf("cluster: %w", err)
	}
	return certFile, keyFile, nil
}

// CACertFile is the path of the PEM certificate of the cluster's CA,
// Dir()/ca.pem ("" without Config.TLS).
func (c *Cluster) CACertFile() string {
	if c.tls == nil {
		return ""
	}
	return filepath.Join(c.dir, "ca.pem")
}

// createScramUsers stores the SCRAM-SHA-256 and SCRAM-SHA-512 credentials of
// every SASL user in ZooKeeper before the brokers start, the way Kafka
// documents for ZooKeeper mode: kafka-configs (kafka.admin.ConfigCommand)
// with --zookeeper, one JVM per user, run in parallel. The chroot, which
// ConfigCommand does not create, is created first.
func (c *Cluster) createScramUsers(ctx context.Context) error {
	if len(c.cfg.SASLUsers) == 0 {
		return nil
	}
	if c.cfg.Chroot != "" {
		err := c.withZK(ctx, func(conn *zk.Conn) error {
			cur := ""
			for _, part := range strings.Split(strings.TrimPrefix(c.cfg.Chroot, "/"), "/") {
				cur += "/" + part
				if _, err := conn.Create(cur, nil, 0, zkwatch.WorldACL(zkwatch.PermAll)); err != nil && !errors.Is(err, zkwatch.ErrNodeExists) {
					return fmt.Errorf("create chroot %s: %w", cur, err)
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("cluster: %w", err)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(c.cfg.SASLUsers))
	for user, pw := range c.cfg.SASLUsers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			args := append(c.jvmArgs(c.logConfig, "256m"), "kafka.admin.ConfigCommand",
				"--zookeeper", c.KafkaZooKeeperConnect(), "--alter",
				"--add-config", fmt.Sprintf("SCRAM-SHA-256=[iterations=4096,password=%s],SCRAM-SHA-512=[iterations=4096,password=%s]", pw, pw),
				"--entity-type", "users", "--entity-name", user)
			cmd := exec.CommandContext(ctx, c.java, args...)
			cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
			out, err := cmd.CombinedOutput()
			if err == nil && !strings.Contains(string(out), "Completed updating config") {
				err = errors.New("no confirmation in its output")
			}
			if err != nil {
				errs <- fmt.Errorf("cluster: create SCRAM credentials of %q (kafka.admin.ConfigCommand): %w\n%s", user, err, Tail(out, 20))
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs // nil when the channel is empty
}

// Listeners lists the listener names every broker has, PLAINTEXT first.
func (c *Cluster) Listeners() []string { return c.cfg.listenerNames() }

// ListenerAddrs lists the address clients connect to ("127.0.0.1:port") of
// listener name (ListenerPlaintext, ListenerSASLPlaintext, ...) of every
// broker, running or not, by id; nil when the cluster has no such listener.
// For ListenerProxied these are the proxies' addresses.
func (c *Cluster) ListenerAddrs(name string) []string {
	var out []string
	for _, id := range c.BrokerIDs() {
		if a := c.ListenerAddr(id, name); a != "" {
			out = append(out, a)
		}
	}
	return out
}

// ListenerAddr is the address listener name of broker id advertises, where
// clients connect ("" when there is no such broker or listener): for
// ListenerProxied, the broker's proxy.
func (c *Cluster) ListenerAddr(id int32, name string) string {
	b, ok := c.brokers[id]
	if !ok {
		return ""
	}
	name = strings.ToUpper(name)
	if name == ListenerProxied {
		if px := c.proxies[id]; px != nil {
			return px.Addr()
		}
		return ""
	}
	port, ok := b.ports[name]
	if !ok {
		return ""
	}
	return fmt.Sprintf("127.0.0.1:%d", port)
}

// SASLUsers returns a copy of the users (name -> password) the SASL
// listeners accept.
func (c *Cluster) SASLUsers() map[string]string {
	out := map[string]string{}
	for u, p := range c.cfg.SASLUsers {
		out[u] = p
	}
	return out
}

// CACertPEM is the PEM certificate of the CA that signed the brokers' TLS
// certificate (nil without Config.TLS). It is also in Dir()/ca.pem.
func (c *Cluster) CACertPEM() []byte {
	if c.tls == nil {
		return nil
	}
	return append([]byte(nil), c.tls.caPEM...)
}

// TLSConfig is a client TLS config that trusts the cluster's CA (and
// nothing else), for the SSL and SASL_SSL listeners; nil without
// Config.TLS. Each call returns a new config.
func (c *Cluster) TLSConfig() *tls.Config {
	if c.tls == nil {
		return nil
	}
	return &tls.Config{RootCAs: c.tls.pool, MinVersion: tls.VersionTLS12}
}

// ProxiedBrokerAddrs lists the address of every broker's proxy (Config.
// ProxiedListener), running or not, by id: bootstrap addresses for a client
// whose broker connections should all go through the proxies. Nil without
// Config.ProxiedListener.
func (c *Cluster) ProxiedBrokerAddrs() []string { return c.ListenerAddrs(ListenerProxied) }

// BrokerProxy is the proxy in front of broker id's PROXIED listener (nil
// without Config.ProxiedListener or for an unknown id). Its faults (Drop,
// Stall, Refuse, Reset, Pause) cut the connections of clients that use the
// proxied addresses, not the harness's or the brokers' own. The cluster
// owns it: do not Close it or change its target.
func (c *Cluster) BrokerProxy(id int32) *proxy.Proxy { return c.proxies[id] }
