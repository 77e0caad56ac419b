package groupstate

import (
	"errors"
	"testing"
	"time"
)

func TestParseMember(t *testing.T) {
	for _, tc := range []struct {
		name, value string
		layout      Layout
		sub         map[string]int
		pattern     string
		ts          time.Time
	}{
		{"scala", `{"version":1,"subscription":{"a":2,"b":1},"pattern":"static","timestamp":"1700000000123"}`, LayoutScala, map[string]int{"a": 2, "b": 1}, "static", time.UnixMilli(1700000000123)},
		{"scala no pattern", `{"version":1,"subscription":{"a":1}}`, LayoutScala, map[string]int{"a": 1}, "static", time.Time{}},
		{"whitelist", `{"version":1,"subscription":{"a.*,b":1},"pattern":"white_list","timestamp":"1"}`, LayoutScala, map[string]int{"a.*,b": 1}, "white_list", time.UnixMilli(1)},
		{"wvanbergen", `{"version":1,"subscription":{"a":1},"pattern":"static","timestamp":1700000000}`, LayoutScala, map[string]int{"a": 1}, "static", time.Unix(1700000000, 0)},
		{"pykafka", "orders", LayoutPykafka, map[string]int{"orders": 1}, "", time.Time{}},
		{"pykafka blanks", " orders\n", LayoutPykafka, map[string]int{"orders": 1}, "", time.Time{}},
		{"empty", "", LayoutUnknown, nil, "", time.Time{}},
		{"bad json", `{"version":`, LayoutUnknown, nil, "", time.Time{}},
		{"no subscription", `{"version":1,"subscription":{}}`, LayoutUnknown, nil, "", time.Time{}},
		{"zero streams", `{"version":1,"subscription":{"a":0}}`, LayoutUnknown, nil, "", time.Time{}},
		{"bad topic", `{"version":1,"subscription":{"a b":1}}`, LayoutUnknown, nil, "", time.Time{}},
		{"bad regex", `{"version":1,"subscription":{"(":1},"pattern":"white_list"}`, LayoutUnknown, nil, "", time.Time{}},
		{"two patterns", `{"version":1,"subscription":{"a":1,"b":1},"pattern":"black_list"}`, LayoutUnknown, nil, "", time.Time{}},
		{"unknown pattern", `{"version":1,"subscription":{"a":1},"pattern":"regex"}`, LayoutUnknown, nil, "", time.Time{}},
		{"bad timestamp", `{"version":1,"subscription":{"a":1},"timestamp":"soon"}`, LayoutUnknown, nil, "", time.Time{}},
		{"not a topic", "two words", LayoutUnknown, nil, "", time.Time{}},
		{"binary", "\x00\xff", LayoutUnknown, nil, "", time.Time{}},
	} {
		var m Member
		parseMember(&m, "/consumers/g/ids/m", []byte(tc.value))
		if m.Layout != tc.layout || m.Pattern != tc.pattern || !m.Timestamp.Equal(tc.ts) || len(m.Subscription) != len(tc.sub) {
			t.Errorf("%s: %+v", tc.name, m)
			continue
		}
		for k, v := range tc.sub {
			if m.Subscription[k] != v {
				t.Errorf("%s: subscription %v; want %v", tc.name, m.Subscription, tc.sub)
			}
		}
		if tc.layout == LayoutUnknown && (m.Raw != tc.value || m.Error == "") {
			t.Errorf("%s: raw %q error %q; want the value and an error", tc.name, m.Raw, m.Error)
		}
	}
}

func TestParseMemberErrors(t *testing.T) {
	for value, want := range map[string]string{
		"":          "/consumers/g/ids/m: groupstate: malformed member registration: empty",
		"two words": `/consumers/g/ids/m: groupstate: malformed member registration: "two words" is neither JSON nor a topic name`,
		`{"version":1,"subscription":{"a":1},"timestamp":"soon"}`: `/consumers/g/ids/m: groupstate: malformed member registration: timestamp: "soon" is not a number of milliseconds`,
	} {
		var m Member
		parseMember(&m, "/consumers/g/ids/m", []byte(value))
		if m.Error != want {
			t.Errorf("%q: error %q; want %q", value, m.Error, want)
		}
		if err := parseRegistration(&Member{}, "/consumers/g/ids/m", []byte(value)); !errors.Is(err, ErrBadRegistration) {
			t.Errorf("%q: %v; want ErrBadRegistration", value, err)
		}
	}
}

func TestResolveTopics(t *testing.T) {
	existing := []string{"__consumer_offsets", "a1", "a2", "b", "ca"}
	for _, tc := range []struct {
		pattern, re string
		want        []string
	}{
		{"white_list", "a.*", []string{"a1", "a2"}},
		{"white_list", "a1,b", []string{"a1", "b"}},
		{"white_list", ".*", []string{"a1", "a2", "b", "ca"}},
		{"black_list", "a.*", []string{"b", "ca"}},
		{"white_list", "(", nil},
		{"static", "zz", []string{"zz"}},
		{"", "b", []string{"b"}}, // pykafka
	} {
		m := Member{Pattern: tc.pattern, Subscription: map[string]int{tc.re: 1}}
		resolveTopics(&m, existing)
		if len(m.Topics) != len(tc.want) {
			t.Errorf("%s %q: %v; want %v", tc.pattern, tc.re, m.Topics, tc.want)
			continue
		}
		for i := range tc.want {
			if m.Topics[i] != tc.want[i] {
				t.Errorf("%s %q: %v; want %v", tc.pattern, tc.re, m.Topics, tc.want)
			}
		}
	}
}

// TestParseOwnerName covers what groupstate adds to zkformat.ParseOwnerName
// (tested there): only canonical names.
func TestParseOwnerName(t *testing.T) {
	for _, tc := range []struct {
		name    string
		p       int32
		pykafka bool
		ok      bool
	}{
		{"12", 12, false, true}, {"3-7", 7, true, true}, {"-1-7", 7, true, true},
		{"x-1", 0, false, false}, {"-3", 0, false, false}, {"01", 0, false, false}, {"+1", 0, false, false}, {"3-07", 0, false, false},
	} {
		p, pyk, ok := parseOwnerName(tc.name)
		if ok != tc.ok || p != tc.p || pyk != tc.pykafka {
			t.Errorf("parseOwnerName(%q) = %d, %v, %v; want %d, %v, %v", tc.name, p, pyk, ok, tc.p, tc.pykafka, tc.ok)
		}
	}
}

func TestOwnerMember(t *testing.T) {
	members := map[string]bool{"g_h-1-aa": true, "g_h-1-aa-1": true, "host:uuid-1": true}
	for value, want := range map[string]string{
		"g_h-1-aa-0":    "g_h-1-aa",
		"g_h-1-aa-1":    "g_h-1-aa-1", // a member id itself wins over a thread of a shorter one
		"g_h-1-aa-1-0":  "g_h-1-aa-1",
		"host:uuid-1":   "host:uuid-1",
		"host:uuid-1-3": "host:uuid-1",
		"g_h-1-bb-0":    "",
		"g_h-1-aa-x":    "",
		"g_h-1-aa-":     "",
		"":              "",
	} {
		if got := ownerMember(value, members); got != want {
			t.Errorf("ownerMember(%q) = %q; want %q", value, got, want)
		}
	}
}

// TestParseZooKeeperOffset covers what groupstate adds to
// zkformat.ParseOffset (tested there): ErrBadOffset and its message.
func TestParseZooKeeperOffset(t *testing.T) {
	if off, err := parseZooKeeperOffset("/p", []byte("+7")); err != nil || off != 7 {
		t.Fatalf("+7: %d, %v", off, err)
	}
	for value, want := range map[string]string{
		"":                    "groupstate: malformed offset: /p is empty",
		"junk":                `groupstate: malformed offset: /p holds "junk", not a decimal number`,
		"-1":                  "groupstate: malformed offset: /p holds the negative offset -1",
		"9223372036854775808": `groupstate: malformed offset: /p holds "9223372036854775808", out of the int64 range`,
	} {
		if _, err := parseZooKeeperOffset("/p", []byte(value)); !errors.Is(err, ErrBadOffset) || err.Error() != want {
			t.Errorf("%q: %v; want ErrBadOffset %q", value, err, want)
		}
	}
}

// FuzzParseMember: any value parses to a member or an error, never a panic.
func FuzzParseMember(f *testing.F) {
	f.Add([]byte(`{"version":1,"subscription":{"a":1},"pattern":"static","timestamp":"1"}`))
	f.Add([]byte("topic"))
	f.Add([]byte(`{"subscription":{"(":1},"pattern":"white_list"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var m Member
		parseMember(&m, "/p", data)
		if (m.Layout == LayoutUnknown) != (m.Error != "") {
			t.Fatalf("%q: %+v", data, m)
		}
	})
}
