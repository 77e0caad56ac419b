package cluster

import (
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/zkbalance/zkbalance/internal/cachedir"
)

// CacheEnv names the environment variable that overrides the jar cache
// directory. By default jars are cached under os.UserCacheDir()/zkbalance.
const CacheEnv = "ZKBALANCE_CACHE"

//go:embed pom.xml
var pom []byte

// pomKafka4 pins the Kafka 4 jars of Config.KRaft (no ZooKeeper; log4j2).
//
//go:embed pom-kafka4.xml
var pomKafka4 []byte

// CacheDir returns the directory where resolved jars are kept: $ZKBALANCE_CACHE
// when set, otherwise <user cache dir>/zkbalance (<temp dir>/zkbalance-cache
// when there is no user cache dir).
func CacheDir() (string, error) {
	if d := os.Getenv(CacheEnv); d != "" {
		return d, nil
	}
	base, err := os.UserCacheDir()
	if err != nil { // no $HOME: fall back to the temp dir rather than fail
		return filepath.Join(os.TempDir(), "zkbalance-cache"), nil
	}
	return filepath.Join(base, "zkbalance"), nil
}

// Jars makes sure the jars of the pinned ZooKeeper and Kafka are in the cache
// and returns the directory holding them (for java -cp 'dir/*'). The first call
// runs `mvn -q dependency:copy-dependencies` on the embedded pom; later calls,
// from any process, find the finished directory and need no network. Concurrent
// callers (parallel test packages) are serialised with a file lock.
func Jars(ctx context.Context, cacheDir string) (string, error) {
	return resolveJars(ctx, cacheDir, pom, "libs-")
}

// KRaftJars is Jars for the Kafka 4 of Config.KRaft: its own embedded pom,
// resolved the same way into its own directory of the cache
// (libs-kafka4-<hash>), next to and independent of Jars'.
func KRaftJars(ctx context.Context, cacheDir string) (string, error) {
	return resolveJars(ctx, cacheDir, pomKafka4, "libs-kafka4-")
}

// PomJars resolves the runtime dependencies of another embedded pom (a
// peer's own client jars, such as internal/scalapeer's Kafka 1.1.1) the way
// Jars does: copied by Maven once per machine into cacheDir/<prefix><hash
// of pom>, under the shared lock file cacheDir/.lock, and that directory
// returned.
func PomJars(ctx context.Context, cacheDir string, pom []byte, prefix string) (string, error) {
	return resolveJars(ctx, cacheDir, pom, prefix)
}

// resolveJars copies the runtime dependencies of pom into
// cacheDir/<prefix><hash of pom> once and returns that directory. All poms
// share the lock file cacheDir/.lock.
func resolveJars(ctx context.Context, cacheDir string, pom []byte, prefix string) (string, error) {
	sum := sha256.Sum256(pom)
	key := hex.EncodeToString(sum[:6])
	libs := filepath.Join(cacheDir, prefix+key)
	err := cachedir.Ensure(ctx, cachedir.Spec{
		Dir:  libs,
		Lock: filepath.Join(cacheDir, ".lock"),
		Fill: func(ctx context.Context, tmp string) error {
			pomPath := filepath.Join(tmp, "pom.xml")
			if err := os.WriteFile(pomPath, pom, 0o644); err != nil {
				return fmt.Errorf("cluster: write pom: %w", err)
			}
			mvn, err := exec.LookPath("mvn")
			if err != nil {
				return fmt.Errorf("cluster: Maven (mvn) is needed once to fetch the Kafka (and ZooKeeper) jars: %w", err)
			}
			cmd := exec.CommandContext(ctx, mvn, "-q", "-B", "-f", pomPath,
				"dependency:copy-dependencies", "-DincludeScope=runtime", "-DoutputDirectory="+tmp)
			out, err := cmd.CombinedOutput()
			if err != nil {
				return fmt.Errorf("cluster: %s: %w\n%s", cmd.String(), err, Tail(out, 40))
			}
			if err := os.Remove(pomPath); err != nil {
				return fmt.Errorf("cluster: %w", err)
			}
			return nil
		},
	})
	if err != nil {
		return "", err
	}
	return libs, nil
}

// JavaTool returns the JDK tool name (java, javac): $JAVA_HOME/bin/<name>
// when that exists, else name on PATH (exec.LookPath's error when neither).
func JavaTool(name string) (string, error) {
	if h := os.Getenv("JAVA_HOME"); h != "" {
		p := filepath.Join(h, "bin", name)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return exec.LookPath(name)
}

// JavaPath returns the java executable: $JAVA_HOME/bin/java when set, else java
// on PATH.
func JavaPath() (string, error) {
	p, err := JavaTool("java")
	if err != nil {
		return "", fmt.Errorf("cluster: a Java runtime (java) is needed to run ZooKeeper and Kafka: %w", err)
	}
	return p, nil
}
