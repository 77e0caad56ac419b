package cli

import (
	"runtime"
	"runtime/debug"
)

// TestedAgainst names the ZooKeeper and Kafka versions the integration
// tests run (the ones 'demo up' starts).
const TestedAgainst = "Apache Kafka 3.9.2 (ZooKeeper mode), Apache ZooKeeper 3.8.4"

// The VCS revision and whether the tree was modified, for builds that
// record none in their build info (a git worktree, -buildvcs=false): 'make
// build' sets them with
//
//	-ldflags "-X github.com/zkbalance/zkbalance/internal/cli.vcsRevision=<sha> -X ...vcsModified=true"
var vcsRevision, vcsModified string

// BuildVersion describes the running binary: the module version (v1.2.3
// after 'go install ...@v1.2.3'; a pseudo-version for 'go install
// ...@<commit>' or a 'go build' in a git checkout; "(devel)" when the
// build recorded none), the VCS commit it was built from (from the build
// info that 'go build' in a git checkout records, else from the linker
// flags 'make build' sets; "+dirty" when the tree had changes) and the Go
// version: "v1.2.3, go1.26.0" or "(devel), commit 0123456789ab+dirty,
// go1.26.0".
func BuildVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		bi = &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}
	}
	return buildVersion(bi, vcsRevision, vcsModified)
}

func buildVersion(bi *debug.BuildInfo, linkedRev, linkedModified string) string {
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
	if rev == "" { // the build info recorded none: the linker flags
		rev, modified = linkedRev, linkedModified
	}
	if rev != "" {
		if len(rev) > 12 {
			rev = rev[:12]
		}
		if modified == "true" {
			rev += "+dirty"
		}
		v += ", commit " + rev
	}
	goVersion := bi.GoVersion
	if goVersion == "" {
		goVersion = runtime.Version()
	}
	return v + ", " + goVersion
}
