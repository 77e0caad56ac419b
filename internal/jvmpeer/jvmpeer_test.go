package jvmpeer

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

func TestParseTP(t *testing.T) {
	for _, c := range []struct {
		in   string
		want TopicPartition
		ok   bool
	}{
		{"t:0", TopicPartition{Topic: "t", Partition: 0}, true},
		{"u.v-w_x:10", TopicPartition{Topic: "u.v-w_x", Partition: 10}, true},
		{"a:b:3", TopicPartition{Topic: "a:b", Partition: 3}, true},
		{"t:2147483647", TopicPartition{Topic: "t", Partition: 2147483647}, true},
		{"t:2147483648", TopicPartition{}, false},
		{"t:-1", TopicPartition{}, false},
		{":1", TopicPartition{}, false},
		{"t", TopicPartition{}, false},
		{"t:", TopicPartition{}, false},
		{"t:x", TopicPartition{}, false},
		{"", TopicPartition{}, false},
	} {
		got, ok := ParseTP(c.in)
		if got != c.want || ok != c.ok {
			t.Errorf("ParseTP(%q) = %v, %v; want %v, %v", c.in, got, ok, c.want, c.ok)
		}
		if ok && got.String() != c.in {
			t.Errorf("ParseTP(%q).String() = %q", c.in, got.String())
		}
	}
}

func TestParseCommits(t *testing.T) {
	tp := func(t string, p int32) TopicPartition { return TopicPartition{Topic: t, Partition: p} }
	for _, c := range []struct {
		in   string
		want map[TopicPartition]int64
		ok   bool
	}{
		{"t:0=5", map[TopicPartition]int64{tp("t", 0): 5}, true},
		{"t:0=5,u:1=0", map[TopicPartition]int64{tp("t", 0): 5, tp("u", 1): 0}, true},
		{"", nil, false},
		{"t:0", nil, false},
		{"t:0=-1", nil, false},
		{"t:0=x", nil, false},
		{"t=1", nil, false},
		{"t:0=1,", nil, false},
	} {
		got, ok := ParseCommits(c.in)
		if ok != c.ok || !maps.Equal(got, c.want) {
			t.Errorf("ParseCommits(%q) = %v, %v; want %v, %v", c.in, got, ok, c.want, c.ok)
		}
	}
}

func TestCompareTP(t *testing.T) {
	tps := []TopicPartition{{Topic: "b", Partition: 0}, {Topic: "a", Partition: 10}, {Topic: "a", Partition: 2}}
	slices.SortFunc(tps, CompareTP)
	want := []TopicPartition{{Topic: "a", Partition: 2}, {Topic: "a", Partition: 10}, {Topic: "b", Partition: 0}}
	if !slices.Equal(tps, want) {
		t.Fatalf("sorted %v, want %v", tps, want)
	}
}

// Dir names the classes as the peer packages did before they shared it, so
// existing caches stay valid.
func TestDirHash(t *testing.T) {
	d := Driver{Prefix: "javapeer-", Recipe: "r v1", Key: "/c/libs/kafka-clients-3.9.1.jar",
		Source: []byte("class Member {}"), Log4j: []byte("log4j.rootLogger=WARN")}
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s\n", d.Recipe, d.Key)
	h.Write(d.Source)
	h.Write(d.Log4j)
	if got, want := d.Dir("/c"), "/c/javapeer-"+hex.EncodeToString(h.Sum(nil)[:6]); got != want {
		t.Fatalf("Dir = %s, want %s", got, want)
	}
	for _, e := range []func(*Driver){
		func(d *Driver) { d.Recipe += "x" },
		func(d *Driver) { d.Key += "x" },
		func(d *Driver) { d.Source = append(d.Source, 'x') },
		func(d *Driver) { d.Log4j = append(d.Log4j, 'x') },
	} {
		d2 := d
		e(&d2)
		if d2.Dir("/c") == d.Dir("/c") {
			t.Errorf("a changed input kept the directory %s", d.Dir("/c"))
		}
	}
}

func TestJavacArgs(t *testing.T) {
	for _, c := range []struct {
		flags []string
		want  string
	}{
		{nil, "--release 17 -encoding UTF-8 -d /o -cp /l/* /o/M.java"},
		{[]string{"-nowarn"}, "--release 17 -nowarn -encoding UTF-8 -d /o -cp /l/* /o/M.java"},
	} {
		d := Driver{Libs: "/l", Flags: c.flags}
		if got := strings.Join(javacArgs(d, "/o", "/o/M.java"), " "); got != c.want {
			t.Errorf("flags %q: javac %s, want %s", c.flags, got, c.want)
		}
	}
}

// A machine without a JDK gets an error naming javac, never a skip.
func TestJavacMissing(t *testing.T) {
	t.Setenv("JAVA_HOME", t.TempDir())
	t.Setenv("PATH", t.TempDir())
	_, err := Driver{Pkg: "p", What: "the P member"}.Javac()
	if err == nil || !strings.HasPrefix(err.Error(), "p: ") || !strings.Contains(err.Error(), "javac") || !errors.Is(err, exec.ErrNotFound) {
		t.Fatalf("Javac without a JDK: %v, want a p: error naming javac wrapping exec.ErrNotFound", err)
	}
}
