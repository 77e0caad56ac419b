package balanced

import (
	"fmt"
	"testing"

	"github.com/zkbalance/zkbalance/partition"
	"github.com/zkbalance/zkbalance/zkwatch"
)

// BenchmarkStickyView is the CPU of one sticky member's rebalance without
// its I/O, at 65 members (one just joined) x 4096 partitions: the owners
// as the owners tree lists them, the previous owners, our owner znodes'
// stats, the assignment and our share of it.
func BenchmarkStickyView(b *testing.B) {
	const members, parts = 64, 4096
	const topic = "t"
	subs := map[string]subscription{}
	var in partition.Input
	for i := range members + 1 {
		id := fmt.Sprintf("group_host-%04d-1796562734454-c842956e", i)
		subs[id] = subscription{static: map[string]int{topic: 1}}
		in.Members = append(in.Members, partition.Member{ID: id, Subscription: map[string]int{topic: 1}})
	}
	self := in.Members[3].ID
	tc := &topicOwners{ours: map[int32]ownerEntry{}, mine: ownedBy(self)}
	for p := range int32(parts) {
		path := fmt.Sprintf("/consumers/group/owners/%s/%d", topic, p)
		owner := in.Members[int(p)%members].ID
		tc.set(ownerEntry{path: path, partition: p, value: owner, stat: &zkwatch.Stat{}})
	}
	in.Topics = partition.Topics{topic: {}}
	for p := range int32(parts) {
		in.Topics[topic][p] = -1
	}
	asg, _ := partition.Lookup(partition.Sticky)
	b.ReportAllocs()
	for b.Loop() {
		owners := map[string]ownersRead{topic: tc.read()}
		in.PreviousByTopic = previousOwners(owners, subs)
		_ = ownerStats(owners)
		a, err := asg.Assign(in)
		if err != nil {
			b.Fatal(err)
		}
		_ = a.Partitions(self)
	}
}
