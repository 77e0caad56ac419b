package bench_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zkbalance/zkbalance/internal/cluster"
	"github.com/zkbalance/zkbalance/internal/pykafka"
	"github.com/zkbalance/zkbalance/partition"
	"github.com/zkbalance/zkbalance/test/bench"
)

// buildMember builds test/member without the race detector (whose shadow
// memory would dwarf what is measured).
func buildMember(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "member")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/zkbalance/zkbalance/test/member")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build test/member: %v\n%s", err, out)
	}
	return bin, nil
}

// procStatusMiB reads a kB field of /proc/<pid>/status, in MiB.
func procStatusMiB(pid int, field string) (float64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			if err != nil {
				return 0, fmt.Errorf("%s: %w", line, err)
			}
			return kb / 1024, nil
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}

// memberProc is a test/member process.
type memberProc struct {
	cmd      *exec.Cmd
	id       chan string
	profiled chan struct{} // a "profiled" line was read
	done     chan struct{}
	stderr   string
}

// profile makes the member write its profiles (it must run with -profile)
// and waits until it has.
func (p *memberProc) profile(ctx context.Context) error {
	if err := p.cmd.Process.Signal(syscall.SIGUSR1); err != nil {
		return err
	}
	select {
	case <-p.profiled:
		return nil
	case <-p.done:
		return fmt.Errorf("member exited: %s", p.tail())
	case <-ctx.Done():
		return fmt.Errorf("member wrote no profile: %w", ctx.Err())
	}
}

func startMemberProc(cl *cluster.Cluster, bin, group, topic, dir string, extra ...string) (*memberProc, error) {
	stderrPath := filepath.Join(dir, "member.stderr")
	errf, err := os.Create(stderrPath)
	if err != nil {
		return nil, err
	}
	defer errf.Close()
	cmd := exec.Command(bin, "-name", "rss", "-zookeeper", cl.ZooKeeperAddr(), "-group", group, "-topics", topic,
		"-log", filepath.Join(dir, "processing.log"))
	cmd.Args = append(cmd.Args, extra...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.Stderr = errf
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &memberProc{cmd: cmd, id: make(chan string, 1), profiled: make(chan struct{}, 1), done: make(chan struct{}), stderr: stderrPath}
	go func() { // owned by the process: ends at its exit (stdout EOF), then reaps it
		defer close(p.done)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(nil, 16<<20) // "assigned [...]" lists every partition
		for sc.Scan() {
			if id, ok := strings.CutPrefix(sc.Text(), "member-id "); ok {
				p.id <- id
			}
			if sc.Text() == "profiled" {
				select {
				case p.profiled <- struct{}{}:
				default:
				}
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
		_ = cmd.Wait()
	}()
	return p, nil
}

func (p *memberProc) tail() string {
	data, _ := os.ReadFile(p.stderr)
	if len(data) > 3000 {
		data = data[len(data)-3000:]
	}
	return string(data)
}

// stop sends SIGTERM (a clean leave) and waits; SIGKILL when ctx ends.
func (p *memberProc) stop(ctx context.Context) {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-ctx.Done():
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// burst writes perPart 1 KiB messages to every partition, partition-major
// (a produce request then holds few, large batches).
func burst(ctx context.Context, cl *cluster.Cluster, topic string, parts, perPart int) error {
	value := bytes.Repeat([]byte("0123456789abcdef"), messageBytes/16)
	msgs := make([]cluster.Message, parts*perPart)
	for j := range msgs {
		msgs[j] = cluster.Message{Partition: int32(j / perPart), Value: value}
	}
	_, err := cl.Produce(ctx, topic, msgs)
	return err
}

// poll calls ok every interval until it is true or ctx ends.
func poll(ctx context.Context, interval time.Duration, ok func() (bool, error)) error {
	for {
		done, err := ok()
		if err != nil {
			return err
		}
		if done {
			return nil
		}
		if err := sleepCtx(ctx, interval); err != nil {
			return err
		}
	}
}

// runRSS measures a zkbalance member process owning every partition of a
// new topic, then (with pykafka on) a pykafka member on another.
func (r *run) runRSS(t *testing.T) {
	parts, perPart := r.sizes.rssPartitions, r.sizes.rssBurst
	x := bench.RSS{Contender: bench.ZKBalance, Partitions: parts, Burst: parts * perPart}
	if err := r.rssZK(t, &x, "", "idle"); err != nil {
		x.Err = err.Error()
		t.Errorf("rss zkbalance: %v", err)
	}
	r.report.RSS = append(r.report.RSS, x)
	r.runIdleRSS(t)
	if r.python == "" {
		return
	}
	y := bench.RSS{Contender: bench.Pykafka, Partitions: parts, Burst: parts * perPart}
	if err := r.rssPykafka(t, &y); err != nil {
		y.Err = err.Error()
		t.Errorf("rss pykafka: %v", err)
	}
	r.report.RSS = append(r.report.RSS, y)
}

// runIdleRSS measures zkbalance member processes owning every partition of
// a topic that gets no messages, a new group each round (issue 15: idle at
// 4096 partitions).
func (r *run) runIdleRSS(t *testing.T) {
	ctx, cancel := context.WithTimeout(r.ctx, 20*time.Minute)
	defer cancel()
	parts := r.sizes.rssIdleParts
	topic, topicErr := createTopic(ctx, r.cl, "rss-idle", parts)
	for round := 1; round <= r.sizes.rssIdleRounds; round++ {
		x := bench.RSS{Contender: bench.ZKBalance, Partitions: parts}
		err := topicErr // every round fails without the topic
		if err == nil {
			err = r.rssZK(t, &x, topic, fmt.Sprintf("idle%d-%d", parts, round))
		}
		if err != nil {
			x.Err = err.Error()
			t.Errorf("rss zkbalance, idle round %d: %v", round, err)
		} else {
			t.Logf("rss zkbalance, idle round %d at %d partitions: %.1f MiB", round, parts, x.IdleMiB)
		}
		r.report.IdleRSS = append(r.report.IdleRSS, x)
	}
}

// rssZK runs a zkbalance member process in a new group on topic (a new
// topic if ""), owning x.Partitions partitions, and reads its VmRSS once
// idle; then, with x.Burst messages, after consuming them. With
// -bench.rss-profile it writes profiles named after stage.
func (r *run) rssZK(t *testing.T, x *bench.RSS, topic, stage string) error {
	ctx, cancel := context.WithTimeout(r.ctx, 20*time.Minute)
	defer cancel()
	t0 := time.Now()
	bin, err := buildMember(ctx, t.TempDir())
	if err != nil {
		return err
	}
	t.Logf("rss zkbalance: test/member built in %s", time.Since(t0).Round(time.Millisecond))
	group, dir := uniq("g-rss"), t.TempDir()
	if topic == "" {
		if topic, err = createTopic(ctx, r.cl, "rss", x.Partitions); err != nil {
			return err
		}
	}
	var extra []string
	if *flagRSSProfile != "" {
		extra = []string{"-profile", filepath.Join(*flagRSSProfile, "member")}
	}
	p, err := startMemberProc(r.cl, bin, group, topic, dir, extra...)
	if err != nil {
		return err
	}
	snap := func(stage string) error {
		if *flagRSSProfile == "" {
			return nil
		}
		if err := p.profile(ctx); err != nil {
			return err
		}
		for _, suffix := range []string{".heap.pb.gz", ".heap.txt", ".goroutine.txt"} {
			from := filepath.Join(*flagRSSProfile, "member"+suffix)
			if err := os.Rename(from, filepath.Join(*flagRSSProfile, stage+suffix)); err != nil {
				return err
			}
		}
		return nil
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		p.stop(sctx)
	}()
	var id string
	select {
	case id = <-p.id:
	case <-p.done:
		return fmt.Errorf("member exited: %s", p.tail())
	case <-ctx.Done():
		return fmt.Errorf("member printed no id: %s", p.tail())
	}
	owner := partition.ThreadID(id, 0)
	ownersDir := "/consumers/" + group + "/owners/" + topic
	t0 = time.Now()
	err = poll(ctx, 200*time.Millisecond, func() (bool, error) {
		if p.exited() {
			return false, fmt.Errorf("member exited: %s", p.tail())
		}
		s, err := snapshot(ctx, r.obs, ownersDir)
		if err != nil || len(s.nodes) != x.Partitions {
			return false, nil
		}
		for name, n := range s.nodes {
			if n.value != owner {
				return false, fmt.Errorf("%s/%s owned by %s, not the member", ownersDir, name, n.value)
			}
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("owning %d partitions: %w", x.Partitions, err)
	}
	t.Logf("rss zkbalance: the member owns all %d partitions %s after its start", x.Partitions, time.Since(t0).Round(time.Millisecond))
	if err := sleepCtx(ctx, r.sizes.rssIdle); err != nil {
		return err
	}
	pid := p.cmd.Process.Pid
	if x.IdleMiB, err = procStatusMiB(pid, "VmRSS"); err != nil {
		return err
	}
	if err := snap(stage); err != nil {
		return err
	}
	if x.Burst == 0 {
		x.PeakMiB, err = procStatusMiB(pid, "VmHWM")
		return err
	}
	if err := burst(ctx, r.cl, topic, x.Partitions, x.Burst/x.Partitions); err != nil {
		return err
	}
	log := filepath.Join(dir, "processing.log")
	err = poll(ctx, 200*time.Millisecond, func() (bool, error) {
		if p.exited() {
			return false, fmt.Errorf("member exited: %s", p.tail())
		}
		data, _ := os.ReadFile(log)
		return bytes.Count(data, []byte{'\n'}) >= x.Burst, nil
	})
	if err != nil {
		return fmt.Errorf("consuming the burst: %w", err)
	}
	if x.BurstMiB, err = procStatusMiB(pid, "VmRSS"); err != nil {
		return err
	}
	if x.PeakMiB, err = procStatusMiB(pid, "VmHWM"); err != nil {
		return err
	}
	return snap(stage + "-burst")
}

func (p *memberProc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// rssPykafka runs the same procedure with a pykafka member process (the
// interpreter's RSS is measured).
func (r *run) rssPykafka(t *testing.T, x *bench.RSS) error {
	cl := r.cl
	ctx, cancel := context.WithTimeout(r.ctx, 20*time.Minute)
	defer cancel()
	topic, err := createTopic(ctx, cl, "rss-py", x.Partitions)
	if err != nil {
		return err
	}
	// CountOnly past the burst: no line per message, and the member keeps
	// running; its auto-commits (every 1 s) tell when it consumed the burst.
	group := uniq("g-rss-pykafka")
	args := pyArgs(cl, topic, group, "rss")
	args.CountOnly, args.CommitEvery = x.Burst+1, -1
	m, err := pykafka.Start(ctx, r.python, args)
	if err != nil {
		return err
	}
	defer m.Kill() //nolint:errcheck // after Stop: a no-op
	t0 := time.Now()
	err = m.WaitOwned(ctx, func(ps []int32) bool { return len(ps) == x.Partitions })
	if err != nil {
		return fmt.Errorf("owning %d partitions: %w (errors: %s)\n%s", x.Partitions, err, memberErrors(m), m.Stderr(20))
	}
	t.Logf("rss pykafka: the member owns all %d partitions %s after its start", x.Partitions, time.Since(t0).Round(time.Millisecond))
	if err := sleepCtx(ctx, r.sizes.rssIdle); err != nil {
		return err
	}
	if x.IdleMiB, err = procStatusMiB(m.Pid(), "VmRSS"); err != nil {
		return err
	}
	if err := burst(ctx, r.cl, topic, x.Partitions, x.Burst/x.Partitions); err != nil {
		return err
	}
	err = poll(ctx, 200*time.Millisecond, func() (bool, error) {
		if m.Exited() {
			return false, fmt.Errorf("%s exited (errors: %s)\n%s", m, memberErrors(m), m.Stderr(20))
		}
		offs, err := cl.CommittedOffsets(ctx, group, topic, int32(x.Partitions))
		if err != nil {
			return false, nil // the group's coordinator may not be ready yet
		}
		sum := int64(0)
		for _, o := range offs {
			sum += max(o, 0)
		}
		return sum >= int64(x.Burst), nil
	})
	if err != nil {
		return fmt.Errorf("consuming the burst: %w", err)
	}
	if x.BurstMiB, err = procStatusMiB(m.Pid(), "VmRSS"); err != nil {
		return err
	}
	if x.PeakMiB, err = procStatusMiB(m.Pid(), "VmHWM"); err != nil {
		return err
	}
	return m.Stop()
}
