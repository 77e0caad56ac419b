package groupstate

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestPlanReset(t *testing.T) {
	// p0: committed 5 in [2, 10]; p1: no commit, in [0, 4]; p2: committed
	// 9 in [0, 9] (caught up).
	in := []ResetInput{
		{Topic: "t", Partition: 0, Old: 5, LogStart: 2, LogEnd: 10, AtTime: 7},
		{Topic: "t", Partition: 1, Old: -1, LogStart: 0, LogEnd: 4, AtTime: -1},
		{Topic: "t", Partition: 2, Old: 9, LogStart: 0, LogEnd: 9, AtTime: 3},
	}
	type want struct {
		news   []int64
		clamps []Clamp
		err    string
	}
	for _, tc := range []struct {
		name string
		spec ResetSpec
		in   []ResetInput
		want want
	}{
		{"earliest", ResetSpec{Kind: ResetToEarliest}, in, want{news: []int64{2, 0, 0}}},
		{"latest", ResetSpec{Kind: ResetToLatest}, in, want{news: []int64{10, 4, 9}}},
		{"to-offset inside", ResetSpec{Kind: ResetToOffset, Offset: 3}, in, want{news: []int64{3, 3, 3}}},
		{"to-offset clamped both ways", ResetSpec{Kind: ResetToOffset, Offset: 1}, in[:1], want{news: []int64{2}, clamps: []Clamp{ClampLogStart}}},
		{"to-offset beyond", ResetSpec{Kind: ResetToOffset, Offset: 6}, in, want{news: []int64{6, 4, 6}, clamps: []Clamp{"", ClampLogEnd, ""}}},
		{"to-offset negative", ResetSpec{Kind: ResetToOffset, Offset: -1}, in, want{err: "negative"}},
		{"datetime, after the last message is the log end", ResetSpec{Kind: ResetToDatetime, Time: time.Unix(1, 0)}, in, want{news: []int64{7, 4, 3}}},
		{"shift back", ResetSpec{Kind: ResetShiftBy, Offset: -2}, []ResetInput{in[0], in[2]}, want{news: []int64{3, 7}}},
		{"shift back past the start", ResetSpec{Kind: ResetShiftBy, Offset: -4}, in[:1], want{news: []int64{2}, clamps: []Clamp{ClampLogStart}}},
		{"shift forward past the end", ResetSpec{Kind: ResetShiftBy, Offset: 1}, []ResetInput{in[0], in[2]}, want{news: []int64{6, 9}, clamps: []Clamp{"", ClampLogEnd}}},
		{"shift by zero", ResetSpec{Kind: ResetShiftBy}, in[:1], want{news: []int64{5}}},
		{"shift saturates up", ResetSpec{Kind: ResetShiftBy, Offset: math.MaxInt64}, in[:1], want{news: []int64{10}, clamps: []Clamp{ClampLogEnd}}},
		{"shift saturates down", ResetSpec{Kind: ResetShiftBy, Offset: math.MinInt64}, in[:1], want{news: []int64{2}, clamps: []Clamp{ClampLogStart}}},
		{"shift without a commit", ResetSpec{Kind: ResetShiftBy, Offset: 1}, in, want{err: "t/1: no committed offset to shift"}},
		{"shift of an unreadable offset", ResetSpec{Kind: ResetShiftBy, Offset: 1},
			[]ResetInput{{Topic: "t", Partition: 3, Old: -1, OldError: "malformed", LogEnd: 5}}, want{err: "t/3: committed offset unreadable (malformed)"}},
		{"unknown log range", ResetSpec{Kind: ResetToLatest}, []ResetInput{{Topic: "t", Partition: 4, Old: 1, LogStart: -1, LogEnd: -1}}, want{err: "t/4: log range [-1, -1] unknown"}},
		{"start after end", ResetSpec{Kind: ResetToLatest}, []ResetInput{{Topic: "t", Partition: 4, LogStart: 5, LogEnd: 4}}, want{err: "unknown"}},
		{"unknown kind", ResetSpec{}, in, want{err: "unknown reset kind 0"}},
		{"nothing", ResetSpec{Kind: ResetToLatest}, nil, want{news: []int64{}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := PlanReset(tc.spec, tc.in)
			if tc.want.err != "" {
				if !errors.Is(err, ErrBadReset) || !strings.Contains(err.Error(), tc.want.err) {
					t.Fatalf("err %v; want ErrBadReset with %q", err, tc.want.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			news := []int64{}
			var clamps []Clamp
			anyClamp := false
			for i, p := range got {
				if p.Topic != tc.in[i].Topic || p.Partition != tc.in[i].Partition || p.Old != tc.in[i].Old {
					t.Errorf("result %d is %+v for input %+v", i, p, tc.in[i])
				}
				news = append(news, p.New)
				clamps = append(clamps, p.Clamped)
				anyClamp = anyClamp || p.Clamped != ClampNone
			}
			if !slices.Equal(news, tc.want.news) {
				t.Errorf("new offsets %v; want %v", news, tc.want.news)
			}
			if tc.want.clamps == nil && anyClamp || tc.want.clamps != nil && !slices.Equal(clamps, tc.want.clamps) {
				t.Errorf("clamps %q; want %q", clamps, tc.want.clamps)
			}
		})
	}
}

func TestParseTopicSelection(t *testing.T) {
	for _, tc := range []struct {
		in    string
		topic string
		parts []int32
		err   string
	}{
		{in: "orders", topic: "orders"},
		{in: "orders:0", topic: "orders", parts: []int32{0}},
		{in: "a.b_c-1:3, 1,3,2", topic: "a.b_c-1", parts: []int32{1, 2, 3}},
		{in: "", err: "empty topic name"},
		{in: ":1", err: "empty topic name"},
		{in: "orders:", err: "no partition after ':'"},
		{in: "orders:1,,2", err: `partition "" is not`},
		{in: "orders:-1", err: `partition "-1" is not`},
		{in: "orders:x", err: `partition "x" is not`},
		{in: "orders:99999999999", err: "not a non-negative number"},
		{in: "or/ders", err: `'/' is not allowed`},
		{in: "..", err: "not topic names"},
		{in: strings.Repeat("t", 250), err: "longer than 249"},
	} {
		got, err := ParseTopicSelection(tc.in)
		if tc.err != "" {
			if !errors.Is(err, ErrBadReset) || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseTopicSelection(%q): %+v, %v; want an ErrBadReset with %q", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || got.Topic != tc.topic || !slices.Equal(got.Partitions, tc.parts) {
			t.Errorf("ParseTopicSelection(%q) = %+v, %v; want %s %v", tc.in, got, err, tc.topic, tc.parts)
		}
	}
}

func TestResetSpecString(t *testing.T) {
	for spec, want := range map[ResetSpec]string{
		{Kind: ResetToEarliest}:                        "to-earliest",
		{Kind: ResetToLatest}:                          "to-latest",
		{Kind: ResetToOffset, Offset: 42}:              "to-offset 42",
		{Kind: ResetShiftBy, Offset: -3}:               "shift-by -3",
		{Kind: ResetShiftBy, Offset: 3}:                "shift-by +3",
		{Kind: ResetToDatetime, Time: time.Unix(0, 0)}: "to-datetime 1970-01-01T00:00:00Z",
		{Kind: ResetKind(9)}:                           "reset kind 9",
	} {
		if got := spec.String(); got != want {
			t.Errorf("%#v: %q; want %q", spec, got, want)
		}
	}
}

func TestLiveMembersError(t *testing.T) {
	if err := liveMembersError(&Status{Kafka: &KafkaGroup{}}); err != nil {
		t.Errorf("no member: %v", err)
	}
	st := &Status{Members: []Member{{ID: "g_h-1-a"}}, Kafka: &KafkaGroup{Members: []KafkaMember{{ID: "consumer-1-x", ClientID: "c1", Host: "/10.0.0.1"}}}}
	err := liveMembersError(st)
	if !errors.Is(err, ErrLiveMembers) || !strings.Contains(err.Error(), "zookeeper g_h-1-a, kafka consumer-1-x (c1 /10.0.0.1)") {
		t.Errorf("err %v", err)
	}
}
