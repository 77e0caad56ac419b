package main

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/zkbalance/zkbalance/balanced"
)

func TestIdleReason(t *testing.T) {
	now := time.Now()
	for _, c := range []struct {
		h    balanced.Health
		want string
	}{
		{balanced.Health{}, "waiting for ZooKeeper (not connected)"},
		{balanced.Health{Connected: true, MissingTopics: []string{"a", "b"}, LastRebalance: now}, "waiting for topic a, b to be created"},
		{balanced.Health{Connected: true}, "joining the group"},
		{balanced.Health{Connected: true, LastRebalance: now, Members: 2, Partitions: 4, Assigned: 2}, "2 partition(s) held by another member (claims waiting)"},
		{balanced.Health{Connected: true, Assigned: 1, Members: 1, Partitions: 1}, "1 partition(s) held by another member (claims waiting)"},
		{balanced.Health{Connected: true, LastRebalance: now, Members: 5, Partitions: 4}, "5 members for 4 partitions: none left for this member"},
		{balanced.Health{Connected: true, RebalanceErr: errors.New("boom"), Members: 1, Partitions: 1}, "rebalance failed, retrying: boom"},
		{balanced.Health{Connected: true, LastRebalance: now, Members: 1}, "no partition to consume: no subscribed topic exists yet"},
		{balanced.Health{Connected: true, LastRebalance: now, Members: 2, Partitions: 4}, "no partition assigned to this member"},
		{balanced.Health{Connected: true, LastRebalance: now}, "no partition assigned to this member"}, // kafka coordination: no view
	} {
		if got := idleReason(c.h); got != c.want {
			t.Errorf("idleReason(%+v) = %q, want %q", c.h, got, c.want)
		}
	}
}

func TestFlagError(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{&balanced.ConfigError{Field: "Offsets", Reason: `unknown storage "x" (zookeeper, kafka or dual)`}, `--offsets: unknown storage "x" (zookeeper, kafka or dual)`},
		{&balanced.ConfigError{Field: "Topics", Reason: "set exactly one of Topics and TopicPattern"}, "--topics: set exactly one of --topics and --pattern"},
		{&balanced.ConfigError{Field: "Layout", Reason: `unknown layout "y" (scala or pykafka)`}, `--layout: unknown layout "y" (scala or pykafka)`},
		{&balanced.ConfigError{Field: "Assignor", Reason: "scala-range does not fit the pykafka layout"}, "--assignor: scala-range does not fit the pykafka layout"},
		{&balanced.ConfigError{Field: "Sarama", Reason: "Coordination kafka needs Version 0.10.1"}, "balanced: invalid config: Sarama: Coordination kafka needs Version 0.10.1"},
		{fmt.Errorf("other: %w", errors.New("x")), "other: x"},
	} {
		got := flagError(c.err, consumeFlags)
		if got.Error() != c.want {
			t.Errorf("flagError(%v) = %q, want %q", c.err, got, c.want)
		}
		if !errors.Is(got, c.err) {
			t.Errorf("flagError(%v) does not wrap the original", c.err)
		}
	}
}
