package groupstate

import (
	"encoding/binary"
	"maps"
	"slices"
	"testing"

	"github.com/IBM/sarama"
)

// consumerBytes builds consumer-protocol bytes (big-endian, as Kafka's
// ConsumerProtocol writes them) from int16 (version), strings and int32s.
type consumerBytes []byte

func (b consumerBytes) i16(v int16) consumerBytes  { return binary.BigEndian.AppendUint16(b, uint16(v)) }
func (b consumerBytes) i32(v int32) consumerBytes  { return binary.BigEndian.AppendUint32(b, uint32(v)) }
func (b consumerBytes) str(s string) consumerBytes { return append(b.i16(int16(len(s))), s...) }

func TestKafkaGroupFrom(t *testing.T) {
	// Subscription v0: version, topics, user data (null).
	meta := consumerBytes{}.i16(0).i32(2).str("b").str("a").i32(-1)
	// Assignment v0: version, [topic, [partition]], user data (null).
	assign := consumerBytes{}.i16(0).i32(1).str("a").i32(3).i32(2).i32(0).i32(1).i32(-1)
	inst := "static-1"
	for _, tc := range []struct {
		name      string
		desc      *sarama.GroupDescription
		state     string
		errSet    bool
		topics    []string
		assign    map[string][]int32
		memberErr bool
		exists    bool
	}{
		{"consumer group", &sarama.GroupDescription{State: "Stable", ProtocolType: "consumer", Protocol: "range",
			Members: map[string]*sarama.GroupMemberDescription{"m": {MemberId: "m", ClientId: "c", ClientHost: "/1.2.3.4", GroupInstanceId: &inst,
				MemberMetadata: meta, MemberAssignment: assign}}},
			"Stable", false, []string{"a", "b"}, map[string][]int32{"a": {0, 1, 2}}, false, true},
		{"rebalancing, no assignment yet", &sarama.GroupDescription{State: "PreparingRebalance", ProtocolType: "consumer",
			Members: map[string]*sarama.GroupMemberDescription{"m": {MemberId: "m", MemberMetadata: meta}}},
			"PreparingRebalance", false, []string{"a", "b"}, map[string][]int32{}, false, true},
		{"truncated assignment", &sarama.GroupDescription{State: "Stable", ProtocolType: "consumer",
			Members: map[string]*sarama.GroupMemberDescription{"m": {MemberId: "m", MemberMetadata: meta, MemberAssignment: assign[:9]}}},
			"Stable", false, []string{"a", "b"}, map[string][]int32{}, true, true},
		{"other protocol type: bytes not decoded", &sarama.GroupDescription{State: "Stable", ProtocolType: "connect",
			Members: map[string]*sarama.GroupMemberDescription{"m": {MemberId: "m", MemberMetadata: []byte{1}, MemberAssignment: []byte{2}}}},
			"Stable", false, nil, map[string][]int32{}, false, true},
		{"unknown group", &sarama.GroupDescription{State: "Dead"}, "Dead", false, nil, nil, false, false},
		{"group id not found", &sarama.GroupDescription{Err: sarama.ErrGroupIDNotFound}, "Dead", false, nil, nil, false, false},
		{"other error", &sarama.GroupDescription{Err: sarama.ErrGroupAuthorizationFailed}, "", true, nil, nil, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := kafkaGroupFrom(tc.desc)
			if g.State != tc.state || (g.Error != "") != tc.errSet || g.exists() != tc.exists {
				t.Fatalf("group %+v; want state %q, error %v, exists %v", g, tc.state, tc.errSet, tc.exists)
			}
			if tc.assign == nil {
				if len(g.Members) != 0 {
					t.Fatalf("members %+v; want none", g.Members)
				}
				return
			}
			if len(g.Members) != 1 {
				t.Fatalf("members %+v; want 1", g.Members)
			}
			m := g.Members[0]
			if !slices.Equal(m.Topics, tc.topics) || !maps.EqualFunc(m.Assignment, tc.assign, slices.Equal) || (m.Error != "") != tc.memberErr {
				t.Errorf("member %+v; want topics %v, assignment %v, error %v", m, tc.topics, tc.assign, tc.memberErr)
			}
		})
	}
	if g := kafkaGroupFrom(&sarama.GroupDescription{State: "Stable", ProtocolType: "consumer", Members: map[string]*sarama.GroupMemberDescription{
		"m": {MemberId: "m", ClientId: "c", ClientHost: "/h", GroupInstanceId: &inst}}}); g.Members[0].InstanceID != inst || g.Members[0].ClientID != "c" || g.Members[0].Host != "/h" {
		t.Errorf("member %+v; want instance %s, client c, host /h", g.Members[0], inst)
	}
}
