package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/zkbalance/zkbalance/balanced"
)

// runConsume runs one balanced member and reports its assignment changes
// and throughput.
func runConsume(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("consume")
	cf := addClusterFlags(fs)
	group := fs.String("group", "", "consumer group id (required)")
	topics := fs.String("topics", "", "topics to consume, comma-separated (this or --pattern)")
	pattern := fs.String("pattern", "", "regular expression of the topics to consume (this or --topics)")
	assignor := fs.String("assignor", "", "partition assignor: scala-range, scala-roundrobin, pykafka-range, pykafka-roundrobin, sticky (default: scala-range, pykafka-range for --layout pykafka)")
	offsets := fs.String("offsets", "", "where offsets are kept: zookeeper, kafka or dual (default: zookeeper, kafka for --layout pykafka)")
	initial := fs.String("initial", "oldest", "where a partition without a stored offset starts: oldest or newest")
	layout := fs.String("layout", "scala", "ZooKeeper layout of the group: scala or pykafka")
	delay := fs.Duration("delay", 0, "time spent on each message, to simulate slow work")
	forDur := fs.Duration("for", 0, "leave the group and stop after this long (0: until Ctrl-C)")
	metricsAddr := fs.String("metrics-addr", "", `serve Prometheus metrics at http://HOST:PORT/metrics (e.g. "127.0.0.1:9100"; empty: don't)`)
	memberID := fs.String("member-id", "", "member id (default: generated)")
	jsonLog := fs.Bool("log-json", false, "log as JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	var initialOffset int64
	switch *initial {
	case "oldest":
		initialOffset = sarama.OffsetOldest
	case "newest":
		initialOffset = sarama.OffsetNewest
	default:
		return fmt.Errorf("%w: --initial must be oldest or newest (got %q)", errUsage, *initial)
	}
	if *delay < 0 || *forDur < 0 {
		return fmt.Errorf("%w: --delay and --for must not be negative", errUsage)
	}
	zookeeper, brokers, err := cf.resolve()
	if err != nil {
		return err
	}
	log := newLogger(*jsonLog, slog.LevelInfo)
	out := &lockedWriter{w: stdout}
	owned := &ownedSet{m: map[balanced.TopicPartition]bool{}}
	report := func(verb string, tps []balanced.TopicPartition) {
		names := make([]string, len(tps))
		for i, tp := range tps {
			names[i] = tp.String()
		}
		out.printf("%s %s %s\n", time.Now().Format(clockFormat), verb, strings.Join(names, ","))
	}
	cfg := balanced.Config{
		Group:         *group,
		Topics:        splitList(*topics),
		TopicPattern:  *pattern,
		ZooKeeper:     zookeeper,
		Brokers:       brokers,
		Layout:        balanced.Layout(*layout),
		MemberID:      *memberID,
		Assignor:      *assignor,
		Offsets:       balanced.OffsetStorage(*offsets),
		InitialOffset: initialOffset,
		Logger:        log,
		Hooks: balanced.Hooks{
			OnAssigned: func(_ context.Context, tps []balanced.TopicPartition) {
				owned.add(tps)
				report("assigned", tps)
			},
			OnRevoked: func(_ context.Context, tps []balanced.TopicPartition) {
				owned.remove(tps)
				report("revoked", tps)
			},
			OnLost: func(_ context.Context, tps []balanced.TopicPartition) {
				owned.remove(tps)
				report("lost", tps)
			},
		},
	}
	var reg *prometheus.Registry
	if *metricsAddr != "" {
		reg = prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		cfg.Registerer = reg
	}
	c, err := balanced.New(cfg)
	if err != nil {
		if errors.Is(err, balanced.ErrInvalidConfig) {
			return fmt.Errorf("%w: %w", errUsage, err)
		}
		return err
	}
	if reg != nil {
		stop, err := serveMetrics(*metricsAddr, reg, out, log)
		if err != nil {
			return err
		}
		defer stop()
	}

	if *forDur > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *forDur)
		defer cancel()
	}
	var total atomic.Int64
	h := balanced.EachMessage(func(ctx context.Context, _ *balanced.Message) error {
		if *delay > 0 {
			t := time.NewTimer(*delay)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return context.Cause(ctx) // not processed: not marked
			}
		}
		total.Add(1)
		return nil
	})
	log.Info("joining", "group", *group, "member", c.MemberID(), "zookeeper", zookeeper)
	start := time.Now()
	runErr := make(chan error, 1)
	go func() { runErr <- c.Run(ctx, h) }() // owned here: always received below
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	last := int64(0)
	for {
		select {
		case now := <-tick.C:
			n := total.Load()
			out.printf("%s %d msgs/s total=%d owned=%d\n", now.Format(clockFormat), n-last, n, owned.len())
			last = n
		case err := <-runErr:
			n := total.Load()
			elapsed := time.Since(start)
			out.printf("consumed %d messages in %s: %.0f msgs/s\n", n, elapsed.Round(time.Millisecond), perSecond(int(n), elapsed))
			return err
		}
	}
}

// serveMetrics serves reg at http://addr/metrics until the returned stop is
// called; the listener is open when it returns.
func serveMetrics(addr string, reg *prometheus.Registry, out *lockedWriter, log *slog.Logger) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics listener: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() { // owned by stop: ends when srv is shut down
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server", "err", err)
		}
	}()
	out.printf("metrics at http://%s/metrics\n", ln.Addr())
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			_ = srv.Close()
		}
		<-done
	}, nil
}

// splitList splits a comma-separated list, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// ownedSet tracks the partitions the hooks reported as held.
type ownedSet struct {
	mu sync.Mutex
	m  map[balanced.TopicPartition]bool
}

func (s *ownedSet) add(tps []balanced.TopicPartition) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, tp := range tps {
		s.m[tp] = true
	}
}

func (s *ownedSet) remove(tps []balanced.TopicPartition) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, tp := range tps {
		delete(s.m, tp)
	}
}

func (s *ownedSet) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}

// lockedWriter serializes whole lines from the hooks and the ticker.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) printf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, format, args...)
}
