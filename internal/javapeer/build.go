package javapeer

import (
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"

	"github.com/zkbalance/zkbalance/internal/cachedir"

	"github.com/zkbalance/zkbalance/internal/cluster"
)

//go:embed Member.java
var memberJava []byte

//go:embed log4j.properties
var log4jProps []byte

// recipe names how the classes are made; change it when that changes so
// that classes made the old way are not used.
const recipe = "javac --release 17 -d DIR -cp LIBS/* Member.java; log4j.properties in DIR; v1"

// Program is the compiled Java member and what it runs with.
type Program struct {
	// Java is the java executable (cluster.JavaPath).
	Java string
	// Classes holds Member.class and log4j.properties.
	Classes string
	// Libs is the harness's jar directory (cluster.Jars): kafka-clients
	// and its dependencies.
	Libs string
	// ClientsJar is the kafka-clients jar in Libs the classes were compiled against.
	ClientsJar string
}

// Classpath is the -cp value the member runs with.
func (p Program) Classpath() string {
	return p.Classes + string(os.PathListSeparator) + filepath.Join(p.Libs, "*")
}

// built is Build's result in this process once it succeeded; sem (a
// one-slot semaphore, so a waiter can give up with its ctx) guards it.
var (
	sem   = make(chan struct{}, 1)
	built *Program
)

// Build returns the compiled Java member, compiling it on first use. Start
// calls it; a test may call it first to keep the compile out of its timings.
//
// The classes live in the cache directory of the cluster harness
// ($ZKBALANCE_CACHE, else <user cache dir>/zkbalance), in javapeer-<hash>,
// where the hash covers Member.java, log4j.properties, the compile recipe
// and the path of the kafka-clients jar (whose directory name changes with
// the pinned Kafka version). They are compiled with javac ($JAVA_HOME/bin/javac,
// else javac on PATH) into javapeer-<hash>.tmp and renamed into place, under
// a file lock, so concurrent test processes wait for one compile and a
// half-written directory is never used. The jars come from cluster.Jars
// (resolved once per machine with Maven).
func Build(ctx context.Context) (Program, error) {
	select {
	case sem <- struct{}{}:
		defer func() { <-sem }()
	case <-ctx.Done():
		return Program{}, fmt.Errorf("javapeer: build: %w", context.Cause(ctx))
	}
	if built != nil {
		return *built, nil
	}
	java, err := cluster.JavaPath()
	if err != nil {
		return Program{}, fmt.Errorf("javapeer: %w", err)
	}
	javac, err := javacPath()
	if err != nil {
		return Program{}, err
	}
	cacheDir, err := cluster.CacheDir()
	if err != nil {
		return Program{}, fmt.Errorf("javapeer: %w", err)
	}
	libs, err := cluster.Jars(ctx, cacheDir)
	if err != nil {
		return Program{}, fmt.Errorf("javapeer: %w", err)
	}
	jars, err := filepath.Glob(filepath.Join(libs, "kafka-clients-*.jar"))
	if err != nil || len(jars) != 1 {
		return Program{}, fmt.Errorf("javapeer: want one kafka-clients jar in %s, found %q (%v)", libs, jars, err)
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s\n", recipe, jars[0])
	h.Write(memberJava)
	h.Write(log4jProps)
	name := "javapeer-" + hex.EncodeToString(h.Sum(nil)[:6])
	p := Program{Java: java, Classes: filepath.Join(cacheDir, name), Libs: libs, ClientsJar: jars[0]}
	if err := compileOnce(ctx, javac, p); err != nil {
		return Program{}, err
	}
	built = &p
	return p, nil
}

// compileOnce compiles into p.Classes unless a finished compile is there
// (cachedir.Ensure: under the lock .<name>.lock, via <name>.tmp).
func compileOnce(ctx context.Context, javac string, p Program) error {
	return cachedir.Ensure(ctx, cachedir.Spec{
		Dir:   p.Classes,
		Stamp: []byte(p.ClientsJar + "\n"),
		Fill:  func(ctx context.Context, tmp string) error { return compile(ctx, javac, p, tmp) },
	})
}

// compile writes the sources to dir and compiles them there.
func compile(ctx context.Context, javac string, p Program, dir string) error {
	src := filepath.Join(dir, "Member.java")
	if err := os.WriteFile(src, memberJava, 0o644); err != nil {
		return fmt.Errorf("javapeer: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "log4j.properties"), log4jProps, 0o644); err != nil {
		return fmt.Errorf("javapeer: %w", err)
	}
	cmd := exec.CommandContext(ctx, javac, "--release", "17", "-encoding", "UTF-8",
		"-d", dir, "-cp", filepath.Join(p.Libs, "*"), src)
	// Own process group, killed on ctx's end and when this process dies.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("javapeer: compiling the Java member: %s: %w\n%s", cmd.String(), err, cluster.Tail(out, 40))
	}
	return nil
}

// javacPath is $JAVA_HOME/bin/javac when that exists, else javac on PATH.
func javacPath() (string, error) {
	p, err := cluster.JavaTool("javac")
	if err != nil {
		return "", fmt.Errorf("javapeer: the Java compiler javac (a JDK, 17 or later) is needed to compile the Java member; install one or set JAVA_HOME: %w", err)
	}
	return p, nil
}
