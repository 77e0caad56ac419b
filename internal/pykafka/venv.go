package pykafka

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/zkbalance/zkbalance/internal/cachedir"

	"github.com/zkbalance/zkbalance/internal/cluster"
)

// PythonEnv names the environment variable that selects the Python
// interpreter venvs are made from; default: python3 on PATH.
const PythonEnv = "ZKBALANCE_PYTHON"

// Pykafka releases with a tested pin set.
const (
	// V28 is pykafka 2.8.0, the last release (pins kazoo==2.5.0 itself).
	V28 = "2.8.0"
	// V26 is pykafka 2.6.0, the last 2.6.x (has the consume()-holds-the-
	// rebalance-lock behaviour: no unblock_event, see the package doc).
	V26 = "2.6.0"
)

// buildPins are installed first and then used for the pykafka sdist build
// (pip --no-build-isolation), so its setup.py (distutils, setuptools.command.test)
// always meets the same setuptools instead of whatever is newest on PyPI.
var buildPins = []string{"setuptools==69.5.1", "wheel==0.43.0"}

// requirements are the exact runtime pins per pykafka version. All but
// pykafka install from wheels (--only-binary); pykafka is sdist-only on PyPI.
//
// kazoo: pykafka 2.8.0 pins kazoo==2.5.0; 2.6.0 leaves it open. kazoo 2.5.0
// is the oldest that imports on Python >= 3.7 (2.4.0 uses `async` as a keyword
// argument: SyntaxError), and it works on 3.11, so both use it. 2.6.0 also
// requires gevent (imported unconditionally by pykafka.handlers).
var requirements = map[string][]string{
	V28:     {"pykafka==2.8.0", "kazoo==2.5.0", "six==1.17.0", "tabulate==0.10.0"},
	"2.7.0": {"pykafka==2.7.0", "kazoo==2.5.0", "six==1.17.0", "tabulate==0.10.0"},
	V26: {"pykafka==2.6.0", "kazoo==2.5.0", "six==1.17.0", "tabulate==0.10.0",
		"gevent==26.9.0", "greenlet==3.5.6", "zope.event==6.2", "zope.interface==8.7"},
}

// recipe names the install procedure below; change it when the procedure
// changes so that cached venvs made the old way are not used.
const recipe = "venv+pip: build pins, --only-binary deps, --no-build-isolation pykafka with CC=false, pip check, v1"

// Versions lists the pykafka versions Venv can install.
func Versions() []string {
	vs := make([]string, 0, len(requirements))
	for v := range requirements {
		vs = append(vs, v)
	}
	slices.Sort(vs)
	return vs
}

// Venv returns the interpreter of a Python virtual environment holding
// pykafka==version and its pinned dependencies, creating it on first use.
//
// The environment lives in the cache directory of the cluster harness
// ($ZKBALANCE_CACHE, else <user cache dir>/zkbalance), in
// venv-pykafka-<version>-<hash>, where the hash covers the pins, the install
// recipe and the Python version. It is made in a temporary directory and
// renamed into place once complete and verified, under a file lock, so
// concurrent test processes wait for one creation and a half-made venv is
// never used. Creation needs PyPI (pip as configured on the machine); later
// calls need no network.
func Venv(ctx context.Context, version string) (python string, err error) {
	reqs, ok := requirements[version]
	if !ok {
		return "", fmt.Errorf("pykafka: no pins for pykafka %q (known: %s)", version, strings.Join(Versions(), ", "))
	}
	base, err := basePython()
	if err != nil {
		return "", err
	}
	pyver, err := output(ctx, base, "-c", "import sys; print(sys.version.split()[0])")
	if err != nil {
		return "", fmt.Errorf("pykafka: %s does not run: %w", base, err)
	}
	pyver = strings.TrimSpace(pyver)
	if !strings.HasPrefix(pyver, "3.") {
		return "", fmt.Errorf("pykafka: %s is Python %s, want 3.x", base, pyver)
	}
	cacheDir, err := cluster.CacheDir()
	if err != nil {
		return "", err
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\npython %s\nbuild %s\n%s\n", recipe, pyver, strings.Join(buildPins, " "), strings.Join(reqs, "\n"))
	key := hex.EncodeToString(h.Sum(nil)[:6])
	name := "venv-pykafka-" + version + "-" + key
	dir := filepath.Join(cacheDir, name)
	python = filepath.Join(dir, "bin", "python")
	err = cachedir.Ensure(ctx, cachedir.Spec{
		Dir:   dir,
		Stamp: []byte(pyver + "\n" + strings.Join(reqs, "\n") + "\n"),
		Fill:  func(ctx context.Context, tmp string) error { return create(ctx, base, tmp, version, reqs) },
		// A venv's interpreter finds its site-packages from bin/../pyvenv.cfg,
		// so the renamed venv works (pip's console scripts keep the old path
		// in their #! line, which is why everything here runs `python -m
		// pip`). Check it.
		Check: func(ctx context.Context, _ string) error { return verify(ctx, python, version) },
	})
	if err != nil {
		return "", err
	}
	return python, nil
}

// basePython is the interpreter venvs are made from.
func basePython() (string, error) {
	if p := os.Getenv(PythonEnv); p != "" {
		return p, nil
	}
	p, err := exec.LookPath("python3")
	if err != nil {
		return "", fmt.Errorf("pykafka: Python 3 (python3) is needed to run pykafka members: %w", err)
	}
	return p, nil
}

// create makes the venv in dir and installs the pins; its output goes to
// dir/install.log, whose tail is in the error.
func create(ctx context.Context, base, dir, version string, reqs []string) error {
	var log bytes.Buffer
	run := func(env []string, name string, args ...string) error {
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.Env = append(os.Environ(), env...)
		// Own process group, killed whole on ctx's end; killed too when
		// this process dies, so no orphaned pip writes into a directory
		// the next creator removes and starts again.
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
		cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
		fmt.Fprintf(&log, "$ %s\n", cmd.String())
		cmd.Stdout, cmd.Stderr = &log, &log
		err := cmd.Run()
		_ = os.WriteFile(filepath.Join(dir, "install.log"), log.Bytes(), 0o644)
		if err != nil {
			return fmt.Errorf("pykafka: creating the pykafka %s venv: %s: %w\n%s", version, cmd.String(), err, cluster.Tail(log.Bytes(), 40))
		}
		return nil
	}
	pipEnv := []string{"PIP_NO_INPUT=1", "PIP_DISABLE_PIP_VERSION_CHECK=1", "PYTHONDONTWRITEBYTECODE=1"}
	if err := run(pipEnv, base, "-m", "venv", dir); err != nil {
		return err
	}
	py := filepath.Join(dir, "bin", "python")
	pip := []string{"-m", "pip", "install", "--no-input", "--no-compile", "--progress-bar", "off"}
	if err := run(pipEnv, py, append(pip, buildPins...)...); err != nil {
		return err
	}
	var deps []string
	var pk string
	for _, r := range reqs {
		if strings.HasPrefix(r, "pykafka==") {
			pk = r
		} else {
			deps = append(deps, r)
		}
	}
	if err := run(pipEnv, py, append(append(pip, "--only-binary", ":all:"), deps...)...); err != nil {
		return err
	}
	// pykafka's setup.py tries to build its optional librdkafka extension
	// and falls back to pure Python when compiling fails; CC=false makes it
	// fail the same way on every machine (with or without librdkafka-dev).
	if err := run(append(pipEnv, "CC=false"), py, append(pip, "--no-build-isolation", "--no-deps", pk)...); err != nil {
		return err
	}
	if err := run(pipEnv, py, "-m", "pip", "check"); err != nil {
		return err
	}
	return verify(ctx, py, version)
}

// verify imports pykafka, its balanced consumer and kazoo with python and
// checks the version.
func verify(ctx context.Context, python, version string) error {
	out, err := output(ctx, python, "-c",
		"import pykafka, kazoo.client, pykafka.balancedconsumer; print(pykafka.__version__)")
	if err != nil {
		return fmt.Errorf("pykafka: venv %s: %w", python, err)
	}
	if got := strings.TrimSpace(out); got != version {
		return fmt.Errorf("pykafka: venv %s has pykafka %s, want %s", python, got, version)
	}
	return nil
}

func output(ctx context.Context, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%s: %w\n%s", cmd.String(), err, cluster.Tail(stderr.Bytes(), 20))
	}
	return string(out), nil
}
