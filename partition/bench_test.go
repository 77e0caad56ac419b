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
