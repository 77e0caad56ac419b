package balanced

import (
	"errors"
	"reflect"
	"testing"

	"github.com/zkbalance/zkbalance/partition"
)

// noteView: Health reports the members, the partitions, what was assigned
// and which of Config.Topics are missing, from a rebalance's view.
func TestHealthNoteView(t *testing.T) {
	c, err := New(Config{Group: "g", Topics: []string{"b", "a", "c"}, ZooKeeper: "z:1"})
	if err != nil {
		t.Fatal(err)
	}
	v := view{
		input: partition.Input{
			Members: []partition.Member{{ID: "m1"}, {ID: "m2"}, {ID: "m3"}},
			Topics:  partition.Topics{"b": {0: 1, 1: 1}},
		},
		topics: []string{"b"},
	}
	c.noteView(v, 1)
	h := c.Health()
	if h.Members != 3 || h.Partitions != 2 || h.Assigned != 1 || !reflect.DeepEqual(h.MissingTopics, []string{"a", "c"}) {
		t.Fatalf("Health = %+v, want 3 members, 2 partitions, 1 assigned, missing [a c]", h)
	}
	h.MissingTopics[0] = "x" // a copy
	if c.Health().MissingTopics[0] != "a" {
		t.Fatal("Health shares MissingTopics with the consumer")
	}
	c.noteView(view{}, 0) // a Kafka generation clears it
	if h := c.Health(); h.Members != 0 || h.Partitions != 0 || h.Assigned != 0 || h.MissingTopics != nil {
		t.Fatalf("after a cleared view: %+v", h)
	}
}

// New's validation errors are *ConfigError naming the field, matching
// ErrInvalidConfig, with one "balanced:" prefix.
func TestConfigErrorField(t *testing.T) {
	_, err := New(Config{Group: "g", Topics: []string{"t"}, ZooKeeper: "z:1", Offsets: "nowhere"})
	var ce *ConfigError
	if !errors.As(err, &ce) || ce.Field != "Offsets" || !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("err = %#v, want a *ConfigError for Offsets", err)
	}
	if got, want := err.Error(), `balanced: invalid config: Offsets: unknown storage "nowhere" (zookeeper, kafka or dual)`; got != want {
		t.Fatalf("Error() = %q, want %q", got, want)
	}
}
