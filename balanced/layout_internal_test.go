package balanced

import (
	"encoding/json"
	"errors"
	"maps"
	"strings"
	"testing"

	"github.com/zkbalance/zkbalance/partition"
)

func TestParseRegistration(t *testing.T) {
	existing := []string{"orders", "orders-eu", "payments", "__consumer_offsets", "audit"}
	for _, tc := range []struct {
		name string
		data string
		want map[string]int
		bad  bool
	}{
		{"scala static", `{"version":1,"subscription":{"orders":2,"payments":1},"pattern":"static","timestamp":"1795426452383"}`, map[string]int{"orders": 2, "payments": 1}, false},
		{"scala whitelist", `{"version":1,"subscription":{"orders.*":1},"pattern":"white_list","timestamp":"1"}`, map[string]int{"orders": 1, "orders-eu": 1}, false},
		{"scala whitelist with commas", `{"version":1,"subscription":{"orders,audit":3},"pattern":"white_list","timestamp":"1"}`, map[string]int{"orders": 3, "audit": 3}, false},
		{"scala blacklist skips internal", `{"version":1,"subscription":{"orders.*":1},"pattern":"black_list","timestamp":"1"}`, map[string]int{"payments": 1, "audit": 1}, false},
		{"wvanbergen numeric timestamp", `{"version":1,"subscription":{"orders":1},"pattern":"static","timestamp":1795426452}`, map[string]int{"orders": 1}, false},
		{"no pattern field", `{"version":1,"subscription":{"orders":1}}`, map[string]int{"orders": 1}, false},
		{"pykafka raw topic", `payments`, map[string]int{"payments": 1}, false},
		{"empty", ``, nil, true},
		{"truncated json", `{"version":1,"subscription":{"orders":1`, nil, true},
		{"no subscription", `{"version":1,"pattern":"static"}`, nil, true},
		{"zero streams", `{"version":1,"subscription":{"orders":0},"pattern":"static"}`, nil, true},
		{"bad regex", `{"version":1,"subscription":{"(":1},"pattern":"white_list"}`, nil, true},
		{"two patterns", `{"version":1,"subscription":{"a":1,"b":1},"pattern":"white_list"}`, nil, true},
		{"unknown pattern", `{"version":1,"subscription":{"a":1},"pattern":"grey_list"}`, nil, true},
		{"not a topic", `hello world!`, nil, true},
		{"wrong types", `{"version":"x","subscription":[1]}`, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := parseRegistration("/consumers/g/ids/m", []byte(tc.data))
			if tc.bad {
				if !errors.Is(err, ErrBadRegistration) || !strings.Contains(err.Error(), "/consumers/g/ids/m") {
					t.Fatalf("err = %v, want ErrBadRegistration naming the path", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := s.topics(existing); !maps.Equal(got, tc.want) {
				t.Fatalf("topics = %v, want %v", got, tc.want)
			}
		})
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
	for name, want := range map[string]int32{"7": 7, "3-7": 7, "12-0": 0} {
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
