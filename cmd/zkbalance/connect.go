package main

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/IBM/sarama"

	"github.com/zkbalance/zkbalance/internal/cli"
	"github.com/zkbalance/zkbalance/zkwatch"
)

// clusterConn is a command's cluster as its flags resolved it: the
// ZooKeeper connect string ("" without ZooKeeper), the broker addresses
// (empty: read them from /brokers/ids), the security flags and the
// logger.
type clusterConn struct {
	zookeeper string
	brokers   []string
	sec       *cli.Security
	log       *slog.Logger
}

// resolveCluster resolves the connection and security flags; with
// optionalZooKeeper a cluster without ZooKeeper (Kafka 4) is allowed when
// brokers are given.
func resolveCluster(cf *cli.ClusterFlags, optionalZooKeeper bool, log *slog.Logger) (*clusterConn, error) {
	resolve := cf.Resolve
	if optionalZooKeeper {
		resolve = cf.ResolveOptionalZooKeeper
	}
	zk, brokers, err := resolve()
	if err != nil {
		return nil, err
	}
	sec, err := cf.Security()
	if err != nil {
		return nil, err
	}
	return &clusterConn{zookeeper: zk, brokers: brokers, sec: sec, log: log}, nil
}

// dialZooKeeper connects to the cluster's ZooKeeper with the credentials
// of --zk-user (cli.DialZooKeeper's fail-fast dial).
func (cc *clusterConn) dialZooKeeper(ctx context.Context) (*zkwatch.Conn, error) {
	return cc.sec.DialZooKeeper(ctx, cc.zookeeper, cc.log)
}

// dialOptionalZooKeeper is dialZooKeeper for the commands that also work
// on Kafka alone (resolveCluster with optionalZooKeeper): nil, and no
// error, when the cluster has no ZooKeeper. The caller closes a non-nil
// connection.
func (cc *clusterConn) dialOptionalZooKeeper(ctx context.Context) (*zkwatch.Conn, error) {
	if cc.zookeeper == "" {
		return nil, nil
	}
	return cc.dialZooKeeper(ctx)
}

// kafkaBrokers is the broker addresses: --brokers, or the endpoints of
// the listener (--listener, or the security protocol's) registered in
// /brokers/ids, read through conn (nil: none, an error without --brokers).
func (cc *clusterConn) kafkaBrokers(ctx context.Context, conn *zkwatch.Conn) ([]string, error) {
	if len(cc.brokers) > 0 {
		return cc.brokers, nil
	}
	if conn == nil {
		return nil, errors.New("kafka client: no broker address and no zookeeper to find them in")
	}
	return cc.sec.BrokersFromZooKeeper(ctx, conn, cc.log)
}

// groupToolsKafka opens a Kafka client for the group tools (status,
// migrate-offsets, reset-offsets, coordination) with the security flags'
// TLS and SASL: to --brokers, or to the endpoints registered in
// /brokers/ids. Looking at a topic never creates it.
func (cc *clusterConn) groupToolsKafka(ctx context.Context, conn *zkwatch.Conn) (sarama.Client, error) {
	brokers, err := cc.kafkaBrokers(ctx, conn)
	if err != nil {
		return nil, err
	}
	sc := sarama.NewConfig()
	sc.Version = sarama.V2_1_0_0
	sc.ClientID = "zkbalance-cli"
	sc.Net.DialTimeout = 10 * time.Second
	sc.Metadata.Retry.Max = 5
	sc.Metadata.Retry.Backoff = 200 * time.Millisecond
	// Looking at a topic must never create it (auto.create.topics.enable).
	sc.Metadata.AllowAutoTopicCreation = false
	return cc.sec.NewKafkaClient(ctx, brokers, sc)
}

// openGroupTools resolves the flags and connects to ZooKeeper and Kafka
// for the commands that need both (migrate-offsets, coordination); the
// caller closes both. They log warnings only.
func openGroupTools(ctx context.Context, cf *cli.ClusterFlags, common *cli.CommonFlags) (*clusterConn, *zkwatch.Conn, sarama.Client, error) {
	cc, err := resolveCluster(cf, false, common.Logger(slog.LevelWarn))
	if err != nil {
		return nil, nil, nil, err
	}
	conn, err := cc.dialZooKeeper(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	client, err := cc.groupToolsKafka(ctx, conn)
	if err != nil {
		conn.Close()
		return nil, nil, nil, err
	}
	return cc, conn, client, nil
}
