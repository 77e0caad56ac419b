package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/zkbalance/zkbalance/internal/cli"
	"github.com/zkbalance/zkbalance/internal/cluster"
	"github.com/zkbalance/zkbalance/zkwatch"
)

// upHelp is the --help of 'demo up'.
var upHelp = cli.Help{
	Usage: "demo up [--broker-count N | --kraft] [--topic T --partitions P] [--detach | --for D] [flags]",
	Description: `Starts a real ZooKeeper and --broker-count Kafka brokers
(` + cli.TestedAgainst + `) on free loopback
ports in a temp dir, from jars resolved with Maven into
$ZKBALANCE_CACHE (default ~/.cache/zkbalance) on first use; creates --topic;
prints the addresses (ZOOKEEPER, KAFKA_ZOOKEEPER_CONNECT with the chroot,
BROKERS) and the brokers and topics registered; writes the addresses and its
PID to --env-file, where 'demo scenario', 'demo down' and the zkbalance
binary find them; then runs until Ctrl-C, SIGTERM or --for, and removes the
cluster and the env file.

--detach starts the same in the background (own session, output in
--log-file) and returns once the cluster is up; 'demo down' stops it.

--kraft starts Apache Kafka ` + cluster.KafkaVersionKRaft + ` in KRaft mode instead: one node that is
broker and controller, no ZooKeeper (so no --chroot, --broker-count 1, and no
ZOOKEEPER in the output or the env file, which holds BROKERS and the PID).`,
	Examples: `demo up --detach --broker-count 3     # in the background; then: zkbalance status --all; demo down
demo up --topic orders --partitions 16 --for 10m
demo up --chroot /kafka --env-file ""
demo up --kraft --topic orders --for 10m  # Kafka 4, no ZooKeeper`,
}

func runUp(ctx context.Context, fs *flag.FlagSet, args []string, stdout io.Writer) error {
	brokers := fs.Int("broker-count", 1, "number of Kafka brokers")
	chroot := fs.String("chroot", "", `ZooKeeper chroot for Kafka, e.g. "/kafka"`)
	topic := fs.String("topic", "demo", "topic to create (empty: none)")
	partitions := fs.Int("partitions", 8, "partitions of --topic")
	replication := fs.Int("replication", 1, "replication factor of --topic")
	forDur := fs.Duration("for", 0, "stop after this long (0: until Ctrl-C)")
	envFile := fs.String("env-file", cli.DefaultEnvFile, "write the addresses and the PID here for the other commands (empty: don't)")
	common := cli.AddCommonFlags(fs, 5*time.Minute, "how long the cluster may take to come up (with --detach: the background one)")
	detach := fs.Bool("detach", false, "run in the background (own session, output to --log-file), return once the cluster is up; stop it with 'demo down'")
	logFile := fs.String("log-file", ".zkbalance.log", "with --detach: where the background process writes its output")
	kraft := fs.Bool("kraft", false, "start Kafka "+cluster.KafkaVersionKRaft+" in KRaft mode (one node, no ZooKeeper) instead of ZooKeeper + Kafka "+cluster.KafkaVersionZooKeeper)
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	if *brokers < 1 || *partitions < 1 || *replication < 1 || *replication > *brokers {
		return cli.Usagef("need --broker-count >= 1, --partitions >= 1 and 1 <= --replication <= --broker-count")
	}
	if *kraft && (*brokers != 1 || *chroot != "") {
		return cli.Usagef("--kraft runs one Kafka node without ZooKeeper: no --broker-count above 1, no --chroot")
	}
	log := common.Logger(slog.LevelInfo)
	if *detach {
		if *envFile == "" || *logFile == "" {
			return cli.Usagef("--detach needs --env-file and --log-file")
		}
		var childArgs []string
		fs.Visit(func(f *flag.Flag) {
			switch f.Name {
			case "detach", "log-file", "env-file":
			default:
				childArgs = append(childArgs, "--"+f.Name+"="+f.Value.String())
			}
		})
		return upDetached(ctx, childArgs, *envFile, *logFile, common.Timeout(), stdout, log)
	}
	start := time.Now()
	cl, err := cluster.Start(ctx, cluster.Config{Brokers: *brokers, Chroot: *chroot, KRaft: *kraft, StartTimeout: common.Timeout(), Logger: log})
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
	log.Info("cluster started", "kafka", cl.KafkaVersion(), "took", time.Since(start).Round(time.Millisecond), "dir", cl.Dir())
	if *topic != "" {
		if err := cl.CreateTopic(ctx, *topic, int32(*partitions), int16(*replication)); err != nil {
			return err
		}
	}
	if !cl.HasZooKeeper() {
		if err := writeKRaftEnv(stdout, cl, *envFile); err != nil {
			return err
		}
		return runUntil(ctx, *forDur, log)
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
	return runUntil(ctx, *forDur, log)
}

// writeKRaftEnv prints the address of a KRaft cluster (it has no
// ZooKeeper) and writes it and the PID to envFile (unless "").
func writeKRaftEnv(stdout io.Writer, cl *cluster.Cluster, envFile string) error {
	brokers := strings.Join(cl.BrokerAddrs(), ",")
	fmt.Fprintf(stdout, "BROKERS=%s\nKAFKA_VERSION=%s\n", brokers, cl.KafkaVersion())
	if envFile == "" {
		return nil
	}
	env := fmt.Sprintf("BROKERS=%s\nKAFKA_VERSION=%s\nPID=%d\n", brokers, cl.KafkaVersion(), os.Getpid())
	if err := os.WriteFile(envFile, []byte(env), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", envFile, err)
	}
	return nil
}

// runUntil waits for ctx (Ctrl-C, SIGTERM) or, when forDur > 0, forDur.
func runUntil(ctx context.Context, forDur time.Duration, log *slog.Logger) error {
	var timeout <-chan time.Time
	if forDur > 0 {
		timeout = time.After(forDur)
		log.Info("running", "for", forDur)
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

// upDetached starts 'demo up <childArgs>' again in a new session with its
// output in logFile, and waits until it wrote envFile with its own PID (then
// prints the addresses and returns, leaving it running) or until it died or
// startTimeout passed (then it fails with the log's last lines on stderr).
func upDetached(ctx context.Context, childArgs []string, envFile, logFile string, startTimeout time.Duration, stdout io.Writer, log *slog.Logger) error {
	if pid, err := envPID(envFile); err == nil {
		alive, aerr := demoUpAlive(pid)
		if aerr != nil {
			return aerr
		}
		if alive {
			return fmt.Errorf("demo up is already running (pid %d, %s): run 'demo down' first", pid, envFile)
		}
		log.Warn("removing stale env file", "env_file", envFile, "pid", pid)
		if err := os.Remove(envFile); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	// Absolute paths, so that the child and the messages agree whatever the
	// working directory.
	envAbs, err := filepath.Abs(envFile)
	if err != nil {
		return err
	}
	logAbs, err := filepath.Abs(logFile)
	if err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find own executable: %w", err)
	}
	out, err := os.OpenFile(logAbs, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("open log file: %w", err)
	}
	defer out.Close() // the child has its own copy
	args := append([]string{"up"}, childArgs...)
	args = append(args, "--env-file="+envAbs)
	cmd := exec.Command(self, args...)
	cmd.Stdout, cmd.Stderr = out, out // *os.File: no copying goroutines
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start background demo up: %w", err)
	}
	pid := cmd.Process.Pid
	log.Info("started demo up in the background; waiting for the cluster", "pid", pid, "log", logFile)

	// Poll instead of cmd.Wait: on success the child must outlive us, and no
	// goroutine may be left waiting on it.
	exited := func() (syscall.WaitStatus, bool) {
		var ws syscall.WaitStatus
		wpid, err := syscall.Wait4(pid, &ws, syscall.WNOHANG, nil)
		return ws, wpid == pid || errors.Is(err, syscall.ECHILD)
	}
	stopChild := func() {
		_ = syscall.Kill(pid, syscall.SIGTERM)
		for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			if _, done := exited(); done {
				return
			}
		}
		_ = syscall.Kill(pid, syscall.SIGKILL)
		_, _ = syscall.Wait4(pid, nil, 0, nil)
	}
	timeout := time.NewTimer(startTimeout)
	defer timeout.Stop()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		if p, err := envPID(envAbs); err == nil && p == pid {
			break
		}
		if ws, done := exited(); done {
			printLogTail(logAbs, 20)
			return fmt.Errorf("background demo up exited (%s) before the cluster was up; see %s", exitReason(ws), logFile)
		}
		select {
		case <-tick.C:
			continue
		case <-timeout.C:
			stopChild()
			printLogTail(logAbs, 20)
			return fmt.Errorf("background demo up not ready within %s; stopped it; see %s", startTimeout, logFile)
		case <-ctx.Done():
			stopChild()
			return errors.New("interrupted; stopped the background demo up")
		}
	}
	env, err := os.ReadFile(envAbs)
	if err != nil {
		return err
	}
	_ = cmd.Process.Release()
	if _, err := stdout.Write(env); err != nil {
		return err
	}
	log.Info("demo up is running in the background", "pid", pid, "log", logFile, "env_file", envFile, "stop", "demo down")
	return nil
}

func exitReason(ws syscall.WaitStatus) string {
	if ws.Signaled() {
		return "signal " + ws.Signal().String()
	}
	return fmt.Sprintf("status %d", ws.ExitStatus())
}

// printLogTail copies the last n lines of path to stderr, indented.
func printLogTail(path string, n int) {
	b, err := os.ReadFile(path)
	if err != nil {
		return
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	fmt.Fprintf(os.Stderr, "last lines of %s:\n", path)
	for _, l := range lines {
		fmt.Fprintln(os.Stderr, "  | "+l)
	}
}
