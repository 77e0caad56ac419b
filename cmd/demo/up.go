package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/zkbalance/zkbalance/test/cluster"
	"github.com/zkbalance/zkbalance/zkwatch"
)

func runUp(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("up")
	brokers := fs.Int("brokers", 1, "number of Kafka brokers")
	chroot := fs.String("chroot", "", `ZooKeeper chroot for Kafka, e.g. "/kafka"`)
	topic := fs.String("topic", "demo", "topic to create (empty: none)")
	partitions := fs.Int("partitions", 8, "partitions of --topic")
	replication := fs.Int("replication", 1, "replication factor of --topic")
	forDur := fs.Duration("for", 0, "stop after this long (0: until Ctrl-C)")
	envFile := fs.String("env-file", ".zkbalance.env", "write the addresses here for other commands (empty: don't)")
	jsonLog := fs.Bool("log-json", false, "log as JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *brokers < 1 || *partitions < 1 || *replication < 1 || *replication > *brokers {
		return fmt.Errorf("%w: need brokers >= 1, partitions >= 1 and 1 <= replication <= brokers", errUsage)
	}
	log := newLogger(*jsonLog, slog.LevelInfo)
	start := time.Now()
	cl, err := cluster.Start(ctx, cluster.Config{Brokers: *brokers, Chroot: *chroot, Logger: log})
	if err != nil {
		return err
	}
	defer func() {
		log.Info("shutting down")
		cl.Close()
		if *envFile != "" {
			_ = os.Remove(*envFile)
		}
	}()
	log.Info("cluster started", "took", time.Since(start).Round(time.Millisecond), "dir", cl.Dir())
	if *topic != "" {
		if err := cl.CreateTopic(ctx, *topic, int32(*partitions), int16(*replication)); err != nil {
			return err
		}
	}
	zkConnect := cl.KafkaZooKeeperConnect()
	fmt.Fprintf(stdout, "ZOOKEEPER=%s\nKAFKA_ZOOKEEPER_CONNECT=%s\nBROKERS=%s\n",
		cl.ZooKeeperAddr(), zkConnect, strings.Join(cl.BrokerAddrs(), ","))
	if *envFile != "" {
		env := fmt.Sprintf("ZOOKEEPER=%s\nKAFKA_ZOOKEEPER_CONNECT=%s\nBROKERS=%s\nPID=%d\n",
			cl.ZooKeeperAddr(), zkConnect, strings.Join(cl.BrokerAddrs(), ","), os.Getpid())
		if err := os.WriteFile(*envFile, []byte(env), 0o644); err != nil {
			return fmt.Errorf("write %s: %w", *envFile, err)
		}
	}
	if err := printSummary(ctx, stdout, zkConnect, log); err != nil {
		return err
	}
	var timeout <-chan time.Time
	if *forDur > 0 {
		timeout = time.After(*forDur)
		log.Info("running", "for", *forDur)
	} else {
		log.Info("running until Ctrl-C")
	}
	select {
	case <-ctx.Done():
	case <-timeout:
	}
	return nil
}

// printSummary reads the broker and topic registry through zkwatch.
func printSummary(ctx context.Context, w io.Writer, servers string, log *slog.Logger) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, err := zkwatch.Dial(ctx, zkwatch.Config{Servers: servers, Logger: log})
	if err != nil {
		return err
	}
	defer conn.Close()
	brokers, err := conn.ReadBrokers(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\nBROKER\tENDPOINT\tVERSION\tREGISTERED")
	for _, b := range brokers {
		ep, err := b.Endpoint("", "PLAINTEXT")
		if err != nil {
			return err
		}
		fmt.Fprintf(tw, "%d\t%s\tv%d\t%s\n", b.ID, ep.Addr(), b.Version, b.Timestamp.Format(time.RFC3339))
	}
	names, err := conn.ReadTopicNames(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintln(tw, "\nTOPIC\tPARTITION\tLEADER\tREPLICAS\tISR")
	for _, name := range names {
		t, err := conn.ReadTopic(ctx, name)
		if err != nil {
			return err
		}
		for _, p := range t.PartitionIDs() {
			st, err := conn.ReadPartitionState(ctx, name, p)
			if err != nil {
				return err
			}
			fmt.Fprintf(tw, "%s\t%d\t%d\t%v\t%v\n", name, p, st.Leader, t.Partitions[p], st.ISR)
		}
	}
	return tw.Flush()
}
