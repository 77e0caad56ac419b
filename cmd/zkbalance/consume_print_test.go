package main

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

	"github.com/IBM/sarama"

	"github.com/zkbalance/zkbalance/groupstate"
	"github.com/zkbalance/zkbalance/internal/cluster"
	"github.com/zkbalance/zkbalance/internal/cmdtest"
	"github.com/zkbalance/zkbalance/zkwatch"
)

// fileProc is the binary running with its stdout going straight into a
// file (no pipe, no copying goroutine: what it wrote survives its kill -9).
type fileProc struct {
	cmd    *exec.Cmd
	stderr *syncBuffer
	done   chan struct{}
	err    error // cmd.Wait's result, set before done is closed
}

// startToFile starts the binary with args, appending its stdout to
// outPath; the test's cleanup kills it if it still runs.
func startToFile(t *testing.T, outPath string, args ...string) *fileProc {
	t.Helper()
	out, err := os.OpenFile(outPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close() // the child has its own copy
	cmd := exec.Command(zkbalanceBin(t), args...)
	cmd.Dir = t.TempDir()
	cmd.Env = cmdtest.Env()
	p := &fileProc{cmd: cmd, stderr: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = out, p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start zkbalance %v: %v", args, err)
	}
	go func() { // owned by the test: cleanup waits for it
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
	})
	return p
}

func (p *fileProc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// waitFor polls cond every 100 ms until it holds, the process exited or
// timeout passed; it reports whether cond held.
func (p *fileProc) waitFor(timeout time.Duration, cond func() bool) bool {
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if cond() {
			return true
		}
		if p.exited() {
			return cond()
		}
	}
	return false
}

// committedOffsets reads the group's effective committed offsets (the next
// offset to consume) through groupstate, as 'zkbalance status' does.
func committedOffsets(t *testing.T, ctx context.Context, conn *zkwatch.Conn, client sarama.Client, group string) map[int32]int64 {
	t.Helper()
	st, err := groupstate.Read(ctx, conn, client, group)
	if err != nil {
		t.Fatalf("read group %s: %v", group, err)
	}
	out := map[int32]int64{}
	for _, p := range st.Partitions {
		if p.Committed >= 0 {
			out[p.Partition] = p.Committed
		}
	}
	return out
}

// printedLines parses the "<topic> <partition> <offset> <key>" lines of
// path: how often each partition/offset was printed. A line that is not
// exactly what the message at that offset should give fails the test.
func printedLines(t *testing.T, path, topic string) map[[2]int64]int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[[2]int64]int{}
	if len(b) > 0 && b[len(b)-1] != '\n' {
		t.Errorf("%s ends in a partial line: %q", path, b[max(0, len(b)-80):])
	}
	for line := range strings.Lines(string(b)) {
		f := strings.Fields(line)
		if len(f) != 4 || f[0] != topic {
			t.Errorf("malformed line %q", line)
			continue
		}
		p, err1 := strconv.ParseInt(f[1], 10, 32)
		o, err2 := strconv.ParseInt(f[2], 10, 64)
		if err1 != nil || err2 != nil || f[3] != fmt.Sprintf("k-%d-%d", p, o) {
			t.Errorf("line %q: want <topic> <partition> <offset> k-<partition>-<offset>", line)
			continue
		}
		seen[[2]int64{p, o}]++
	}
	return seen
}

// TestConsumePrintKill9: 'consume --print' writes each message's line
// before the message is marked, so after a kill -9 every message below the
// group's committed offsets has its line in stdout (a file); a second
// member then finishes the topic, and together they printed every message.
func TestConsumePrintKill9(t *testing.T) {
	cl := shared.Get(t)
	ctx := stCtx(t, 8*time.Minute)
	topic, group := uniqueName("print"), uniqueName("print-group")
	const partitions, perPartition = 4, 400
	if err := cl.CreateTopic(ctx, topic, partitions, 1); err != nil {
		t.Fatal(err)
	}
	var msgs []cluster.Message
	for p := range int32(partitions) {
		for i := range perPartition {
			msgs = append(msgs, cluster.Message{Partition: p, Key: fmt.Appendf(nil, "k-%d-%d", p, i), Value: []byte("v")})
		}
	}
	if _, err := cl.Produce(ctx, topic, msgs); err != nil {
		t.Fatal(err)
	}
	outPath := filepath.Join(t.TempDir(), "printed.txt")
	countLines := func() int {
		b, _ := os.ReadFile(outPath)
		return bytes.Count(b, []byte{'\n'})
	}

	// 1. A member printing every message, slowly enough (10 ms each) to be
	// killed mid-way: once a quarter is printed and something is committed.
	args := cmdArgs(t, "consume", "--group", group, "--topics", topic, "--print", "--delay", "10ms")
	m1 := startToFile(t, outPath, args...)
	conn, client := stDial(t, ctx), stClient(t)
	zkCommitted := func() bool {
		for p := range partitions {
			if v, ok := stGet(t, ctx, conn, fmt.Sprintf("/consumers/%s/offsets/%s/%d", group, topic, p)); ok && v != "0" {
				return true
			}
		}
		return false
	}
	if !m1.waitFor(3*time.Minute, func() bool { return countLines() >= partitions*perPartition/4 && zkCommitted() }) {
		t.Fatalf("no quarter printed and committed in time (exited: %v, %d lines)\nstderr:\n%s", m1.exited(), countLines(), m1.stderr)
	}
	if err := m1.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-m1.done
	if ws, ok := m1.cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("member 1 was not killed by SIGKILL: %v\nstderr:\n%s", m1.err, m1.stderr)
	}
	if !strings.Contains(m1.stderr.String(), " assigned ") {
		t.Errorf("--print: the assignment lines are not on stderr:\n%s", m1.stderr)
	}

	// Every message below the committed offsets has its line.
	committed := committedOffsets(t, ctx, conn, client, group)
	printed := printedLines(t, outPath, topic)
	total, linesAtKill := int64(0), countLines()
	for p := range int64(partitions) {
		c := committed[int32(p)]
		total += c
		for o := range c {
			if printed[[2]int64{p, o}] == 0 {
				t.Errorf("%s/%d offset %d is committed (next %d) but its line is not in stdout", topic, p, o, c)
			}
		}
	}
	t.Logf("killed after %d lines; committed %v (%d messages)", linesAtKill, committed, total)
	if total == 0 || total >= partitions*perPartition {
		t.Fatalf("committed %d of %d messages at the kill: want some but not all", total, partitions*perPartition)
	}
	if int64(linesAtKill) < total {
		t.Errorf("%d lines printed but %d messages committed", linesAtKill, total)
	}

	// 2. A second member takes over (once the killed one's session expired)
	// and finishes: together every message was printed, at least once.
	args = cmdArgs(t, "consume", "--group", group, "--topics", topic, "--print")
	m2 := startToFile(t, outPath, args...)
	done := func() bool {
		c := committedOffsets(t, ctx, conn, client, group)
		for p := range int32(partitions) {
			if c[p] != perPartition {
				return false
			}
		}
		return true
	}
	if !m2.waitFor(3*time.Minute, done) {
		t.Fatalf("member 2 did not commit everything (exited: %v)\nstderr:\n%s", m2.exited(), m2.stderr)
	}
	if err := m2.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	<-m2.done
	if m2.err != nil {
		t.Errorf("member 2 after SIGTERM: %v\nstderr:\n%s", m2.err, m2.stderr)
	}
	printed = printedLines(t, outPath, topic)
	dups := 0
	for p := range int64(partitions) {
		for o := range int64(perPartition) {
			switch n := printed[[2]int64{p, o}]; {
			case n == 0:
				t.Errorf("%s/%d offset %d never printed", topic, p, o)
			case n > 1:
				dups += n - 1
			}
		}
	}
	t.Logf("after the takeover: %d lines, %d printed twice (after the last commit before the kill)", countLines(), dups)
	if int64(dups) > int64(linesAtKill)-total {
		t.Errorf("%d messages printed again, but only %d were printed and not committed at the kill", dups, int64(linesAtKill)-total)
	}
}

// TestConsumePrintFormat: --format writes every kcat field and escape
// exactly, including a null key, headers and the record timestamp.
func TestConsumePrintFormat(t *testing.T) {
	cl := shared.Get(t)
	ctx := stCtx(t, 5*time.Minute)
	topic, group := uniqueName("format"), uniqueName("format-group")
	if err := cl.CreateTopic(ctx, topic, 2, 1); err != nil {
		t.Fatal(err)
	}
	sc := sarama.NewConfig()
	sc.Version = sarama.V2_1_0_0
	sc.Producer.Return.Successes = true
	sc.Producer.RequiredAcks = sarama.WaitForAll
	sc.Producer.Partitioner = sarama.NewManualPartitioner
	prod, err := sarama.NewSyncProducer(cl.BrokerAddrs(), sc)
	if err != nil {
		t.Fatal(err)
	}
	ts := time.UnixMilli(1700000000123)
	err = prod.SendMessages([]*sarama.ProducerMessage{
		{Topic: topic, Partition: 0, Key: sarama.StringEncoder("alpha"), Value: sarama.StringEncoder("one"), Timestamp: ts,
			Headers: []sarama.RecordHeader{{Key: []byte("h1"), Value: []byte("x")}, {Key: []byte("h2"), Value: []byte("")}}},
		{Topic: topic, Partition: 0, Value: sarama.StringEncoder("no key"), Timestamp: ts.Add(time.Millisecond)},
		{Topic: topic, Partition: 1, Key: sarama.StringEncoder("b"), Value: sarama.StringEncoder(""), Timestamp: ts.Add(2 * time.Millisecond)},
	})
	_ = prod.Close()
	if err != nil {
		t.Fatal(err)
	}

	outPath := filepath.Join(t.TempDir(), "formatted.txt")
	p := startToFile(t, outPath, cmdArgs(t, "consume", "--group", group, "--topics", topic,
		"--format", `%t|%p|%o|%k|%s|%K|%S|%T|%h\t100%%\\\n`)...)
	want := []string{
		fmt.Sprintf("%s|0|0|alpha|one|5|3|1700000000123|h1=x,h2=\t100%%\\", topic),
		fmt.Sprintf("%s|0|1||no key|-1|6|1700000000124|\t100%%\\", topic),
		fmt.Sprintf("%s|1|0|b||1|0|1700000000125|\t100%%\\", topic),
	}
	read := func() []string {
		b, _ := os.ReadFile(outPath)
		return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	}
	if !p.waitFor(2*time.Minute, func() bool { return len(read()) >= len(want) }) {
		t.Fatalf("not all lines printed (exited %v): %q\nstderr:\n%s", p.exited(), read(), p.stderr)
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	<-p.done
	if p.err != nil {
		t.Errorf("after SIGTERM: %v\nstderr:\n%s", p.err, p.stderr)
	}
	got := read()
	// Partitions are consumed concurrently: compare per partition, in order.
	byPartition := func(lines []string) map[string][]string {
		m := map[string][]string{}
		for _, l := range lines {
			f := strings.SplitN(l, "|", 3)
			if len(f) < 3 {
				m["?"] = append(m["?"], l)
				continue
			}
			m[f[1]] = append(m[f[1]], l)
		}
		return m
	}
	g, w := byPartition(got), byPartition(want)
	if fmt.Sprint(g) != fmt.Sprint(w) || len(got) != len(want) {
		t.Errorf("printed\n%q\nwant (per partition in order)\n%q", got, want)
	}
}
