// Command member is one balanced consumer as a real OS process, for tests
// that kill members with SIGKILL. Every processed message is appended to the
// processing log file as "member topic partition offset startUnixNano
// endUnixNano" before it is marked, so a kill loses no record of work done.
//
// On stdout it prints "member-id <id>" at start, and after every change of
// what it owns "assigned [...]" (for OnAssigned) and "owned <unixnano>
// <topic:partition,...>" (the whole set, "-" for none).
package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/zkbalance/zkbalance/balanced"
	"github.com/zkbalance/zkbalance/scenario"
)

func main() {
	var (
		name     = flag.String("name", "member", "name in the processing log")
		zk       = flag.String("zookeeper", "", "ZooKeeper connect string")
		brokers  = flag.String("brokers", "", "comma-separated Kafka bootstrap addresses (default: the endpoints in /brokers/ids)")
		group    = flag.String("group", "", "group")
		topics   = flag.String("topics", "", "comma-separated topics")
		logPath  = flag.String("log", "", "processing log file (appended)")
		delay    = flag.Duration("delay", 0, "handler time per message")
		session  = flag.Duration("session-timeout", 6*time.Second, "ZooKeeper session timeout")
		assignor = flag.String("assignor", "", "assignor")
		coord    = flag.String("coordination", "", "Config.Coordination: zookeeper (default), kafka or follow")
		commit   = flag.Duration("commit-interval", 0, "Config.CommitInterval (default: the library's)")
		ksession = flag.Duration("kafka-session-timeout", 0, "Config.KafkaSessionTimeout in kafka and follow mode (default: the library's)")
		hbeat    = flag.Duration("heartbeat-interval", 0, "Config.HeartbeatInterval in kafka and follow mode (default: the library's)")
		profile  = flag.String("profile", "", "on SIGUSR1 write <profile>.heap.pb.gz, <profile>.heap.txt (with MemStats) and <profile>.goroutine.txt, then print \"profiled\"")
		cpuprof  = flag.String("cpuprofile", "", "on SIGUSR2 start a CPU profile; on the next SIGUSR2 (or at exit) write it to this file and print \"cpuprofiled\"")
		debug    = flag.Bool("debug", false, "log at debug level (stderr)")
	)
	flag.Parse()
	if *cpuprof != "" {
		stopCPU := cpuProfileOnSignal(*cpuprof)
		defer stopCPU()
	}
	if *profile != "" {
		// Sample every 4 KiB (the default, 512 KiB, hides small
		// per-partition objects); the bucket table grows by a few MiB.
		runtime.MemProfileRate = 4096
		usr1 := make(chan os.Signal, 1)
		signal.Notify(usr1, syscall.SIGUSR1)
		go func() { // lives as long as the process
			for range usr1 {
				writeProfiles(*profile)
			}
		}()
	}
	f, err := os.OpenFile(*logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		fmt.Fprintln(os.Stderr, "member:", err)
		os.Exit(1)
	}
	defer f.Close()
	var mu sync.Mutex
	level := slog.LevelInfo
	if *debug {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})).With("m", *name)
	var bootstrap []string
	if *brokers != "" {
		bootstrap = strings.Split(*brokers, ",")
	}
	// The moment the member starts (before balanced.New): a join is timed
	// from here, as the in-process benchmarks time it from balanced.New
	// (the process's exec and the Go runtime's start are not zkbalance's).
	fmt.Fprintf(os.Stdout, "start %d\n", time.Now().UnixNano())
	c, err := balanced.New(balanced.Config{
		Group: *group, Topics: strings.Split(*topics, ","), ZooKeeper: *zk, Brokers: bootstrap,
		SessionTimeout: *session, Assignor: *assignor, Logger: logger,
		Coordination: balanced.Coordination(*coord), CommitInterval: *commit,
		KafkaSessionTimeout: *ksession, HeartbeatInterval: *hbeat,
		Hooks: balanced.Hooks{
			OnAssigned: func(_ context.Context, tps []balanced.TopicPartition) {
				fmt.Fprintf(os.Stdout, "assigned %v\n", tps)
				owned.change(tps, true)
			},
			OnRevoked: func(_ context.Context, tps []balanced.TopicPartition) { owned.change(tps, false) },
			OnLost:    func(_ context.Context, tps []balanced.TopicPartition) { owned.change(tps, false) },
		},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "member:", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stdout, "member-id %s\n", c.MemberID())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err = c.Run(ctx, balanced.EachMessage(func(ctx context.Context, m *balanced.Message) error {
		start := time.Now()
		if *delay > 0 {
			select {
			case <-time.After(*delay):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		mu.Lock()
		defer mu.Unlock()
		r := scenario.Record{Member: *name, TP: balanced.TopicPartition{Topic: m.Topic, Partition: m.Partition},
			Offset: m.Offset, Start: start, End: time.Now()}
		_, err := fmt.Fprintln(f, r.Line())
		return err
	}))
	if err != nil {
		fmt.Fprintln(os.Stderr, "member:", err)
		os.Exit(1)
	}
}

// ownedSet is what the member owns, as its hooks (which the consumer
// serializes) report it.
type ownedSet map[balanced.TopicPartition]bool

var owned = ownedSet{}

// change adds or removes tps and prints the whole set as
// "owned <unixnano> <topic:partition,...>" ("-" for none), so that a
// benchmark can tell from outside when every member holds its share.
func (o ownedSet) change(tps []balanced.TopicPartition, add bool) {
	now := time.Now().UnixNano()
	for _, tp := range tps {
		if add {
			o[tp] = true
		} else {
			delete(o, tp)
		}
	}
	list := make([]balanced.TopicPartition, 0, len(o))
	for tp := range o {
		list = append(list, tp)
	}
	slices.SortFunc(list, func(a, b balanced.TopicPartition) int {
		return cmp.Or(strings.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
	})
	var b strings.Builder
	for i, tp := range list {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%s:%d", tp.Topic, tp.Partition)
	}
	if len(list) == 0 {
		b.WriteByte('-')
	}
	fmt.Fprintf(os.Stdout, "owned %d %s\n", now, b.String())
}

// writeProfiles writes a heap profile (binary and text, after a GC) and a
// goroutine profile next to prefix.
func writeProfiles(prefix string) {
	runtime.GC()
	for _, p := range []struct {
		name, suffix string
		debug        int
	}{{"heap", ".heap.pb.gz", 0}, {"heap", ".heap.txt", 1}, {"goroutine", ".goroutine.txt", 1}} {
		f, err := os.Create(prefix + p.suffix)
		if err != nil {
			fmt.Fprintln(os.Stderr, "member: profile:", err)
			return
		}
		_ = pprof.Lookup(p.name).WriteTo(f, p.debug)
		_ = f.Close()
	}
	fmt.Fprintln(os.Stdout, "profiled")
}

// cpuProfileOnSignal toggles a CPU profile into path on SIGUSR2 (so that a
// benchmark can profile one join of a settled member, not its start). The
// returned func writes a running profile out (at exit).
func cpuProfileOnSignal(path string) func() {
	var mu sync.Mutex
	var out *os.File
	stopProfile := func() {
		if out != nil {
			pprof.StopCPUProfile()
			_ = out.Close()
			out = nil
			fmt.Fprintln(os.Stdout, "cpuprofiled")
		}
	}
	usr2 := make(chan os.Signal, 1)
	signal.Notify(usr2, syscall.SIGUSR2)
	go func() { // lives as long as the process
		for range usr2 {
			mu.Lock()
			if out != nil {
				stopProfile()
			} else if f, err := os.Create(path); err != nil {
				fmt.Fprintln(os.Stderr, "member: cpuprofile:", err)
			} else if err := pprof.StartCPUProfile(f); err != nil {
				_ = f.Close()
				fmt.Fprintln(os.Stderr, "member: cpuprofile:", err)
			} else {
				out = f
			}
			mu.Unlock()
		}
	}()
	return func() {
		mu.Lock()
		defer mu.Unlock()
		stopProfile()
	}
}
