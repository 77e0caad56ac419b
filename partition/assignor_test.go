package partition

import (
	"errors"
	"reflect"
	"slices"
	"testing"
)

func TestLookup(t *testing.T) {
	want := []string{"pykafka-range", "pykafka-roundrobin", "scala-range",
		"scala-roundrobin", "scala-roundrobin-1.0", "sticky"}
	if got := Names(); !reflect.DeepEqual(got, want) {
		t.Fatalf("Names() = %v, want %v", got, want)
	}
	for _, name := range want {
		a, err := Lookup(name)
		if err != nil || a.Name() != name {
			t.Errorf("Lookup(%q) = %v, %v", name, a, err)
		}
	}
	for _, bad := range []string{"", "range", "roundrobin", "Scala-Range", "sticky "} {
		if _, err := Lookup(bad); !errors.Is(err, ErrUnknownAssignor) {
			t.Errorf("Lookup(%q) error = %v, want ErrUnknownAssignor", bad, err)
		}
	}
}

func TestInvalidInput(t *testing.T) {
	topics := Topics{"t": {0: 1, 1: 1}}
	tests := []struct {
		name string
		in   Input
	}{
		{"empty id", Input{Members: []Member{{ID: "", Subscription: map[string]int{"t": 1}}}, Topics: topics}},
		{"duplicate id", Input{Members: []Member{
			{ID: "a", Subscription: map[string]int{"t": 1}},
			{ID: "a", Subscription: map[string]int{"t": 1}}}, Topics: topics}},
		{"zero streams", Input{Members: []Member{{ID: "a", Subscription: map[string]int{"t": 0}}}, Topics: topics}},
		{"negative streams", Input{Members: []Member{{ID: "a", Subscription: map[string]int{"zzz": -3}}}, Topics: topics}},
		{"too many streams", Input{Members: []Member{{ID: "a", Subscription: map[string]int{"t": MaxStreams + 1}}}, Topics: topics}},
		{"negative partition", Input{Members: []Member{{ID: "a", Subscription: map[string]int{"t": 1}}},
			Topics: Topics{"t": {0: 1, -1: 1}}}},
		{"negative partition, unsubscribed topic", Input{Topics: Topics{"x": {-5: 1}}}},
	}
	for _, tt := range tests {
		for _, name := range Names() {
			a, _ := Lookup(name)
			got, err := a.Assign(tt.in)
			if !errors.Is(err, ErrInvalidInput) || got != nil {
				t.Errorf("%s, %s: got %v, %v; want ErrInvalidInput", tt.name, name, got, err)
			}
		}
	}
}

func TestValidEdgeInputs(t *testing.T) {
	tests := []struct {
		name string
		in   Input
	}{
		{"zero value", Input{}},
		{"nil subscription", Input{Members: []Member{{ID: "a"}}, Topics: Topics{"t": {0: 1}}}},
		{"nil partition map", Input{Members: []Member{{ID: "a", Subscription: map[string]int{"t": 1}}}, Topics: Topics{"t": nil}}},
		{"MaxStreams", Input{Members: []Member{{ID: "a", Subscription: map[string]int{"t": MaxStreams}}}, Topics: Topics{"t": {0: 1}}}},
	}
	for _, tt := range tests {
		for _, name := range Names() {
			a, _ := Lookup(name)
			got, err := a.Assign(tt.in)
			if err != nil {
				t.Errorf("%s, %s: %v", tt.name, name, err)
				continue
			}
			if err := checkValid(name, tt.in, got); err != nil {
				t.Errorf("%s, %s: %v", tt.name, name, err)
			}
		}
	}
}

func tp(topic string, p int32) TopicPartition { return TopicPartition{topic, p} }

func TestDiff(t *testing.T) {
	prev := map[TopicPartition]string{tp("t", 0): "a", tp("t", 1): "a", tp("t", 2): "b", tp("u", 0): "a"}
	tests := []struct {
		name           string
		prev, next     map[TopicPartition]string
		self           string
		added, revoked []TopicPartition
	}{
		{"both nil", nil, nil, "a", nil, nil},
		{"first assignment", nil, prev, "a", []TopicPartition{tp("t", 0), tp("t", 1), tp("u", 0)}, nil},
		{"leaving", prev, nil, "a", nil, []TopicPartition{tp("t", 0), tp("t", 1), tp("u", 0)}},
		{"no change", prev, prev, "a", nil, nil},
		{"not a member", prev, prev, "zz", nil, nil},
		{"swap", prev,
			map[TopicPartition]string{tp("t", 0): "b", tp("t", 1): "a", tp("t", 2): "a", tp("u", 0): "a"},
			"a", []TopicPartition{tp("t", 2)}, []TopicPartition{tp("t", 0)}},
		{"partition deleted and created", prev,
			map[TopicPartition]string{tp("t", 0): "a", tp("t", 1): "a", tp("t", 2): "b", tp("t", 10): "a"},
			"a", []TopicPartition{tp("t", 10)}, []TopicPartition{tp("u", 0)}},
		{"sorted by topic then partition as numbers", nil,
			map[TopicPartition]string{tp("b", 10): "a", tp("b", 9): "a", tp("a", 1): "a", tp("B", 0): "a"},
			"a", []TopicPartition{tp("B", 0), tp("a", 1), tp("b", 9), tp("b", 10)}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			added, revoked := Diff(tt.prev, tt.next, tt.self)
			if !reflect.DeepEqual(added, tt.added) || !reflect.DeepEqual(revoked, tt.revoked) {
				t.Errorf("Diff = %v, %v; want %v, %v", added, revoked, tt.added, tt.revoked)
			}
		})
	}
}

func TestAssignmentHelpers(t *testing.T) {
	a := Assignment{
		"m-0": {"t": {0, 2}, "u": {1}},
		"m-1": {"t": {1}},
		"n-0": {"t": {3}},
	}
	owners := a.Owners()
	want := map[TopicPartition]string{tp("t", 0): "m-0", tp("t", 2): "m-0", tp("u", 1): "m-0", tp("t", 1): "m-1", tp("t", 3): "n-0"}
	if !reflect.DeepEqual(owners, want) {
		t.Errorf("Owners() = %v", owners)
	}
	if got := a.Partitions("m-1", "m-0", "zz"); !reflect.DeepEqual(got, []TopicPartition{tp("t", 0), tp("t", 1), tp("t", 2), tp("u", 1)}) {
		t.Errorf("Partitions = %v", got)
	}
	if got := a.Partitions("zz"); got != nil {
		t.Errorf("Partitions(zz) = %v, want nil", got)
	}
	if o, ok := a.OwnerOf(tp("t", 3)); !ok || o != "n-0" {
		t.Errorf("OwnerOf(t/3) = %q, %v", o, ok)
	}
	if _, ok := a.OwnerOf(tp("t", 4)); ok {
		t.Error("OwnerOf(t/4) found an owner")
	}
	if n := a.Count(); n != 5 {
		t.Errorf("Count() = %d", n)
	}
}

func TestThreadIDs(t *testing.T) {
	if got := ThreadID("g_host-1-aa", 10); got != "g_host-1-aa-10" {
		t.Errorf("ThreadID = %q", got)
	}
	tests := []struct {
		id     string
		member string
		n      int
		ok     bool
	}{
		{"g_host-1-aa-10", "g_host-1-aa", 10, true},
		{"m-0", "m", 0, true},
		{"-3", "", 3, true},
		{"m", "", 0, false},
		{"m-", "", 0, false},
		{"m-x", "", 0, false},
		{"m-07", "", 0, false},
		{"m-+1", "", 0, false},
		{"m-99999999999999999999", "", 0, false},
	}
	for _, tt := range tests {
		member, n, ok := SplitThreadID(tt.id)
		if member != tt.member || n != tt.n || ok != tt.ok {
			t.Errorf("SplitThreadID(%q) = %q, %d, %v", tt.id, member, n, ok)
		}
	}
}

func TestTopicPartitionString(t *testing.T) {
	for _, x := range []TopicPartition{tp("t", 0), tp("a/b", 12), tp("", 2147483647)} {
		s := x.String()
		y, err := ParseTopicPartition(s)
		if err != nil || y != x {
			t.Errorf("ParseTopicPartition(%q) = %v, %v; want %v", s, y, err, x)
		}
	}
	if s := tp("orders", 7).String(); s != "orders/7" {
		t.Errorf("String() = %q", s)
	}
	for _, bad := range []string{"t", "t/", "t/x", "t/2147483648", "t/1.0"} {
		if _, err := ParseTopicPartition(bad); err == nil {
			t.Errorf("ParseTopicPartition(%q) succeeded", bad)
		}
	}
}

// Expected values computed with an independent script (Python, over UTF-16
// code units) and, for "polygenelubricants", a well-known Java fact.
func TestJavaHashCode(t *testing.T) {
	tests := map[string]int32{
		"":                   0,
		"a":                  97,
		"Aa":                 2112,
		"BB":                 2112,
		"[t,10]":             -1581226645,
		"t-10":               3500568,
		"😀":                  1772899,
		"héllo":              103094734,
		"polygenelubricants": -2147483648,
		"g_Ａ-0":              160720044,
	}
	for s, want := range tests {
		if got := javaHashCode(s); got != want {
			t.Errorf("javaHashCode(%q) = %d, want %d", s, got, want)
		}
	}
}

func TestCompareJava(t *testing.T) {
	// Each list is in Java String order.
	ordered := [][]string{
		{"", "a", "ab", "b"},
		{"m-0", "m-1", "m-10", "m-2"},
		{"B", "a"},
		{"g_host-1-x", "g_host-10-x", "g_host-2-x"},
		{"a\U0001F600", "a\uFF21"},             // surrogate D83D < FF21
		{"\U0001F600", "\U0001F601", "\uFFFF"}, // same high surrogate, then low
		{"\u00e9", "\u0800", "\uD7FF", "\U00010000", "\uE000"},
	}
	for _, list := range ordered {
		for i := range list {
			for j := range list {
				want := 0
				if i < j {
					want = -1
				} else if i > j {
					want = 1
				}
				if got := compareJava(list[i], list[j]); got != want {
					t.Errorf("compareJava(%q, %q) = %d, want %d", list[i], list[j], got, want)
				}
			}
		}
	}
	// Invalid UTF-8 decodes to U+FFFD in both: equal for Java, ordered
	// byte-wise by compareThreadIDs.
	if compareJava("a\xff", "a\xfe") != 0 || compareThreadIDs("a\xfe", "a\xff") != -1 {
		t.Error("invalid UTF-8 handling")
	}
	ids := []string{"m-2", "m-10", "m-1", "m-0"}
	slices.SortFunc(ids, compareThreadIDs)
	if !reflect.DeepEqual(ids, []string{"m-0", "m-1", "m-10", "m-2"}) {
		t.Errorf("sorted = %v", ids)
	}
}

func TestSortedPartitions(t *testing.T) {
	dense := map[int32]int32{}
	for p := range int32(100) {
		dense[p] = 0
	}
	gaps := map[int32]int32{}
	for p := int32(0); p < 150; p += 3 {
		gaps[p] = 0
	}
	sparse := map[int32]int32{7: 0, 1000: 0, 3: 0}
	for p := range int32(40) {
		sparse[p*100] = 0
	}
	for name, parts := range map[string]map[int32]int32{"empty": {}, "dense": dense, "gaps": gaps, "sparse": sparse, "few": {2: 0, 0: 0, 1: 0}} {
		want := make([]int32, 0, len(parts))
		for p := range parts {
			want = append(want, p)
		}
		slices.Sort(want)
		if got := sortedPartitions(parts); !slices.Equal(got, want) {
			t.Errorf("%s: sortedPartitions = %v, want %v", name, got, want)
		}
	}
}
