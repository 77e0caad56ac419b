package zkformat_test

import (
	"encoding/json"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/zkbalance/zkbalance/internal/zkformat"
	"github.com/zkbalance/zkbalance/partition"
)

func TestParseRegistration(t *testing.T) {
	for _, tc := range []struct {
		name, data string
		pykafka    bool
		sub        map[string]int
		pattern    string
		timestamp  string // the raw JSON kept
		err        string // "": valid; else a prefix of the error
	}{
		{"scala static", `{"version":1,"subscription":{"orders":2,"payments":1},"pattern":"static","timestamp":"1795426452383"}`,
			false, map[string]int{"orders": 2, "payments": 1}, "static", `"1795426452383"`, ""},
		{"scala no pattern", `{"version":1,"subscription":{"a":1}}`, false, map[string]int{"a": 1}, "static", "", ""},
		{"scala empty pattern", `{"version":1,"subscription":{"a":1},"pattern":""}`, false, map[string]int{"a": 1}, "static", "", ""},
		{"scala whitelist", `{"version":1,"subscription":{"a.*,b":1},"pattern":"white_list","timestamp":"1"}`,
			false, map[string]int{"a.*,b": 1}, "white_list", `"1"`, ""},
		{"scala blacklist", `{"version":1,"subscription":{"orders.*":3},"pattern":"black_list","timestamp":"1"}`,
			false, map[string]int{"orders.*": 3}, "black_list", `"1"`, ""},
		{"wvanbergen numeric timestamp", `{"version":1,"subscription":{"a":1},"pattern":"static","timestamp":1700000000}`,
			false, map[string]int{"a": 1}, "static", `1700000000`, ""},
		{"timestamp unchecked", `{"version":1,"subscription":{"a":1},"timestamp":"soon"}`, false, map[string]int{"a": 1}, "static", `"soon"`, ""},
		{"max streams", `{"version":1,"subscription":{"a":4096}}`, false, map[string]int{"a": partition.MaxStreams}, "static", "", ""},
		{"blanks around json", " \n{\"subscription\":{\"a\":1}}\t", false, map[string]int{"a": 1}, "static", "", ""},
		{"pykafka", "orders", true, map[string]int{"orders": 1}, "", "", ""},
		{"pykafka blanks", " orders\n", true, map[string]int{"orders": 1}, "", "", ""},

		{"empty", "", false, nil, "", "", "empty"},
		{"blank", " \n", false, nil, "", "", "empty"},
		{"truncated json", `{"version":1,"subscription":{"orders":1`, false, nil, "", "", "unexpected end of JSON input"},
		{"wrong types", `{"version":"x","subscription":[1]}`, false, nil, "", "", "json: cannot unmarshal"},
		{"no subscription", `{"version":1,"pattern":"static"}`, false, nil, "", "", "no subscription"},
		{"empty subscription", `{"version":1,"subscription":{}}`, false, nil, "", "", "no subscription"},
		{"zero streams", `{"version":1,"subscription":{"a":0}}`, false, nil, "", "", `0 streams for "a"`},
		{"too many streams", `{"version":1,"subscription":{"a":4097}}`, false, nil, "", "", `4097 streams for "a"`},
		{"bad topic", `{"version":1,"subscription":{"a b":1}}`, false, nil, "", "", `bad topic "a b"`},
		{"bad regex", `{"version":1,"subscription":{"(":1},"pattern":"white_list"}`, false, nil, "", "", "error parsing regexp"},
		{"two patterns", `{"version":1,"subscription":{"a":1,"b":1},"pattern":"black_list"}`, false, nil, "", "", "black_list with 2 patterns"},
		{"unknown pattern", `{"version":1,"subscription":{"a":1},"pattern":"regex"}`, false, nil, "", "", `unknown pattern "regex"`},
		{"not a topic", "hello world!", false, nil, "", "", `"hello world!" is neither JSON nor a topic name`},
		{"binary", "\x00\xff", false, nil, "", "", `"\x00\xff" is neither JSON nor a topic name`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := zkformat.ParseRegistration([]byte(tc.data))
			if tc.err != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tc.err) {
					t.Fatalf("%+v, %v; want an error starting %q", r, err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.Pykafka != tc.pykafka || r.Pattern != tc.pattern || string(r.Timestamp) != tc.timestamp || !maps.Equal(r.Subscription, tc.sub) {
				t.Fatalf("%+v (timestamp %s); want pykafka %v, %v, pattern %q, timestamp %s", r, r.Timestamp, tc.pykafka, tc.sub, tc.pattern, tc.timestamp)
			}
		})
	}
}

func TestRegistrationTopics(t *testing.T) {
	existing := []string{"orders", "orders-eu", "payments", "__consumer_offsets", "audit"}
	for _, tc := range []struct {
		name string
		reg  zkformat.Registration
		want map[string]int
	}{
		{"static, existing or not", zkformat.Registration{Subscription: map[string]int{"orders": 2, "gone": 1}, Pattern: "static"},
			map[string]int{"orders": 2, "gone": 1}},
		{"pykafka", zkformat.Registration{Pykafka: true, Subscription: map[string]int{"payments": 1}},
			map[string]int{"payments": 1}},
		{"whitelist", zkformat.Registration{Subscription: map[string]int{"orders.*": 1}, Pattern: "white_list"},
			map[string]int{"orders": 1, "orders-eu": 1}},
		{"whitelist with commas", zkformat.Registration{Subscription: map[string]int{"orders,audit": 3}, Pattern: "white_list"},
			map[string]int{"orders": 3, "audit": 3}},
		{"whitelist skips internal", zkformat.Registration{Subscription: map[string]int{".*": 1}, Pattern: "white_list"},
			map[string]int{"orders": 1, "orders-eu": 1, "payments": 1, "audit": 1}},
		{"blacklist skips internal", zkformat.Registration{Subscription: map[string]int{"orders.*": 1}, Pattern: "black_list"},
			map[string]int{"payments": 1, "audit": 1}},
		{"no match", zkformat.Registration{Subscription: map[string]int{"x": 1}, Pattern: "white_list"},
			map[string]int{}},
		{"bad regex", zkformat.Registration{Subscription: map[string]int{"(": 1}, Pattern: "white_list"}, nil},
	} {
		got := tc.reg.Topics(existing)
		if !maps.Equal(got, tc.want) || (got == nil) != (tc.want == nil) {
			t.Errorf("%s: %v; want %v", tc.name, got, tc.want)
		}
	}
}

func TestEncodeScalaRegistration(t *testing.T) {
	now := time.UnixMilli(1795426452383)
	for _, tc := range []struct {
		topics  []string
		pattern string
		want    string
	}{
		{[]string{"a", "b"}, "", `{"version":1,"subscription":{"a":1,"b":1},"pattern":"static","timestamp":"1795426452383"}`},
		{nil, "a.*", `{"version":1,"subscription":{"a.*":1},"pattern":"white_list","timestamp":"1795426452383"}`},
	} {
		b := zkformat.EncodeScalaRegistration(tc.topics, tc.pattern, now)
		if string(b) != tc.want {
			t.Errorf("%v %q: %s; want %s", tc.topics, tc.pattern, b, tc.want)
		}
		r, err := zkformat.ParseRegistration(b)
		if err != nil {
			t.Fatalf("%s does not parse back: %v", b, err)
		}
		if ts, err := zkformat.ParseTimestamp(r.Timestamp); err != nil || !ts.Equal(now) {
			t.Errorf("%s: timestamp %v, %v; want %v", b, ts, err, now)
		}
	}
}

func TestParseTimestamp(t *testing.T) {
	for _, tc := range []struct {
		raw  string
		want time.Time
	}{
		{``, time.Time{}},
		{`null`, time.Time{}},
		{` null `, time.Time{}},
		{`"1700000000123"`, time.UnixMilli(1700000000123)},
		{`1700000000`, time.Unix(1700000000, 0)},
		{`1700000000123`, time.UnixMilli(1700000000123)},
		{`-1700000000123`, time.UnixMilli(-1700000000123)},
	} {
		got, err := zkformat.ParseTimestamp(json.RawMessage(tc.raw))
		if err != nil || !got.Equal(tc.want) {
			t.Errorf("%s: %v, %v; want %v", tc.raw, got, err, tc.want)
		}
	}
	for _, raw := range []string{`"x"`, `1.5`, `true`, `{}`, `"1`} {
		if got, err := zkformat.ParseTimestamp(json.RawMessage(raw)); err == nil {
			t.Errorf("%s accepted as %v", raw, got)
		}
	}
}

// FuzzParseRegistration: any value parses to a valid registration or an
// error, never a panic.
func FuzzParseRegistration(f *testing.F) {
	f.Add([]byte(`{"version":1,"subscription":{"a":1},"pattern":"static","timestamp":"1"}`))
	f.Add([]byte(`{"version":1,"subscription":{"a.*":2},"pattern":"white_list","timestamp":1700000000}`))
	f.Add([]byte("topic"))
	f.Add([]byte(`{"subscription":{"(":1},"pattern":"white_list"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := zkformat.ParseRegistration(data)
		if err != nil {
			return
		}
		if len(r.Subscription) == 0 {
			t.Fatalf("%q: %+v without subscription", data, r)
		}
		for k, n := range r.Subscription {
			if n < 1 || n > partition.MaxStreams {
				t.Fatalf("%q: %d streams for %q", data, n, k)
			}
			if !r.IsPattern() && !zkformat.ValidTopic(k) {
				t.Fatalf("%q: bad topic %q", data, k)
			}
		}
		switch {
		case r.Pykafka:
			if r.Pattern != "" || len(r.Subscription) != 1 {
				t.Fatalf("%q: pykafka %+v", data, r)
			}
		case r.IsPattern():
			if len(r.Subscription) != 1 || r.Topics([]string{"a", "b"}) == nil {
				t.Fatalf("%q: pattern %+v", data, r)
			}
		case r.Pattern != "static":
			t.Fatalf("%q: pattern %q", data, r.Pattern)
		}
		_, _ = zkformat.ParseTimestamp(r.Timestamp) // must not panic
	})
}
