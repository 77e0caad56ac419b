package zkwatch

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Parents of the znodes Kafka brokers write, relative to the chroot (if any).
const (
	// BrokerIDsPath is the parent of the broker registrations; its children
	// are the ids of the live brokers.
	BrokerIDsPath = "/brokers/ids"
	// BrokerTopicsPath is the parent of the topic registrations; its
	// children are topic names.
	BrokerTopicsPath = "/brokers/topics"
)

var (
	// ErrMalformed is matched (errors.Is) by every error ParseBroker,
	// ParseTopic and ParsePartitionState return: the znode's path or data is
	// not what a Kafka broker writes. The error itself is a *ParseError.
	ErrMalformed = errors.New("zkwatch: malformed znode")

	// ErrNoEndpoint is wrapped by Broker.Endpoint when the broker has no
	// endpoint for the requested listener or security protocol.
	ErrNoEndpoint = errors.New("zkwatch: no matching broker endpoint")
)

// ParseError is the error of ParseBroker, ParseTopic and ParsePartitionState.
// It names the znode and matches ErrMalformed with errors.Is; Err is the
// cause (a *json.SyntaxError or *json.UnmarshalTypeError when the data is not
// valid JSON of the right shape, otherwise a description).
type ParseError struct {
	Path string // the znode path passed to the parser
	Err  error  // the cause; never nil when returned by this package
}

// Error returns "zkwatch: malformed znode <path>: <cause>".
func (e *ParseError) Error() string {
	if e.Err == nil {
		return "zkwatch: malformed znode " + e.Path
	}
	return "zkwatch: malformed znode " + e.Path + ": " + e.Err.Error()
}

// Unwrap returns the cause.
func (e *ParseError) Unwrap() error { return e.Err }

// Is reports whether target is ErrMalformed.
func (e *ParseError) Is(target error) bool { return target == ErrMalformed }

// BrokerPath returns the path of broker id's registration, "/brokers/ids/<id>".
func BrokerPath(id int32) string {
	return BrokerIDsPath + "/" + strconv.FormatInt(int64(id), 10)
}

// TopicPath returns the path of a topic's registration, "/brokers/topics/<t>".
// The topic name is not checked; Kafka topic names never contain '/'.
func TopicPath(topic string) string {
	return BrokerTopicsPath + "/" + topic
}

// PartitionStatePath returns the path of a partition's leader and ISR,
// "/brokers/topics/<t>/partitions/<p>/state".
func PartitionStatePath(topic string, partition int32) string {
	return TopicPath(topic) + "/partitions/" + strconv.FormatInt(int64(partition), 10) + "/state"
}

// registryErr returns a *ParseError for path whose cause is the formatted
// message (which may wrap an error with %w).
func registryErr(path, format string, args ...any) error {
	return &ParseError{Path: path, Err: fmt.Errorf(format, args...)}
}

// znodeBase returns the last element of a znode path.
func znodeBase(path string) string {
	return path[strings.LastIndexByte(path, '/')+1:]
}

// parseNonNegInt32 parses a non-negative int32 written in canonical decimal
// (no sign, no leading zeros), as Kafka writes broker and partition ids.
func parseNonNegInt32(s string) (int32, bool) {
	if s == "" || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 10, 31)
	if err != nil {
		return 0, false
	}
	return int32(n), true
}

// decodeRegistryObject unmarshals data, which must be a JSON object, into v.
func decodeRegistryObject(data []byte, v any) error {
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	if len(trimmed) == 0 {
		return errors.New("empty data")
	}
	if trimmed[0] != '{' {
		if err := json.Unmarshal(data, new(any)); err != nil {
			return err
		}
		return errors.New("not a JSON object")
	}
	return json.Unmarshal(data, v)
}

// decodeBrokerIDList decodes a JSON array of distinct non-negative int32 ids
// (replicas, ISR). null and null elements are errors.
func decodeBrokerIDList(raw json.RawMessage) ([]int32, error) {
	switch {
	case len(raw) == 0:
		return nil, errors.New("missing")
	case string(raw) == "null":
		return nil, errors.New("null, want an array of broker ids")
	}
	var ptrs []*int32
	if err := json.Unmarshal(raw, &ptrs); err != nil {
		return nil, err
	}
	ids := make([]int32, 0, len(ptrs))
	seen := make(map[int32]bool, len(ptrs))
	for i, p := range ptrs {
		switch {
		case p == nil:
			return nil, fmt.Errorf("element %d is null", i)
		case *p < 0:
			return nil, fmt.Errorf("negative broker id %d", *p)
		case seen[*p]:
			return nil, fmt.Errorf("broker id %d listed twice", *p)
		}
		seen[*p] = true
		ids = append(ids, *p)
	}
	return ids, nil
}
