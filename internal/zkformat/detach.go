package zkformat

import (
	"encoding/json"
	"fmt"
)

// ZooKeeperDetached is the value of the mode znode's "zookeeper" field
// that tells the follow-mode members of a group coordinated by Kafka to
// stop using ZooKeeper: {"version":1,"mode":"kafka","zookeeper":"detached"}.
//
// Why a field beside "mode" and not a third mode: ParseMode (and so every
// follow member that predates detaching) ignores unknown fields, so such a
// member reads the value as plain kafka mode and stays where it is, in the
// Kafka group, still claiming owner znodes; a third mode would be a
// malformed mode znode to it (reported through OnError, ignored). Members
// that know the field stop claiming, release their owner znodes, commit to
// Kafka only, delete their follower znode and close their ZooKeeper
// session.
const ZooKeeperDetached = "detached"

// CoordinationState is what a group's mode znode says: the mode, and in
// kafka mode whether the members are detached from ZooKeeper.
type CoordinationState struct {
	// Mode is ModeZooKeeper or ModeKafka.
	Mode string
	// Detached (mode kafka only): the members no longer use ZooKeeper.
	Detached bool
}

// String is the state for people: "zookeeper", "kafka" or
// "kafka (zookeeper detached)".
func (s CoordinationState) String() string {
	if s.Detached {
		return s.Mode + " (zookeeper detached)"
	}
	return s.Mode
}

// coordinationValue is the JSON of the mode znode.
type coordinationValue struct {
	Version   int    `json:"version"`
	Mode      string `json:"mode"`
	ZooKeeper string `json:"zookeeper,omitempty"`
}

// ParseCoordination reads a mode znode's value: what ParseMode accepts,
// plus an optional "zookeeper" field, which is absent, "" or
// ZooKeeperDetached, and ZooKeeperDetached only with mode kafka. The error
// says what is wrong with the value.
func ParseCoordination(data []byte) (CoordinationState, error) {
	mode, err := ParseMode(data)
	if err != nil {
		return CoordinationState{}, err
	}
	var v coordinationValue
	if err := json.Unmarshal(data, &v); err != nil { // ParseMode unmarshalled it already
		return CoordinationState{}, fmt.Errorf("mode value %q is not JSON: %w", truncate(data), err)
	}
	switch v.ZooKeeper {
	case "":
		return CoordinationState{Mode: mode}, nil
	case ZooKeeperDetached:
		if mode != ModeKafka {
			return CoordinationState{}, fmt.Errorf("mode value %q detaches zookeeper in mode %q: only mode kafka can be detached", truncate(data), mode)
		}
		return CoordinationState{Mode: mode, Detached: true}, nil
	}
	return CoordinationState{}, fmt.Errorf("mode value %q has the unknown zookeeper state %q (absent or %q)", truncate(data), v.ZooKeeper, ZooKeeperDetached)
}

// EncodeCoordination encodes a mode znode's value; for a state without
// Detached it is EncodeMode(s.Mode).
func EncodeCoordination(s CoordinationState) []byte {
	v := coordinationValue{Version: 1, Mode: s.Mode}
	if s.Detached {
		v.ZooKeeper = ZooKeeperDetached
	}
	b, _ := json.Marshal(v)
	return b
}
