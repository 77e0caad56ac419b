package balanced_test

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/zkbalance/zkbalance/balanced"
	"github.com/zkbalance/zkbalance/scenario"
)

var (
	memberBinOnce sync.Once
	memberBin     string
	memberBinErr  error
)

// buildMember builds test/member once per test binary.
func buildMember(t testing.TB) string {
	t.Helper()
	memberBinOnce.Do(func() {
		dir, err := os.MkdirTemp("", "zkbalance-member-")
		if err != nil {
			memberBinErr = err
			return
		}
		memberBin = filepath.Join(dir, "member")
		out, err := exec.Command("go", "build", "-race", "-o", memberBin, "github.com/zkbalance/zkbalance/test/member").CombinedOutput()
		if err != nil {
			memberBinErr = fmt.Errorf("build member: %v\n%s", err, out)
		}
	})
	if memberBinErr != nil {
		t.Fatal(memberBinErr)
	}
	return memberBin
}

// proc is a member running as its own OS process.
type proc struct {
	name string
	id   string
	cmd  *exec.Cmd
	done chan struct{}
}

func (p *proc) ID() string                               { return p.id }
func (p *proc) Owned() ([]balanced.TopicPartition, bool) { return nil, false }

// startProc starts test/member and waits for its member id.
func startProc(t testing.TB, name, group, topic, logPath string, args ...string) *proc {
	t.Helper()
	cl := shared.Get(t)
	cmd := exec.Command(buildMember(t), append([]string{"-name", name, "-zookeeper", cl.ZooKeeperAddr(),
		"-group", group, "-topics", topic, "-log", logPath}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = testWriter{t}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{name: name, cmd: cmd, done: make(chan struct{})}
	ids := make(chan string, 1)
	go func() { // owned by the process: ends at its exit (stdout EOF)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if id, ok := strings.CutPrefix(sc.Text(), "member-id "); ok {
				ids <- id
			}
		}
	}()
	go func() { _ = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-p.done
		}
	})
	select {
	case p.id = <-ids:
	case <-time.After(30 * time.Second):
		t.Fatalf("member process %s printed no id", name)
	}
	return p
}

// readProcLog reads the processing log the member processes append to.
func readProcLog(t testing.TB, path string, into *plog) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if r, ok := scenario.ParseRecord(sc.Text()); ok { // not: a line cut by kill -9
			into.Add(r)
		}
	}
}

// TestS3MemberCrash kills one of three member processes with SIGKILL while
// they consume a steady stream: its znodes vanish at session timeout, the
// survivors take over, nothing is lost and no partition is processed twice
// at once.
func TestS3MemberCrash(t *testing.T) {
	cl := shared.Get(t)
	ctx := testCtx(t, 4*time.Minute)
	topic, group := uniq(t, "s3"), uniq(t, "g-s3")
	if err := cl.CreateTopic(ctx, topic, 6, 1); err != nil {
		t.Fatal(err)
	}
	topics := map[string]int32{topic: 6}
	logPath := filepath.Join(t.TempDir(), "processing.log")
	sessionTimeout := 4 * time.Second
	args := []string{"-session-timeout", sessionTimeout.String(), "-delay", "5ms"}
	a := startProc(t, "A", group, topic, logPath, args...)
	b := startProc(t, "B", group, topic, logPath, args...)
	c := startProc(t, "C", group, topic, logPath, args...)
	waitConverged(t, 60*time.Second, "scala-range", group, topics, a, b, c)

	stopStream := stream(t, topic, 6, 30)
	time.Sleep(2 * time.Second)
	killed := time.Now()
	if err := b.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-b.done
	// Its id znode vanishes at session timeout (not before: nobody steals).
	idPath := "/consumers/" + group + "/ids/" + b.id
	var gone time.Duration
	for time.Since(killed) < sessionTimeout*3 {
		ok, _, err := zkConn(t).Exists(ctx, idPath)
		if err == nil && !ok {
			gone = time.Since(killed)
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if gone == 0 {
		t.Fatalf("%s still registered %s after the kill", idPath, sessionTimeout*3)
	}
	took := waitConverged(t, sessionTimeout+30*time.Second, "scala-range", group, topics, a, c)
	t.Logf("killed member's znodes gone after %s; survivors own everything %s later", gone.Round(time.Millisecond), took.Round(time.Millisecond))
	time.Sleep(time.Second)
	produced := stopStream()
	total := total(produced)
	var log plog
	deadline := time.Now().Add(time.Minute)
	for {
		log = plog{}
		readProcLog(t, logPath, &log)
		if log.Processed() >= total || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	an := log.Analyze(produced)
	t.Logf("produced %d: lost %d, duplicates %d (the killed member's uncommitted window), overlaps %d", total, an.Lost, an.Duplicates, an.Overlaps)
	if an.Lost != 0 || an.Overlaps != 0 {
		t.Fatalf("lost %d, overlaps %d (%s)", an.Lost, an.Overlaps, an.FirstOverlap)
	}
}
