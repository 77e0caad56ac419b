package kcatfmt_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/zkbalance/zkbalance/balanced"
	"github.com/zkbalance/zkbalance/internal/kcatfmt"
)

var full = &balanced.Message{
	Topic: "orders", Partition: 3, Offset: 42, Key: []byte("k1"), Value: []byte("hello"),
	Timestamp: time.UnixMilli(1700000000123),
	Headers:   []balanced.Header{{Key: []byte("a"), Value: []byte("1")}, {Key: []byte("b"), Value: nil}},
}

var bare = &balanced.Message{Topic: "t", Partition: 0, Offset: 0}

func TestFormat(t *testing.T) {
	for _, tc := range []struct {
		format string
		msg    *balanced.Message
		want   string
	}{
		{kcatfmt.Default, full, "orders 3 42 k1\n"},
		{kcatfmt.Default, bare, "t 0 0 \n"},
		{`%t/%p@%o`, full, "orders/3@42"},
		{`%k=%s`, full, "k1=hello"},
		{`%K %S`, full, "2 5"},
		{`%K %S`, bare, "-1 -1"},
		{`%K %S`, &balanced.Message{Key: []byte{}, Value: []byte{}}, "0 0"},
		{`%T`, full, "1700000000123"},
		{`%T`, bare, "-1"},
		{`%h`, full, "a=1,b="},
		{`[%h]`, bare, "[]"},
		{`100%%`, full, "100%"},
		{`a\tb\r\n\\`, full, "a\tb\r\n\\"},
		{`%%t`, full, "%t"},
		{`\\n`, full, `\n`},
		{``, full, ""},
		{`plain text`, full, "plain text"},
		{`%s%s`, full, "hellohello"},
	} {
		f, err := kcatfmt.Parse(tc.format)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.format, err)
			continue
		}
		if got := string(f.Append(nil, tc.msg)); got != tc.want {
			t.Errorf("%q: got %q, want %q", tc.format, got, tc.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ format, want string }{
		{`%`, "lone %"},
		{`abc\`, `lone \`},
		{`%x`, "unknown field %x"},
		{`%t %P`, "unknown field %P"},
		{`\q`, `unknown escape \q`},
		{`\0`, `unknown escape \0`},
	} {
		_, err := kcatfmt.Parse(tc.format)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%q) = %v; want an error with %q", tc.format, err, tc.want)
		}
	}
}

// FuzzParse: any format parses or fails without a panic, and a parsed one
// formats any message.
func FuzzParse(f *testing.F) {
	for _, s := range []string{kcatfmt.Default, `%t|%p|%o|%k|%s|%K|%S|%T|%h\t%%\n`, `%`, `\`, `%x\q`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		fm, err := kcatfmt.Parse(s)
		if err != nil {
			return
		}
		fm.Append(nil, full)
		fm.Append(nil, bare)
	})
}

func Example() {
	f, err := kcatfmt.Parse(`%t [%p] at offset %o: key %k: %s\n`)
	if err != nil {
		panic(err)
	}
	m := &balanced.Message{Topic: "orders", Partition: 1, Offset: 7, Key: []byte("id-9"), Value: []byte("paid")}
	fmt.Print(string(f.Append(nil, m)))
	// Output: orders [1] at offset 7: key id-9: paid
}
