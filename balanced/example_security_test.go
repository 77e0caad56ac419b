package balanced_test

import (
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"os"

	"github.com/zkbalance/zkbalance/balanced"
)

// A member of a group whose znodes only holders of the digest credential
// "billing:secret" may change (everyone may read them, so ops tools keep
// working), fetching from Kafka over TLS with a private CA and SASL/SCRAM.
// Without Brokers, the SASL_SSL endpoints registered in /brokers/ids are
// used.
func Example_security() {
	pool := x509.NewCertPool()
	if pem, err := os.ReadFile("/etc/kafka/ca.pem"); err == nil {
		pool.AppendCertsFromPEM(pem)
	}
	c, err := balanced.New(balanced.Config{
		Group:         "billing",
		Topics:        []string{"orders"},
		ZooKeeper:     "zk1:2181,zk2:2181/kafka",
		ZooKeeperAuth: []balanced.ZooKeeperAuth{balanced.DigestAuth("billing", "secret")},
		ACL:           balanced.DigestACL("billing", "secret"),
		TLS:           &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		SASL:          &balanced.SASL{Mechanism: balanced.SASLScramSHA512, User: "billing", Password: "kafka-secret"},
	})
	if err != nil {
		slog.Error("config", "err", err)
		return
	}
	_ = c // c.Run(ctx, handler)
}
