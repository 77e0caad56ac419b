package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zkbalance/zkbalance/groupstate"
)

// Pure tests of the status table: no cluster.

func stPart(topic string, p int32, committed int64, src groupstate.Source, logStart, logEnd, lag int64) groupstate.Partition {
	return groupstate.Partition{Topic: topic, Partition: p, ZooKeeperOffset: -1, KafkaOffset: -1, Committed: committed, Source: src,
		LogStart: logStart, LogEnd: logEnd, Lag: lag}
}

func TestStatusRows(t *testing.T) {
	owned := stPart("t", 0, 4, groupstate.SourceZooKeeper, 0, 6, 2)
	owned.Owners = []groupstate.Owner{{Znode: "0", Value: "g_h-1-abc-0", Member: "g_h-1-abc"}}
	gone := stPart("t", 1, 3, groupstate.SourceBoth, 0, 3, 0)
	gone.Owners = []groupstate.Owner{{Znode: "1", Value: "old-0"}}
	kafkaOwned := stPart("k", 2, 7, groupstate.SourceKafka, 0, 9, 2)
	kafkaOwned.KafkaOwners = []groupstate.KafkaOwner{{Member: "sarama-a-1234", ClientID: "sarama-a"}}
	both := stPart("k", 3, 1, groupstate.SourceKafka, 0, 1, 0)
	both.Owners = []groupstate.Owner{{Znode: "3", Value: "m-0", Member: "m"}}
	both.KafkaOwners = []groupstate.KafkaOwner{{Member: "km"}}
	pykafka := stPart("p", 0, -1, groupstate.SourceNone, 0, 5, 5)
	pykafka.Owners = []groupstate.Owner{{Znode: "1001-0", Value: "pm", Member: "pm"}}

	for _, tc := range []struct {
		name string
		p    groupstate.Partition
		want string // the table line's fields, space-separated
	}{
		{"zookeeper owned and committed", owned, "t 0 4 6 2 g_h-1-abc-0 zookeeper"},
		{"owner gone, equal offsets", gone, "t 1 3 3 0 old-0 (gone) both"},
		{"kafka member", kafkaOwned, "k 2 7 9 2 sarama-a-1234 kafka"},
		{"owned on both sides", both, "k 3 1 1 0 m-0, km kafka"},
		{"nothing committed: lag -", stPart("t", 2, -1, groupstate.SourceNone, 0, 5, 5), "t 2 - 5 - - -"},
		{"pykafka owner znode", pykafka, "p 0 - 5 - pm [1001-0] -"},
		{"log end unknown", stPart("t", 3, 2, groupstate.SourceKafka, -1, -1, -1), "t 3 2 - - - kafka"},
		{"beyond the log end: lag 0", stPart("t", 4, 12, groupstate.SourceZooKeeper, 0, 10, 0), "t 4 12 10 0 - zookeeper"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rows := statusRows([]groupstate.Partition{tc.p})
			var buf bytes.Buffer
			if err := writeRows(&buf, rows, false); err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
			if len(lines) != 2 || strings.Join(strings.Fields(lines[0]), " ") != "TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG OWNER STORE" {
				t.Fatalf("table:\n%s", buf.String())
			}
			// Fields: the owner may hold spaces, so compare the whole line.
			if got := strings.Join(strings.Fields(lines[1]), " "); got != tc.want {
				t.Errorf("row %q; want %q", got, tc.want)
			}
		})
	}
}

func TestStatusRowsJSON(t *testing.T) {
	rows := statusRows([]groupstate.Partition{
		stPart("t", 0, -1, groupstate.SourceNone, 0, 5, 5),
		stPart("t", 1, 4, groupstate.SourceBoth, 0, 6, 2),
	})
	got, err := json.Marshal(rows)
	if err != nil {
		t.Fatal(err)
	}
	want := `[{"topic":"t","partition":0,"current_offset":null,"log_end_offset":5,"lag":null,"owner":null,"store":null},` +
		`{"topic":"t","partition":1,"current_offset":4,"log_end_offset":6,"lag":2,"owner":null,"store":"both"}]`
	if string(got) != want {
		t.Errorf("rows JSON\n%s\nwant\n%s", got, want)
	}
	// The status JSON: the snapshot's fields and rows side by side.
	st := &groupstate.Status{Group: "g", Partitions: []groupstate.Partition{stPart("t", 0, 1, groupstate.SourceKafka, 0, 2, 1)}}
	b, err := json.Marshal(statusJSON{Status: st, Rows: statusRows(st.Partitions)})
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"group", "partitions", "totals", "rows"} {
		if _, ok := m[k]; !ok {
			t.Errorf("status JSON lacks %q: %s", k, b)
		}
	}
	if _, ok := m["time"]; ok {
		t.Errorf("status JSON without --watch has a time: %s", b)
	}
}

func TestWithLagChange(t *testing.T) {
	frame := func(lags ...int64) []statusRow {
		var rows []statusRow
		for i, l := range lags {
			r := statusRow{Topic: "t", Partition: int32(i)}
			if l >= 0 {
				r.Lag = ptr(l)
			}
			rows = append(rows, r)
		}
		return rows
	}
	changes := func(rows []statusRow) string {
		var s []string
		for _, r := range rows {
			s = append(s, signed(r.LagChange))
		}
		return strings.Join(s, " ")
	}
	var prev map[rowKey]int64
	for i, tc := range []struct {
		lags []int64 // -1: unknown
		want string
	}{
		{[]int64{5, 0, -1}, "- - -"}, // first frame: nothing to compare with
		{[]int64{8, 0, 3}, "+3 0 -"}, // p2: no lag before
		{[]int64{2, -1, 3}, "-6 - 0"},
		{[]int64{2, 4, 3, 7}, "0 - 0 -"}, // p1: unknown in the last frame; p3 new
	} {
		rows := frame(tc.lags...)
		prev = withLagChange(rows, prev)
		if got := changes(rows); got != tc.want {
			t.Errorf("frame %d: changes %q; want %q", i, got, tc.want)
		}
	}
}

func TestFilterTopics(t *testing.T) {
	bad := stPart("b", 0, 1, groupstate.SourceKafka, 0, 4, 3)
	bad.Error = "broken"
	owned := stPart("a", 1, 2, groupstate.SourceZooKeeper, 0, 6, 4)
	owned.Owners = []groupstate.Owner{{Znode: "1", Value: "m-0", Member: "m"}}
	st := &groupstate.Status{
		Group:      "g",
		Partitions: []groupstate.Partition{stPart("a", 0, -1, groupstate.SourceNone, 2, 5, 3), owned, bad},
		Totals:     groupstate.Totals{Members: 1, Partitions: 3, Owned: 1, Committed: 2, LogEnd: 15, Lag: 10, Errors: 2}, // 1 member error
		Warnings:   []string{"w"},
	}
	for _, tc := range []struct {
		name     string
		topics   []string
		parts    int
		totals   groupstate.Totals
		warnings []string
	}{
		{"no filter", nil, 3, st.Totals, []string{"w"}},
		{"one topic", []string{"a"}, 2, groupstate.Totals{Members: 1, Partitions: 2, Owned: 1, Committed: 1, LogEnd: 11, Lag: 7, Errors: 1}, []string{"w"}},
		{"both, repeated", []string{"b", "a", "b"}, 3, st.Totals, []string{"w"}},
		{"unknown topic", []string{"x", "x"}, 0, groupstate.Totals{Members: 1, Errors: 1}, []string{"w", "--topic x: the group has no partition of it"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := filterTopics(st, tc.topics)
			if len(got.Partitions) != tc.parts || got.Partitions == nil || got.Totals != tc.totals || !slices.Equal(got.Warnings, tc.warnings) {
				t.Errorf("%d partitions, totals %+v, warnings %q; want %d, %+v, %q", len(got.Partitions), got.Totals, got.Warnings, tc.parts, tc.totals, tc.warnings)
			}
		})
	}
	if len(st.Partitions) != 3 || len(st.Warnings) != 1 || st.Totals.Partitions != 3 {
		t.Errorf("filterTopics modified its input: %+v", st)
	}
}

func TestParseWatch(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		err  bool
	}{
		{"200ms", 200 * time.Millisecond, false},
		{"2s", 2 * time.Second, false},
		{"5", 5 * time.Second, false},
		{"0.5", 500 * time.Millisecond, false},
		{"0", 0, true},
		{"-1s", 0, true},
		{"soon", 0, true},
		{"", 0, true},
	} {
		got, err := parseWatch(tc.in)
		if got != tc.want || (err != nil) != tc.err {
			t.Errorf("parseWatch(%q) = %v, %v; want %v, error %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func TestWatchArgs(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"--group g --watch", "--group g --watch=2s"},
		{"--watch --group g", "--watch=2s --group g"},
		{"--watch 200ms --group g", "--watch=200ms --group g"},
		{"-watch 5 --json", "--watch=5 --json"},
		{"--watch=1s --topic t", "--watch=1s --topic t"},
		{"--group g -- --watch", "--group g -- --watch"},
		{"--watch 0", "--watch=0"}, // for parseWatch to refuse
		{"--watch -1s --json", "--watch=-1s --json"},
		{"--watch --topic 5", "--watch=2s --topic 5"},
	} {
		if got := strings.Join(watchArgs(strings.Fields(tc.in)), " "); got != tc.want {
			t.Errorf("watchArgs(%q) = %q; want %q", tc.in, got, tc.want)
		}
	}
}

// TestWatchStatusFrames runs the watch loop on canned snapshots: frames on
// a non-terminal, the lag change, a failed read drawn as a frame, and the
// end on cancel with nil.
func TestWatchStatusFrames(t *testing.T) {
	snaps := []struct {
		lag int64
		err error
	}{{5, nil}, {8, nil}, {0, errors.New("zookeeper: connection lost")}, {6, nil}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	n := 0
	read := func(context.Context) (*groupstate.Status, error) {
		mu.Lock()
		defer mu.Unlock()
		s := snaps[min(n, len(snaps)-1)]
		n++
		if n == len(snaps) {
			cancel() // the interrupt, after the last frame is read
		}
		if s.err != nil {
			return nil, s.err
		}
		return &groupstate.Status{Group: "g", Layout: groupstate.LayoutScala, Storage: groupstate.StorageZooKeeper,
			Coordination: groupstate.CoordinationNone, InZooKeeper: true,
			Partitions: []groupstate.Partition{stPart("t", 0, 10, groupstate.SourceZooKeeper, 0, 10+s.lag, s.lag)}}, nil
	}
	var out bytes.Buffer
	if err := watchStatus(ctx, &out, watchConfig{interval: time.Millisecond}, read); err != nil {
		t.Fatalf("watch ended with %v", err)
	}
	// The cancel comes with the 4th read: that frame is not drawn.
	frames := strings.Split(out.String(), "\n"+watchTimePrefix)
	if len(frames) != 3 || !strings.HasPrefix(frames[0], watchTimePrefix) || strings.Contains(out.String(), clearScreen) {
		t.Fatalf("%d frames:\n%s", len(frames), out.String())
	}
	for i, want := range []string{"t 0 10 15 5 - - zookeeper", "t 0 10 18 8 +3 - zookeeper", "read failed (retrying): zookeeper: connection lost"} {
		if !containsFields(frames[i], strings.Fields(want)...) {
			t.Errorf("frame %d lacks %q:\n%s", i, want, frames[i])
		}
	}
	if !strings.Contains(frames[0], "LAG-CHANGE") {
		t.Errorf("no LAG-CHANGE column:\n%s", frames[0])
	}

	// The first read failing ends the watch with its error.
	boom := errors.New("no such group")
	if err := watchStatus(context.Background(), &out, watchConfig{interval: time.Millisecond}, func(context.Context) (*groupstate.Status, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Errorf("first read failed: watch returned %v", err)
	}

	// A terminal: the screen is cleared before every frame.
	out.Reset()
	ctx2, cancel2 := context.WithCancel(context.Background())
	calls := 0
	if err := watchStatus(ctx2, &out, watchConfig{interval: time.Millisecond, terminal: true}, func(context.Context) (*groupstate.Status, error) {
		calls++
		if calls == 3 {
			cancel2()
		}
		return &groupstate.Status{Group: "g"}, nil
	}); err != nil {
		t.Fatal(err)
	}
	if c := strings.Count(out.String(), clearScreen); c != 2 || !strings.HasPrefix(out.String(), clearScreen) {
		t.Errorf("terminal: %d screen clears; want 2:\n%q", c, out.String())
	}
}

// TestWatchStatusJSON: --watch --json is a stream of JSON objects, one per
// frame, with the time and lag_change; a failed read is {time, error}.
func TestWatchStatusJSON(t *testing.T) {
	lags := []int64{5, 8, -1, 6}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n := 0
	read := func(context.Context) (*groupstate.Status, error) {
		lag := lags[min(n, len(lags)-1)]
		n++
		if n == len(lags) {
			cancel()
		}
		if lag < 0 {
			return nil, errors.New("kafka: broker gone")
		}
		return &groupstate.Status{Group: "g", Partitions: []groupstate.Partition{stPart("t", 0, 10, groupstate.SourceKafka, 0, 10+lag, lag)}}, nil
	}
	var out bytes.Buffer
	if err := watchStatus(ctx, &out, watchConfig{interval: time.Millisecond, json: true}, read); err != nil {
		t.Fatal(err)
	}
	type frame struct {
		Group string     `json:"group"`
		Time  *time.Time `json:"time"`
		Error string     `json:"error"`
		Rows  []struct {
			Lag       *int64 `json:"lag"`
			LagChange *int64 `json:"lag_change"`
		} `json:"rows"`
	}
	var frames []frame
	dec := json.NewDecoder(&out)
	for dec.More() {
		var f frame
		if err := dec.Decode(&f); err != nil {
			t.Fatalf("frame %d: %v", len(frames), err)
		}
		frames = append(frames, f)
	}
	if len(frames) != 3 {
		t.Fatalf("%d frames; want 3", len(frames))
	}
	for i, f := range frames {
		if f.Time == nil || f.Time.IsZero() {
			t.Errorf("frame %d has no time", i)
		}
	}
	if f := frames[0]; f.Group != "g" || len(f.Rows) != 1 || *f.Rows[0].Lag != 5 || f.Rows[0].LagChange != nil {
		t.Errorf("frame 0: %+v", f)
	}
	if f := frames[1]; len(f.Rows) != 1 || *f.Rows[0].Lag != 8 || f.Rows[0].LagChange == nil || *f.Rows[0].LagChange != 3 {
		t.Errorf("frame 1: %+v", f)
	}
	if f := frames[2]; f.Error != "kafka: broker gone" || f.Group != "" {
		t.Errorf("frame 2: %+v", f)
	}
}
