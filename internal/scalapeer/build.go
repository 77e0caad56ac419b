package scalapeer

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

//go:embed ScalaMember.java
var memberJava []byte

//go:embed log4j.properties
var log4jProps []byte

// pom pins the Scala consumer's jars (Kafka 1.1.1 for Scala 2.12).
//
//go:embed pom.xml
var pom []byte

// KafkaVersion is the Kafka release whose Scala consumer the member runs
// (kafka_2.12, the last release with kafka.consumer).
const KafkaVersion = "1.1.1"

// recipe names how the classes are made; change it when that changes so
// that classes made the old way are not used.
const recipe = "javac --release 17 -d DIR -cp LIBS/* ScalaMember.java; log4j.properties in DIR; v2"

// Program is the compiled Scala member and what it runs with.
type Program struct {
	// Java is the java executable (cluster.JavaPath).
	Java string
	// Classes holds ScalaMember.class and log4j.properties.
	Classes string
	// Libs holds kafka_2.12-1.1.1.jar and its dependencies.
	Libs string
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

// Build returns the compiled Scala member, resolving its jars and compiling
// it on first use. Start calls it; a test may call it first to keep the
// build out of its timings.
//
// The jars (the embedded pom: kafka_2.12 1.1.1 and its dependencies) are
// copied by Maven once per machine into scalapeer-libs-<hash> in the
// harness cache ($ZKBALANCE_CACHE, else <user cache dir>/zkbalance), as
// cluster.PomJars does it. The classes are compiled with javac
// ($JAVA_HOME/bin/javac, else javac on PATH) into scalapeer-<hash>, where
// the hash covers ScalaMember.java, log4j.properties, the recipe and the
// jar directory; both directories are made through a .tmp directory
// renamed into place under a file lock (internal/cachedir), so concurrent
// test processes wait for one build and a half-made one is never used.
func Build(ctx context.Context) (Program, error) {
	select {
	case sem <- struct{}{}:
		defer func() { <-sem }()
	case <-ctx.Done():
		return Program{}, fmt.Errorf("scalapeer: build: %w", context.Cause(ctx))
	}
	if built != nil {
		return *built, nil
	}
	java, err := cluster.JavaPath()
	if err != nil {
		return Program{}, fmt.Errorf("scalapeer: %w", err)
	}
	javac, err := cluster.JavaTool("javac")
	if err != nil {
		return Program{}, fmt.Errorf("scalapeer: the Java compiler javac (a JDK, 17 or later) is needed to compile the Scala member; install one or set JAVA_HOME: %w", err)
	}
	cacheDir, err := cluster.CacheDir()
	if err != nil {
		return Program{}, fmt.Errorf("scalapeer: %w", err)
	}
	libs, err := cluster.PomJars(ctx, cacheDir, pom, "scalapeer-libs-")
	if err != nil {
		return Program{}, fmt.Errorf("scalapeer: jars of Kafka %s: %w", KafkaVersion, err)
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s\n", recipe, libs)
	h.Write(memberJava)
	h.Write(log4jProps)
	p := Program{Java: java, Classes: filepath.Join(cacheDir, "scalapeer-"+hex.EncodeToString(h.Sum(nil)[:6])), Libs: libs}
	err = cachedir.Ensure(ctx, cachedir.Spec{
		Dir:   p.Classes,
		Stamp: []byte(libs + "\n"),
		Fill:  func(ctx context.Context, tmp string) error { return compile(ctx, javac, p, tmp) },
	})
	if err != nil {
		return Program{}, err
	}
	built = &p
	return p, nil
}

// compile writes the sources to dir and compiles them there.
func compile(ctx context.Context, javac string, p Program, dir string) error {
	src := filepath.Join(dir, "ScalaMember.java")
	if err := os.WriteFile(src, memberJava, 0o644); err != nil {
		return fmt.Errorf("scalapeer: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "log4j.properties"), log4jProps, 0o644); err != nil {
		return fmt.Errorf("scalapeer: %w", err)
	}
	cmd := exec.CommandContext(ctx, javac, "--release", "17", "-nowarn", "-encoding", "UTF-8",
		"-d", dir, "-cp", filepath.Join(p.Libs, "*"), src)
	// Own process group, killed on ctx's end and when this process dies.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("scalapeer: compiling the Scala member: %s: %w\n%s", cmd.String(), err, cluster.Tail(out, 40))
	}
	return nil
}
