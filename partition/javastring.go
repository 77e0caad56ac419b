package partition

import (
	"cmp"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// This file reproduces the two java.lang.String operations the Scala
// consumer's assignors depend on. Java strings are sequences of UTF-16 code
// units; Go strings are UTF-8 bytes. For ASCII the two agree, but for
// supplementary characters (U+10000 and up, stored as surrogate pairs
// 0xD800–0xDFFF) neither the hash nor the order matches a byte-wise view.
// Bytes that are not valid UTF-8 are taken as U+FFFD, as Java's decoder
// replaces them.

// javaHashCode returns java.lang.String.hashCode of s:
// s[0]*31^(n-1) + ... + s[n-1] over UTF-16 code units, in wrapping int32.
func javaHashCode(s string) int32 {
	var h uint32
	for _, r := range s { // invalid UTF-8 yields utf8.RuneError (U+FFFD)
		if r >= 0x10000 {
			hi, lo := utf16.EncodeRune(r)
			h = 31*h + uint32(hi)
			h = 31*h + uint32(lo)
			continue
		}
		h = 31*h + uint32(r)
	}
	return int32(h)
}

// compareJava orders a and b as java.lang.String.compareTo does (by UTF-16
// code units), returning -1, 0 or +1. Strings that differ only in invalid
// UTF-8 bytes compare equal here, as they would in Java; callers that need a
// total order break such ties with strings.Compare (see compareThreadIDs).
func compareJava(a, b string) int {
	for a != "" && b != "" {
		ra, na := utf8.DecodeRuneInString(a)
		rb, nb := utf8.DecodeRuneInString(b)
		if ra != rb {
			ha, la := utf16Units(ra)
			hb, lb := utf16Units(rb)
			if ha != hb {
				return cmp.Compare(ha, hb)
			}
			return cmp.Compare(la, lb) // same high surrogate
		}
		a, b = a[na:], b[nb:]
	}
	// One is a prefix of the other (in code points, hence in code units).
	return cmp.Compare(len(a), len(b))
}

// utf16Units returns the first UTF-16 code unit of r and, for a surrogate
// pair, the second (0 otherwise).
func utf16Units(r rune) (first, second uint16) {
	if r >= 0x10000 {
		hi, lo := utf16.EncodeRune(r)
		return uint16(hi), uint16(lo)
	}
	return uint16(r), 0
}

// compareThreadIDs is the order of Scala's ConsumerThreadId (compareJava),
// made total by a byte-wise tie-break.
func compareThreadIDs(a, b string) int {
	if c := compareJava(a, b); c != 0 {
		return c
	}
	return strings.Compare(a, b)
}
