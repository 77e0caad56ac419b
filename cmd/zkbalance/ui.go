package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"time"

	"github.com/IBM/sarama"

	"github.com/zkbalance/zkbalance/groupstate"
	"github.com/zkbalance/zkbalance/internal/cli"
	"github.com/zkbalance/zkbalance/zkwatch"
)

// uiHelp is the --help of 'zkbalance ui'.
var uiHelp = cli.Help{
	Usage: `zkbalance ui [--listen host:port] [--interval d] [--history d] [flags]`,
	Description: `Serves a live page for the consumer groups: the groups 'status --all' lists
(under /consumers and the consumer groups Kafka knows) and, for the group
picked, what 'status --group G' shows: its members (in ZooKeeper and at
Kafka's coordinator), the partition table (owner, committed offset, log-end
offset, lag, store) and the total lag, plus a chart of the lag (total and
per topic) over the last --history. The page is one HTML file with a little
JavaScript and an SVG chart, all in the binary: nothing is loaded from
elsewhere. Nothing is written to the cluster.

The server reads each group the page shows every --interval into an
in-memory history of --history (at most 16 groups at once; a group no page
asked for in 10 minutes is dropped; the oldest viewed goes first). The
page polls it every 2 s. It prints the URL it serves on ("zkbalance ui:
serving http://127.0.0.1:8080/") and runs until interrupted (Ctrl-C,
SIGTERM: exit 0). --listen 127.0.0.1:0 picks a free port.

The page has no login: keep --listen on a loopback address (the default)
or behind something that authenticates.

JSON endpoints (GET; the page uses them, so can scripts):

  /api/groups        {groups[] as 'status --all --json', warnings[],
                     watched[] (the groups being sampled), time}
  /api/group?name=G  {group, status (as 'status --group G --json' prints
                     it; null before the first successful read), time and
                     error of the latest read, total_lag, history[]
                     ({time, lag (null: the read failed), topics: topic ->
                     lag}, oldest first), interval_seconds, history_seconds};
                     404 for a group that does not exist

` + cli.SecureConnectionHelp,
	Examples: `zkbalance ui --zookeeper zk1:2181/kafka    # then open http://127.0.0.1:8080/
zkbalance ui --listen 127.0.0.1:0 --interval 2s --history 5m
curl -s 'http://127.0.0.1:8080/api/group?name=billing' | jq .total_lag`,
}

func runUI(ctx context.Context, fs *flag.FlagSet, args []string, stdout io.Writer) error {
	listen := fs.String("listen", "127.0.0.1:8080", "serve the page on `host:port` (port 0: a free one)")
	interval := fs.Duration("interval", 5*time.Second, "read each watched group this often")
	history := fs.Duration("history", 15*time.Minute, "keep this much lag history per group")
	common := cli.AddCommonFlags(fs, 30*time.Second, "give up connecting, and each read, after this long")
	cf := cli.AddSecureClusterFlags(fs)
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	timeout := common.Timeout()
	switch {
	case *interval <= 0:
		return cli.Usagef("--interval must be positive")
	case *history < *interval:
		return cli.Usagef("--history must be at least --interval")
	}
	if _, _, err := net.SplitHostPort(*listen); err != nil {
		return cli.Usagef("--listen %q: %v", *listen, err)
	}
	log := common.Logger(slog.LevelWarn)
	cc, err := resolveCluster(cf, true, log)
	if err != nil {
		return err
	}
	dialCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := cc.dialOptionalZooKeeper(dialCtx)
	if err != nil {
		return err
	}
	if conn != nil {
		defer conn.Close()
	}
	client, err := cc.groupToolsKafka(dialCtx, conn)
	if err != nil {
		return err
	}
	defer client.Close()

	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", *listen)
	if err != nil {
		return fmt.Errorf("ui: listen on %s: %w", *listen, err)
	}
	srv := newUIServer(uiConfig{Interval: *interval, History: *history, Timeout: timeout}, clusterReader(conn, client), clusterLister(conn, client), log)
	fmt.Fprintf(stdout, "zkbalance ui: serving %s (interrupt to stop)\n", serveURL(ln.Addr()))
	return srv.serve(ctx, ln)
}

// clusterReader reads a group with groupstate.Read (conn may be nil:
// Kafka's side only).
func clusterReader(conn *zkwatch.Conn, client sarama.Client) uiReadFunc {
	return func(ctx context.Context, group string) (*groupstate.Status, error) {
		return groupstate.Read(ctx, conn, client, group)
	}
}

// clusterLister lists the groups as 'status --all' does.
func clusterLister(conn *zkwatch.Conn, client sarama.Client) uiListFunc {
	return func(ctx context.Context) ([]groupListEntry, []string, error) {
		return listGroups(ctx, conn, client, nil)
	}
}
