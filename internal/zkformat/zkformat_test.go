package zkformat_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/zkbalance/zkbalance/internal/zkformat"
)

func TestValidTopic(t *testing.T) {
	for _, tc := range []struct {
		topic string
		want  bool
	}{
		{"orders", true},
		{"a.b_c-D9", true},
		{strings.Repeat("x", 249), true},
		{"...", true},
		{"", false},
		{".", false},
		{"..", false},
		{strings.Repeat("x", 250), false},
		{"a b", false},
		{"a/b", false},
		{"é", false},
	} {
		if got := zkformat.ValidTopic(tc.topic); got != tc.want {
			t.Errorf("ValidTopic(%q) = %v; want %v", tc.topic, got, tc.want)
		}
	}
}

func TestCompilePattern(t *testing.T) {
	for _, tc := range []struct {
		re, topic string
		want      bool
	}{
		{"a.*", "a1", true},
		{"a.*", "ba", false}, // anchored
		{"a", "ab", false},   // the whole name must match
		{"a1,b", "b", true},  // commas separate alternatives
		{"a1,b", "a1", true},
		{"a1,b", "a1,b", false},
	} {
		re, err := zkformat.CompilePattern(tc.re)
		if err != nil {
			t.Fatal(err)
		}
		if got := re.MatchString(tc.topic); got != tc.want {
			t.Errorf("CompilePattern(%q) matches %q: %v; want %v", tc.re, tc.topic, got, tc.want)
		}
	}
	if _, err := zkformat.CompilePattern("("); err == nil {
		t.Error(`CompilePattern("(") accepted`)
	}
}

func TestParseOffset(t *testing.T) {
	for _, tc := range []struct {
		value string
		want  int64
		err   string // "": valid
	}{
		{"0", 0, ""},
		{"42", 42, ""},
		{"+7", 7, ""},
		{"9223372036854775807", 1<<63 - 1, ""},
		{"", 0, "/p is empty"},
		{" 1", 0, `/p holds " 1", not a decimal number`},
		{"1 ", 0, `/p holds "1 ", not a decimal number`},
		{"abc", 0, `/p holds "abc", not a decimal number`},
		{"1.5", 0, `/p holds "1.5", not a decimal number`},
		{"-1", 0, "/p holds the negative offset -1"},
		{"9223372036854775808", 0, `/p holds "9223372036854775808", out of the int64 range`},
	} {
		got, err := zkformat.ParseOffset("/p", []byte(tc.value))
		if tc.err == "" {
			if err != nil || got != tc.want {
				t.Errorf("%q: %d, %v; want %d", tc.value, got, err, tc.want)
			}
			continue
		}
		if err == nil || err.Error() != tc.err {
			t.Errorf("%q: %d, %v; want the error %q", tc.value, got, err, tc.err)
		}
	}
}

func TestParseOwnerName(t *testing.T) {
	for _, tc := range []struct {
		name               string
		p                  int32
		pykafka, canonical bool
		ok                 bool
	}{
		{"0", 0, false, true, true},
		{"7", 7, false, true, true},
		{"12", 12, false, true, true},
		{"3-7", 7, true, true, true},
		{"12-0", 0, true, true, true},
		{"-1-7", 7, true, true, true}, // pykafka saw no leader
		{"01", 1, false, false, true},
		{"+5", 5, false, false, true},
		{"3-05", 5, true, false, true},
		{"", 0, false, false, false},
		{"x", 0, false, false, false},
		{"x-1", 0, false, false, false},
		{"3-x", 0, false, false, false},
		{"1-", 0, false, false, false},
		{"3-", 0, false, false, false},
		{"-1", 0, false, false, false},
		{"-3", 0, false, false, false},
		{"-0", 0, false, false, false},
		{"1-2-3", 0, false, false, false},
		{"99999999999", 0, false, false, false},
		{"99999999999-1", 0, false, false, false},
	} {
		o, ok := zkformat.ParseOwnerName(tc.name)
		want := zkformat.OwnerName{Partition: tc.p, Pykafka: tc.pykafka, Canonical: tc.canonical}
		if ok != tc.ok || o != want {
			t.Errorf("ParseOwnerName(%q) = %+v, %v; want %+v, %v", tc.name, o, ok, want, tc.ok)
		}
	}
}

func TestParsePartitionName(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    int32
		ok   bool
	}{
		{"0", 0, true}, {"12", 12, true}, {"2147483647", 1<<31 - 1, true},
		{"", 0, false}, {"01", 0, false}, {"+1", 0, false}, {"-1", 0, false}, {"-0", 0, false},
		{"1-2", 0, false}, {"x", 0, false}, {"2147483648", 0, false},
	} {
		p, ok := zkformat.ParsePartitionName(tc.name)
		if ok != tc.ok || p != tc.p {
			t.Errorf("ParsePartitionName(%q) = %d, %v; want %d, %v", tc.name, p, ok, tc.p, tc.ok)
		}
	}
}

// FuzzParseOffset: ParseOffset accepts exactly the non-negative values
// strconv.ParseInt reads, and every error names the path.
func FuzzParseOffset(f *testing.F) {
	for _, v := range []string{"0", "42", "+7", "-1", "", " 1", "9223372036854775808"} {
		f.Add([]byte(v))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := zkformat.ParseOffset("/p", data)
		want, werr := strconv.ParseInt(string(data), 10, 64)
		if werr == nil && want >= 0 {
			if err != nil || got != want {
				t.Fatalf("%q: %d, %v; want %d", data, got, err, want)
			}
			return
		}
		if err == nil || !strings.HasPrefix(err.Error(), "/p ") {
			t.Fatalf("%q: %d, %v; want an error naming the path", data, got, err)
		}
	})
}

func TestPy3OwnersTopic(t *testing.T) {
	for _, c := range []struct {
		in    string
		topic string
		py3   bool
	}{
		{"t", "t", false},
		{"b't'", "t", true},
		{"b'my.topic-1'", "my.topic-1", true},
		{"b''", "b''", false},
		{"b'x", "b'x", false},
		{"bx'", "bx'", false},
	} {
		topic, py3 := zkformat.Py3OwnersTopic(c.in)
		if topic != c.topic || py3 != c.py3 {
			t.Errorf("Py3OwnersTopic(%q) = %q, %v; want %q, %v", c.in, topic, py3, c.topic, c.py3)
		}
	}
}
