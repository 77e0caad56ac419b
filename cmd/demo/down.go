package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"syscall"
	"time"

	"github.com/zkbalance/zkbalance/internal/cli"
)

// runDown stops a 'demo up' (usually one started with --detach): SIGTERM to
// the PID in the env file, a bounded wait for it to shut its cluster down,
// then SIGKILL (its JVMs die with it: they have a parent-death signal).
// downHelp is the --help of 'demo down'.
var downHelp = cli.Help{
	Usage: "demo down [--env-file F] [--timeout D]",
	Description: `Stops the 'demo up' whose PID is in --env-file (usually one started with
--detach): SIGTERM, up to --timeout for it to shut its cluster down and
remove the env file, then SIGKILL (its JVMs die with it). A PID that is not
a running 'demo up' is never signalled: a stale env file is removed, or
reported if the PID now belongs to another process.`,
	Examples: `demo down
demo down --env-file /tmp/cluster.env --timeout 2m`,
}

func runDown(ctx context.Context, fs *flag.FlagSet, args []string, stdout io.Writer) error {
	envFile := fs.String("env-file", cli.DefaultEnvFile, "env file written by 'demo up' (holds its PID)")
	common := cli.AddCommonFlags(fs, 60*time.Second, "how long to wait after SIGTERM before SIGKILL")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	if *envFile == "" {
		return cli.Usagef("--env-file is required")
	}
	timeout := common.Timeout()
	log := common.Logger(slog.LevelInfo)
	pid, err := envPID(*envFile)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("no %s: nothing to stop (was 'demo up' started here?)", *envFile)
		}
		return err
	}
	alive, err := demoUpAlive(pid)
	if err != nil {
		return err
	}
	if !alive {
		log.Warn("demo up is not running; removing its stale env file", "pid", pid, "env_file", *envFile)
		if err := os.Remove(*envFile); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		fmt.Fprintf(stdout, "demo up (pid %d) was not running\n", pid)
		return nil
	}
	start := time.Now()
	log.Info("stopping demo up", "pid", pid)
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("signal pid %d: %w", pid, err)
	}
	killed := false
	if !waitGone(ctx, pid, timeout) {
		if ctx.Err() != nil {
			return fmt.Errorf("interrupted while waiting for pid %d to exit (SIGTERM sent)", pid)
		}
		log.Warn("demo up did not exit in time; sending SIGKILL", "pid", pid, "waited", timeout)
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			return fmt.Errorf("kill pid %d: %w", pid, err)
		}
		killed = true
		if !waitGone(ctx, pid, 10*time.Second) {
			return fmt.Errorf("pid %d still running after SIGKILL", pid)
		}
	}
	// up removes its env file on a clean exit; after a SIGKILL it could not.
	if p, err := envPID(*envFile); err == nil && p == pid {
		if !killed {
			log.Warn("demo up exited but left its env file; removing it", "env_file", *envFile)
		}
		if err := os.Remove(*envFile); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	how := "stopped"
	if killed {
		how = "killed"
	}
	fmt.Fprintf(stdout, "%s demo up (pid %d) in %s\n", how, pid, time.Since(start).Round(time.Millisecond))
	if killed {
		return fmt.Errorf("pid %d ignored SIGTERM for %s and was killed", pid, timeout)
	}
	return nil
}

// envPID reads the PID=... line of an env file written by 'demo up'.
func envPID(path string) (int, error) {
	env, err := cli.ReadEnvFile(path)
	if err != nil {
		return 0, err
	}
	s, ok := env["PID"]
	if !ok {
		return 0, fmt.Errorf("%s has no PID line", path)
	}
	pid, err := strconv.Atoi(s)
	if err != nil || pid <= 1 {
		return 0, fmt.Errorf("%s: bad PID %q", path, s)
	}
	return pid, nil
}

// demoUpAlive reports whether pid is a running (not zombie) 'demo up'. A
// live process that is not one (the PID was reused) is an error, so that a
// stale env file never gets an unrelated process signalled.
func demoUpAlive(pid int) (bool, error) {
	if !processAlive(pid) {
		return false, nil
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return true, nil // no /proc to check against: trust the env file
	}
	args := bytes.Split(bytes.TrimRight(cmdline, "\x00"), []byte{0})
	for _, a := range args[1:] {
		if string(a) == "up" {
			return true, nil
		}
	}
	return false, fmt.Errorf("pid %d is not a 'demo up' (%q): stale env file? remove it by hand", pid, bytes.Join(args, []byte(" ")))
}

// processAlive reports whether pid exists and is not a zombie (an exited
// child nobody reaped yet counts as gone).
func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	if errors.Is(err, syscall.ESRCH) {
		return false
	}
	stat, rerr := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if rerr != nil {
		return err == nil || errors.Is(err, syscall.EPERM)
	}
	// "pid (comm) S ...": the state follows the last ')'.
	if i := bytes.LastIndexByte(stat, ')'); i >= 0 && i+2 < len(stat) {
		return stat[i+2] != 'Z' && stat[i+2] != 'X'
	}
	return true
}

// waitGone polls until pid is gone, for at most d or until ctx is done.
func waitGone(ctx context.Context, pid int, d time.Duration) bool {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for processAlive(pid) {
		select {
		case <-t.C:
		case <-deadline.C:
			return !processAlive(pid)
		case <-ctx.Done():
			return false
		}
	}
	return true
}
