// Package kcatfmt formats consumed messages with a subset of kcat's -f
// format syntax, for 'zkbalance consume --format'. Parsing is strict: an
// unknown field or escape is an error, never printed literally.
package kcatfmt

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/zkbalance/zkbalance/balanced"
)

// Default is one "<topic> <partition> <offset> <key>" line.
const Default = `%t %p %o %k\n`

// Help documents the fields and escapes, for help texts.
const Help = `  %t topic             %p partition         %o offset
  %k key               %s value             %K key length (-1: null key)
  %S value length (-1: null value)          %T timestamp in ms since the epoch (-1: none)
  %h headers as k1=v1,k2=v2 (empty: none)   %% a percent sign
  \n newline   \r carriage return   \t tab   \\ backslash`

// Format is a parsed format: literal text and fields, in order.
type Format []formatPart

// formatPart is literal text (field 0) or one field ('t', 'p', ...).
type formatPart struct {
	field   byte
	literal string
}

// Parse parses a kcat-style format. Unknown %-fields and \-escapes, and a
// trailing lone % or \, are errors. No newline is added: a format for
// lines ends with \n.
func Parse(s string) (Format, error) {
	var f Format
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			f = append(f, formatPart{literal: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '%' && c != '\\' {
			lit.WriteByte(c)
			continue
		}
		if i+1 == len(s) {
			return nil, fmt.Errorf("format %q ends with a lone %c", s, c)
		}
		i++
		n := s[i]
		switch {
		case c == '%' && n == '%':
			lit.WriteByte('%')
		case c == '%' && strings.IndexByte("tpoksKSTh", n) >= 0:
			flush()
			f = append(f, formatPart{field: n})
		case c == '%':
			return nil, fmt.Errorf("format %q: unknown field %%%c (want one of %%t %%p %%o %%k %%s %%K %%S %%T %%h %%%%)", s, n)
		case n == 'n':
			lit.WriteByte('\n')
		case n == 'r':
			lit.WriteByte('\r')
		case n == 't':
			lit.WriteByte('\t')
		case n == '\\':
			lit.WriteByte('\\')
		default:
			return nil, fmt.Errorf(`format %q: unknown escape \%c (want \n \r \t or \\)`, s, n)
		}
	}
	flush()
	return f, nil
}

// Append appends m formatted by f to dst. A nil Key or Value is null: %K
// and %S print -1 for it, %k and %s nothing; a zero Timestamp prints -1.
func (f Format) Append(dst []byte, m *balanced.Message) []byte {
	for _, p := range f {
		switch p.field {
		case 0:
			dst = append(dst, p.literal...)
		case 't':
			dst = append(dst, m.Topic...)
		case 'p':
			dst = strconv.AppendInt(dst, int64(m.Partition), 10)
		case 'o':
			dst = strconv.AppendInt(dst, m.Offset, 10)
		case 'k':
			dst = append(dst, m.Key...)
		case 's':
			dst = append(dst, m.Value...)
		case 'K':
			dst = appendLen(dst, m.Key)
		case 'S':
			dst = appendLen(dst, m.Value)
		case 'T':
			ts := int64(-1)
			if !m.Timestamp.IsZero() {
				ts = m.Timestamp.UnixMilli()
			}
			dst = strconv.AppendInt(dst, ts, 10)
		case 'h':
			for i, h := range m.Headers {
				if i > 0 {
					dst = append(dst, ',')
				}
				dst = append(dst, h.Key...)
				dst = append(dst, '=')
				dst = append(dst, h.Value...)
			}
		}
	}
	return dst
}

// appendLen appends len(b), or -1 for nil (absent, as opposed to empty).
func appendLen(dst, b []byte) []byte {
	if b == nil {
		return append(dst, "-1"...)
	}
	return strconv.AppendInt(dst, int64(len(b)), 10)
}
