package partition

import (
	"errors"
	"reflect"
	"slices"
	"testing"
)

// byteSource hands out the fuzzer's bytes, then zeros.
type byteSource []byte

func (s *byteSource) next() byte {
	if len(*s) == 0 {
		return 0
	}
	c := (*s)[0]
	*s = (*s)[1:]
	return c
}

func (s *byteSource) str(pool []string) string {
	c := s.next()
	if c < 0xF0 {
		return pool[int(c)%len(pool)]
	}
	n := int(c - 0xF0) // 0..15 raw bytes: may be empty or invalid UTF-8
	b := make([]byte, 0, n)
	for range n {
		b = append(b, s.next())
	}
	return string(b)
}

// fuzzInput builds an Input from bytes. Partition ids, leaders and stream
// counts are signed bytes, so invalid inputs are common too.
func fuzzInput(data []byte) Input {
	s := byteSource(data)
	in := Input{Topics: Topics{}, Previous: map[TopicPartition]string{}}
	for range s.next() % 5 {
		parts := map[int32]int32{}
		for range s.next() % 24 {
			parts[int32(int8(s.next()))] = int32(int8(s.next()))
		}
		in.Topics[s.str(topicPool)] = parts
	}
	for range s.next() % 8 {
		m := Member{ID: s.str(memberPool), Subscription: map[string]int{}}
		for range s.next() % 4 {
			m.Subscription[s.str(topicPool)] = int(int8(s.next()))
		}
		in.Members = append(in.Members, m)
	}
	for range s.next() % 12 {
		tp := TopicPartition{s.str(topicPool), int32(int8(s.next()))}
		in.Previous[tp] = s.str(memberPool)
	}
	return in
}

func FuzzAssign(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{1, 5, 0, 1, 1, 1, 2, 1, 3, 2, 4, 1, 2, 0, 1, 0, 1, 1, 1, 0, 1, 3})
	f.Add([]byte{2, 12, 0, 1, 1, 2, 2, 3, 3, 1, 4, 2, 5, 3, 6, 1, 7, 2, 8, 3, 9, 1, 10, 2, 11, 3, 0,
		3, 1, 3, 2, 5, 2, 2, 0, 1, 4, 1, 0, 2, 6, 3, 5, 0, 1, 3, 1, 1, 0, 2, 4, 1, 7, 2})
	// One topic "t" of 4 partitions; members a (2 streams), b, c; previous
	// owners of t/0 and t/1.
	f.Add([]byte{1, 4, 0, 1, 1, 1, 2, 2, 3, 1, 0, 3, 9, 1, 0, 2, 10, 1, 0, 1, 11, 1, 0, 1,
		2, 0, 0, 9, 0, 1, 10})
	f.Add([]byte{1, 3, 0, 1, 1, 1, 2, 1, 0xF2, 'B', 'B', 2, 0xF1, 0xFF, 1, 0, 1, 0xF0, 1, 0, 2, 5})
	f.Fuzz(func(t *testing.T, data []byte) {
		in := fuzzInput(data)
		for _, name := range Names() {
			a, _ := Lookup(name)
			got, err := a.Assign(in)
			if err != nil {
				if !errors.Is(err, ErrInvalidInput) {
					t.Fatalf("%s: error %v does not wrap ErrInvalidInput", name, err)
				}
				continue
			}
			if err := checkValid(name, in, got); err != nil {
				t.Fatalf("%s: %v\ninput %+v\ngot %v", name, err, in, got)
			}
			rev := in
			rev.Members = slices.Clone(in.Members)
			slices.Reverse(rev.Members)
			again, err := a.Assign(rev)
			if err != nil || !reflect.DeepEqual(got, again) {
				t.Fatalf("%s: member order changes the result: %v vs %v (%v)", name, got, again, err)
			}
		}
	})
}
