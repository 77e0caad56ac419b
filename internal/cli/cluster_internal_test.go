package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestResolveAddrs(t *testing.T) {
	file := map[string]string{"ZOOKEEPER": "127.0.0.1:1", "KAFKA_ZOOKEEPER_CONNECT": "127.0.0.1:1/kafka", "BROKERS": "127.0.0.1:9,127.0.0.1:10"}
	readFile := func() (map[string]string, error) { return file, nil }
	noFile := func() (map[string]string, error) { return nil, fmt.Errorf("read env file: %w", os.ErrNotExist) }
	badFile := func() (map[string]string, error) { return nil, errors.New("env file x line 2: want KEY=VALUE") }
	env := func(kv ...string) func(string) string {
		return func(k string) string {
			for i := 0; i+1 < len(kv); i += 2 {
				if kv[i] == k {
					return kv[i+1]
				}
			}
			return ""
		}
	}
	for _, tc := range []struct {
		name          string
		zkFlag, bFlag string
		getenv        func(string) string
		readEnv       func() (map[string]string, error)
		wantZK, wantB string
		wantErr       string
		wantUsage     bool
	}{
		{"flags only", "zk:2181/k", "b1:9092, b2:9092,", env(), nil, "zk:2181/k", "b1:9092,b2:9092", "", false},
		{"flags win over env and file", "zk:2181", "b:1", env(EnvZooKeeper, "e:1", EnvBrokers, "eb:1"), readFile, "zk:2181", "b:1", "", false},
		{"env vars", "", "", env(EnvZooKeeper, "e:1/c", EnvBrokers, "eb:1"), readFile, "e:1/c", "eb:1", "", false},
		{"env zookeeper, no brokers anywhere", "", "", env(EnvZooKeeper, "e:1"), noFile, "e:1", "", "", false},
		{"env zookeeper, file of another cluster: its brokers unused", "", "", env(EnvZooKeeper, "e:1"), readFile, "e:1", "", "", false},
		{"flag zookeeper of the file's cluster: its brokers used", "127.0.0.1:1/kafka", "", env(), readFile, "127.0.0.1:1/kafka", "127.0.0.1:9,127.0.0.1:10", "", false},
		{"file only", "", "", env(), readFile, "127.0.0.1:1/kafka", "127.0.0.1:9,127.0.0.1:10", "", false},
		{"file without KAFKA_ZOOKEEPER_CONNECT", "", "", env(), func() (map[string]string, error) { return map[string]string{"ZOOKEEPER": "z:1"}, nil }, "z:1", "", "", false},
		{"flag brokers, file zookeeper", "", "b:1", env(), readFile, "127.0.0.1:1/kafka", "b:1", "", false},
		{"nothing, no file", "", "", env(), noFile, "", "", "run 'demo up' here", true},
		{"nothing, file disabled", "", "", env(), nil, "", "", "set $" + EnvZooKeeper, true},
		{"broken file", "", "", env(), badFile, "", "", "want KEY=VALUE", false},
		{"zookeeper given: broken file not read", "zk:1", "b:1", env(), badFile, "zk:1", "b:1", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			zk, bs, err := resolveAddrs(tc.zkFlag, tc.bFlag, tc.getenv, tc.readEnv, ".zkbalance.env")
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || errors.Is(err, ErrUsage) != tc.wantUsage {
					t.Fatalf("err %v; want one with %q (usage error: %v)", err, tc.wantErr, tc.wantUsage)
				}
				return
			}
			if err != nil || zk != tc.wantZK || strings.Join(bs, ",") != tc.wantB {
				t.Fatalf("got %q %q %v; want %q %q", zk, bs, err, tc.wantZK, tc.wantB)
			}
		})
	}
}

func TestReadEnvFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good")
	if err := os.WriteFile(good, []byte("# comment\n\nZOOKEEPER = 127.0.0.1:1\nBROKERS=a:1,b:2\nEMPTY=\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	env, err := ReadEnvFile(good)
	if err != nil || env["ZOOKEEPER"] != "127.0.0.1:1" || env["BROKERS"] != "a:1,b:2" || len(env) != 3 {
		t.Errorf("ReadEnvFile = %v, %v", env, err)
	}
	bad := filepath.Join(dir, "bad")
	if err := os.WriteFile(bad, []byte("A=1\nnot a pair\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadEnvFile(bad); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("bad file: %v", err)
	}
	if _, err := ReadEnvFile(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v; want os.ErrNotExist", err)
	}
}

func TestBuildVersion(t *testing.T) {
	for _, tc := range []struct {
		bi                   debug.BuildInfo
		linkedRev, linkedMod string
		want                 string
	}{
		{debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "(devel)"}}, "", "", "(devel), go1.26.0"},
		{debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "v1.2.3"}}, "", "", "v1.2.3, go1.26.0"},
		{debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "v0.0.0-20260101000000-0123456789ab"}}, "", "",
			"v0.0.0-20260101000000-0123456789ab, go1.26.0"},
		{debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "v0.0.0-20260101000000-0123456789ab+dirty"}, Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "0123456789abcdef0123"}, {Key: "vcs.modified", Value: "true"}}}, "", "",
			"v0.0.0-20260101000000-0123456789ab+dirty, commit 0123456789ab+dirty, go1.26.0"},
		{debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "(devel)"}}, "fedcba9876543210", "false",
			"(devel), commit fedcba987654, go1.26.0"},
		{debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "0123456789abcdef0123"}}}, "fedcba9876543210", "true",
			"(devel), commit 0123456789ab, go1.26.0"},
		{debug.BuildInfo{Main: debug.Module{}}, "", "", "(devel), " + runtime.Version()},
	} {
		if got := buildVersion(&tc.bi, tc.linkedRev, tc.linkedMod); got != tc.want {
			t.Errorf("buildVersion = %q; want %q", got, tc.want)
		}
	}
}
