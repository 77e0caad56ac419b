package bench_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zkbalance/zkbalance/internal/cluster"
	"github.com/zkbalance/zkbalance/test/bench"
)

// cpuContenders are the contenders of the CPU rows: Go consumers, each in
// its own process (test/bench/consumer).
var cpuContenders = []struct{ column, flag string }{
	{bench.ZKBalance, "zkbalance"},
	{bench.RawSarama, "raw"},
	{bench.SaramaGroup, "group"},
}

// buildConsumer builds test/bench/consumer without the race detector.
func buildConsumer(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "consumer")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/zkbalance/zkbalance/test/bench/consumer")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build test/bench/consumer: %v\n%s", err, out)
	}
	return bin, nil
}

// cpuProfileRuns numbers the CPU profiles of -bench.cpu-profile.
var cpuProfileRuns int

// consumerRun is what one consumer process used.
type consumerRun struct {
	cpu     time.Duration
	seconds float64 // first message to last, as it timed itself
	peakMiB float64
}

// runConsumer runs the consumer binary to the end and reads its rusage.
func runConsumer(ctx context.Context, cl *cluster.Cluster, bin, dir, contender, topic string, parts, count int) (consumerRun, error) {
	cmd := exec.CommandContext(ctx, bin, "-contender", contender, "-zookeeper", cl.ZooKeeperAddr(),
		"-brokers", strings.Join(cl.BrokerAddrs(), ","), "-topic", topic, "-partitions", strconv.Itoa(parts),
		"-count", strconv.Itoa(count), "-group", uniq("g-cpu-"+contender))
	if *flagCPUProfile != "" {
		cpuProfileRuns++
		cmd.Args = append(cmd.Args, "-cpuprofile", filepath.Join(*flagCPUProfile, fmt.Sprintf("%s-%d.cpu.pb.gz", contender, cpuProfileRuns)))
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		_ = os.WriteFile(filepath.Join(dir, contender+".stderr"), stderr.Bytes(), 0o644)
		return consumerRun{}, fmt.Errorf("%s: %v: %s", contender, err, lastLine(stderr.String()))
	}
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		return consumerRun{}, fmt.Errorf("%s: no rusage", contender)
	}
	// Not ru_maxrss: on Linux it keeps the high-water mark of the address
	// space the child had before exec, a copy of the test process's.
	run := consumerRun{cpu: time.Duration(ru.Utime.Nano() + ru.Stime.Nano())}
	for line := range strings.SplitSeq(stdout.String(), "\n") {
		if v, ok := strings.CutPrefix(line, "done "); ok {
			run.seconds, _ = strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
		if v, ok := strings.CutPrefix(line, "hwm "); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
			run.peakMiB = kb / 1024
		}
	}
	if run.peakMiB == 0 {
		return run, fmt.Errorf("%s: no hwm line on stdout", contender)
	}
	return run, nil
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// produceSpread creates a topic of parts partitions and writes perPart
// 1 KiB messages to each, partition-major within chunks.
func produceSpread(ctx context.Context, cl *cluster.Cluster, prefix string, parts, perPart int) (string, error) {
	topic, err := createTopic(ctx, cl, prefix, parts)
	if err != nil {
		return "", err
	}
	value := bytes.Repeat([]byte("x"), messageBytes)
	const chunk = 20_000
	total := parts * perPart
	for done := 0; done < total; done += chunk {
		msgs := make([]cluster.Message, min(chunk, total-done))
		for i := range msgs {
			msgs[i] = cluster.Message{Partition: int32((done + i) % parts), Value: value}
		}
		if _, err := cl.Produce(ctx, topic, msgs); err != nil {
			return "", err
		}
	}
	return topic, nil
}

// runCPU measures the CPU time of zkbalance, raw sarama and sarama's
// ConsumerGroup, each in its own process, reading the same topic, rounds
// interleaved; then one zkbalance process catching up a backlog spread
// over many partitions, for its peak RSS.
func (r *run) runCPU(t *testing.T) {
	s := r.sizes
	dir := t.TempDir()
	bctx, cancel := context.WithTimeout(r.ctx, 5*time.Minute)
	bin, err := buildConsumer(bctx, dir)
	cancel()
	r.report.CPU = bench.CPU{Messages: s.cpuMessages, Partitions: tputPartitions, MessageBytes: messageBytes}
	if err != nil {
		r.report.CPU.Err = err.Error()
		return
	}
	pctx, cancel := context.WithTimeout(r.ctx, 30*time.Minute)
	t0 := time.Now()
	topic, err := produceSpread(pctx, r.cl, "cpu", tputPartitions, s.cpuMessages/tputPartitions)
	cancel()
	r.report.CPU.Messages = s.cpuMessages / tputPartitions * tputPartitions
	if err != nil {
		r.report.CPU.Err = "produce: " + err.Error()
		return
	}
	t.Logf("cpu: %d x %d B produced in %s", r.report.CPU.Messages, messageBytes, time.Since(t0).Round(time.Millisecond))
	bound := 2*time.Minute + time.Duration(s.cpuMessages/2000)*time.Second
	for round := range s.cpuRounds {
		for _, c := range cpuContenders {
			if c.column == bench.SaramaGroup && !*flagSaramaGroup {
				continue
			}
			cctx, cancel := context.WithTimeout(r.ctx, bound)
			run, err := runConsumer(cctx, r.cl, bin, dir, c.flag, topic, tputPartitions, r.report.CPU.Messages)
			cancel()
			x := bench.CPURun{Contender: c.column, Round: round, CPU: run.cpu, Seconds: run.seconds, PeakMiB: run.peakMiB}
			if err != nil {
				x.Err = err.Error()
				t.Errorf("cpu %s, round %d: %v", c.column, round, err)
			}
			t.Logf("cpu %s, round %d: %s CPU (%.2f s per million), %.1f s, peak RSS %.1f MiB", c.column, round,
				run.cpu.Round(time.Millisecond), run.cpu.Seconds()*1e6/float64(r.report.CPU.Messages), run.seconds, run.peakMiB)
			r.report.CPU.Runs = append(r.report.CPU.Runs, x)
		}
	}

	messages := s.backlogParts * s.backlogPerPart
	pctx, cancel = context.WithTimeout(r.ctx, 30*time.Minute)
	t0 = time.Now()
	btopic, err := produceSpread(pctx, r.cl, "backlog", s.backlogParts, s.backlogPerPart)
	cancel()
	backlog := func(round int) bench.Backlog {
		return bench.Backlog{Round: round, Partitions: s.backlogParts, Messages: messages, Bytes: int64(messages) * messageBytes}
	}
	if err != nil {
		bl := backlog(0)
		bl.Err = "produce: " + err.Error()
		t.Errorf("backlog: %v", err)
		r.report.Backlog = append(r.report.Backlog, bl)
		return
	}
	t.Logf("backlog: %d x %d B over %d partitions produced in %s", messages, messageBytes, s.backlogParts, time.Since(t0).Round(time.Millisecond))
	for round := range s.backlogRounds {
		// Each round a new group (runConsumer), from the oldest offset.
		bl := backlog(round)
		cctx, cancel := context.WithTimeout(r.ctx, 2*time.Minute+time.Duration(bl.Messages/2000)*time.Second)
		run, err := runConsumer(cctx, r.cl, bin, dir, "zkbalance", btopic, bl.Partitions, bl.Messages)
		cancel()
		bl.Seconds, bl.CPU, bl.PeakMiB = run.seconds, run.cpu, run.peakMiB
		if err != nil {
			bl.Err = err.Error()
			t.Errorf("backlog, round %d: %v", round, err)
		} else {
			t.Logf("backlog, round %d: read in %.1f s, %s CPU, peak RSS %.1f MiB", round, run.seconds, run.cpu.Round(time.Millisecond), run.peakMiB)
		}
		r.report.Backlog = append(r.report.Backlog, bl)
	}
}

func (r *run) cpuMethod() []string {
	s := r.sizes
	return []string{
		fmt.Sprintf("One topic of %d partitions with %s messages of %d B; in each of %d round(s) zkbalance, raw sarama and sarama's ConsumerGroup, in that order, each start "+
			"their own process (test/bench/consumer, built without the race detector) that reads the topic from the oldest offset, stops at the last message and exits "+
			"(zkbalance and the ConsumerGroup leave their group cleanly, committing). CPU = the child's user + system time from getrusage, start-up and leave included; "+
			"peak RSS = its VmHWM, which it reads from /proc/self/status as it exits.", tputPartitions, strconv.Itoa(s.cpuMessages), messageBytes, s.cpuRounds),
		"Wall-clock rates swing ±40 % between rounds on this shared 2-core machine (the brokers run on it too); CPU time swings much less, so the goal is judged " +
			"on the median of zkbalance's CPU over raw sarama's within each round.",
		fmt.Sprintf("Backlog: a topic of %d partitions with %d messages of %d B each (%s in all), read from the oldest offset by one zkbalance member process "+
			"(defaults: Fetch.Default 1 MiB per partition, Fetch.MaxBytes 8 MiB for the responses it holds and the requests in flight together); its peak RSS, "+
			"in each of %d round(s) (a new group each, from the oldest offset), judged on the median.", s.backlogParts, s.backlogPerPart, messageBytes,
			fmt.Sprintf("%.0f MiB", float64(s.backlogParts*s.backlogPerPart*messageBytes)/(1<<20)), s.backlogRounds),
	}
}
