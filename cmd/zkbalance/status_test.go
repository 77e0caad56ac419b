package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"path"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/zkbalance/zkbalance/internal/cluster"
	"github.com/zkbalance/zkbalance/zkwatch"
)

// The JSON of 'zkbalance status --group G --json', as its help documents it;
// decoded independently of the groupstate types.
type stStatusJSON struct {
	Group   string `json:"group"`
	Layout  string `json:"layout"`
	Storage string `json:"storage"`
	Members []struct {
		ID           string         `json:"id"`
		Layout       string         `json:"layout"`
		Subscription map[string]int `json:"subscription"`
		Pattern      string         `json:"pattern"`
		Topics       []string       `json:"topics"`
		Timestamp    time.Time      `json:"timestamp"`
		Created      time.Time      `json:"created"`
		Error        string         `json:"error"`
	} `json:"members"`
	Partitions []struct {
		Topic     string `json:"topic"`
		Partition int32  `json:"partition"`
		Owners    []struct {
			Znode  string `json:"znode"`
			Value  string `json:"value"`
			Member string `json:"member"`
		} `json:"owners"`
		ZooKeeperOffset int64  `json:"zookeeper_offset"`
		KafkaOffset     int64  `json:"kafka_offset"`
		Committed       int64  `json:"committed"`
		Source          string `json:"source"`
		LogStart        int64  `json:"log_start"`
		LogEnd          int64  `json:"log_end"`
		Lag             int64  `json:"lag"`
		Error           string `json:"error"`
	} `json:"partitions"`
	Totals struct {
		Members    int   `json:"members"`
		Partitions int   `json:"partitions"`
		Owned      int   `json:"owned"`
		Committed  int   `json:"committed"`
		LogEnd     int64 `json:"log_end"`
		Lag        int64 `json:"lag"`
		Errors     int   `json:"errors"`
	} `json:"totals"`
}

func stName(t testing.TB, kind string) string {
	return fmt.Sprintf("st-%s-%s-%d", kind, strings.ReplaceAll(t.Name(), "/", "_"), time.Now().UnixNano()%1e9)
}

func stCtx(t testing.TB, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// stDial connects to the cluster's ZooKeeper (Kafka's chroot); ephemeral
// znodes created through it live until the test ends.
func stDial(t testing.TB, ctx context.Context) *zkwatch.Conn {
	t.Helper()
	cl := shared.Get(t)
	conn, err := zkwatch.Dial(ctx, zkwatch.Config{Servers: cl.KafkaZooKeeperConnect(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Close)
	return conn
}

func stPut(t testing.TB, ctx context.Context, conn *zkwatch.Conn, p, value string, eph bool) {
	t.Helper()
	if err := conn.EnsurePath(ctx, path.Dir(p), nil); err != nil {
		t.Fatal(err)
	}
	var flags int32
	if eph {
		flags = zkwatch.FlagEphemeral
	}
	if _, err := conn.Create(ctx, p, []byte(value), flags, nil); err != nil {
		t.Fatalf("create %s: %v", p, err)
	}
}

// stGet reads a znode's value; ok is false when it does not exist.
func stGet(t testing.TB, ctx context.Context, conn *zkwatch.Conn, p string) (string, bool) {
	t.Helper()
	data, _, err := conn.Get(ctx, p)
	if errors.Is(err, zkwatch.ErrNoNode) {
		return "", false
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(data), true
}

// stTopic creates a topic with len(counts) partitions holding counts[p]
// messages each.
func stTopic(t testing.TB, ctx context.Context, counts ...int) string {
	t.Helper()
	cl := shared.Get(t)
	topic := stName(t, "t")
	if err := cl.CreateTopic(ctx, topic, int32(len(counts)), 1); err != nil {
		t.Fatal(err)
	}
	var msgs []cluster.Message
	for p, n := range counts {
		for i := range n {
			msgs = append(msgs, cluster.Message{Partition: int32(p), Value: fmt.Appendf(nil, "%d", i)})
		}
	}
	if _, err := cl.Produce(ctx, topic, msgs); err != nil {
		t.Fatal(err)
	}
	return topic
}

func stClient(t testing.TB) sarama.Client {
	t.Helper()
	cl := shared.Get(t)
	sc := sarama.NewConfig()
	sc.Version = sarama.V2_1_0_0
	client, err := sarama.NewClient(cl.BrokerAddrs(), sc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close() })
	return client
}

// stCommitKafka commits offsets for group as pykafka does (OffsetCommit v1,
// generation -1, no member id), retrying while the coordinator settles.
func stCommitKafka(t testing.TB, client sarama.Client, group, topic string, offsets map[int32]int64) {
	t.Helper()
	var last error
	for range 100 {
		last = func() error {
			b, err := client.Coordinator(group)
			if err != nil {
				return err
			}
			req := &sarama.OffsetCommitRequest{Version: 1, ConsumerGroup: group, ConsumerGroupGeneration: sarama.GroupGenerationUndefined}
			for p, off := range offsets {
				req.AddBlock(topic, p, off, sarama.ReceiveTime, "")
			}
			resp, err := b.CommitOffset(req)
			if err != nil {
				return err
			}
			for p := range offsets {
				if kerr := resp.Errors[topic][p]; kerr != sarama.ErrNoError {
					return kerr
				}
			}
			return nil
		}()
		if last == nil {
			return
		}
		_ = client.RefreshCoordinator(group)
		time.Sleep(300 * time.Millisecond)
	}
	t.Fatalf("commit to kafka: %v", last)
}

// stKafkaCommitted reads group's Kafka offsets for partitions 0..n-1 of
// topic through the admin API; absent = none.
func stKafkaCommitted(t testing.TB, group, topic string, n int32) map[int32]int64 {
	t.Helper()
	cl := shared.Get(t)
	offs, err := cl.CommittedOffsets(context.Background(), group, topic, n)
	if err != nil {
		t.Fatal(err)
	}
	maps.DeleteFunc(offs, func(_ int32, off int64) bool { return off < 0 })
	return offs
}

// stZKOffsets reads /consumers/<g>/offsets/<topic>/<p> for p in 0..n-1.
func stZKOffsets(t testing.TB, ctx context.Context, conn *zkwatch.Conn, group, topic string, n int32) map[int32]string {
	t.Helper()
	out := map[int32]string{}
	for p := range n {
		if v, ok := stGet(t, ctx, conn, fmt.Sprintf("/consumers/%s/offsets/%s/%d", group, topic, p)); ok {
			out[p] = v
		}
	}
	return out
}

func TestStatus(t *testing.T) {
	cl := shared.Get(t)
	ctx := stCtx(t, 5*time.Minute)
	conn := stDial(t, ctx)
	client := stClient(t)
	topic := stTopic(t, ctx, 6, 2, 5)
	group := stName(t, "g")
	g := "/consumers/" + group
	member := group + "_testhost-1700000000000-0a1b2c3d"
	stPut(t, ctx, conn, g+"/ids/"+member, fmt.Sprintf(`{"version":1,"subscription":{%q:2},"pattern":"static","timestamp":"1700000000000"}`, topic), true)
	stPut(t, ctx, conn, g+"/owners/"+topic+"/0", member+"-0", true)
	stPut(t, ctx, conn, g+"/owners/"+topic+"/1", member+"-1", true)
	stPut(t, ctx, conn, g+"/offsets/"+topic+"/0", "4", false)
	stPut(t, ctx, conn, g+"/offsets/"+topic+"/1", "2", false)
	stCommitKafka(t, client, group, topic, map[int32]int64{1: 1, 2: 3}) // dual commit, p2 in Kafka only

	r := runBin(t, 2*time.Minute, append([]string{"status", "--group", group, "--json"}, clusterArgs(t)...)...)
	if r.code != 0 {
		t.Fatalf("status --json: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	var st stStatusJSON
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
		t.Fatalf("status --json output is not the documented JSON: %v\n%s", err, r.stdout)
	}
	t.Logf("status --json:\n%s", r.stdout)

	// What ZooKeeper and Kafka hold, read independently.
	zkOffs := stZKOffsets(t, ctx, conn, group, topic, 3)
	kafkaOffs := stKafkaCommitted(t, group, topic, 3)
	ends, err := cl.LogEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	if st.Group != group || st.Layout != "scala" || st.Storage != "dual" {
		t.Errorf("group %q layout %q storage %q; want %s, scala, dual", st.Group, st.Layout, st.Storage, group)
	}
	if len(st.Members) != 1 || st.Members[0].ID != member || st.Members[0].Layout != "scala" ||
		!maps.Equal(st.Members[0].Subscription, map[string]int{topic: 2}) || st.Members[0].Pattern != "static" ||
		!st.Members[0].Timestamp.Equal(time.UnixMilli(1700000000000)) || st.Members[0].Created.IsZero() {
		t.Errorf("members %+v; want %s subscribed to %s with 2 streams", st.Members, member, topic)
	}
	if len(st.Partitions) != 3 {
		t.Fatalf("%d partitions; want 3", len(st.Partitions))
	}
	var totalEnd, totalLag int64
	for i, p := range st.Partitions {
		if p.Topic != topic || p.Partition != int32(i) {
			t.Fatalf("partition %d is %s/%d", i, p.Topic, p.Partition)
		}
		wantZK := int64(-1)
		if v, ok := zkOffs[p.Partition]; ok {
			wantZK, _ = strconv.ParseInt(v, 10, 64)
		}
		wantKafka := int64(-1)
		if v, ok := kafkaOffs[p.Partition]; ok {
			wantKafka = v
		}
		wantCommitted, wantSource := max(wantZK, wantKafka), "zookeeper"
		switch {
		case wantZK == wantKafka:
			wantSource = "both"
		case wantKafka > wantZK:
			wantSource = "kafka"
		}
		wantLag := ends[p.Partition] - wantCommitted
		var wantOwners []string
		if v, ok := stGet(t, ctx, conn, fmt.Sprintf("%s/owners/%s/%d", g, topic, p.Partition)); ok {
			wantOwners = append(wantOwners, strconv.Itoa(int(p.Partition))+"="+v+"@"+member)
		}
		var gotOwners []string
		for _, o := range p.Owners {
			gotOwners = append(gotOwners, o.Znode+"="+o.Value+"@"+o.Member)
		}
		if p.ZooKeeperOffset != wantZK || p.KafkaOffset != wantKafka || p.Committed != wantCommitted ||
			p.Source != wantSource || p.LogEnd != ends[p.Partition] || p.LogStart != 0 || p.Lag != wantLag ||
			strings.Join(gotOwners, ",") != strings.Join(wantOwners, ",") || p.Error != "" {
			t.Errorf("%s/%d: %+v\nwant zookeeper %d kafka %d committed %d (%s) log end %d lag %d owners %v",
				topic, p.Partition, p, wantZK, wantKafka, wantCommitted, wantSource, ends[p.Partition], wantLag, wantOwners)
		}
		totalEnd += ends[p.Partition]
		totalLag += wantLag
	}
	// The fixture itself: 4/2 in ZooKeeper, 1/3 in Kafka, 6/2/5 messages.
	if totalEnd != 13 || totalLag != 2+0+2 {
		t.Errorf("fixture: log ends %v, lag %d", ends, totalLag)
	}
	tot := st.Totals
	if tot.Members != 1 || tot.Partitions != 3 || tot.Owned != 2 || tot.Committed != 3 || tot.LogEnd != totalEnd || tot.Lag != totalLag || tot.Errors != 0 {
		t.Errorf("totals %+v; want 1 member, 3 partitions, 2 owned, 3 committed, log end %d, lag %d", tot, totalEnd, totalLag)
	}

	// The tables, with the brokers read from /brokers/ids.
	r = runBin(t, 2*time.Minute, "status", "--group", group, "--zookeeper", cl.KafkaZooKeeperConnect())
	if r.code != 0 {
		t.Fatalf("status: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	t.Logf("status:\n%s", r.stdout)
	for _, want := range []string{"MEMBER", "SUBSCRIPTION", member, topic + "×2",
		"TOTAL: 3 partition(s), 2 owned, 3 committed, log end 13, lag 4"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("status output lacks %q", want)
		}
	}
	for _, row := range [][]string{
		{"TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG", "OWNER", "STORE"},
		{topic, "0", "4", "6", "2", member + "-0", "zookeeper"}, // ZooKeeper only
		{topic, "1", "2", "2", "0", member + "-1", "zookeeper"}, // ZooKeeper 2 > Kafka 1
		{topic, "2", "3", "5", "2", "-", "kafka"},               // Kafka only
	} {
		if !containsFields(r.stdout, row...) {
			t.Errorf("status output lacks the row %q", row)
		}
	}

	// --all lists the group, in JSON and as a table.
	r = runBin(t, 2*time.Minute, append([]string{"status", "--all", "--json"}, clusterArgs(t)...)...)
	if r.code != 0 {
		t.Fatalf("status --all --json: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	var all struct {
		Groups []struct {
			Group   string `json:"group"`
			Members int    `json:"members"`
			Layout  string `json:"layout"`
		} `json:"groups"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &all); err != nil {
		t.Fatalf("status --all --json: %v\n%s", err, r.stdout)
	}
	found := false
	for _, e := range all.Groups {
		if e.Group == group {
			found = true
			if e.Members != 1 || e.Layout != "scala" {
				t.Errorf("--all entry %+v; want 1 member, scala", e)
			}
		}
	}
	if !found {
		t.Errorf("status --all --json lacks %s: %s", group, r.stdout)
	}
	r = runBin(t, 2*time.Minute, append([]string{"status", "--all"}, clusterArgs(t)...)...)
	if r.code != 0 || !strings.Contains(r.stdout, "GROUP") || !containsFields(r.stdout, group, "1", "scala", "zookeeper", "Empty", "0") {
		t.Errorf("status --all: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// containsFields reports whether some line of out has exactly these
// whitespace-separated fields.
func containsFields(out string, fields ...string) bool {
	for line := range strings.SplitSeq(out, "\n") {
		if strings.Join(strings.Fields(line), " ") == strings.Join(fields, " ") {
			return true
		}
	}
	return false
}

func TestStatusBadInput(t *testing.T) {
	shared.Get(t)
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"status"}, 2, "--group G or --all"},
		{[]string{"status", "--group", "g", "--all"}, 2, "--group G or --all"},
		{[]string{"status", "--group", stName(t, "missing")}, 1, "no such group"},
		{[]string{"status", "--group", "g", "--watch", "0"}, 2, "the interval must be positive"},
		{[]string{"status", "--group", "g", "--watch", "soon"}, 2, "unexpected"},
		{[]string{"status", "--group", "g", "--topic", ""}, 2, "empty topic name"},
		{[]string{"status", "--all", "--topic", "t"}, 2, "--topic and --watch go with --group"},
		{[]string{"status", "--all", "--watch"}, 2, "--topic and --watch go with --group"},
		{[]string{"status", "--group", stName(t, "missing"), "--watch", "100ms"}, 1, "no such group"},
		{[]string{"migrate-offsets"}, 2, "--group is required"},
		{[]string{"migrate-offsets", "--group", "g", "--to", "redis"}, 2, "want kafka or zookeeper"},
		{[]string{"migrate-offsets", "--group", stName(t, "missing")}, 1, "no such group"},
	} {
		r := runBin(t, 2*time.Minute, append(tc.args, clusterArgs(t)...)...)
		lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
		if r.code != tc.code || !strings.Contains(r.stderr, tc.msg) || (tc.code == 1 && len(lines) != 1) {
			t.Errorf("zkbalance %v: exit %d, stderr %q; want exit %d and a line with %q", tc.args, r.code, r.stderr, tc.code, tc.msg)
		}
	}
}

func TestMigrateOffsetsCommand(t *testing.T) {
	shared.Get(t)
	ctx := stCtx(t, 5*time.Minute)
	conn := stDial(t, ctx)
	client := stClient(t)
	topic := stTopic(t, ctx, 10, 10)
	group := stName(t, "g")
	g := "/consumers/" + group
	stPut(t, ctx, conn, g+"/offsets/"+topic+"/0", "7", false)
	stPut(t, ctx, conn, g+"/offsets/"+topic+"/1", "3", false)
	stCommitKafka(t, client, group, topic, map[int32]int64{1: 3})
	stPut(t, ctx, conn, g+"/ids/"+group+"_h-1-0000beef", fmt.Sprintf(`{"version":1,"subscription":{%q:1},"pattern":"static","timestamp":"1"}`, topic), true)
	check := func(what string, wantZK map[int32]string, wantKafka map[int32]int64) {
		t.Helper()
		if got := stZKOffsets(t, ctx, conn, group, topic, 2); !maps.Equal(got, wantZK) {
			t.Errorf("%s: zookeeper holds %v; want %v", what, got, wantZK)
		}
		if got := stKafkaCommitted(t, group, topic, 2); !maps.Equal(got, wantKafka) {
			t.Errorf("%s: kafka holds %v; want %v", what, got, wantKafka)
		}
	}
	check("fixture", map[int32]string{0: "7", 1: "3"}, map[int32]int64{1: 3})
	migrate := func(args ...string) result {
		return runBin(t, 2*time.Minute, append(append([]string{"migrate-offsets", "--group", group}, args...), clusterArgs(t)...)...)
	}

	// A registered member: refused without --force.
	r := migrate()
	if r.code != 1 || !strings.Contains(r.stderr, "live members") || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
		t.Errorf("dry run with a live member: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	// Dry run: the one line, nothing written.
	r = migrate("--force")
	wantLine := fmt.Sprintf("%s/0: none → 7", topic)
	if r.code != 0 || !strings.HasPrefix(r.stdout, wantLine+"\n") || !strings.Contains(r.stdout, "dry run: 1 offset(s)") {
		t.Errorf("dry run: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	check("after the dry run", map[int32]string{0: "7", 1: "3"}, map[int32]int64{1: 3})
	r = migrate("--apply")
	if r.code != 1 || !strings.Contains(r.stderr, "live members") {
		t.Errorf("--apply with a live member: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	check("after the refused --apply", map[int32]string{0: "7", 1: "3"}, map[int32]int64{1: 3})

	// --apply --force: exactly that change.
	r = migrate("--apply", "--force")
	if r.code != 0 || !strings.HasPrefix(r.stdout, wantLine+"\n") || !strings.Contains(r.stdout, "wrote 1 offset(s)") {
		t.Errorf("--apply: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	check("after --apply", map[int32]string{0: "7", 1: "3"}, map[int32]int64{0: 7, 1: 3})

	// And back: Kafka moved on for partition 1.
	stCommitKafka(t, client, group, topic, map[int32]int64{1: 8})
	r = migrate("--to", "zookeeper", "--force")
	wantLine = fmt.Sprintf("%s/1: 3 → 8", topic)
	if r.code != 0 || !strings.HasPrefix(r.stdout, wantLine+"\n") || !strings.Contains(r.stdout, "dry run: 1 offset(s)") {
		t.Errorf("dry run to zookeeper: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	check("after the dry run to zookeeper", map[int32]string{0: "7", 1: "3"}, map[int32]int64{0: 7, 1: 8})
	r = migrate("--to", "zookeeper", "--force", "--apply")
	if r.code != 0 || !strings.HasPrefix(r.stdout, wantLine+"\n") {
		t.Errorf("--apply to zookeeper: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	check("after --apply to zookeeper", map[int32]string{0: "7", 1: "8"}, map[int32]int64{0: 7, 1: 8})
	r = migrate("--to", "zookeeper", "--force", "--apply")
	if r.code != 0 || !strings.Contains(r.stdout, "nothing to change") {
		t.Errorf("second --apply: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
}
