package javapeer

import (
	"context"
	_ "embed"
	"fmt"
	"path/filepath"

	"github.com/zkbalance/zkbalance/internal/cluster"
	"github.com/zkbalance/zkbalance/internal/jvmpeer"
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
	return jvmpeer.Classpath(p.Classes, p.Libs)
}

// once holds Build's result in this process once it succeeded.
var once = jvmpeer.NewOnce[Program]("javapeer")

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
func Build(ctx context.Context) (Program, error) { return once.Do(ctx, build) }

// build resolves the jars and compiles the member (Build without the memo).
func build(ctx context.Context) (Program, error) {
	java, err := cluster.JavaPath()
	if err != nil {
		return Program{}, fmt.Errorf("javapeer: %w", err)
	}
	javac, err := driver("", "").Javac()
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
	d := driver(jars[0], libs)
	p := Program{Java: java, Classes: d.Dir(cacheDir), Libs: libs, ClientsJar: jars[0]}
	if err := jvmpeer.Compile(ctx, javac, d, p.Classes); err != nil {
		return Program{}, err
	}
	return p, nil
}

// driver is the Java member compiled against libs, keyed by the
// kafka-clients jar clientsJar.
func driver(clientsJar, libs string) jvmpeer.Driver {
	return jvmpeer.Driver{Pkg: "javapeer", What: "the Java member", Prefix: "javapeer-", Recipe: recipe,
		Key: clientsJar, File: "Member.java", Source: memberJava, Log4j: log4jProps, Libs: libs}
}
