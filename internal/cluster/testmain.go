package cluster

import (
	"context"
	"flag"
	"fmt"
	"os"
	"testing"
	"time"
)

// Wanted reports whether a test binary's run needs the cluster: not when it
// only lists tests (-test.list) or fuzzes (-test.fuzz). Call after flag.Parse.
func Wanted() bool {
	for _, name := range []string{"test.list", "test.fuzz"} {
		if f := flag.Lookup(name); f != nil && f.Value.String() != "" {
			return false
		}
	}
	return true
}

// Main is a TestMain body: it starts a cluster with cfg (unless Wanted says
// no), stores it in *dst, runs the tests and closes the cluster. A failed
// start exits with status 1 and the reason; nothing is skipped.
func Main(m *testing.M, dst **Cluster, cfg Config) {
	flag.Parse()
	if !Wanted() {
		os.Exit(m.Run())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	start := time.Now()
	c, err := Start(ctx, cfg)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL: start the real ZooKeeper + Kafka cluster:", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "real cluster: ZooKeeper %s + %d Kafka broker(s) %v up in %s\n",
		c.ZooKeeperAddr(), len(c.BrokerIDs()), c.BrokerAddrs(), time.Since(start).Round(time.Millisecond))
	*dst = c
	code := m.Run()
	c.Close()
	os.Exit(code)
}
