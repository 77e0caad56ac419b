package balanced

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

func TestGroupAnswer(t *testing.T) {
	cases := []struct {
		err  error
		want joinStep
	}{
		{nil, stepDone},
		{sarama.ErrNoError, stepDone},
		{sarama.ErrMemberIdRequired, stepRetryWithID},
		{sarama.ErrUnknownMemberId, stepResetID},
		{sarama.ErrIllegalGeneration, stepResetID},
		{sarama.ErrRebalanceInProgress, stepRejoin},
		{sarama.ErrNotCoordinatorForConsumer, stepBackoff},
		{sarama.ErrConsumerCoordinatorNotAvailable, stepBackoff},
		{sarama.ErrOffsetsLoadInProgress, stepBackoff},
		{sarama.ErrInconsistentGroupProtocol, stepBackoff},
		{fmt.Errorf("wrapped: %w", sarama.ErrUnknownMemberId), stepResetID},
		{io.EOF, stepBackoff}, // a network error
		{sarama.ErrGroupAuthorizationFailed, stepFatal},
		{sarama.ErrInvalidSessionTimeout, stepFatal},
		{sarama.ErrClosedClient, stepFatal},
	}
	for _, tc := range cases {
		if got := groupAnswer(tc.err); got != tc.want {
			t.Errorf("groupAnswer(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
}

func TestHeartbeatAnswer(t *testing.T) {
	cases := []struct {
		err  error
		want heartbeatVerdict
	}{
		{nil, hbOK},
		{sarama.ErrRebalanceInProgress, hbRebalance},
		{sarama.ErrUnknownMemberId, hbLost},
		{sarama.ErrIllegalGeneration, hbLost},
		{sarama.ErrFencedInstancedId, hbLost},
		{sarama.ErrNotCoordinatorForConsumer, hbRetry},
		{sarama.ErrConsumerCoordinatorNotAvailable, hbRetry},
		{errors.New("connection reset"), hbRetry},
	}
	for _, tc := range cases {
		if got := heartbeatAnswer(tc.err); got != tc.want {
			t.Errorf("heartbeatAnswer(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
}

func TestAfterHeartbeat(t *testing.T) {
	const iv, sess = 3 * time.Second, 10 * time.Second
	cases := []struct {
		v       heartbeatVerdict
		sinceOK time.Duration
		end     heartbeatVerdict
		next    time.Duration
	}{
		{hbOK, 0, 0, iv},
		{hbRebalance, 0, hbRebalance, iv},
		{hbLost, 0, hbLost, iv},
		{hbRetry, 2 * time.Second, 0, 500 * time.Millisecond},
		{hbRetry, sess, hbLost, iv},
	}
	for _, tc := range cases {
		end, next := afterHeartbeat(tc.v, tc.sinceOK, iv, sess)
		if end != tc.end || next != tc.next {
			t.Errorf("afterHeartbeat(%d, %s) = %d, %s; want %d, %s", tc.v, tc.sinceOK, end, next, tc.end, tc.next)
		}
	}
}

func TestHeartbeatPace(t *testing.T) {
	cases := []struct {
		sinceJoin, interval, want time.Duration
	}{
		{0, 3 * time.Second, settleHeartbeat},
		{settleWindow - time.Millisecond, 3 * time.Second, settleHeartbeat},
		{settleWindow, 3 * time.Second, 3 * time.Second},
		{time.Minute, 3 * time.Second, 3 * time.Second},
		{0, 20 * time.Millisecond, 20 * time.Millisecond}, // a shorter HeartbeatInterval wins
		{time.Minute, 20 * time.Millisecond, 20 * time.Millisecond},
	}
	for _, tc := range cases {
		if got := heartbeatPace(tc.sinceJoin, tc.interval); got != tc.want {
			t.Errorf("heartbeatPace(%s, %s) = %s, want %s", tc.sinceJoin, tc.interval, got, tc.want)
		}
	}
}

func TestFencedByGeneration(t *testing.T) {
	for _, err := range []error{sarama.ErrIllegalGeneration, sarama.ErrUnknownMemberId, sarama.ErrRebalanceInProgress,
		fmt.Errorf("coordinator x: %w", sarama.ErrIllegalGeneration)} {
		if !fencedByGeneration(err) {
			t.Errorf("fencedByGeneration(%v) = false", err)
		}
	}
	for _, err := range []error{nil, sarama.ErrNotCoordinatorForConsumer, sarama.ErrOffsetMetadataTooLarge, io.EOF} {
		if fencedByGeneration(err) {
			t.Errorf("fencedByGeneration(%v) = true", err)
		}
	}
}

func TestAssignedPartitions(t *testing.T) {
	tps, ignored := assignedPartitions(map[string][]int32{"b": {2, 0, 0}, "a": {1}, "x": {0}}, []string{"a", "b"})
	want := []TopicPartition{{Topic: "a", Partition: 1}, {Topic: "b", Partition: 0}, {Topic: "b", Partition: 2}}
	if !slices.Equal(tps, want) {
		t.Errorf("assigned %v, want %v", tps, want)
	}
	if !slices.Equal(ignored, []TopicPartition{{Topic: "x", Partition: 0}}) {
		t.Errorf("ignored %v", ignored)
	}
	if tps, ignored := assignedPartitions(nil, []string{"a"}); tps != nil || ignored != nil {
		t.Errorf("empty assignment gave %v, %v", tps, ignored)
	}
}

func TestPlanAssignments(t *testing.T) {
	members := map[string]sarama.ConsumerGroupMemberMetadata{
		"m1":   {Topics: []string{"t"}},
		"m2":   {Topics: []string{"t"}},
		"idle": {Topics: []string{"other"}},
	}
	parts := map[string][]int32{"t": {0, 1, 2, 3, 4}}
	for _, name := range []string{KafkaRange, KafkaRoundRobin, KafkaSticky} {
		s, err := kafkaStrategy(name)
		if err != nil {
			t.Fatal(err)
		}
		asg, err := planAssignments(s, members, parts, 7)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(asg) != 3 || len(asg["idle"].Topics) != 0 {
			t.Fatalf("%s: %v", name, asg)
		}
		seen := map[int32]string{}
		for _, id := range []string{"m1", "m2"} {
			for _, p := range asg[id].Topics["t"] {
				if o, dup := seen[p]; dup {
					t.Fatalf("%s: partition %d to %s and %s", name, p, o, id)
				}
				seen[p] = id
			}
			if n := len(asg[id].Topics["t"]); n < 2 || n > 3 {
				t.Errorf("%s: %s got %d partitions", name, id, n)
			}
		}
		if len(seen) != 5 {
			t.Errorf("%s: %d of 5 partitions assigned", name, len(seen))
		}
		if name == KafkaRange && !slices.Equal(asg["m1"].Topics["t"], []int32{0, 1, 2}) {
			t.Errorf("range: m1 got %v, want [0 1 2] (Java's RangeAssignor)", asg["m1"].Topics["t"])
		}
		if (name == KafkaSticky) != (asg["m1"].UserData != nil) {
			t.Errorf("%s: user data %x", name, asg["m1"].UserData)
		}
	}
	if _, err := kafkaStrategy("cooperative-sticky"); err == nil {
		t.Error("cooperative-sticky accepted")
	}
}

func TestCoordinationConfig(t *testing.T) {
	base := Config{Group: "g", Topics: []string{"t"}, ZooKeeper: "127.0.0.1:2181", Coordination: CoordinationKafka}
	c, err := base.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if c.Offsets != OffsetsKafka || c.KafkaStrategy != KafkaRange || c.KafkaSessionTimeout != 10*time.Second ||
		c.HeartbeatInterval != 3*time.Second || c.RebalanceTimeout != c.RevokeTimeout+20*time.Second {
		t.Errorf("defaults: %+v", c)
	}
	if c, err := (Config{Group: "g", Topics: []string{"t"}, ZooKeeper: "127.0.0.1:2181", Coordination: CoordinationFollow}).withDefaults(); err != nil ||
		c.Offsets != OffsetsDual || c.KafkaStrategy != KafkaRange || c.RebalanceTimeout != c.RevokeTimeout+20*time.Second {
		t.Errorf("follow defaults: %+v, %v", c, err)
	}
	// Follow mode's offset storage: both stores in the Scala layout, Kafka
	// only in the pykafka layout; anything else is refused naming Offsets.
	follow := []struct {
		layout  Layout
		offsets OffsetStorage
		want    OffsetStorage // "" when refused
	}{
		{LayoutScala, "", OffsetsDual},
		{LayoutScala, OffsetsDual, OffsetsDual},
		{LayoutScala, OffsetsKafka, ""},
		{LayoutScala, OffsetsZooKeeper, ""},
		{LayoutPykafka, "", OffsetsKafka},
		{LayoutPykafka, OffsetsKafka, OffsetsKafka},
		{LayoutPykafka, OffsetsDual, ""},
		{LayoutPykafka, OffsetsZooKeeper, ""},
	}
	for _, tc := range follow {
		c, err := (Config{Group: "g", Topics: []string{"t"}, ZooKeeper: "127.0.0.1:2181", Coordination: CoordinationFollow,
			Layout: tc.layout, Offsets: tc.offsets}).withDefaults()
		switch {
		case tc.want == "" && (!errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "Offsets")):
			t.Errorf("follow, %s layout, offsets %q: err %v, want ErrInvalidConfig naming Offsets", tc.layout, tc.offsets, err)
		case tc.want != "" && (err != nil || c.Offsets != tc.want):
			t.Errorf("follow, %s layout, offsets %q: got %q, %v; want %q", tc.layout, tc.offsets, c.Offsets, err, tc.want)
		}
	}
	if c, _ := (Config{Group: "g", Topics: []string{"t"}, ZooKeeper: "127.0.0.1:2181"}).withDefaults(); c.Coordination != CoordinationZooKeeper {
		t.Errorf("default coordination %q", c.Coordination)
	}
	bad := []func(*Config){
		func(c *Config) { c.Coordination = "leader" },
		func(c *Config) { c.Coordination = CoordinationFollow; c.Offsets = OffsetsKafka },
		func(c *Config) { c.Coordination = CoordinationFollow; c.Offsets = OffsetsZooKeeper },
		func(c *Config) { c.Offsets = OffsetsZooKeeper },
		func(c *Config) { c.KafkaStrategy = "cooperative-sticky" },
		func(c *Config) { c.HeartbeatInterval = 20 * time.Second },
		func(c *Config) { c.RebalanceTimeout = time.Second; c.RevokeTimeout = 2 * time.Second },
		func(c *Config) { c.KafkaSessionTimeout = -time.Second },
		func(c *Config) { c.Topics, c.TopicPattern = nil, "t.*" },
		func(c *Config) { c.Coordination = ""; c.KafkaStrategy = KafkaSticky },
	}
	for i, mod := range bad {
		c := base
		mod(&c)
		if _, err := c.withDefaults(); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("case %d: err %v, want ErrInvalidConfig", i, err)
		}
	}
}
