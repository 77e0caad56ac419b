package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zkbalance/zkbalance/groupstate"
)

// The HTTP layer of 'zkbalance ui' over a stand-in reader (no cluster):
// routes, headers, errors, sampling and shutdown. The page against the
// real cluster and a real browser is TestUIBrowser.

// uiFakeCluster answers reads with a lag that grows by one per read.
type uiFakeCluster struct {
	mu    sync.Mutex
	reads map[string]int
}

func (f *uiFakeCluster) read(_ context.Context, group string) (*groupstate.Status, error) {
	if group != "g" {
		return nil, fmt.Errorf("read group %s: %w", group, groupstate.ErrNoGroup)
	}
	f.mu.Lock()
	f.reads[group]++
	n := int64(f.reads[group])
	f.mu.Unlock()
	return &groupstate.Status{Group: group, Partitions: []groupstate.Partition{
		{Topic: "t", Partition: 0, Committed: 10, LogEnd: 10 + n, Lag: n, Source: groupstate.SourceZooKeeper},
	}}, nil
}

func (f *uiFakeCluster) list(context.Context) ([]groupListEntry, []string, error) {
	return []groupListEntry{{Group: "g", Members: 1}}, []string{"a warning"}, nil
}

// uiStart serves a uiServer on 127.0.0.1:0 until the test ends and returns
// its base URL.
func uiStart(t *testing.T, cfg uiConfig, read uiReadFunc, list uiListFunc) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := newUIServer(cfg, read, list, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.serve(ctx, ln) }() // the cleanup waits for it
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("serve did not return within 10 s of the cancel")
		}
	})
	return serveURL(ln.Addr())
}

func uiGet(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

func TestUIServerRoutes(t *testing.T) {
	f := &uiFakeCluster{reads: map[string]int{}}
	base := uiStart(t, uiConfig{Interval: 50 * time.Millisecond, History: time.Second, Timeout: 5 * time.Second}, f.read, f.list)

	for _, c := range []struct {
		path, ctype, contains string
		code                  int
	}{
		{"", "text/html", `<script src="app.js"`, 200},
		{"app.js", "javascript", "api/group?name=", 200},
		{"style.css", "text/css", "#chart", 200},
		{"api/groups", "application/json", `"group": "g"`, 200},
		{"api/group", "application/json", "missing ?name=", 400},
		{"api/group?name=nope", "application/json", "no such group", 404},
		{"uiassets/app.js", "", "", 404},
		{"nothing", "", "", 404},
	} {
		resp, body := uiGet(t, base+c.path)
		if resp.StatusCode != c.code || !strings.Contains(resp.Header.Get("Content-Type"), c.ctype) || !strings.Contains(strings.ReplaceAll(body, `":"`, `": "`), c.contains) {
			t.Errorf("GET /%s: %d %q\n%.300s\nwant %d, %q containing %q", c.path, resp.StatusCode, resp.Header.Get("Content-Type"), body, c.code, c.ctype, c.contains)
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.HasPrefix(csp, "default-src 'self'") {
			t.Errorf("GET /%s: Content-Security-Policy %q", c.path, csp)
		}
	}
	if resp, err := http.Post(base+"api/group?name=g", "text/plain", nil); err != nil || resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /api/group: %v %v, want 405", resp.Status, err)
	}

	// The first request reads the group; the sampler adds a sample per
	// interval, each with its lag.
	var d uiGroupJSON
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, body := uiGet(t, base+"api/group?name=g")
		d = uiGroupJSON{}
		if err := json.Unmarshal([]byte(body), &d); err != nil {
			t.Fatalf("%v\n%s", err, body)
		}
		if len(d.History) >= 3 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if d.Status == nil || len(d.History) < 3 || d.Error != "" {
		t.Fatalf("after a while: status %v, %d samples, error %q; want 3 samples or more", d.Status, len(d.History), d.Error)
	}
	last := d.History[len(d.History)-1]
	if d.TotalLag != *last.Lag || *last.Lag != last.Topics["t"] || *d.History[0].Lag >= *last.Lag {
		t.Errorf("total_lag %d, history %+v: want growing lags, the last equal to total_lag", d.TotalLag, d.History)
	}
	if len(d.History) > historySize(time.Second, 50*time.Millisecond) {
		t.Errorf("%d samples, more than the ring holds (%d)", len(d.History), historySize(time.Second, 50*time.Millisecond))
	}
	var gl uiGroupsJSON
	_, body := uiGet(t, base+"api/groups")
	if err := json.Unmarshal([]byte(body), &gl); err != nil || len(gl.Watched) != 1 || gl.Watched[0] != "g" {
		t.Errorf("/api/groups watched = %v (%v), want [g]", gl.Watched, err)
	}
}

func TestServeURL(t *testing.T) {
	for _, c := range []struct{ addr, want string }{
		{"127.0.0.1:8080", "http://127.0.0.1:8080/"},
		{"0.0.0.0:80", "http://localhost:80/"},
		{"[::]:9000", "http://localhost:9000/"},
		{"[::1]:9000", "http://[::1]:9000/"},
		{"myhost:1", "http://myhost:1/"},
	} {
		addr, err := net.ResolveTCPAddr("tcp", c.addr)
		var a net.Addr = addr
		if err != nil {
			a = fakeAddr(c.addr)
		}
		if got := serveURL(a); got != c.want {
			t.Errorf("serveURL(%s) = %s, want %s", c.addr, got, c.want)
		}
	}
}

type fakeAddr string

func (a fakeAddr) Network() string { return "tcp" }
func (a fakeAddr) String() string  { return string(a) }

// TestUIUsage: --help, and bad flags found before anything connects.
func TestUIUsage(t *testing.T) {
	r := runBin(t, time.Minute, "ui", "--help")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "usage: zkbalance ui") || !strings.Contains(r.stdout, "\nexamples:\n  zkbalance ui") || !strings.Contains(r.stdout, "/api/group?name=G") {
		t.Errorf("ui --help: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--interval", "0s"}, "--interval must be positive"},
		{[]string{"--interval", "10s", "--history", "5s"}, "--history must be at least --interval"},
		{[]string{"--timeout", "-1s"}, "flag -timeout: must be positive"},
		{[]string{"--listen", "8080"}, `--listen "8080"`},
		{[]string{"stray"}, "unexpected arguments"},
	} {
		r := runBin(t, time.Minute, offlineArgs("ui", c.args...)...)
		if r.code != 2 || !strings.Contains(r.stderr, c.want) {
			t.Errorf("ui %v: exit %d, stderr %q; want exit 2 and %q", c.args, r.code, r.stderr, c.want)
		}
	}
}
