package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// uniqueName returns prefix plus a suffix no other test run uses.
func uniqueName(prefix string) string {
	return fmt.Sprintf("%s-%d", prefix, time.Now().UnixNano())
}

// hookLine matches the lines consume prints from its hooks.
var hookLine = regexp.MustCompile(`(?m)^\d\d:\d\d:\d\d\.\d{3} (assigned|revoked|lost) (\S+)$`)

// hookPartitions returns the partitions of every line of kind in out,
// sorted, each once.
func hookPartitions(out, kind string) []string {
	seen := map[string]bool{}
	for _, m := range hookLine.FindAllStringSubmatch(out, -1) {
		if m[1] == kind {
			for _, tp := range strings.Split(m[2], ",") {
				seen[tp] = true
			}
		}
	}
	return slices.Sorted(maps.Keys(seen))
}

// typeLine matches the "# TYPE <name> <type>" line of a metric family.
var typeLine = regexp.MustCompile(`(?m)^# TYPE (\S+) `)

// scrape returns the metric family names served at url.
func scrape(url string) (map[string]bool, error) {
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s: %s", url, resp.Status, body)
	}
	names := map[string]bool{}
	for _, m := range typeLine.FindAllStringSubmatch(string(body), -1) {
		names[m[1]] = true
	}
	return names, nil
}

// TestProduceConsume: produce creates the topic and writes exactly N;
// consume reads all of them, reports its assignment and throughput, serves
// its metrics while it runs and commits the log-end offsets to ZooKeeper
// when it leaves.
func TestProduceConsume(t *testing.T) {
	cl := shared.Get(t)
	topic, group := uniqueName("pc"), uniqueName("pc-group")
	const partitions, perPartition = 4, 100

	// 1. produce --create-partitions creates the topic and writes exactly N
	// (round robin: the same number to each partition).
	r := runBin(t, 3*time.Minute, cmdArgs(t, "produce", "--topic", topic,
		"--count", strconv.Itoa(partitions*perPartition), "--size", "64",
		"--create-partitions", strconv.Itoa(partitions), "--replication", "3")...)
	if r.code != 0 {
		t.Fatalf("produce: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	want := fmt.Sprintf("produced %d messages (%d bytes) to %s", partitions*perPartition, partitions*perPartition*64, topic)
	if !strings.Contains(r.stdout, want) {
		t.Errorf("produce stdout lacks %q:\n%s", want, r.stdout)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	leo, err := cl.LogEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	if len(leo) != partitions {
		t.Fatalf("topic %s has %d partitions, want %d", topic, len(leo), partitions)
	}
	for p, off := range leo {
		if off != perPartition {
			t.Errorf("partition %d: log end offset %d, want %d", p, off, perPartition)
		}
	}

	// 2. The topic exists now: --create-partitions leaves it alone;
	// --partition writes only there, paced by --rate, with keys absent.
	r = runBin(t, 3*time.Minute, cmdArgs(t, "produce", "--topic", topic, "--count", "10",
		"--create-partitions", "9", "--partition", "2", "--rate", "40")...)
	if r.code != 0 || !strings.Contains(r.stdout, "produced 10 messages") {
		t.Fatalf("produce --partition: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if leo, err = cl.LogEndOffsets(ctx, topic); err != nil {
		t.Fatal(err)
	}
	total := int64(0)
	for p, off := range leo {
		want := int64(perPartition)
		if p == 2 {
			want += 10
		}
		if off != want {
			t.Errorf("after --partition 2: partition %d at %d, want %d", p, off, want)
		}
		total += off
	}
	if len(leo) != partitions {
		t.Errorf("--create-partitions on an existing topic changed it: %d partitions", len(leo))
	}

	// 3. consume with a delay (so that every partition takes several commit
	// intervals) and metrics; scrape while it runs.
	c := startBin(t, 3*time.Minute, cmdArgs(t, "consume", "--group", group, "--topics", topic,
		"--delay", "20ms", "--for", "15s", "--metrics-addr", "127.0.0.1:0")...)
	metricsRe := regexp.MustCompile(`metrics at (http://\S+/metrics)`)
	var url string
	for deadline := time.Now().Add(time.Minute); url == "" && time.Now().Before(deadline) && !c.exited(); time.Sleep(50 * time.Millisecond) {
		if m := metricsRe.FindStringSubmatch(c.stdout.String()); m != nil {
			url = m[1]
		}
	}
	if url == "" {
		c.wait(t)
		t.Fatalf("consume printed no metrics address\nstdout:\n%s\nstderr:\n%s", c.stdout, c.stderr)
	}
	wantSeries := []string{
		"zkbalance_rebalances_total", "zkbalance_rebalance_duration_seconds", "zkbalance_owned_partitions",
		"zkbalance_claim_retries_total", "zkbalance_messages_processed_total", "zkbalance_commit_errors_total",
		"zkbalance_lag_messages", "zkbalance_commit_duration_seconds", "zkbalance_last_commit_timestamp_seconds",
		"zkbalance_handler_errors_total", "zkbalance_zookeeper_connected", "go_goroutines", "process_cpu_seconds_total",
	}
	missing := wantSeries
	var scrapeErr error
	for len(missing) > 0 && !c.exited() {
		names, err := scrape(url)
		if err != nil {
			scrapeErr = err
		} else {
			missing = nil
			for _, s := range wantSeries {
				if !names[s] {
					missing = append(missing, s)
				}
			}
		}
		time.Sleep(250 * time.Millisecond)
	}
	if len(missing) > 0 {
		t.Errorf("metrics at %s never served %v while consume ran (last scrape error: %v)", url, missing, scrapeErr)
	}
	if code := c.wait(t); code != 0 {
		t.Fatalf("consume: exit %d\nstdout:\n%s\nstderr:\n%s", code, c.stdout, c.stderr)
	}
	if _, err := scrape(url); err == nil {
		t.Errorf("metrics server still answers at %s after consume exited", url)
	}

	out := c.stdout.String()
	var tps []string
	for p := 0; p < partitions; p++ {
		tps = append(tps, fmt.Sprintf("%s/%d", topic, p))
	}
	clock := `\d\d:\d\d:\d\d\.\d{3}`
	// One rebalance may be superseded by the next: the assignment can come
	// in more than one line.
	if got := hookPartitions(out, "assigned"); strings.Join(got, ",") != strings.Join(tps, ",") {
		t.Errorf("consume was assigned %v, want %v:\n%s", got, tps, out)
	}
	for _, re := range []string{
		`(?m)^` + clock + ` \d+ msgs/s total=\d+ owned=4$`,
		`(?m)^` + clock + ` revoked ` + regexp.QuoteMeta(strings.Join(tps, ",")) + `$`,
		`(?m)^consumed ` + strconv.FormatInt(total, 10) + ` messages in `,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("consume output lacks a line matching %s:\n%s", re, out)
		}
	}

	// 4. It left cleanly: the committed offsets in ZooKeeper are the log-end
	// offsets.
	conn, err := cl.DialZooKeeper(ctx, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for p, end := range leo {
		path := fmt.Sprintf("%s/consumers/%s/offsets/%s/%d", cl.Chroot(), group, topic, p)
		b, _, err := conn.Get(path)
		if err != nil {
			t.Errorf("get %s: %v", path, err)
			continue
		}
		if got, err := strconv.ParseInt(string(b), 10, 64); err != nil || got != end {
			t.Errorf("%s = %q, want the log end offset %d", path, b, end)
		}
	}

	// 5. A second group by --pattern starting at the newest offsets, with
	// Kafka offset storage: it gets every partition and reads nothing.
	r = runBin(t, 3*time.Minute, cmdArgs(t, "consume", "--group", group+"-b",
		"--pattern", "^"+regexp.QuoteMeta(topic)+"$", "--initial", "newest", "--offsets", "kafka",
		"--assignor", "scala-roundrobin", "--member-id", "fixed-member", "--for", "5s", "--log-json")...)
	if r.code != 0 {
		t.Fatalf("consume --pattern: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if got := hookPartitions(r.stdout, "assigned"); strings.Join(got, ",") != strings.Join(tps, ",") {
		t.Errorf("consume --pattern was assigned %v, want %v:\n%s", got, tps, r.stdout)
	}
	if !strings.Contains(r.stdout, "\nconsumed 0 messages") {
		t.Errorf("consume --pattern output lacks \"consumed 0 messages\":\n%s", r.stdout)
	}
	if !strings.Contains(r.stderr, `"member":"fixed-member"`) {
		t.Errorf("--log-json --member-id: no JSON log line with the member id:\n%s", r.stderr)
	}
}

// TestProduceConsumeBadFlags: usage mistakes exit 2 with a one-line reason
// (the last line of stderr) naming the command.
func TestProduceConsumeBadFlags(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want string // in the reason
	}{
		{"consume no group", offlineArgs("consume", "--topics", "x"), "--group"},
		{"consume topics and pattern", offlineArgs("consume", "--group", "g", "--topics", "x", "--pattern", "y"), "--topics"},
		{"consume no topics", offlineArgs("consume", "--group", "g"), "--topics"},
		{"consume bad pattern", offlineArgs("consume", "--group", "g", "--pattern", "("), "--pattern"},
		{"consume bad assignor", offlineArgs("consume", "--group", "g", "--topics", "x", "--assignor", "nope"), "--assignor"},
		{"consume bad offsets", offlineArgs("consume", "--group", "g", "--topics", "x", "--offsets", "disk"), "--offsets"},
		{"consume bad layout", offlineArgs("consume", "--group", "g", "--topics", "x", "--layout", "java"), "--layout"},
		{"consume pykafka two topics", offlineArgs("consume", "--group", "g", "--topics", "x,y", "--layout", "pykafka"), "--topics"},
		{"consume bad initial", offlineArgs("consume", "--group", "g", "--topics", "x", "--initial", "middle"), "--initial"},
		{"consume bad member id", offlineArgs("consume", "--group", "g", "--topics", "x", "--member-id", "a/b"), "--member-id"},
		{"consume unknown flag", offlineArgs("consume", "--group", "g", "--topics", "x", "--bogus"), "bogus"},
		{"consume stray argument", offlineArgs("consume", "--group", "g", "--topics", "x", "extra"), "unexpected arguments"},
		{"consume no zookeeper", []string{"consume", "--group", "g", "--topics", "x"}, "--zookeeper"},
		{"produce negative count", offlineArgs("produce", "--topic", "x", "--count", "-1"), "--count"},
		{"produce bad size", offlineArgs("produce", "--topic", "x", "--size", "2000000"), "--size"},
		{"produce negative rate", offlineArgs("produce", "--topic", "x", "--rate", "-3"), "--rate"},
		{"produce keys and partition", offlineArgs("produce", "--topic", "x", "--keys", "2", "--partition", "0"), "--keys"},
		{"produce bad replication", offlineArgs("produce", "--topic", "x", "--create-partitions", "2", "--replication", "0"), "--replication"},
		{"produce empty topic", offlineArgs("produce", "--topic", ""), "--topic"},
		{"produce no zookeeper", []string{"produce", "--topic", "x"}, "--zookeeper"},
		{"consume bad format", offlineArgs("consume", "--group", "g", "--topics", "x", "--format", "%t %x"), "%x"},
		{"consume bad escape", offlineArgs("consume", "--group", "g", "--topics", "x", "--print", "--format", `%t\q`), `\q`},
		{"zk user without password", offlineArgs("status", "--group", "g", "--zk-user", "u"), "ZKBALANCE_ZK_PASSWORD"},
		{"zk password file without user", offlineArgs("consume", "--group", "g", "--topics", "x", "--zk-password-file", "f"), "--zk-user"},
		{"zk acl without user", offlineArgs("consume", "--group", "g", "--topics", "x", "--zk-acl", "digest"), "--zk-user"},
		{"bad zk acl", offlineArgs("coordination", "--group", "g", "--zk-acl", "open"), "--zk-acl"},
		{"sasl user without password", offlineArgs("produce", "--topic", "x", "--sasl-user", "u"), "ZKBALANCE_SASL_PASSWORD"},
		{"bad sasl mechanism", offlineArgs("reset-offsets", "--group", "g", "--all-topics", "--to-latest", "--sasl-user", "u", "--sasl-mechanism", "GSSAPI"), "--sasl-mechanism"},
		{"sasl mechanism without user", offlineArgs("migrate-offsets", "--group", "g", "--sasl-mechanism", "PLAIN"), "--sasl-user"},
		{"tls cert without key", offlineArgs("status", "--all", "--tls-cert", "c.pem"), "--tls-key"},
		{"timeout zero", offlineArgs("status", "--all", "--timeout", "0s"), "-timeout"},
		{"old -n flag", offlineArgs("produce", "--topic", "x", "-n", "5"), "-n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := runBin(t, time.Minute, tc.args...)
			lines := strings.Split(strings.TrimRight(r.stderr, "\n"), "\n")
			last := lines[len(lines)-1]
			cmd := tc.args[0]
			if r.code != 2 || !strings.HasPrefix(last, "zkbalance "+cmd+": usage: ") || !strings.Contains(last, tc.want) {
				t.Errorf("zkbalance %v: exit %d, last stderr line %q; want exit 2 and a usage reason mentioning %q\nstderr:\n%s",
					tc.args, r.code, last, tc.want, r.stderr)
			}
		})
	}
}

// TestProduceMissingTopic: without --create-partitions a missing topic is a
// one-line failure (exit 1), and nothing is created.
func TestProduceMissingTopic(t *testing.T) {
	shared.Get(t)
	topic := uniqueName("missing")
	r := runBin(t, 2*time.Minute, cmdArgs(t, "produce", "--topic", topic, "--count", "1")...)
	sc := bufio.NewScanner(strings.NewReader(r.stderr))
	var last string
	for sc.Scan() {
		last = sc.Text()
	}
	if r.code != 1 || last != "zkbalance produce: topic "+topic+" does not exist (pass --create-partitions to create it)" {
		t.Errorf("exit %d, last stderr line %q\nstderr:\n%s", r.code, last, r.stderr)
	}
}
