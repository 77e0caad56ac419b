package balanced

import (
	"maps"
	"testing"

	"github.com/zkbalance/zkbalance/zkwatch"
)

// TestTopicCacheParsesOncePerZxid: an unchanged registration (same
// modification zxid) comes from the cache, a changed one is parsed again,
// and a malformed one is an error that is not cached; the partitions come
// with it, each with leader -1.
func TestTopicCacheParsesOncePerZxid(t *testing.T) {
	const p = "/brokers/topics/t"
	v1 := []byte(`{"version":1,"partitions":{"0":[1],"1":[2]}}`)
	v2 := []byte(`{"version":1,"partitions":{"0":[1],"1":[2],"2":[3]}}`)
	var tc topicCache
	got, parts, err := tc.parse(p, &zkwatch.Stat{Mzxid: 10}, v1)
	if err != nil || len(got.Partitions) != 2 {
		t.Fatalf("first parse: %+v %v", got, err)
	}
	if want := map[int32]int32{0: -1, 1: -1}; !maps.Equal(parts, want) {
		t.Fatalf("partitions %v, want %v", parts, want)
	}
	// Same zxid: the cached parse, whatever the bytes (they cannot differ).
	if got, _, err = tc.parse(p, &zkwatch.Stat{Mzxid: 10}, v2); err != nil || len(got.Partitions) != 2 {
		t.Fatalf("same zxid: %+v %v", got, err)
	}
	if got, _, err = tc.parse(p, &zkwatch.Stat{Mzxid: 11}, v2); err != nil || len(got.Partitions) != 3 {
		t.Fatalf("new zxid: %+v %v", got, err)
	}
	if _, _, err = tc.parse(p, &zkwatch.Stat{Mzxid: 12}, []byte("{")); err == nil {
		t.Fatal("malformed registration parsed")
	}
	if got, _, err = tc.parse(p, &zkwatch.Stat{Mzxid: 11}, nil); err != nil || len(got.Partitions) != 3 {
		t.Fatalf("the last good parse is still cached: %+v %v", got, err)
	}
}
