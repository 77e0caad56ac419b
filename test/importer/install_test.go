package importer_test

import (
	"archive/zip"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// installVersion is the version the module is published as in the test's
// own module proxy.
const installVersion = "v0.0.0-test"

// TestGoInstallAtVersion publishes this checkout as a module version in a
// file-system module proxy (the layout proxy.golang.org serves: list, .info,
// .mod, .zip) and runs `go install github.com/zkbalance/zkbalance/cmd/zkbalance@version`
// with a fresh module cache, as a user on another machine would. go install
// refuses a module whose go.mod has a replace directive, and builds only from
// the files the module zip carries. The dependencies come from the local
// module cache's download directory (itself a proxy), then the usual proxy.
func TestGoInstallAtVersion(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	root := strings.TrimSpace(goCmd(t, ctx, ".", "list", "-m", "-f", "{{.Dir}}"))
	modCache := strings.TrimSpace(goCmd(t, ctx, ".", "env", "GOMODCACHE"))
	upstream := strings.TrimSpace(goCmd(t, ctx, ".", "env", "GOPROXY"))

	proxyDir := t.TempDir()
	publish(t, ctx, root, proxyDir)

	home := t.TempDir()
	cmd := exec.CommandContext(ctx, "go", "install", "github.com/zkbalance/zkbalance/cmd/zkbalance@"+installVersion)
	cmd.Dir = home
	cmd.Env = append(os.Environ(),
		"GOBIN="+filepath.Join(home, "bin"),
		"GOMODCACHE="+filepath.Join(home, "modcache"),
		"GOFLAGS=-modcacherw",
		"GOWORK=off",
		"GONOSUMDB=github.com/zkbalance/zkbalance",
		"GOPROXY=file://"+proxyDir+",file://"+filepath.Join(modCache, "cache", "download")+","+upstream,
	)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go install ...@%s: %v\n%s", installVersion, err, out)
	}
	out, err := exec.CommandContext(ctx, filepath.Join(home, "bin", "zkbalance"), "version").CombinedOutput()
	if err != nil {
		t.Fatalf("installed zkbalance version: %v\n%s", err, out)
	}
	if !strings.HasPrefix(string(out), "zkbalance "+installVersion+", go") {
		t.Errorf("zkbalance version after go install ...@%s: %q; want the module version", installVersion, out)
	}
	t.Logf("go install ...@%s works; zkbalance version: %s", installVersion, strings.TrimSpace(string(out)))
}

// publish writes the module at root (its tracked and untracked, not ignored
// files, as a commit of it would hold) into proxyDir as installVersion.
func publish(t *testing.T, ctx context.Context, root, proxyDir string) {
	t.Helper()
	const mod = "github.com/zkbalance/zkbalance"
	ls, err := exec.CommandContext(ctx, "git", "-C", root, "ls-files", "-z", "--cached", "--others", "--exclude-standard").Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, name := range strings.Split(strings.TrimRight(string(ls), "\x00"), "\x00") {
		info, err := os.Lstat(filepath.Join(root, name))
		if err != nil || !info.Mode().IsRegular() {
			continue // deleted in the work tree, or a symlink (not allowed in module zips)
		}
		data, err := os.ReadFile(filepath.Join(root, name))
		if err != nil {
			t.Fatal(err)
		}
		w, err := zw.Create(mod + "@" + installVersion + "/" + filepath.ToSlash(name))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	goMod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(proxyDir, mod, "@v")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{
		"list":                   []byte(installVersion + "\n"),
		installVersion + ".info": fmt.Appendf(nil, `{"Version":%q,"Time":%q}`, installVersion, time.Now().UTC().Format(time.RFC3339)),
		installVersion + ".mod":  goMod,
		installVersion + ".zip":  buf.Bytes(),
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
