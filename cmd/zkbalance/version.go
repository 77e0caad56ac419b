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
	Description: `Prints the version of this build (the module version, "(devel)" for a
build inside the repository, with the VCS revision when recorded; the Go
version) and the ZooKeeper and Kafka versions the tests run against.`,
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
