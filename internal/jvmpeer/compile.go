package jvmpeer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"

	"github.com/zkbalance/zkbalance/internal/cachedir"
	"github.com/zkbalance/zkbalance/internal/cluster"
)

// Driver is one Java program of a peer package and how it is compiled.
type Driver struct {
	// Pkg prefixes errors ("javapeer").
	Pkg string
	// What names the program in errors ("the Java member").
	What string
	// Prefix starts the cache directory's name ("javapeer-").
	Prefix string
	// Recipe names how the classes are made; change it when that changes
	// so that classes made the old way are not used.
	Recipe string
	// Key is what the classes depend on besides the sources (a jar or jar
	// directory path): hashed into the name and written as the stamp.
	Key string
	// File is the source's file name ("Member.java").
	File string
	// Source is the Java source; Log4j the log4j.properties put next to
	// the classes.
	Source, Log4j []byte
	// Libs is the jar directory compiled against (-cp Libs/*).
	Libs string
	// Flags are extra javac flags, after "--release 17".
	Flags []string
}

// Dir is where the classes live in cacheDir: Prefix followed by the first
// 6 bytes, in hex, of the SHA-256 of "Recipe\nKey\n", Source and Log4j.
func (d Driver) Dir(cacheDir string) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s\n", d.Recipe, d.Key)
	h.Write(d.Source)
	h.Write(d.Log4j)
	return filepath.Join(cacheDir, d.Prefix+hex.EncodeToString(h.Sum(nil)[:6]))
}

// Javac is $JAVA_HOME/bin/javac when that exists, else javac on PATH.
func (d Driver) Javac() (string, error) {
	p, err := cluster.JavaTool("javac")
	if err != nil {
		return "", fmt.Errorf("%s: the Java compiler javac (a JDK, 17 or later) is needed to compile %s; install one or set JAVA_HOME: %w", d.Pkg, d.What, err)
	}
	return p, nil
}

// Compile compiles d with javac into dir (Dir) unless a finished compile
// is there: through cachedir.Ensure (under the lock .<name>.lock, via
// <name>.tmp, stamped with Key), so concurrent processes wait for one
// compile and a half-written directory is never used.
func Compile(ctx context.Context, javac string, d Driver, dir string) error {
	return cachedir.Ensure(ctx, cachedir.Spec{
		Dir:   dir,
		Stamp: []byte(d.Key + "\n"),
		Fill:  func(ctx context.Context, tmp string) error { return compile(ctx, javac, d, tmp) },
	})
}

// compile writes the sources to dir and compiles them there.
func compile(ctx context.Context, javac string, d Driver, dir string) error {
	src := filepath.Join(dir, d.File)
	if err := os.WriteFile(src, d.Source, 0o644); err != nil {
		return fmt.Errorf("%s: %w", d.Pkg, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "log4j.properties"), d.Log4j, 0o644); err != nil {
		return fmt.Errorf("%s: %w", d.Pkg, err)
	}
	cmd := exec.CommandContext(ctx, javac, javacArgs(d, dir, src)...)
	// Own process group, killed on ctx's end and when this process dies.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: compiling %s: %s: %w\n%s", d.Pkg, d.What, cmd.String(), err, cluster.Tail(out, 40))
	}
	return nil
}

// javacArgs is javac's command line compiling src into dir.
func javacArgs(d Driver, dir, src string) []string {
	args := append([]string{"--release", "17"}, d.Flags...)
	return append(args, "-encoding", "UTF-8", "-d", dir, "-cp", filepath.Join(d.Libs, "*"), src)
}
