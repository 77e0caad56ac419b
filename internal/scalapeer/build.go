package scalapeer

import (
	"context"
	_ "embed"
	"fmt"

	"github.com/zkbalance/zkbalance/internal/cluster"
	"github.com/zkbalance/zkbalance/internal/jvmpeer"
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
	return jvmpeer.Classpath(p.Classes, p.Libs)
}

// once holds Build's result in this process once it succeeded.
var once = jvmpeer.NewOnce[Program]("scalapeer")

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
func Build(ctx context.Context) (Program, error) { return once.Do(ctx, build) }

// build resolves the jars and compiles the member (Build without the memo).
func build(ctx context.Context) (Program, error) {
	java, err := cluster.JavaPath()
	if err != nil {
		return Program{}, fmt.Errorf("scalapeer: %w", err)
	}
	javac, err := driver("").Javac()
	if err != nil {
		return Program{}, err
	}
	cacheDir, err := cluster.CacheDir()
	if err != nil {
		return Program{}, fmt.Errorf("scalapeer: %w", err)
	}
	libs, err := cluster.PomJars(ctx, cacheDir, pom, "scalapeer-libs-")
	if err != nil {
		return Program{}, fmt.Errorf("scalapeer: jars of Kafka %s: %w", KafkaVersion, err)
	}
	d := driver(libs)
	p := Program{Java: java, Classes: d.Dir(cacheDir), Libs: libs}
	if err := jvmpeer.Compile(ctx, javac, d, p.Classes); err != nil {
		return Program{}, err
	}
	return p, nil
}

// driver is the Scala member compiled against the jar directory libs.
func driver(libs string) jvmpeer.Driver {
	return jvmpeer.Driver{Pkg: "scalapeer", What: "the Scala member", Prefix: "scalapeer-", Recipe: recipe,
		Key: libs, File: "ScalaMember.java", Source: memberJava, Log4j: log4jProps, Libs: libs, Flags: []string{"-nowarn"}}
}
