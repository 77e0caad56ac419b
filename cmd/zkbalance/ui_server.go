package main

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/zkbalance/zkbalance/groupstate"
)

// uiAssets is the page: index.html, app.js and style.css, served as they
// are (no build step, nothing from outside the binary).
//
//go:embed uiassets
var uiAssets embed.FS

// uiConfig configures a uiServer.
type uiConfig struct {
	// Interval is how often each watched group is read; History how far
	// back its lag is kept; Timeout bounds each read.
	Interval, History, Timeout time.Duration
	// MaxGroups bounds how many groups are sampled at once; Idle is how
	// long a group nobody asks for is still sampled.
	MaxGroups int
	Idle      time.Duration
}

// uiReadFunc reads one group (groupstate.Read through the command's
// connections).
type uiReadFunc func(ctx context.Context, group string) (*groupstate.Status, error)

// uiListFunc lists the groups (listGroups through the command's
// connections) and the warnings of the listing.
type uiListFunc func(ctx context.Context) ([]groupListEntry, []string, error)

// uiServer serves the page and its JSON, and samples the watched groups.
type uiServer struct {
	cfg  uiConfig
	read uiReadFunc
	list uiListFunc
	log  *slog.Logger
	now  func() time.Time

	mu    sync.Mutex
	watch *watchSet
}

func newUIServer(cfg uiConfig, read uiReadFunc, list uiListFunc, log *slog.Logger) *uiServer {
	if cfg.MaxGroups <= 0 {
		cfg.MaxGroups = 16
	}
	if cfg.Idle <= 0 {
		cfg.Idle = 10 * time.Minute
	}
	return &uiServer{
		cfg: cfg, read: read, list: list, log: log, now: time.Now,
		watch: newWatchSet(cfg.MaxGroups, cfg.Idle, historySize(cfg.History, cfg.Interval)),
	}
}

// serve serves on ln until ctx is done, then shuts the HTTP server down
// (in-flight requests get up to 5 s) and stops the sampler. It returns nil
// after ctx ended, or why serving failed.
func (s *uiServer) serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.handler(),
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return ctx },
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	sampleCtx, stopSampling := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { s.sample(sampleCtx) })
	served := make(chan error, 1)
	wg.Go(func() { served <- srv.Serve(ln) })
	var err error
	select {
	case err = <-served:
		err = fmt.Errorf("ui: serve on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
		shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		if serr := srv.Shutdown(shutCtx); serr != nil {
			err = fmt.Errorf("ui: shut down: %w", serr)
			_ = srv.Close()
		}
		cancel()
	}
	stopSampling()
	wg.Wait()
	return err
}

// sample reads every watched group each interval until ctx is done,
// dropping the groups nobody asked for lately. (A group's first read is
// made by the request that adds it.)
func (s *uiServer) sample(ctx context.Context) {
	tick := time.NewTicker(s.cfg.Interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		s.mu.Lock()
		for _, g := range s.watch.expire(s.now()) {
			s.log.Debug("ui: no longer sampling an idle group", "group", g)
		}
		names := s.watch.names()
		s.mu.Unlock()
		for _, g := range names {
			if ctx.Err() != nil {
				return
			}
			s.sampleGroup(ctx, g)
		}
	}
}

// sampleGroup reads group and records the read (when it is still
// watched); a group that does not exist is no longer watched.
func (s *uiServer) sampleGroup(ctx context.Context, group string) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	t := s.now()
	st, err := s.read(ctx, group)
	var js *statusJSON
	if err == nil {
		js = &statusJSON{Status: st, Rows: statusRows(st.Partitions)}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if errors.Is(err, groupstate.ErrNoGroup) {
		s.watch.remove(group)
		return err
	}
	if g := s.watch.get(group); g != nil {
		g.record(t, js, err)
	}
	if err != nil && ctx.Err() == nil {
		s.log.Warn("ui: read failed", "group", group, "err", err)
	}
	return err
}

// handler routes the page and the API.
func (s *uiServer) handler() http.Handler {
	mux := http.NewServeMux()
	assets, err := fs.Sub(uiAssets, "uiassets")
	if err != nil {
		panic(err) // the embedded directory is part of the binary
	}
	files := http.FileServerFS(assets)
	mux.Handle("GET /{$}", files)
	mux.Handle("GET /app.js", files)
	mux.Handle("GET /style.css", files)
	mux.HandleFunc("GET /api/groups", s.handleGroups)
	mux.HandleFunc("GET /api/group", s.handleGroup)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		// Everything the page loads comes from this server.
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		mux.ServeHTTP(w, r)
	})
}

// uiGroupsJSON is the answer of /api/groups.
type uiGroupsJSON struct {
	Groups   []groupListEntry `json:"groups"`
	Warnings []string         `json:"warnings,omitempty"`
	// Watched are the groups being sampled now.
	Watched []string `json:"watched"`
	Time    string   `json:"time"`
}

func (s *uiServer) handleGroups(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.Timeout)
	defer cancel()
	list, warnings, err := s.list(ctx)
	if err != nil {
		writeAPIError(w, http.StatusBadGateway, fmt.Errorf("list groups: %w", err))
		return
	}
	s.mu.Lock()
	watched := s.watch.names()
	s.mu.Unlock()
	writeAPI(w, http.StatusOK, uiGroupsJSON{Groups: list, Warnings: warnings, Watched: watched, Time: s.now().UTC().Format(time.RFC3339)})
}

// uiGroupJSON is the answer of /api/group?name=G.
type uiGroupJSON struct {
	Group string `json:"group"`
	// Status is the latest successful read, as 'status --group G --json'
	// prints it; null before the first.
	Status *statusJSON `json:"status"`
	// Time is when the latest read was made, Error why it failed (omitted
	// when it did not: then Status is that read).
	Time  time.Time `json:"time"`
	Error string    `json:"error,omitempty"`
	// TotalLag is the TOTAL line's lag of Status.
	TotalLag int64 `json:"total_lag"`
	// History is the lag over the last --history, oldest first, one sample
	// per --interval.
	History         []lagSample `json:"history"`
	IntervalSeconds float64     `json:"interval_seconds"`
	HistorySeconds  float64     `json:"history_seconds"`
}

func (s *uiServer) handleGroup(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Query().Get("name")
	if name == "" {
		writeAPIError(w, http.StatusBadRequest, errors.New("missing ?name=<group>"))
		return
	}
	s.mu.Lock()
	g, _, evicted := s.watch.view(name, s.now())
	fresh := g.last == nil && g.lastErr == ""
	s.mu.Unlock()
	if evicted != "" {
		s.log.Info("ui: too many groups watched, no longer sampling the least recently viewed", "group", evicted)
	}
	if fresh { // never read yet: read it now rather than answer empty
		if err := s.sampleGroup(r.Context(), name); errors.Is(err, groupstate.ErrNoGroup) {
			writeAPIError(w, http.StatusNotFound, err)
			return
		}
	}
	s.mu.Lock()
	ans := uiGroupJSON{
		Group: name, Status: g.last, Time: g.lastTime, Error: g.lastErr, History: g.history.samples(),
		IntervalSeconds: s.cfg.Interval.Seconds(), HistorySeconds: s.cfg.History.Seconds(),
	}
	if g.last != nil {
		ans.TotalLag = rowsTotalLag(g.last.Rows)
	}
	s.mu.Unlock()
	writeAPI(w, http.StatusOK, ans)
}

func writeAPI(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v) // the client went away: nothing to do
}

func writeAPIError(w http.ResponseWriter, code int, err error) {
	writeAPI(w, code, struct {
		Error string `json:"error"`
	}{err.Error()})
}

// serveURL is the address to open for a listener's address: the host as
// bound, or localhost when it listens on every interface.
func serveURL(addr net.Addr) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return "http://" + addr.String() + "/"
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		if ip != nil || host == "" {
			host = "localhost"
		}
	}
	return (&url.URL{Scheme: "http", Host: net.JoinHostPort(host, port), Path: "/"}).String()
}
