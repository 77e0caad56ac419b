package partition

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
)

// Random inputs with fixed seeds: every run checks the same few hundred.

var (
	topicPool  = []string{"t", "u", "orders", "Aa", "BB", "x-1", "T"}
	memberPool = []string{
		"g_host-1-1700000000000-0a1b2c3d", "g_host-10-1700000000000-0a1b2c3d",
		"g_host-2-1700000000000-ffffffff", "G_HOST-3", "m-2", "m-10", "m",
		"host:6e2b", "host:6E2B", "a", "b", "c", "d", "e", "g_Ａ", "g_😀",
	}
)

type genOpts struct {
	identical bool // same topics for every member, one stream count per member
	maxStream int
}

func genInput(r *rand.Rand, o genOpts) Input {
	in := Input{Topics: Topics{}}
	topics := pick(r, topicPool, 1+r.IntN(4))
	for _, t := range topics {
		parts := map[int32]int32{}
		n := r.IntN(16)
		sparse := r.IntN(4) == 0
		for p := 0; p < n; p++ {
			id := int32(p)
			if sparse {
				id = int32(r.IntN(40))
			}
			parts[id] = int32(1 + r.IntN(12))
		}
		in.Topics[t] = parts
	}
	subscribable := append(pick(r, topics, 1+r.IntN(len(topics))), "missing")
	common := pick(r, subscribable, 1+r.IntN(len(subscribable)))
	for _, id := range pick(r, memberPool, r.IntN(8)) {
		m := Member{ID: id, Subscription: map[string]int{}}
		streams := 1 + r.IntN(o.maxStream)
		subs := common
		if !o.identical {
			subs = pick(r, subscribable, r.IntN(len(subscribable)+1))
		}
		for _, t := range subs {
			if !o.identical {
				streams = 1 + r.IntN(o.maxStream)
			}
			m.Subscription[t] = streams
		}
		in.Members = append(in.Members, m)
	}
	return in
}

// pick returns k distinct elements of from in random order.
func pick(r *rand.Rand, from []string, k int) []string {
	p := r.Perm(len(from))
	out := make([]string, 0, k)
	for _, i := range p[:min(k, len(from))] {
		out = append(out, from[i])
	}
	return out
}

func shuffled(r *rand.Rand, in Input) Input {
	out := in
	out.Members = append([]Member(nil), in.Members...)
	r.Shuffle(len(out.Members), func(i, j int) { out.Members[i], out.Members[j] = out.Members[j], out.Members[i] })
	return out
}

func TestPropertiesAllAssignors(t *testing.T) {
	for _, name := range Names() {
		a, _ := Lookup(name)
		t.Run(name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(1, uint64(len(name))))
			for i := range 400 {
				o := genOpts{identical: i%2 == 0, maxStream: 3}
				in := genInput(r, o)
				if err := checkProperties(a, in, o.identical, r); err != nil {
					t.Fatalf("case %d: %v\ninput: %+v", i, err, in)
				}
			}
		})
	}
}

func checkProperties(a Assignor, in Input, identical bool, r *rand.Rand) error {
	name := a.Name()
	got, err := a.Assign(in)
	if err != nil {
		return fmt.Errorf("Assign: %v", err)
	}
	if err := checkValid(name, in, got); err != nil {
		return fmt.Errorf("invalid: %v\n got: %v", err, got)
	}
	switch name {
	case ScalaRange, PykafkaRange, PykafkaRoundRobin:
		if err := checkBalancedPerTopic(name, in, got); err != nil {
			return err
		}
	case ScalaRoundRobin, ScalaRoundRobin10, Sticky:
		if identical {
			if err := checkBalancedOverall(name, in, got); err != nil {
				return err
			}
		}
	}
	for range 3 {
		again, err := a.Assign(shuffled(r, in))
		if err != nil {
			return err
		}
		if !reflect.DeepEqual(got, again) {
			return fmt.Errorf("depends on member order or map order:\n%v\n%v", got, again)
		}
	}
	return nil
}

// balancedPrevious deals the partitions of the subscribed topics, in random
// order, round-robin to the members in random order: a balanced assignment
// when subscriptions are identical.
func balancedPrevious(r *rand.Rand, in Input) map[TopicPartition]string {
	var tps []TopicPartition
	for topic := range ownersByTopic(Sticky, in) {
		for p := range in.Topics[topic] {
			tps = append(tps, TopicPartition{topic, p})
		}
	}
	r.Shuffle(len(tps), func(i, j int) { tps[i], tps[j] = tps[j], tps[i] })
	members := shuffled(r, in).Members
	prev := make(map[TopicPartition]string)
	for i, tp := range tps {
		prev[tp] = members[i%len(members)].ID
	}
	return prev
}

func movedCount(prev, next map[TopicPartition]string) int {
	n := 0
	for tp, o := range prev {
		if next[tp] != o {
			n++
		}
	}
	return n
}

func TestStickyMinimalMovement(t *testing.T) {
	st, _ := Lookup(Sticky)
	r := rand.New(rand.NewPCG(7, 7))
	checked := 0
	for i := range 600 {
		in := genInput(r, genOpts{identical: true, maxStream: 1})
		if len(in.Members) < 2 || len(activeOwners(Sticky, in)) != len(in.Members) {
			continue // need a group where everybody can hold something
		}
		checked++
		total := 0
		for topic := range ownersByTopic(Sticky, in) {
			total += len(in.Topics[topic])
		}
		// Previous: balanced, from a random deal or from sticky itself.
		if i%2 == 0 {
			in.Previous = balancedPrevious(r, in)
		} else {
			first, _ := st.Assign(in)
			in.Previous = first.Owners()
		}

		// No change: nothing moves.
		same, err := st.Assign(in)
		if err != nil {
			t.Fatal(err)
		}
		if n := movedCount(in.Previous, same.Owners()); n != 0 {
			t.Fatalf("case %d: no change but %d moved\nprev %v\nnext %v", i, n, in.Previous, same)
		}

		// Leave: exactly the leaver's partitions move.
		leaver := in.Members[r.IntN(len(in.Members))]
		left := in
		left.Members = nil
		for _, m := range in.Members {
			if m.ID != leaver.ID {
				left.Members = append(left.Members, m)
			}
		}
		next, err := st.Assign(left)
		if err != nil {
			t.Fatal(err)
		}
		if err := checkBalancedOverall(Sticky, left, next); err != nil {
			t.Fatalf("case %d leave: %v", i, err)
		}
		leaverHad := 0
		for _, o := range in.Previous {
			if o == leaver.ID {
				leaverHad++
			}
		}
		if n := movedCount(in.Previous, next.Owners()); n != leaverHad {
			t.Fatalf("case %d leave of %s: %d moved, leaver had %d\nprev %v\nnext %v",
				i, leaver.ID, n, leaverHad, in.Previous, next)
		}

		// Join: exactly the new member's partitions move, floor(total/N+1).
		joined := in
		newcomer := Member{ID: "zz-new", Subscription: in.Members[0].Subscription}
		joined.Members = append(append([]Member(nil), in.Members...), newcomer)
		next, err = st.Assign(joined)
		if err != nil {
			t.Fatal(err)
		}
		if err := checkBalancedOverall(Sticky, joined, next); err != nil {
			t.Fatalf("case %d join: %v", i, err)
		}
		got := len(next.Partitions(newcomer.ID))
		if want := total / len(joined.Members); got != want {
			t.Fatalf("case %d join: newcomer got %d, want %d", i, got, want)
		}
		if n := movedCount(in.Previous, next.Owners()); n != got {
			t.Fatalf("case %d join: %d moved, newcomer got %d\nprev %v\nnext %v", i, n, got, in.Previous, next)
		}
		if moved, bound := minMoves(joined, next); moved != bound {
			t.Fatalf("case %d join: moved %d, lower bound %d", i, moved, bound)
		}
	}
	if checked < 200 {
		t.Fatalf("only %d cases checked", checked)
	}
}

// randomPrevious gives in's partitions random previous owners from
// memberPool (members or not), leaving one in oneIn without any.
func randomPrevious(r *rand.Rand, in Input, oneIn int) map[TopicPartition]string {
	prev := map[TopicPartition]string{}
	for topic, parts := range in.Topics {
		for p := range parts {
			if r.IntN(oneIn) > 0 {
				prev[TopicPartition{topic, p}] = memberPool[r.IntN(len(memberPool))]
			}
		}
	}
	return prev
}

// TestStickyArbitraryPrevious: whatever the previous owners (random, some
// gone, unbalanced), sticky keeps as many as a balanced answer can, and with
// differing subscriptions its answer is still complete and valid.
func TestStickyArbitraryPrevious(t *testing.T) {
	st, _ := Lookup(Sticky)
	r := rand.New(rand.NewPCG(11, 3))
	for i := range 800 {
		identical := i%2 == 0
		in := genInput(r, genOpts{identical: identical, maxStream: 1})
		in.Previous = randomPrevious(r, in, 4)
		got, err := st.Assign(in)
		if err != nil {
			t.Fatal(err)
		}
		if err := checkValid(Sticky, in, got); err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		if !identical {
			continue // best effort: valid and complete only
		}
		if err := checkBalancedOverall(Sticky, in, got); err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		if moved, bound := minMoves(in, got); moved != bound {
			t.Fatalf("case %d: moved %d, lower bound %d\nin %+v\ngot %v", i, moved, bound, in, got)
		}
	}
}

// TestStickyFixedPoint: with identical subscriptions, sticky's answer,
// taken as the previous owners of the same group, is its answer again,
// whatever the previous owners were. (Once a group's owner znodes match the
// answer, a member that reads them again computes the same: its
// owners-quiet re-check changes nothing.) With differing subscriptions
// step 4 can move a partition once more, but repeating settles within a
// few rounds: the group does not move partitions back and forth.
func TestStickyFixedPoint(t *testing.T) {
	st, _ := Lookup(Sticky)
	r := rand.New(rand.NewPCG(5, 17))
	for i := range 2000 {
		identical := i%2 == 0
		in := genInput(r, genOpts{identical: identical, maxStream: 1})
		in.Previous = randomPrevious(r, in, 3)
		prev, err := st.Assign(in)
		if err != nil {
			t.Fatal(err)
		}
		rounds := 1
		for ; ; rounds++ {
			again := in
			again.Previous = prev.Owners()
			next, err := st.Assign(again)
			if err != nil {
				t.Fatal(err)
			}
			if reflect.DeepEqual(prev, next) {
				break
			}
			if identical {
				t.Fatalf("case %d: with its own answer as the previous owners sticky answers differently\nin %+v\nfirst %v\nsecond %v", i, in, prev, next)
			}
			if rounds == 10 {
				t.Fatalf("case %d: still moving after %d rounds\nin %+v", i, rounds, in)
			}
			prev = next
		}
	}
}

// TestStickyPreviousByTopic: Input.PreviousByTopic gives the same answer
// as the same owners in Input.Previous (owners of partitions or topics
// that do not exist included: both ignore them), and setting both is
// invalid input.
func TestStickyPreviousByTopic(t *testing.T) {
	st, _ := Lookup(Sticky)
	r := rand.New(rand.NewPCG(23, 9))
	for i := range 800 {
		in := genInput(r, genOpts{identical: i%2 == 0, maxStream: 1})
		in.Previous = randomPrevious(r, in, 4)
		in.Previous[TopicPartition{"no-such-topic", 0}] = memberPool[0]
		for topic, parts := range in.Topics {
			in.Previous[TopicPartition{topic, int32(len(parts) + 3)}] = memberPool[1]
		}
		byTopic := map[string][]string{}
		for tp, o := range in.Previous {
			owners := byTopic[tp.Topic]
			for len(owners) <= int(tp.Partition) {
				owners = append(owners, "")
			}
			owners[tp.Partition] = o
			byTopic[tp.Topic] = owners
		}
		want, err := st.Assign(in)
		if err != nil {
			t.Fatal(err)
		}
		dense := in
		dense.Previous, dense.PreviousByTopic = nil, byTopic
		got, err := st.Assign(dense)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("case %d: PreviousByTopic gives %v, Previous %v\nin %+v", i, got, want, in)
		}
		both := in
		both.PreviousByTopic = byTopic
		if _, err := st.Assign(both); !errors.Is(err, ErrInvalidInput) {
			t.Fatalf("case %d: both set: %v, want ErrInvalidInput", i, err)
		}
	}
}
