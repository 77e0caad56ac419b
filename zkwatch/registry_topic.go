package zkwatch

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Topic is a topic registration, the data of /brokers/topics/<t>: the
// replica assignment of each partition, versions 1 to 3.
type Topic struct {
	// Name is the topic name, taken from the znode name.
	Name string
	// Version is the registration's version, 1 to 3.
	Version int
	// Partitions maps each partition id to its replicas, preferred leader
	// first. Never empty; no replica list is empty.
	Partitions map[int32][]int32
	// TopicID is the topic's id (version 3, Kafka 2.8 and up), 22 characters
	// of unpadded URL-safe base64; "" when absent.
	TopicID string
	// AddingReplicas and RemovingReplicas are the replicas a reassignment in
	// progress is adding and removing, by partition (version 2 and up); nil
	// when no reassignment is in progress. Entries for partitions missing
	// from Partitions, or with no replicas, are dropped, as Kafka does.
	AddingReplicas   map[int32][]int32
	RemovingReplicas map[int32][]int32
}

type topicJSON struct {
	Version          *int                       `json:"version"`
	Partitions       map[string]json.RawMessage `json:"partitions"`
	TopicID          *string                    `json:"topic_id"`
	AddingReplicas   map[string]json.RawMessage `json:"adding_replicas"`
	RemovingReplicas map[string]json.RawMessage `json:"removing_replicas"`
}

// ParseTopic parses the data of the topic registration znode at path
// (/brokers/topics/<t>, with or without a chroot). The topic name is the last
// element of path.
//
// Partition ids must be non-negative int32 values written in decimal ("0",
// "12"), replica lists non-empty arrays of distinct non-negative int32 broker
// ids. Unknown fields are ignored. Errors are *ParseError values naming path
// and matching ErrMalformed. ParseTopic does no I/O and never panics.
func ParseTopic(path string, data []byte) (Topic, error) {
	name := znodeBase(path)
	if name == "" {
		return Topic{}, registryErr(path, "empty topic name")
	}
	t, err := parseTopic(data)
	if err != nil {
		return Topic{}, registryErr(path, "topic registration: %w", err)
	}
	t.Name = name
	return t, nil
}

func parseTopic(data []byte) (Topic, error) {
	var j topicJSON
	if err := decodeRegistryObject(data, &j); err != nil {
		return Topic{}, err
	}
	if j.Version == nil {
		return Topic{}, errors.New(`missing "version"`)
	}
	t := Topic{Version: *j.Version}
	if t.Version < 1 || t.Version > 3 {
		return Topic{}, fmt.Errorf("unsupported version %d, want 1 to 3", t.Version)
	}
	if j.TopicID != nil {
		t.TopicID = *j.TopicID
		if id, err := base64.RawURLEncoding.DecodeString(t.TopicID); err != nil || len(id) != 16 {
			return Topic{}, fmt.Errorf("topic_id %q is not a base64 UUID", t.TopicID)
		}
	}
	if len(j.Partitions) == 0 {
		return Topic{}, errors.New(`missing or empty "partitions"`)
	}
	var err error
	if t.Partitions, err = parseAssignment("partitions", j.Partitions, nil); err != nil {
		return Topic{}, err
	}
	if t.AddingReplicas, err = parseAssignment("adding_replicas", j.AddingReplicas, t.Partitions); err != nil {
		return Topic{}, err
	}
	if t.RemovingReplicas, err = parseAssignment("removing_replicas", j.RemovingReplicas, t.Partitions); err != nil {
		return Topic{}, err
	}
	return t, nil
}

// parseAssignment decodes a partition -> replicas object. With known == nil
// every replica list must be non-empty; otherwise entries for partitions not
// in known, and empty lists, are dropped. It returns nil for no entries.
func parseAssignment(field string, raw map[string]json.RawMessage, known map[int32][]int32) (map[int32][]int32, error) {
	var out map[int32][]int32
	for _, key := range slices.Sorted(maps.Keys(raw)) {
		p, ok := parseNonNegInt32(key)
		if !ok {
			return nil, fmt.Errorf("%s: partition %q is not a non-negative 32-bit decimal integer", field, key)
		}
		replicas, err := decodeBrokerIDList(raw[key])
		if err != nil {
			return nil, fmt.Errorf("%s: partition %d: %w", field, p, err)
		}
		if known == nil && len(replicas) == 0 {
			return nil, fmt.Errorf("%s: partition %d has no replicas", field, p)
		}
		if known != nil {
			if _, ok := known[p]; !ok || len(replicas) == 0 {
				continue
			}
		}
		if out == nil {
			out = make(map[int32][]int32, len(raw))
		}
		out[p] = replicas
	}
	return out, nil
}

// PartitionIDs returns the topic's partition ids in ascending order.
func (t Topic) PartitionIDs() []int32 {
	return slices.Sorted(maps.Keys(t.Partitions))
}

// NoLeader is the PartitionState.Leader of a partition without a leader.
const NoLeader int32 = -1

// PartitionState is the leader and in-sync replicas of one partition, the
// data of /brokers/topics/<t>/partitions/<p>/state (version 1).
type PartitionState struct {
	// Topic and Partition are taken from the znode path.
	Topic     string
	Partition int32
	// Leader is the leader's broker id, or NoLeader (-1).
	Leader int32
	// LeaderEpoch counts leader changes; ControllerEpoch is the epoch of
	// the controller that wrote the state. Both are non-negative.
	LeaderEpoch     int32
	ControllerEpoch int32
	// ISR lists the in-sync replicas' broker ids, distinct; it may be empty.
	ISR []int32
	// Version is the data's version; always 1.
	Version int
	// LeaderRecoveryState is 0 (recovered) or 1 (recovering, after an
	// unclean election, Kafka 3.2 and up). Kafka writes the field only when
	// it is not 0; absent means 0.
	LeaderRecoveryState int
}

type partitionStateJSON struct {
	Version             *int            `json:"version"`
	Leader              *int32          `json:"leader"`
	LeaderEpoch         *int32          `json:"leader_epoch"`
	ControllerEpoch     *int32          `json:"controller_epoch"`
	ISR                 json.RawMessage `json:"isr"`
	LeaderRecoveryState *int            `json:"leader_recovery_state"`
}

// ParsePartitionState parses the data of the partition state znode at path,
// which must end in "<t>/partitions/<p>/state"; the topic and partition come
// from the path. A leader of -1 (NoLeader) is valid.
//
// "version" (1), "leader", "leader_epoch", "controller_epoch" and "isr" are
// required; unknown fields are ignored. Errors are *ParseError values naming
// path and matching ErrMalformed. ParsePartitionState does no I/O and never
// panics.
func ParsePartitionState(path string, data []byte) (PartitionState, error) {
	elems := strings.Split(path, "/")
	n := len(elems)
	if n < 4 || elems[n-1] != "state" || elems[n-3] != "partitions" || elems[n-4] == "" {
		return PartitionState{}, registryErr(path, `path does not end in "<topic>/partitions/<partition>/state"`)
	}
	p, ok := parseNonNegInt32(elems[n-2])
	if !ok {
		return PartitionState{}, registryErr(path, "partition %q is not a non-negative 32-bit decimal integer", elems[n-2])
	}
	s, err := parsePartitionState(data)
	if err != nil {
		return PartitionState{}, registryErr(path, "partition state: %w", err)
	}
	s.Topic, s.Partition = elems[n-4], p
	return s, nil
}

func parsePartitionState(data []byte) (PartitionState, error) {
	var j partitionStateJSON
	if err := decodeRegistryObject(data, &j); err != nil {
		return PartitionState{}, err
	}
	switch {
	case j.Version == nil:
		return PartitionState{}, errors.New(`missing "version"`)
	case *j.Version != 1:
		return PartitionState{}, fmt.Errorf("unsupported version %d, want 1", *j.Version)
	case j.Leader == nil:
		return PartitionState{}, errors.New(`missing "leader"`)
	case *j.Leader < NoLeader:
		return PartitionState{}, fmt.Errorf("leader %d is not a broker id or -1", *j.Leader)
	case j.LeaderEpoch == nil:
		return PartitionState{}, errors.New(`missing "leader_epoch"`)
	case *j.LeaderEpoch < 0:
		return PartitionState{}, fmt.Errorf("negative leader_epoch %d", *j.LeaderEpoch)
	case j.ControllerEpoch == nil:
		return PartitionState{}, errors.New(`missing "controller_epoch"`)
	case *j.ControllerEpoch < 0:
		return PartitionState{}, fmt.Errorf("negative controller_epoch %d", *j.ControllerEpoch)
	case j.LeaderRecoveryState != nil && *j.LeaderRecoveryState != 0 && *j.LeaderRecoveryState != 1:
		return PartitionState{}, fmt.Errorf("leader_recovery_state %d, want 0 or 1", *j.LeaderRecoveryState)
	}
	isr, err := decodeBrokerIDList(j.ISR)
	if err != nil {
		return PartitionState{}, fmt.Errorf("isr: %w", err)
	}
	s := PartitionState{
		Leader:          *j.Leader,
		LeaderEpoch:     *j.LeaderEpoch,
		ControllerEpoch: *j.ControllerEpoch,
		ISR:             isr,
		Version:         1,
	}
	if j.LeaderRecoveryState != nil {
		s.LeaderRecoveryState = *j.LeaderRecoveryState
	}
	return s, nil
}
