package balanced

import (
	"encoding/json"
	"errors"
	"maps"
	"strings"
	"testing"

	"github.com/zkbalance/zkbalance/partition"
)

// TestParseRegistration covers what balanced adds to
// zkformat.ParseRegistration (tested there): the path and ErrBadRegistration
// on errors, static set for static subscriptions only.
func TestParseRegistration(t *testing.T) {
	existing := []string{"orders", "orders-eu", "payments", "__consumer_offsets"}
	for _, tc := range []struct {
		name, data string
		static     bool
		want       map[string]int
	}{
		{"scala static", `{"version":1,"subscription":{"orders":2},"pattern":"static","timestamp":"1795426452383"}`, true, map[string]int{"orders": 2}},
		{"pykafka raw topic", `payments`, true, map[string]int{"payments": 1}},
		{"scala whitelist", `{"version":1,"subscription":{"orders.*":1},"pattern":"white_list","timestamp":"1"}`, false, map[string]int{"orders": 1, "orders-eu": 1}},
		{"scala blacklist", `{"version":1,"subscription":{"orders.*":1},"pattern":"black_list","timestamp":"1"}`, false, map[string]int{"payments": 1}},
		{"timestamp not checked", `{"version":1,"subscription":{"orders":1},"timestamp":"soon"}`, true, map[string]int{"orders": 1}},
	} {
		s, err := parseRegistration("/consumers/g/ids/m", []byte(tc.data))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if (s.static != nil) != tc.static {
			t.Errorf("%s: static %v; want static %v", tc.name, s.static, tc.static)
		}
		if got := s.topics(existing); !maps.Equal(got, tc.want) {
			t.Errorf("%s: topics = %v, want %v", tc.name, got, tc.want)
		}
	}
	for data, want := range map[string]string{
		``:                                "/consumers/g/ids/m: balanced: malformed member registration: empty",
		`hello world!`:                    `/consumers/g/ids/m: balanced: malformed member registration: "hello world!" is neither JSON nor a topic name`,
		`{"version":1,"subscription":{}}`: "/consumers/g/ids/m: balanced: malformed member registration: no subscription",
		`{"version":1,"subscription":{"`:  "/consumers/g/ids/m: balanced: malformed member registration: unexpected end of JSON input",
		`{"subscription":{"a":1},"pattern":"grey_list"}`: `/consumers/g/ids/m: balanced: malformed member registration: unknown pattern "grey_list"`,
	} {
		_, err := parseRegistration("/consumers/g/ids/m", []byte(data))
		if !errors.Is(err, ErrBadRegistration) || err.Error() != want {
			t.Errorf("%q: err = %v; want ErrBadRegistration %q", data, err, want)
		}
	}
	var se *json.SyntaxError
	if _, err := parseRegistration("p", []byte(`{"version":`)); !errors.As(err, &se) {
		t.Errorf("a JSON error is not kept: %v", err)
	}
}

func TestRegistrationRoundTrip(t *testing.T) {
	var r struct {
		Version      int            `json:"version"`
		Subscription map[string]int `json:"subscription"`
		Pattern      string         `json:"pattern"`
		Timestamp    string         `json:"timestamp"`
	}
	if err := json.Unmarshal(registration(LayoutScala, []string{"a", "b"}, ""), &r); err != nil {
		t.Fatal(err)
	}
	if r.Version != 1 || r.Pattern != "static" || !maps.Equal(r.Subscription, map[string]int{"a": 1, "b": 1}) || r.Timestamp == "" {
		t.Fatalf("scala registration %+v", r)
	}
	if err := json.Unmarshal(registration(LayoutScala, nil, "a.*"), &r); err != nil || r.Pattern != "white_list" {
		t.Fatalf("pattern registration %+v %v", r, err)
	}
	if got := string(registration(LayoutPykafka, []string{"t"}, "")); got != "t" {
		t.Fatalf("pykafka registration %q", got)
	}
	s, err := parseRegistration("p", registration(LayoutScala, []string{"a"}, ""))
	if err != nil || !maps.Equal(s.static, map[string]int{"a": 1}) {
		t.Fatalf("own registration does not parse back: %+v %v", s, err)
	}
}

func TestMemberIDsAndOwnerPaths(t *testing.T) {
	id := newMemberID(LayoutScala, "grp")
	parts := strings.Split(strings.TrimPrefix(id, "grp_"), "-")
	if !strings.HasPrefix(id, "grp_") || len(parts[len(parts)-1]) != 8 {
		t.Fatalf("scala member id %q", id)
	}
	py := newMemberID(LayoutPykafka, "grp")
	host, uuid, ok := strings.Cut(py, ":")
	if !ok || host == "" || len(uuid) != 36 || uuid[14] != '4' {
		t.Fatalf("pykafka member id %q", py)
	}
	tp := partition.TopicPartition{Topic: "t", Partition: 7}
	if p := ownerPath(LayoutScala, "g", tp, 3); p != "/consumers/g/owners/t/7" {
		t.Fatal(p)
	}
	if p := ownerPath(LayoutPykafka, "g", tp, 3); p != "/consumers/g/owners/t/3-7" {
		t.Fatal(p)
	}
	for name, want := range map[string]int32{"7": 7, "3-7": 7, "12-0": 0, "-1-7": 7, "05": 5, "+5": 5} { // lenient, unlike groupstate
		if p, ok := parseOwnerName(name); !ok || p != want {
			t.Errorf("parseOwnerName(%q) = %d %v", name, p, ok)
		}
	}
	for _, bad := range []string{"", "x", "3-", "-1", "3-x"} {
		if _, ok := parseOwnerName(bad); ok {
			t.Errorf("parseOwnerName(%q) accepted", bad)
		}
	}
	if ownerValue(LayoutScala, "m") != "m-0" || ownerValue(LayoutPykafka, "m") != "m" {
		t.Fatal("owner values")
	}
}
