package bench

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/zkbalance/zkbalance/internal/cluster"
)

// MachineFacts describes the machine from /proc: CPU model, cores, memory,
// kernel, and the load average now (others may share the machine).
func MachineFacts() []Fact {
	model := "unknown"
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	mem := "unknown"
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				if kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64); err == nil {
					mem = fmt.Sprintf("%.1f GiB", kb/(1<<20))
				}
			}
		}
	}
	kernel := strings.TrimSpace(readFile("/proc/sys/kernel/osrelease"))
	return []Fact{
		{"machine", fmt.Sprintf("%s, %d cores (runtime.NumCPU), %s memory (/proc/meminfo)", model, runtime.NumCPU(), mem)},
		{"OS", fmt.Sprintf("%s/%s, Linux %s", runtime.GOOS, runtime.GOARCH, kernel)},
	}
}

// LoadAvg is /proc/loadavg's 1, 5 and 15 minute averages.
func LoadAvg() string {
	f := strings.Fields(readFile("/proc/loadavg"))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

func readFile(p string) string {
	data, _ := os.ReadFile(p)
	return string(data)
}

// GoFacts are the Go toolchain and the Go modules the contenders use.
func GoFacts() []Fact {
	out := []Fact{{"Go", runtime.Version()}}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			switch d.Path {
			case "github.com/IBM/sarama":
				out = append(out, Fact{"sarama", d.Version})
			case "github.com/zkbalance/zkbalance/internal/zk":
				out = append(out, Fact{"go-zookeeper/zk", d.Version})
			}
		}
	}
	return out
}

// ClusterFacts names the Kafka and ZooKeeper versions from the jars the
// harness runs (kafka_<scala>-<version>.jar, zookeeper-<version>.jar).
func ClusterFacts(ctx context.Context, brokers int) []Fact {
	kafka, zk := "unknown", "unknown"
	if cache, err := cluster.CacheDir(); err == nil {
		if libs, err := cluster.Jars(ctx, cache); err == nil {
			if m, _ := filepath.Glob(filepath.Join(libs, "kafka_*-*.jar")); len(m) > 0 {
				name := strings.TrimSuffix(filepath.Base(m[0]), ".jar")
				kafka = name[strings.LastIndexByte(name, '-')+1:]
			}
			if m, _ := filepath.Glob(filepath.Join(libs, "zookeeper-[0-9]*.jar")); len(m) > 0 {
				zk = strings.TrimSuffix(strings.TrimPrefix(filepath.Base(m[0]), "zookeeper-"), ".jar")
			}
		}
	}
	return []Fact{
		{"Kafka", fmt.Sprintf("%s (ZooKeeper mode), %d brokers on 127.0.0.1, topics with replication factor 1", kafka, brokers)},
		{"ZooKeeper", zk + " (standalone, tickTime 500 ms)"},
	}
}

// PythonFacts asks the venv's interpreter for its Python, pykafka and
// kazoo versions.
func PythonFacts(ctx context.Context, python string) ([]Fact, error) {
	cmd := exec.CommandContext(ctx, python, "-c",
		"import sys, importlib.metadata as m; print(sys.version.split()[0], m.version('pykafka'), m.version('kazoo'))")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%s: %w: %s", cmd, err, stderr.String())
	}
	f := strings.Fields(string(out))
	if len(f) != 3 {
		return nil, fmt.Errorf("%s printed %q", cmd, out)
	}
	return []Fact{
		{"pykafka", fmt.Sprintf("%s (pure Python, use_rdkafka=False), kazoo %s", f[1], f[2])},
		{"Python", f[0]},
	}, nil
}
