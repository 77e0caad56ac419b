package importer_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zkbalance/zkbalance/internal/cluster"
)

// shared is the package's real ZooKeeper + Kafka, started by the first test
// that needs it.
var shared = cluster.NewShared(cluster.Config{Brokers: 1})

func TestMain(m *testing.M) { shared.Main(m) }

// outsideModule writes a module in a temp dir that requires zkbalance
// (replaced by this checkout, its only replace) and holds
// testdata/member.go.txt as its main package.
func outsideModule(t *testing.T, ctx context.Context) string {
	t.Helper()
	root := strings.TrimSpace(goCmd(t, ctx, ".", "list", "-m", "-f", "{{.Dir}}"))
	dir := t.TempDir()
	src, err := os.ReadFile("testdata/member.go.txt")
	if err != nil {
		t.Fatal(err)
	}
	sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	mod := fmt.Sprintf("module example.com/importer\n\ngo 1.26.0\n\n"+
		"require github.com/zkbalance/zkbalance v0.0.0-00010101000000-000000000000\n\n"+
		"replace github.com/zkbalance/zkbalance => %s\n", root)
	for name, data := range map[string][]byte{"go.mod": []byte(mod), "go.sum": sum, "main.go": src} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	goCmd(t, ctx, dir, "mod", "tidy")
	return dir
}

func goCmd(t *testing.T, ctx context.Context, dir string, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go %s (in %s): %v\n%s", strings.Join(args, " "), dir, err, out)
	}
	return string(out)
}

// TestOutsideModuleBuildsWhatTestsTest: the outside module's build list has
// no go-zookeeper module (zkbalance's client is internal/zk, patched), its
// go.mod needs no replace but the one for zkbalance itself, and a member it
// builds with -race consumes through a ZooKeeper restart: every message is
// processed, it leaves cleanly, and the race detector reports nothing.
func TestOutsideModuleBuildsWhatTestsTest(t *testing.T) {
	cl := shared.Get(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dir := outsideModule(t, ctx)

	mods := goCmd(t, ctx, dir, "list", "-m", "all")
	if strings.Contains(mods, "go-zookeeper") {
		t.Fatalf("the outside module's build list has go-zookeeper; zkbalance must use its own client:\n%s", mods)
	}
	if !strings.Contains(mods, "github.com/zkbalance/zkbalance") {
		t.Fatalf("build list without zkbalance:\n%s", mods)
	}
	bin := filepath.Join(dir, "member")
	goCmd(t, ctx, dir, "build", "-race", "-o", bin, ".")

	const topic, group, perRound = "importer", "importer-g", 300
	if err := cl.CreateTopic(ctx, topic, 3, 1); err != nil {
		t.Fatal(err)
	}
	produce := func(round int) {
		t.Helper()
		msgs := make([]cluster.Message, perRound)
		for i := range msgs {
			msgs[i] = cluster.Message{Partition: int32(i % 3), Value: fmt.Appendf(nil, "r%d-%d", round, i)}
		}
		if _, err := cl.Produce(ctx, topic, msgs); err != nil {
			t.Fatal(err)
		}
	}
	produce(0)

	out, err := os.Create(filepath.Join(dir, "processed.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	var stderr bytes.Buffer
	member := exec.Command(bin, cl.KafkaZooKeeperConnect(), group, topic)
	member.Stdout, member.Stderr = out, &stderr
	member.Env = append(os.Environ(), "GORACE=halt_on_error=0 exitcode=66")
	if err := member.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- member.Wait() }()
	defer func() {
		if member.ProcessState == nil {
			_ = member.Process.Kill()
			<-exited
		}
	}()

	waitProcessed := func(want int) {
		t.Helper()
		for {
			n := processed(t, out.Name())
			if n >= want {
				return
			}
			select {
			case err := <-exited:
				t.Fatalf("member exited early: %v\n%s", err, stderr.String())
			case <-ctx.Done():
				t.Fatalf("processed %d of %d messages\n%s", n, want, stderr.String())
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	waitProcessed(perRound)

	if err := cl.StopZooKeeper(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	if err := cl.StartZooKeeper(ctx); err != nil {
		t.Fatal(err)
	}
	produce(1)
	waitProcessed(2 * perRound)

	if err := member.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("member: %v (exit code 66 is a data race)\n%s", err, stderr.String())
		}
	case <-ctx.Done():
		t.Fatalf("member did not stop on SIGTERM\n%s", stderr.String())
	}
	if strings.Contains(stderr.String(), "DATA RACE") {
		t.Fatalf("race detector report:\n%s", stderr.String())
	}
	t.Logf("outside module: %d messages processed through a ZooKeeper restart, clean leave, no race", processed(t, out.Name()))
}

// processed counts the distinct "topic partition offset" lines in path.
func processed(t *testing.T, path string) int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	seen := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		seen[sc.Text()] = true
	}
	return len(seen)
}
