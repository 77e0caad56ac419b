package main

import (
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/zkbalance/zkbalance/internal/cmdtest"
)

var demoBuild = cmdtest.NewBinary("../demo", "demo")

// helpOK checks one command's --help output: on stdout, exit 0, nothing on
// stderr, "usage: <bin> <cmd>" first, a description paragraph, examples of
// the same command, and the shared --log-json and --timeout flags.
func helpOK(t *testing.T, bin string, cmd []string, r result) {
	t.Helper()
	name := bin + " " + strings.Join(cmd, " ")
	blocks := strings.Split(r.stdout, "\n\n")
	switch {
	case r.code != 0 || r.stderr != "":
		t.Errorf("%s --help: exit %d, stderr %q; want exit 0, help on stdout only", name, r.code, r.stderr)
	case !strings.HasPrefix(r.stdout, "usage: "+name):
		t.Errorf("%s --help: stdout does not start with %q:\n%s", name, "usage: "+name, r.stdout)
	case len(blocks) < 4 || strings.HasPrefix(blocks[1], "examples:") || strings.HasPrefix(blocks[1], "flags:") || len(strings.TrimSpace(blocks[1])) < 20:
		t.Errorf("%s --help: no description after the usage:\n%s", name, r.stdout)
	case !strings.Contains(r.stdout, "\nexamples:\n  "+name):
		t.Errorf("%s --help: no example of the command:\n%s", name, r.stdout)
	case !regexp.MustCompile(`(?m)^  -log-json$`).MatchString(r.stdout) || !regexp.MustCompile(`(?m)^  -timeout duration$`).MatchString(r.stdout):
		t.Errorf("%s --help: no --log-json and --timeout flags:\n%s", name, r.stdout)
	}
}

// TestUsage: the command list, --help of every command of both binaries
// (usage, description, examples, the shared flags; on stdout, exit 0),
// 'help <command>', unknown commands (exit 2) and version.
func TestUsage(t *testing.T) {
	r := runBin(t, time.Minute, "help")
	if r.code != 0 || !strings.Contains(r.stdout, "usage: zkbalance <command>") {
		t.Errorf("zkbalance help: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if r = runBin(t, time.Minute); r.code != 2 || !strings.Contains(r.stderr, "usage: zkbalance <command>") {
		t.Errorf("zkbalance without a command: exit %d\nstderr:\n%s", r.code, r.stderr)
	}
	var names []string
	for _, c := range app.Commands {
		names = append(names, c.Name)
		for _, args := range [][]string{{c.Name, "--help"}, {"help", c.Name}} {
			helpOK(t, "zkbalance", []string{c.Name}, runBin(t, time.Minute, args...))
		}
	}
	for _, want := range []string{"consume", "produce", "status", "migrate-offsets", "reset-offsets", "coordination", "version"} {
		if !strings.Contains(" "+strings.Join(names, " ")+" ", " "+want+" ") {
			t.Errorf("zkbalance has no command %s (has %v)", want, names)
		}
	}
	// The commands that talk to a cluster take the security flags.
	for _, cmd := range []string{"consume", "produce", "status", "migrate-offsets", "reset-offsets", "coordination"} {
		r := runBin(t, time.Minute, cmd, "--help")
		for _, f := range []string{"-zk-user U", "-zk-password-file F", "-zk-acl", "-sasl-user U", "-sasl-mechanism", "-sasl-password-file F", "-tls-ca FILE", "-tls-cert FILE", "-tls-key FILE", "-tls-server-name NAME", "-listener NAME", "$ZKBALANCE_SASL_PASSWORD", "$ZKBALANCE_ZK_PASSWORD"} {
			if !strings.Contains(r.stdout, f) {
				t.Errorf("zkbalance %s --help does not mention %s", cmd, f)
			}
		}
	}
	for _, cmd := range []string{"up", "down", "scenario"} {
		if r := runBin(t, time.Minute, cmd); r.code != 2 || !strings.HasPrefix(r.stderr, `zkbalance: unknown command "`+cmd+`"`) {
			t.Errorf("zkbalance %s: exit %d, stderr %q; want exit 2, unknown command", cmd, r.code, r.stderr)
		}
	}
	r = runBin(t, time.Minute, "version")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "zkbalance ") || !strings.Contains(r.stdout, "Apache Kafka 3.9.2") {
		t.Errorf("zkbalance version: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// TestDemoUsage: every command (and scenario) of the demo binary has the
// same help: usage, description, examples, --log-json and --timeout.
func TestDemoUsage(t *testing.T) {
	demo := demoBuild.Path(t)
	run := func(args ...string) result {
		r := cmdtest.Run(t, demo, t.TempDir(), time.Minute, args...)
		return result{stdout: r.Stdout, stderr: r.Stderr, code: r.Code}
	}
	for _, cmd := range [][]string{{"up"}, {"down"}, {"version"}, {"scenario", "blocked-consume"}, {"scenario", "slow-handler"}, {"scenario", "migrate"}} {
		helpOK(t, "demo", cmd, run(append(cmd, "--help")...))
	}
	r := run("scenario", "--help")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "usage: demo scenario") || !strings.Contains(r.stdout, "\nexamples:\n  demo scenario") {
		t.Errorf("demo scenario --help: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	r = run("up", "--help")
	if !strings.Contains(r.stdout, "-broker-count int") || strings.Contains(r.stdout, "  -brokers") {
		t.Errorf("demo up --help: want --broker-count and no --brokers:\n%s", r.stdout)
	}
}

// TestVersionCommit: without VCS build info (-buildvcs=false, as in a git
// worktree) the commit comes from the linker flags 'make build' sets.
func TestVersionCommit(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary")
	}
	bin := filepath.Join(t.TempDir(), "zkbalance")
	const pkg = "github.com/zkbalance/zkbalance/internal/cli"
	out, err := exec.Command("go", "build", "-buildvcs=false", "-o", bin,
		"-ldflags", "-X "+pkg+".vcsRevision=0123456789abcdef0123 -X "+pkg+".vcsModified=true", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	r := cmdtest.Run(t, bin, t.TempDir(), time.Minute, "version")
	if r.Code != 0 || !strings.HasPrefix(r.Stdout, "zkbalance (devel), commit 0123456789ab+dirty, go") {
		t.Errorf("zkbalance version: exit %d, %q; want the commit from the linker flags", r.Code, r.Stdout)
	}
}
