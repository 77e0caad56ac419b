// Package security_test runs balanced consumers against a real cluster whose
// brokers have SASL_PLAINTEXT, SSL and SASL_SSL listeners besides PLAINTEXT:
// SASL/PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 and TLS verified against the
// cluster's test CA, and the errors of wrong credentials.
package security_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/zkbalance/zkbalance/balanced"
	"github.com/zkbalance/zkbalance/internal/cluster"
	"github.com/zkbalance/zkbalance/internal/cmdtest"
	"github.com/zkbalance/zkbalance/internal/kafkacoord"
)

var shared = cluster.NewShared(cluster.Config{
	Brokers:   2,
	Chroot:    "/kafka", // the SCRAM credentials go under the chroot
	SASLUsers: map[string]string{plainUser: plainPassword, scramUser: scramPassword},
	TLS:       true,
	// An SSL_CLIENT_AUTH listener that requires a client certificate
	// (cli_test.go).
	TLSClientAuth: true,
})

const (
	plainUser, plainPassword = "alice", "alice-secret"
	scramUser, scramPassword = "bob", "bob-secret"
)

func TestMain(m *testing.M) {
	code := shared.Run(m)
	cmdtest.Cleanup()
	os.Exit(code)
}

func testCtx(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func logger(t *testing.T) *slog.Logger {
	level := slog.LevelWarn
	if os.Getenv("ZKBALANCE_TEST_LOG") == "debug" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: level}))
}

// topicWith creates a 2-partition topic (replicated on both brokers, so
// that each is led by one of them) holding n messages, over PLAINTEXT.
func topicWith(t *testing.T, name string, n int) {
	t.Helper()
	cl := shared.Get(t)
	ctx := testCtx(t, 2*time.Minute)
	if err := cl.CreateTopic(ctx, name, 2, 2); err != nil {
		t.Fatal(err)
	}
	msgs := make([]cluster.Message, n)
	for i := range msgs {
		msgs[i] = cluster.Message{Partition: int32(i % 2), Value: []byte(fmt.Sprint(i))}
	}
	if _, err := cl.Produce(ctx, name, msgs); err != nil {
		t.Fatal(err)
	}
}

// consumeAll runs one member with cfg until it has processed n distinct
// messages (or fails the test after a minute), then stops it.
func consumeAll(t *testing.T, cfg balanced.Config, n int) {
	t.Helper()
	cl := shared.Get(t)
	cfg.ZooKeeper = cl.KafkaZooKeeperConnect()
	cfg.Logger = logger(t)
	cfg.CommitInterval = 100 * time.Millisecond
	c, err := balanced.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	var mu sync.Mutex
	seen := map[string]bool{}
	all := make(chan struct{})
	var closed atomic.Bool
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- c.Run(ctx, balanced.EachMessage(func(_ context.Context, m *balanced.Message) error {
			mu.Lock()
			defer mu.Unlock()
			seen[fmt.Sprintf("%d/%d", m.Partition, m.Offset)] = true
			if len(seen) == n && closed.CompareAndSwap(false, true) {
				close(all)
			}
			return nil
		}))
	}()
	select {
	case <-all:
	case err := <-done:
		cancel()
		t.Fatalf("Run returned before consuming: %v", err)
	case <-time.After(time.Minute):
		cancel()
		mu.Lock()
		got := len(seen)
		mu.Unlock()
		t.Fatalf("consumed %d of %d messages in a minute", got, n)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return within 30s of cancel")
	}
}

// kafkaOffsets reads the group's committed offsets in Kafka over PLAINTEXT.
func kafkaOffsets(t *testing.T, group, topic string) map[int32]int64 {
	t.Helper()
	cl := shared.Get(t)
	sc := sarama.NewConfig()
	sc.Version = sarama.V2_1_0_0
	client, err := sarama.NewClient(cl.ListenerAddrs(cluster.ListenerPlaintext), sc)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	out := map[int32]int64{}
	ctx := testCtx(t, 30*time.Second)
	err = kafkacoord.Do(ctx, client, group, nil, func(b *sarama.Broker) error {
		// OffsetFetch v1 reads __consumer_offsets, where the consumer commits.
		req := &sarama.OffsetFetchRequest{Version: 1, ConsumerGroup: group}
		for p := int32(0); p < 2; p++ {
			req.AddPartition(topic, p)
		}
		resp, err := kafkacoord.Call(ctx, func() (*sarama.OffsetFetchResponse, error) { return b.FetchOffset(req) })
		if err != nil {
			return err
		}
		clear(out)
		for p := int32(0); p < 2; p++ {
			block := resp.GetBlock(topic, p)
			switch {
			case block == nil:
				return sarama.ErrIncompleteResponse
			case block.Err != sarama.ErrNoError:
				return block.Err
			case block.Offset >= 0:
				out[p] = block.Offset
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("fetch the offsets of %s from kafka: %v", group, err)
	}
	return out
}

func TestListeners(t *testing.T) {
	cl := shared.Get(t)
	want := []string{cluster.ListenerPlaintext, cluster.ListenerSASLPlaintext, cluster.ListenerSSL, cluster.ListenerSASLSSL, cluster.ListenerSSLClientAuth}
	if got := cl.Listeners(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("Listeners() = %v, want %v", got, want)
	}
	seen := map[string]bool{}
	for _, l := range want {
		addrs := cl.ListenerAddrs(l)
		if len(addrs) != 2 {
			t.Fatalf("ListenerAddrs(%s) = %v, want 2", l, addrs)
		}
		for _, a := range addrs {
			if seen[a] {
				t.Fatalf("address %s used twice", a)
			}
			seen[a] = true
		}
	}
	if got := cl.ListenerAddrs("NOPE"); got != nil {
		t.Fatalf("ListenerAddrs(NOPE) = %v", got)
	}
	if fmt.Sprint(cl.ListenerAddrs(cluster.ListenerPlaintext)) != fmt.Sprint(cl.BrokerAddrs()) {
		t.Fatalf("PLAINTEXT addresses %v differ from BrokerAddrs %v", cl.ListenerAddrs(cluster.ListenerPlaintext), cl.BrokerAddrs())
	}
	if !x509.NewCertPool().AppendCertsFromPEM(cl.CACertPEM()) {
		t.Fatal("CACertPEM is not a PEM certificate")
	}
	if cfg := cl.TLSConfig(); cfg == nil || cfg.RootCAs == nil {
		t.Fatal("TLSConfig has no RootCAs")
	}
}

// Every supported way in: each member consumes all messages of its topic
// through one secured listener only, with offsets in Kafka where the Kafka
// offset store has to use the same security.
func TestConsumeSecured(t *testing.T) {
	cl := shared.Get(t)
	const n = 200
	cases := []struct {
		name string
		cfg  balanced.Config
	}{
		{
			// No Brokers, no Listener: bootstrapping from /brokers/ids picks
			// the SASL_PLAINTEXT endpoints because SASL is on.
			name: "sasl-plain-from-zookeeper",
			cfg:  balanced.Config{SASL: &balanced.SASL{Mechanism: balanced.SASLPlain, User: plainUser, Password: plainPassword}},
		},
		{
			name: "scram-sha-256",
			cfg: balanced.Config{
				Brokers: cl.ListenerAddrs(cluster.ListenerSASLPlaintext), Offsets: balanced.OffsetsKafka,
				SASL: &balanced.SASL{Mechanism: balanced.SASLScramSHA256, User: scramUser, Password: scramPassword},
			},
		},
		{
			name: "scram-sha-512",
			cfg: balanced.Config{
				Listener: cluster.ListenerSASLPlaintext, Offsets: balanced.OffsetsDual,
				SASL: &balanced.SASL{Mechanism: balanced.SASLScramSHA512, User: scramUser, Password: scramPassword},
			},
		},
		{
			name: "tls",
			cfg: balanced.Config{
				Brokers: cl.ListenerAddrs(cluster.ListenerSSL), Offsets: balanced.OffsetsKafka,
				TLS: cl.TLSConfig(),
			},
		},
		{
			// From /brokers/ids: TLS and SASL select SASL_SSL.
			name: "tls-scram-sha-512",
			cfg: balanced.Config{
				Offsets: balanced.OffsetsKafka, TLS: cl.TLSConfig(),
				SASL: &balanced.SASL{Mechanism: balanced.SASLScramSHA512, User: scramUser, Password: scramPassword},
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			topic, group := "sec-"+tc.name, "sec-g-"+tc.name
			topicWith(t, topic, n)
			cfg := tc.cfg
			cfg.Group, cfg.Topics = group, []string{topic}
			start := time.Now()
			consumeAll(t, cfg, n)
			t.Logf("consumed %d messages in %s", n, time.Since(start).Round(time.Millisecond))
			if cfg.Offsets == balanced.OffsetsKafka || cfg.Offsets == balanced.OffsetsDual {
				got := kafkaOffsets(t, group, topic)
				if got[0] != n/2 || got[1] != n/2 {
					t.Fatalf("offsets committed in Kafka = %v, want %d for both partitions", got, n/2)
				}
			}
		})
	}
}

// runFails runs a member with cfg that must fail, and returns Run's error
// and how long it took.
func runFails(t *testing.T, cfg balanced.Config) (error, time.Duration) {
	t.Helper()
	cl := shared.Get(t)
	cfg.Group, cfg.Topics = "sec-bad-"+strings.ReplaceAll(t.Name(), "/", "-"), []string{"sec-bad-topic"}
	cfg.ZooKeeper = cl.KafkaZooKeeperConnect()
	cfg.Logger = logger(t)
	cfg.ConnectTimeout = 10 * time.Second
	c, err := balanced.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	start := time.Now()
	err = c.Run(testCtx(t, time.Minute), balanced.EachMessage(func(context.Context, *balanced.Message) error { return nil }))
	d := time.Since(start)
	if err == nil {
		t.Fatal("Run succeeded")
	}
	t.Logf("Run failed after %s: %v", d.Round(time.Millisecond), err)
	if d > cfg.ConnectTimeout {
		t.Errorf("Run took %s to fail, more than ConnectTimeout %s", d, cfg.ConnectTimeout)
	}
	return err, d
}

func TestWrongCredentials(t *testing.T) {
	cl := shared.Get(t)
	for _, mech := range []string{balanced.SASLPlain, balanced.SASLScramSHA256, balanced.SASLScramSHA512} {
		t.Run(mech, func(t *testing.T) {
			t.Parallel()
			err, _ := runFails(t, balanced.Config{
				Brokers: cl.ListenerAddrs(cluster.ListenerSASLPlaintext),
				SASL:    &balanced.SASL{Mechanism: mech, User: scramUser, Password: "wrong"},
			})
			if !errors.Is(err, sarama.ErrSASLAuthenticationFailed) {
				t.Errorf("error does not wrap sarama.ErrSASLAuthenticationFailed: %v", err)
			}
			for _, want := range []string{"balanced: kafka client", mech, scramUser} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error does not mention %q: %v", want, err)
				}
			}
		})
	}
	t.Run("unknown-user", func(t *testing.T) {
		t.Parallel()
		err, _ := runFails(t, balanced.Config{
			Brokers: cl.ListenerAddrs(cluster.ListenerSASLPlaintext),
			SASL:    &balanced.SASL{Mechanism: balanced.SASLScramSHA256, User: "mallory", Password: "x"},
		})
		if !errors.Is(err, sarama.ErrSASLAuthenticationFailed) {
			t.Errorf("error does not wrap sarama.ErrSASLAuthenticationFailed: %v", err)
		}
	})
	t.Run("untrusted-ca", func(t *testing.T) {
		t.Parallel()
		// The system roots do not include the test CA.
		err, _ := runFails(t, balanced.Config{
			Brokers: cl.ListenerAddrs(cluster.ListenerSSL),
			TLS:     &tls.Config{MinVersion: tls.VersionTLS12},
		})
		var unknown x509.UnknownAuthorityError
		if !errors.As(err, &unknown) {
			t.Errorf("error does not wrap x509.UnknownAuthorityError: %v", err)
		}
	})
	t.Run("wrong-server-name", func(t *testing.T) {
		t.Parallel()
		cfg := cl.TLSConfig()
		cfg.ServerName = "kafka.example.com"
		err, _ := runFails(t, balanced.Config{Brokers: cl.ListenerAddrs(cluster.ListenerSSL), TLS: cfg})
		var host x509.HostnameError
		if !errors.As(err, &host) {
			t.Errorf("error does not wrap x509.HostnameError: %v", err)
		}
	})
}

// A broker address that accepts connections and never answers (a TLS or
// SASL handshake that hangs) must not hold Run beyond ConnectTimeout, though
// sarama's own read timeout is 30s.
func TestKafkaBootstrapBoundedByConnectTimeout(t *testing.T) {
	cl := shared.Get(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		open   []net.Conn
		closed bool
	)
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		closed = true
		for _, c := range open {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			open = append(open, c)
			if closed {
				c.Close()
			}
			mu.Unlock()
			wg.Add(1)
			go func() { defer wg.Done(); _, _ = io.Copy(io.Discard, c) }()
		}
	}()
	cfg := balanced.Config{
		Group: "sec-silent", Topics: []string{"sec-bad-topic"},
		ZooKeeper: cl.KafkaZooKeeperConnect(), Logger: logger(t),
		Brokers:        []string{l.Addr().String()},
		SASL:           &balanced.SASL{Mechanism: balanced.SASLScramSHA256, User: scramUser, Password: scramPassword},
		ConnectTimeout: 2 * time.Second,
	}
	c, err := balanced.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err = c.Run(testCtx(t, time.Minute), balanced.EachMessage(func(context.Context, *balanced.Message) error { return nil }))
	d := time.Since(start)
	t.Logf("Run failed after %s: %v", d.Round(time.Millisecond), err)
	if err == nil || !strings.Contains(err.Error(), "ConnectTimeout") {
		t.Fatalf("Run = %v, want a ConnectTimeout error", err)
	}
	if d > 5*time.Second {
		t.Fatalf("Run took %s with ConnectTimeout 2s", d)
	}
	// The cleanup closes our side of the connections, which ends the
	// abandoned client's attempt; its goroutine then closes the client.
}
