package partition_test

import (
	"fmt"

	"github.com/zkbalance/zkbalance/partition"
)

// The Scala range assignor gives partitions to consumer threads
// "<memberId>-<n>", sorted as strings.
func ExampleLookup() {
	a, err := partition.Lookup(partition.ScalaRange)
	if err != nil {
		panic(err)
	}
	out, err := a.Assign(partition.Input{
		Members: []partition.Member{
			{ID: "g_host-2-bbbb", Subscription: map[string]int{"t": 1}},
			{ID: "g_host-1-aaaa", Subscription: map[string]int{"t": 2}},
		},
		Topics: partition.Topics{"t": {0: 1, 1: 2, 2: 1, 3: 2}},
	})
	if err != nil {
		panic(err)
	}
	for _, id := range []string{"g_host-1-aaaa-0", "g_host-1-aaaa-1", "g_host-2-bbbb-0"} {
		fmt.Println(id, out[id]["t"])
	}
	// Output:
	// g_host-1-aaaa-0 [0 1]
	// g_host-1-aaaa-1 [2]
	// g_host-2-bbbb-0 [3]
}

// pykafka orders partitions by "<topic>-<leader>-<partition>" as strings, so
// partition 10 comes before partition 2.
func ExampleLookup_pykafka() {
	a, _ := partition.Lookup(partition.PykafkaRange)
	topics := partition.Topics{"t": {}}
	for p := int32(0); p < 12; p++ {
		topics["t"][p] = 1 // all led by broker 1
	}
	out, _ := a.Assign(partition.Input{
		Members: []partition.Member{
			{ID: "host-a:1", Subscription: map[string]int{"t": 1}},
			{ID: "host-b:2", Subscription: map[string]int{"t": 1}},
		},
		Topics: topics,
	})
	fmt.Println(out["host-a:1"]["t"])
	fmt.Println(out["host-b:2"]["t"])
	// Output:
	// [0 1 2 3 10 11]
	// [4 5 6 7 8 9]
}

// A member joining a sticky group takes its share; nobody else moves.
func ExampleDiff() {
	st, _ := partition.Lookup(partition.Sticky)
	topics := partition.Topics{"t": {0: 1, 1: 1, 2: 1, 3: 1}}
	sub := map[string]int{"t": 1}
	before, _ := st.Assign(partition.Input{
		Members: []partition.Member{{ID: "a", Subscription: sub}},
		Topics:  topics,
	})
	after, _ := st.Assign(partition.Input{
		Members:  []partition.Member{{ID: "a", Subscription: sub}, {ID: "b", Subscription: sub}},
		Topics:   topics,
		Previous: before.Owners(),
	})
	for _, self := range []string{"a", "b"} {
		added, revoked := partition.Diff(before.Owners(), after.Owners(), self)
		fmt.Println(self, "added", added, "revoked", revoked)
	}
	// Output:
	// a added [] revoked [t/2 t/3]
	// b added [t/2 t/3] revoked []
}

func ExampleAssignment_Partitions() {
	out := partition.Assignment{
		"g_host-1-aaaa-0": {"t": {0, 1}},
		"g_host-1-aaaa-1": {"t": {2}, "u": {0}},
	}
	for _, tp := range out.Partitions("g_host-1-aaaa-0", "g_host-1-aaaa-1") {
		fmt.Println(tp)
	}
	// Output:
	// t/0
	// t/1
	// t/2
	// u/0
}

// The sticky assignor keeps previous owners, given here by topic and
// partition id (Input.PreviousByTopic): when c joins a and b, each gives
// c one partition and keeps the rest.
func ExampleInput_previousByTopic() {
	a, _ := partition.Lookup(partition.Sticky)
	sub := map[string]int{"t": 1}
	out, err := a.Assign(partition.Input{
		Members: []partition.Member{{ID: "a", Subscription: sub}, {ID: "b", Subscription: sub}, {ID: "c", Subscription: sub}},
		Topics:  partition.Topics{"t": {0: -1, 1: -1, 2: -1, 3: -1, 4: -1, 5: -1}},
		// Partition p of t was owned by PreviousByTopic["t"][p].
		PreviousByTopic: map[string][]string{"t": {"a", "b", "a", "b", "a", "b"}},
	})
	if err != nil {
		panic(err)
	}
	for _, id := range []string{"a", "b", "c"} {
		fmt.Println(id, out[id]["t"])
	}
	// Output:
	// a [0 2]
	// b [1 3]
	// c [4 5]
}
