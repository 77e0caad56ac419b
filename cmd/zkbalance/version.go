package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/zkbalance/zkbalance/internal/cli"
)

var versionHelp = cli.Help{
	Usage: "zkbalance version",
	Description: `Prints the version of this build: the module version (v1.2.3 after 'go
install github.com/zkbalance/zkbalance/cmd/zkbalance@v1.2.3'; a
pseudo-version v0.0.0-<time>-<commit> after 'go install ...@<commit>' or a
'go build' in a git checkout; "(devel)" when the build recorded none), the
commit it was built from ("+dirty": with uncommitted changes; from the
build info 'go build' records in a git checkout, else from the linker flags
'make build' sets), the Go version, and the ZooKeeper and Kafka versions
the tests run against.`,
	Examples: "zkbalance version",
}

func runVersion(_ context.Context, fs *flag.FlagSet, args []string, stdout io.Writer) error {
	cli.AddCommonFlags(fs, time.Minute, "accepted as by every command; version does no I/O")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "zkbalance %s; tested against %s\n", cli.BuildVersion(), cli.TestedAgainst)
	return nil
}
