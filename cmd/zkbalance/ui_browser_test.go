package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/zkbalance/zkbalance/balanced"
	"github.com/zkbalance/zkbalance/internal/cluster"
)

var uiScreenshot = flag.String("ui.screenshot", "", "also write TestUIBrowser's screenshot (PNG) to this file")

// uiChromiumHelp is how to get the browser TestUIBrowser drives.
const uiChromiumHelp = "run `make chromium` (as root it runs: apt-get update && apt-get install -y --no-install-recommends chromium; `make test` runs it first), or set $ZKBALANCE_CHROMIUM to a Chromium or Chrome binary"

// uiChromium is the headless browser of TestUIBrowser: $ZKBALANCE_CHROMIUM,
// else chromium on $PATH. Without one the test fails, saying how to
// install it: it is never skipped.
func uiChromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("ZKBALANCE_CHROMIUM"); p != "" {
		return p
	}
	p, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("TestUIBrowser needs headless Chromium, which is not installed (%v): %s", err, uiChromiumHelp)
	}
	return p
}

// uiPage is what the page shows of the selected group (read from its DOM).
type uiPage struct {
	Loaded  bool     `json:"loaded"`
	Name    string   `json:"name"`
	Members []string `json:"members"`
	Total   string   `json:"total"`
	Rows    []struct {
		Topic     string `json:"topic"`
		Partition int32  `json:"partition"`
		Committed string `json:"committed"`
		LogEnd    string `json:"logEnd"`
		Lag       string `json:"lag"`
		Owner     string `json:"owner"`
	} `json:"rows"`
	Samples     int      `json:"samples"`
	TotalPoints int      `json:"totalPoints"`
	TopicSeries []string `json:"topicSeries"`
	Error       string   `json:"error"`
}

const uiPageJS = `(() => {
  const $ = (id) => document.getElementById(id);
  const total = document.querySelector('#chart path[data-series="total"]');
  return {
    loaded: $('group').dataset.loaded === 'true',
    name: $('group-name').textContent,
    members: [...document.querySelectorAll('#members li[data-member]')].map((li) => li.dataset.member),
    total: $('total-lag').textContent,
    rows: [...document.querySelectorAll('#partitions tbody tr[data-topic]')].map((tr) => ({
      topic: tr.dataset.topic, partition: Number(tr.dataset.partition), committed: tr.cells[2].textContent,
      logEnd: tr.cells[3].textContent, lag: tr.cells[4].textContent, owner: tr.cells[5].textContent})),
    samples: Number($('chart').dataset.samples),
    totalPoints: total ? Number(total.dataset.points) : 0,
    topicSeries: [...document.querySelectorAll('#chart path[data-series]')].map((p) => p.dataset.series).filter((s) => s !== 'total').sort(),
    error: $('group-error').textContent,
  };
})()`

// TestUIBrowser: 'zkbalance ui' against the real cluster, in a real
// headless Chromium. Two balanced members of a group consume two topics
// (2 x 20 and 1 x 10 messages), marking only the first 7 of each
// partition; the page lists the group (and a Kafka-only group), and once
// the group is clicked shows both member ids, each partition's committed
// offset, log end and lag as the test reads them itself (ZooKeeper's
// offset znodes, the brokers' log end), the total, and a lag chart of 2
// samples or more with a line per topic besides the total. The
// screenshot is written to the test's temp dir (and to -ui.screenshot).
func TestUIBrowser(t *testing.T) {
	begin := time.Now()
	cluster.SkipShort(t)
	chromium := uiChromium(t) // before the cluster starts: fail fast without a browser
	cl := shared.Get(t)
	ctx := stCtx(t, 2*time.Minute)
	const marked = 7
	// Two topics: 2 x 20 messages and 1 x 10; each member marks offsets
	// below 7 of every partition, so 7 is committed everywhere.
	topic := stTopic(t, ctx, 20, 20)
	topic2 := stTopic(t, ctx, 10)
	parts := []rowKey{{topic, 0}, {topic, 1}, {topic2, 0}}
	group := stName(t, "ui")
	ids := []string{group + "-a", group + "-b"}

	handler := balanced.HandlerFunc(func(ctx context.Context, claim *balanced.Claim) error {
		for {
			m, err := claim.Next(ctx)
			if err != nil {
				return nil
			}
			if m.Offset < marked {
				claim.Mark(m)
			}
		}
	})
	runCtx, stopMembers := context.WithCancel(context.Background())
	var members sync.WaitGroup
	t.Cleanup(func() { stopMembers(); members.Wait() })
	for _, id := range ids {
		c, err := balanced.New(balanced.Config{
			ZooKeeper: cl.KafkaZooKeeperConnect(), Brokers: cl.BrokerAddrs(), Group: group, Topics: []string{topic, topic2},
			MemberID: id, CommitInterval: 200 * time.Millisecond, Logger: slog.New(slog.DiscardHandler),
		})
		if err != nil {
			t.Fatal(err)
		}
		members.Go(func() {
			if err := c.Run(runCtx, handler); err != nil && runCtx.Err() == nil {
				t.Errorf("member %s: %v", id, err)
			}
		})
	}
	// A Kafka-only group (committed offsets, no member): listed too.
	kafkaGroup := stName(t, "uik")
	stCommitKafka(t, stClient(t), kafkaGroup, topic, map[int32]int64{0: 3})

	// The expected lags, read independently: ZooKeeper's offset znodes and
	// the brokers' log end, once every partition has its commit and an
	// owner, and both members own some.
	conn := stDial(t, ctx)
	for {
		var bad []string
		owners := map[string]bool{}
		for _, k := range parts {
			off, _ := stGet(t, ctx, conn, fmt.Sprintf("/consumers/%s/offsets/%s/%d", group, k.topic, k.partition))
			owner, _ := stGet(t, ctx, conn, fmt.Sprintf("/consumers/%s/owners/%s/%d", group, k.topic, k.partition))
			if off != strconv.Itoa(marked) || owner == "" {
				bad = append(bad, fmt.Sprintf("%s/%d: offset %q, owner %q", k.topic, k.partition, off, owner))
			}
			owners[strings.TrimSuffix(owner, "-0")] = true
		}
		if len(bad) == 0 && owners[ids[0]] && owners[ids[1]] {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("group %s never settled: %v, owners %v (want offset %d everywhere, both members owning)", group, bad, owners, marked)
		}
		time.Sleep(100 * time.Millisecond)
	}
	wantLogEnd, wantLag := map[rowKey]int64{}, map[rowKey]int64{}
	var wantTotal int64
	for _, tp := range []string{topic, topic2} {
		ends, err := cl.LogEndOffsets(ctx, tp)
		if err != nil {
			t.Fatal(err)
		}
		for p, end := range ends {
			k := rowKey{tp, p}
			wantLogEnd[k], wantLag[k] = end, end-marked
			wantTotal += end - marked
		}
	}
	if wantTotal != 13+13+3 {
		t.Fatalf("log end %v: want 20, 20 and 10", wantLogEnd)
	}
	t.Logf("group %s ready (%s): log end %v, committed %d, lag %v", group, time.Since(begin).Round(time.Millisecond), wantLogEnd, marked, wantLag)

	// The command itself, in-process: it prints the URL it serves on.
	uiCtx, stopUI := context.WithCancel(context.Background())
	outR, outW := io.Pipe()
	var stderr syncBuffer
	exited := make(chan int, 1)
	uiArgs := cmdArgs(t, "ui", "--listen", "127.0.0.1:0", "--interval", "500ms", "--history", "1m")
	go func() { // ends when stopUI is called (the cleanup waits for it)
		code := app.Main(uiCtx, uiArgs, outW, &stderr)
		outW.Close()
		exited <- code
	}()
	t.Cleanup(func() {
		stopUI()
		select {
		case code := <-exited:
			if code != 0 {
				t.Errorf("zkbalance ui exited %d after the interrupt; stderr:\n%s", code, stderr.String())
			}
		case <-time.After(15 * time.Second):
			t.Errorf("zkbalance ui still running 15 s after the interrupt")
		}
	})
	line, err := bufio.NewReader(outR).ReadString('\n')
	go func() { _, _ = io.Copy(io.Discard, outR) }() // drains the rest until the command exits
	url, ok := strings.CutPrefix(line, "zkbalance ui: serving ")
	if err != nil || !ok {
		t.Fatalf("zkbalance ui printed %q (%v), want its URL; stderr:\n%s", line, err, stderr.String())
	}
	url, _, _ = strings.Cut(url, " ")
	t.Logf("ui serving %s", url)

	// The browser. Its CPU time is what the test process's reaped children
	// used while it ran (Chromium and its helpers).
	var before syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_CHILDREN, &before)
	browserStart := time.Now()
	var chromeOut syncBuffer
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 900), chromedp.CombinedOutput(&chromeOut),
		chromedp.Flag("mute-audio", true))
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	bctx, closeBrowser := chromedp.NewContext(allocCtx)
	defer closeBrowser()
	// The first action starts the browser, which lives as long as bctx:
	// no timeout on it; the steps after have theirs.
	if err := chromedp.Do(bctx, chromedp.Navigate(url)); err != nil {
		t.Fatalf("chromium %s: open %s: %v\nchromium's output:\n%s", chromium, url, err, chromeOut.String())
	}
	step := func(d time.Duration) context.Context {
		c, cancel := context.WithTimeout(bctx, d)
		t.Cleanup(cancel)
		return c
	}
	sel := fmt.Sprintf(`#groups tr[data-group=%q] button`, group)
	if err := chromedp.Do(step(30*time.Second), chromedp.WaitVisible(chromedp.CSS(sel)),
		chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`#groups tr[data-group=%q]`, kafkaGroup))),
		chromedp.Click(chromedp.CSS(sel))); err != nil {
		t.Fatalf("the group list never showed %s and %s: %v", group, kafkaGroup, err)
	}

	var page uiPage
	check := func(p uiPage) string {
		var bad []string
		if !p.Loaded || p.Name != group {
			bad = append(bad, fmt.Sprintf("group %q loaded %v", p.Name, p.Loaded))
		}
		if got := slices.Sorted(slices.Values(p.Members)); !slices.Equal(got, ids) {
			bad = append(bad, fmt.Sprintf("members %v, want %v", got, ids))
		}
		if p.Total != strconv.FormatInt(wantTotal, 10) {
			bad = append(bad, fmt.Sprintf("total lag %q, want %d", p.Total, wantTotal))
		}
		if len(p.Rows) != len(parts) {
			bad = append(bad, fmt.Sprintf("%d partition rows, want %d", len(p.Rows), len(parts)))
		}
		for _, r := range p.Rows {
			k := rowKey{r.Topic, r.Partition}
			if _, ok := wantLag[k]; !ok || r.Committed != strconv.Itoa(marked) || r.LogEnd != strconv.FormatInt(wantLogEnd[k], 10) ||
				r.Lag != strconv.FormatInt(wantLag[k], 10) || !strings.Contains(r.Owner, group) {
				bad = append(bad, fmt.Sprintf("row %+v, want committed %d, log end %d, lag %d, an owner of the group", r, marked, wantLogEnd[k], wantLag[k]))
			}
		}
		if want := slices.Sorted(slices.Values([]string{topic, topic2})); !slices.Equal(p.TopicSeries, want) {
			bad = append(bad, fmt.Sprintf("chart lines per topic %v, want %v", p.TopicSeries, want))
		}
		if p.Samples < 2 || p.TotalPoints < 2 {
			bad = append(bad, fmt.Sprintf("chart of %d sample(s), %d point(s) on the total line, want 2 or more", p.Samples, p.TotalPoints))
		}
		if p.Error != "" {
			bad = append(bad, "error shown: "+p.Error)
		}
		return strings.Join(bad, "; ")
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		page, err = chromedp.Run(step(10*time.Second), chromedp.Evaluate[uiPage](uiPageJS))
		if err != nil {
			t.Fatalf("read the page: %v", err)
		}
		why := check(page)
		if why == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the page never showed the group right: %s\npage: %+v", why, page)
		}
		time.Sleep(250 * time.Millisecond)
	}
	png, err := chromedp.Run(step(20*time.Second), chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	shot := filepath.Join(t.TempDir(), "ui.png")
	for _, f := range []string{shot, *uiScreenshot} {
		if f == "" {
			continue
		}
		if err := os.WriteFile(f, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot: %s (%d bytes)", f, len(png))
	}
	if err := chromedp.Cancel(bctx); err != nil { // closes the browser and waits for it
		t.Errorf("close chromium: %v", err)
	}
	cancelAlloc()
	var after syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_CHILDREN, &after)
	cpu := time.Duration(after.Utime.Nano()+after.Stime.Nano()-before.Utime.Nano()-before.Stime.Nano()) * time.Nanosecond
	wall := time.Since(browserStart)
	t.Logf("page showed %d samples; chromium: %s wall, %s CPU; test so far %s", page.Samples, wall.Round(time.Millisecond), cpu.Round(time.Millisecond), time.Since(begin).Round(time.Millisecond))
	// The budget of a 2-core machine shared with the cluster: the browser
	// part must stay well under the test's minute.
	if wall > 45*time.Second || cpu > 45*time.Second {
		t.Errorf("chromium took %s wall and %s CPU, want under 45 s each", wall, cpu)
	}
}
