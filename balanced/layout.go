package balanced

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"time"

	"github.com/zkbalance/zkbalance/internal/zkformat"
	"github.com/zkbalance/zkbalance/partition"
)

// Paths of a group's znodes (relative to the chroot).
func idsPath(group string) string            { return "/consumers/" + group + "/ids" }
func idPath(group, member string) string     { return idsPath(group) + "/" + member }
func ownersRoot(group string) string         { return "/consumers/" + group + "/owners" }
func ownersPath(group, topic string) string  { return ownersRoot(group) + "/" + topic }
func offsetsPath(group, topic string) string { return "/consumers/" + group + "/offsets/" + topic }

// py3OwnersPath is where pykafka running on Python 3 keeps the owner
// znodes of topic: it formats the topic name, a bytes object, into the
// path, so the directory is named "b'<topic>'" (pykafka issue #888). In the
// pykafka layout our claims hold both directories' znodes, so that pykafka
// members on either Python see them.
func py3OwnersPath(group, topic string) string {
	return "/consumers/" + group + "/owners/b'" + topic + "'"
}

// ownerMirrors are the znodes claimed with ownerPath in one transaction:
// in the pykafka layout, the same "<leader>-<p>" under py3OwnersPath.
func ownerMirrors(l Layout, group string, tp partition.TopicPartition, leader int32) []string {
	if l == LayoutPykafka {
		return []string{fmt.Sprintf("%s/%d-%d", py3OwnersPath(group, tp.Topic), leader, tp.Partition)}
	}
	return nil
}

// ownerPath is the owner znode of tp: "<p>" in the Scala layout and
// "<leader>-<p>" in the pykafka layout.
func ownerPath(l Layout, group string, tp partition.TopicPartition, leader int32) string {
	if l == LayoutPykafka {
		return fmt.Sprintf("%s/%d-%d", ownersPath(group, tp.Topic), leader, tp.Partition)
	}
	return fmt.Sprintf("%s/%d", ownersPath(group, tp.Topic), tp.Partition)
}

// parseOwnerName reads an owner znode's name: "<p>" (Scala) or
// "<leader>-<p>" (pykafka). Non-canonical partition numbers ("05", "+5")
// are accepted, as they always have been here (groupstate is stricter).
func parseOwnerName(name string) (p int32, ok bool) {
	o, ok := zkformat.ParseOwnerName(name)
	return o.Partition, ok && o.Partition <= maxOwnerPartition
}

// maxOwnerPartition is the highest partition id whose owner znode the
// sticky assignor's reads take (they keep owners in slices indexed by
// partition id): far more partitions than a topic has, and a znode named
// like a partition beyond it cannot make a member allocate gigabytes.
const maxOwnerPartition = 1 << 20

// newMemberID makes a member id in the layout's format.
func newMemberID(l Layout, group string) string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "localhost"
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	if l == LayoutPykafka {
		b[6] = b[6]&0x0f | 0x40 // uuid4
		b[8] = b[8]&0x3f | 0x80
		h := hex.EncodeToString(b[:])
		return fmt.Sprintf("%s:%s-%s-%s-%s-%s", host, h[0:8], h[8:12], h[12:16], h[16:20], h[20:32])
	}
	return fmt.Sprintf("%s_%s-%d-%s", group, host, time.Now().UnixMilli(), hex.EncodeToString(b[:4]))
}

// ownerValue is what our owner znodes hold: the thread id "<member>-0" in
// the Scala layout, the member id in the pykafka layout.
func ownerValue(l Layout, member string) string {
	if l == LayoutPykafka {
		return member
	}
	return partition.ThreadID(member, 0)
}

// registration encodes our own /ids/<member> value.
func registration(l Layout, topics []string, pattern string) []byte {
	if l == LayoutPykafka {
		return []byte(topics[0])
	}
	return zkformat.EncodeScalaRegistration(topics, pattern, time.Now())
}

// subscription is a parsed member registration.
type subscription struct {
	// static is topic -> streams of a static (or pykafka) subscription,
	// nil for a pattern subscription.
	static map[string]int
	reg    zkformat.Registration
}

// parseRegistration reads another member's /ids/<member> value in any of
// the layouts (see zkformat.ParseRegistration); errors wrap
// ErrBadRegistration and name the path.
func parseRegistration(path string, data []byte) (subscription, error) {
	r, err := zkformat.ParseRegistration(data)
	if err != nil {
		return subscription{}, fmt.Errorf("%s: %w: %w", path, ErrBadRegistration, err)
	}
	s := subscription{reg: r}
	if !r.IsPattern() {
		s.static = r.Subscription
	}
	return s, nil
}

// topics resolves the subscription against the existing topics: topic ->
// streams. Internal topics ("__...") never match a pattern.
func (s subscription) topics(existing []string) map[string]int {
	return s.reg.Topics(existing)
}
