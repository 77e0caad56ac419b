package cli

import (
	"runtime"
	"runtime/debug"
)

// TestedAgainst names the ZooKeeper and Kafka versions the integration
// tests run (the ones 'demo up' starts).
const TestedAgainst = "Apache Kafka 3.9.2 (ZooKeeper mode), Apache ZooKeeper 3.8.4"

// BuildVersion describes the running binary: the module version ("(devel)"
// for a build inside the repository; a pseudo-version after
// 'go install ...@<commit>'), the VCS revision when the build recorded one,
// and the Go version.
func BuildVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown version, " + runtime.Version()
	}
	return buildVersion(bi)
}

func buildVersion(bi *debug.BuildInfo) string {
	v := bi.Main.Version
	if v == "" {
		v = "(devel)"
	}
	var rev, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	if rev != "" {
		if len(rev) > 12 {
			rev = rev[:12]
		}
		if modified == "true" {
			rev += "+dirty"
		}
		v += " (" + rev + ")"
	}
	goVersion := bi.GoVersion
	if goVersion == "" {
		goVersion = runtime.Version()
	}
	return v + ", " + goVersion
}
