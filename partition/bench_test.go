package partition

import (
	"fmt"
	"testing"
)

// largeInput: members members, topics topics of parts partitions each; with
// mixed, member i subscribes to topics i%topics.. (about half of them).
func largeInput(members, topics, parts int, mixed bool) Input {
	in := Input{Topics: Topics{}, Previous: map[TopicPartition]string{}}
	for t := range topics {
		name := fmt.Sprintf("topic-%d", t)
		in.Topics[name] = map[int32]int32{}
		for p := range parts {
			in.Topics[name][int32(p)] = int32(p % 7)
			in.Previous[TopicPartition{name, int32(p)}] = fmt.Sprintf("member-%d", (t*parts+p)%(members+3))
		}
	}
	for i := range members {
		m := Member{ID: fmt.Sprintf("member-%d", i), Subscription: map[string]int{}}
		for t := range topics {
			if !mixed || (i+t)%2 == 0 || t == 0 {
				m.Subscription[fmt.Sprintf("topic-%d", t)] = 2
			}
		}
		in.Members = append(in.Members, m)
	}
	return in
}

func BenchmarkAssign(b *testing.B) {
	for _, mixed := range []bool{false, true} {
		in := largeInput(100, 20, 50, mixed)
		for _, name := range Names() {
			a, _ := Lookup(name)
			b.Run(fmt.Sprintf("%s/mixed=%v", name, mixed), func(b *testing.B) {
				for b.Loop() {
					if _, err := a.Assign(in); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// joinInput is the scale curve's join: one topic of parts partitions held
// evenly by members-1 members (member-0 ... member-(members-2)), and one
// more member that has just joined.
func joinInput(members, parts int) Input {
	in := Input{Topics: Topics{"t": map[int32]int32{}}, Previous: map[TopicPartition]string{}}
	for p := range parts {
		in.Topics["t"][int32(p)] = int32(p % 3)
		in.Previous[TopicPartition{"t", int32(p)}] = fmt.Sprintf("member-%d", p%(members-1))
	}
	for i := range members {
		in.Members = append(in.Members, Member{ID: fmt.Sprintf("member-%d", i), Subscription: map[string]int{"t": 1}})
	}
	return in
}

// BenchmarkAssignJoin: the curve's largest join, 65 members on 4096
// partitions, for every assignor (each member of the group computes it).
func BenchmarkAssignJoin(b *testing.B) {
	in := joinInput(65, 4096)
	for _, name := range Names() {
		a, _ := Lookup(name)
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := a.Assign(in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
