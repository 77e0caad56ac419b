package balanced_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/zkbalance/zkbalance/internal/cluster"
	"github.com/zkbalance/zkbalance/partition"
)

var (
	plainMemberOnce sync.Once
	plainMember     string
	plainMemberErr  error
)

// buildPlainMember builds test/member once, without the race detector (whose
// shadow memory would dwarf what is measured).
func buildPlainMember(b *testing.B) string {
	b.Helper()
	plainMemberOnce.Do(func() {
		dir, err := os.MkdirTemp("", "zkbalance-member-plain-")
		if err != nil {
			plainMemberErr = err
			return
		}
		plainMember = filepath.Join(dir, "member")
		out, err := exec.Command("go", "build", "-o", plainMember, "github.com/zkbalance/zkbalance/test/member").CombinedOutput()
		if err != nil {
			plainMemberErr = fmt.Errorf("build member: %v\n%s", err, out)
		}
	})
	if plainMemberErr != nil {
		b.Fatal(plainMemberErr)
	}
	return plainMember
}

// BenchmarkMemberRSS1000Partitions runs one member process that owns all
// 1000 partitions of a topic and reports its resident memory (VmRSS, MiB)
// after 10s of idle fetching ("idle-rss-MiB"), after consuming a burst of
// 100 1 KiB messages a partition ("rss-MiB"), and its peak ("hwm-MiB").
// Target: under 64 MiB. With ZKBALANCE_RSS_PROFILE=<dir>, the member writes
// heap and goroutine profiles there at both points (idle-*, burst-*).
func BenchmarkMemberRSS1000Partitions(b *testing.B) {
	cl := shared.Get(b)
	const (
		parts   = 1000
		perPart = 100
		idle    = 10 * time.Second
	)
	ctx := testCtx(b, 30*time.Minute)
	bin := buildPlainMember(b)
	topic := uniq(b, "rss")
	created := time.Now()
	if err := cl.CreateTopic(ctx, topic, parts, 1); err != nil {
		b.Fatal(err)
	}
	b.Logf("topic of %d partitions created in %s", parts, time.Since(created).Round(time.Millisecond))
	value := bytes.Repeat([]byte("0123456789abcdef"), 64)
	produced := 0
	var idleRSS, rss, hwm float64
	b.ResetTimer()
	for i := range b.N {
		group := uniq(b, "g-rss")
		dir := b.TempDir()
		p := startRSSMember(b, bin, group, topic, dir)
		t0 := time.Now()
		waitOwnsAll(b, p, group, topic, parts, 5*time.Minute)
		b.Logf("member owns all %d partitions %s after start", parts, time.Since(t0).Round(time.Millisecond))
		time.Sleep(idle)
		idleRSS = max(idleRSS, procStatusMiB(b, p.cmd.Process.Pid, "VmRSS"))
		p.profile(b, "idle")

		// Partition-major: a produce request then holds few, large batches,
		// so the burst lands much faster than the member consumes it.
		msgs := make([]cluster.Message, parts*perPart)
		for j := range msgs {
			msgs[j] = cluster.Message{Partition: int32(j / perPart), Value: value}
		}
		t1 := time.Now()
		if _, err := cl.Produce(ctx, topic, msgs); err != nil {
			b.Fatal(err)
		}
		tProduced := time.Since(t1)
		produced += len(msgs) // a new group reads every earlier burst too
		waitLogLines(b, p, filepath.Join(dir, "processing.log"), produced, 5*time.Minute)
		b.Logf("burst of %d produced in %s, consumed %s after its start", len(msgs), tProduced.Round(time.Millisecond), time.Since(t1).Round(time.Millisecond))
		rss = max(rss, procStatusMiB(b, p.cmd.Process.Pid, "VmRSS"))
		hwm = max(hwm, procStatusMiB(b, p.cmd.Process.Pid, "VmHWM"))
		p.profile(b, "burst")
		p.stop(b)
		if i == 0 {
			b.Logf("member: idle %.1f MiB, after the burst %.1f MiB, peak %.1f MiB", idleRSS, rss, hwm)
		}
	}
	b.StopTimer()
	b.ReportMetric(idleRSS, "idle-rss-MiB")
	b.ReportMetric(rss, "rss-MiB")
	b.ReportMetric(hwm, "hwm-MiB")
}

// rssMember is a test/member process whose stdout is read to the end.
type rssMember struct {
	id       string
	cmd      *exec.Cmd
	done     chan struct{}
	stderr   string
	once     sync.Once
	profDir  string
	profiled chan struct{} // a "profiled" line
}

func startRSSMember(b *testing.B, bin, group, topic, dir string) *rssMember {
	b.Helper()
	cl := shared.Get(b)
	stderrPath := filepath.Join(dir, "member.stderr")
	errf, err := os.Create(stderrPath)
	if err != nil {
		b.Fatal(err)
	}
	defer errf.Close()
	args := []string{"-name", "rss", "-zookeeper", cl.ZooKeeperAddr(), "-group", group, "-topics", topic,
		"-log", filepath.Join(dir, "processing.log")}
	profDir := os.Getenv("ZKBALANCE_RSS_PROFILE")
	if profDir != "" {
		args = append(args, "-profile", filepath.Join(profDir, "member"))
	}
	cmd := exec.Command(bin, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.Stderr = errf
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	p := &rssMember{cmd: cmd, done: make(chan struct{}), stderr: stderrPath, profDir: profDir, profiled: make(chan struct{}, 1)}
	ids := make(chan string, 1)
	go func() { // owned by the process: ends at its exit (stdout EOF)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(nil, 16<<20) // "assigned [...]" lists 1000 partitions
		for sc.Scan() {
			if id, ok := strings.CutPrefix(sc.Text(), "member-id "); ok {
				ids <- id
			} else if sc.Text() == "profiled" {
				p.profiled <- struct{}{}
			}
		}
		_, _ = io.Copy(io.Discard, stdout) // never block the member
	}()
	go func() { _ = cmd.Wait(); close(p.done) }()
	b.Cleanup(func() { p.stop(b) })
	select {
	case p.id = <-ids:
	case <-p.done:
		b.Fatalf("member process exited: %s", p.tail())
	case <-time.After(30 * time.Second):
		b.Fatalf("member process printed no id: %s", p.tail())
	}
	return p
}

// stop terminates the member (SIGTERM: a clean leave) and waits for it.
func (p *rssMember) stop(b *testing.B) {
	p.once.Do(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(60 * time.Second):
			b.Errorf("member process did not exit within 60s of SIGTERM; killing it")
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
}

// profile has the member write its profiles (if asked for) and names them
// after label.
func (p *rssMember) profile(b *testing.B, label string) {
	b.Helper()
	if p.profDir == "" {
		return
	}
	if err := p.cmd.Process.Signal(syscall.SIGUSR1); err != nil {
		b.Fatal(err)
	}
	select {
	case <-p.profiled:
	case <-time.After(30 * time.Second):
		b.Fatalf("member wrote no profile: %s", p.tail())
	}
	for _, suffix := range []string{".heap.pb.gz", ".heap.txt", ".goroutine.txt"} {
		if err := os.Rename(filepath.Join(p.profDir, "member"+suffix), filepath.Join(p.profDir, label+suffix)); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("profiles written to %s/%s.*", p.profDir, label)
}

// tail is the end of the member's stderr.
func (p *rssMember) tail() string {
	data, _ := os.ReadFile(p.stderr)
	if len(data) > 4000 {
		data = data[len(data)-4000:]
	}
	return string(data)
}

// waitOwnsAll waits until the member holds the owner znode of every partition.
func waitOwnsAll(b *testing.B, p *rssMember, group, topic string, parts int, d time.Duration) {
	b.Helper()
	ctx := testCtx(b, d)
	dir := "/consumers/" + group + "/owners/" + topic
	for {
		names, _, err := zkConn(b).Children(ctx, dir)
		if err == nil && len(names) == parts {
			break
		}
		select {
		case <-ctx.Done():
			b.Fatalf("member owns %d of %d partitions after %s (%v): %s", len(names), parts, d, err, p.tail())
		case <-p.done:
			b.Fatalf("member process exited: %s", p.tail())
		case <-time.After(200 * time.Millisecond):
		}
	}
	want := partition.ThreadID(p.id, 0)
	for tp, o := range ownership(b, group, topic) {
		if o != want {
			b.Fatalf("%s owned by %s, not the member", tp, o)
		}
	}
}

// waitLogLines waits until the processing log holds n records.
func waitLogLines(b *testing.B, p *rssMember, path string, n int, d time.Duration) {
	b.Helper()
	deadline := time.Now().Add(d)
	for {
		data, _ := os.ReadFile(path)
		got := bytes.Count(data, []byte{'\n'})
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("member processed %d of %d messages within %s: %s", got, n, d, p.tail())
		}
		select {
		case <-p.done:
			b.Fatalf("member process exited: %s", p.tail())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// procStatusMiB reads a kB field of /proc/<pid>/status, in MiB.
func procStatusMiB(b *testing.B, pid int, field string) float64 {
	b.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			if err != nil {
				b.Fatalf("%s: %v", line, err)
			}
			return kb / 1024
		}
	}
	b.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}
