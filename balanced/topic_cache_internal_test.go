package balanced

import (
	"testing"

	"github.com/zkbalance/zkbalance/zkwatch"
)

// TestTopicCacheParsesOncePerZxid: an unchanged registration (same
// modification zxid) comes from the cache, a changed one is parsed again,
// and a malformed one is an error that is not cached.
func TestTopicCacheParsesOncePerZxid(t *testing.T) {
	const p = "/brokers/topics/t"
	v1 := []byte(`{"version":1,"partitions":{"0":[1],"1":[2]}}`)
	v2 := []byte(`{"version":1,"partitions":{"0":[1],"1":[2],"2":[3]}}`)
	var tc topicCache
	got, err := tc.parse(p, &zkwatch.Stat{Mzxid: 10}, v1)
	if err != nil || len(got.Partitions) != 2 {
		t.Fatalf("first parse: %+v %v", got, err)
	}
	// Same zxid: the cached parse, whatever the bytes (they cannot differ).
	if got, err = tc.parse(p, &zkwatch.Stat{Mzxid: 10}, v2); err != nil || len(got.Partitions) != 2 {
		t.Fatalf("same zxid: %+v %v", got, err)
	}
	if got, err = tc.parse(p, &zkwatch.Stat{Mzxid: 11}, v2); err != nil || len(got.Partitions) != 3 {
		t.Fatalf("new zxid: %+v %v", got, err)
	}
	if _, err = tc.parse(p, &zkwatch.Stat{Mzxid: 12}, []byte("{")); err == nil {
		t.Fatal("malformed registration parsed")
	}
	if got, err = tc.parse(p, &zkwatch.Stat{Mzxid: 11}, nil); err != nil || len(got.Partitions) != 3 {
		t.Fatalf("the last good parse is still cached: %+v %v", got, err)
	}
}
