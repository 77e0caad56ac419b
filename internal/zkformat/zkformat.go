// Package zkformat holds the on-ZooKeeper formats legacy consumer groups
// share: member registrations (Scala JSON incl. the wvanbergen variant,
// pykafka raw topic), offset znode values, pykafka owner-znode names,
// topic-name validity, subscription patterns.
//
// It is shared by the consumer library (balanced) and the group reader
// (groupstate). Its functions only parse and encode; the paths and the
// sentinel errors are the callers': a parse error says what is wrong with
// the value, and each caller wraps it with its own sentinel.
package zkformat

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// ValidTopic reports whether t is a legal Kafka topic name: 1-249 of
// [a-zA-Z0-9._-], not "." or "..".
func ValidTopic(t string) bool {
	if t == "" || len(t) > 249 || t == "." || t == ".." {
		return false
	}
	for _, r := range t {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// CompilePattern compiles a white_list or black_list regex the way the Scala
// consumer applies it: commas separate alternatives, and the whole topic
// name must match.
func CompilePattern(re string) (*regexp.Regexp, error) {
	re = strings.ReplaceAll(re, ",", "|")
	return regexp.Compile("^(?:" + re + ")$")
}

// ParseOffset parses the value of the offset znode at path
// (/consumers/<g>/offsets/<t>/<p>) the way Scala's String.toLong does (an
// optional sign, decimal digits, no blanks) and rejects negative values.
//
// The error names the path and says what is wrong ("<path> is empty",
// "<path> holds \"x\", not a decimal number", ...); callers wrap it with
// their sentinel: fmt.Errorf("%w: %w", ErrBadOffset, err).
func ParseOffset(path string, data []byte) (int64, error) {
	if len(data) == 0 {
		return 0, fmt.Errorf("%s is empty", path)
	}
	off, err := strconv.ParseInt(string(data), 10, 64)
	if err != nil {
		var ne *strconv.NumError
		if errors.As(err, &ne) && errors.Is(ne.Err, strconv.ErrRange) {
			return 0, fmt.Errorf("%s holds %q, out of the int64 range", path, data)
		}
		return 0, fmt.Errorf("%s holds %q, not a decimal number", path, data)
	}
	if off < 0 {
		return 0, fmt.Errorf("%s holds the negative offset %d", path, off)
	}
	return off, nil
}

// OwnerName is a parsed owner znode name (a child of
// /consumers/<g>/owners/<t>).
type OwnerName struct {
	// Partition is the partition id.
	Partition int32
	// Pykafka is true for pykafka's "<leader>-<p>" form, false for the
	// Scala consumer's "<p>".
	Pykafka bool
	// Canonical is true when the partition part is written as
	// strconv.FormatInt writes it, as every consumer does; false for
	// forms such as "05" or "+5", which ParseOwnerName accepts too.
	Canonical bool
}

// ParseOwnerName reads an owner znode's name: "<p>" (Scala) or
// "<leader>-<p>" (pykafka; the leader may be -1 when pykafka saw none). The
// leader must be a 32-bit integer and the partition a non-negative one; ok
// is false otherwise. Callers that want only the forms consumers write
// also check Canonical.
func ParseOwnerName(name string) (o OwnerName, ok bool) {
	rest := name
	if i := strings.LastIndexByte(name, '-'); i >= 0 {
		if _, err := strconv.ParseInt(name[:i], 10, 32); err != nil {
			return OwnerName{}, false // the leader part must be a broker id
		}
		rest, o.Pykafka = name[i+1:], true
	}
	n, err := strconv.ParseInt(rest, 10, 32)
	if err != nil || n < 0 {
		return OwnerName{}, false
	}
	o.Partition = int32(n)
	o.Canonical = strconv.FormatInt(n, 10) == rest
	return o, true
}

// ParsePartitionName reads an offset znode's name, a partition id written
// as strconv.FormatInt writes it (no sign, no leading zeros).
func ParsePartitionName(name string) (int32, bool) {
	n, err := strconv.ParseInt(name, 10, 32)
	if err != nil || n < 0 || strconv.FormatInt(n, 10) != name {
		return 0, false
	}
	return int32(n), true
}

// Py3OwnersTopic reads a child of /consumers/<g>/owners: pykafka running on
// Python 3 names its owners directory "b'<topic>'" (it formats the topic's
// bytes into the path, pykafka issue #888). It returns the topic and true
// for such a name, and the name itself and false otherwise.
func Py3OwnersTopic(dir string) (topic string, py3 bool) {
	if len(dir) > 3 && strings.HasPrefix(dir, "b'") && strings.HasSuffix(dir, "'") {
		return dir[2 : len(dir)-1], true
	}
	return dir, false
}
