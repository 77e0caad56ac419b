package zkformat

import (
	"encoding/json"
	"fmt"
)

// Coordination modes a group's mode znode can name.
const (
	ModeZooKeeper = "zookeeper"
	ModeKafka     = "kafka"
)

// CoordinationPath is a group's mode znode: persistent, holding
// {"version":1,"mode":"zookeeper"|"kafka"}, in kafka mode optionally with
// "zookeeper":"detached" (see ZooKeeperDetached). Absent means
// zookeeper. Members in follow mode watch it and switch when it changes.
func CoordinationPath(group string) string { return "/consumers/" + group + "/coordination" }

// FollowersPath is the directory of the follow-mode members' ephemeral
// znodes, /consumers/<group>/followers/<member-id>, each holding
// {"version":1,"mode":...} with the mode the member is in now. Legacy
// members (Scala, pykafka) never look at it.
func FollowersPath(group string) string { return "/consumers/" + group + "/followers" }

// FollowerPath is one follow-mode member's ephemeral znode.
func FollowerPath(group, member string) string { return FollowersPath(group) + "/" + member }

// modeValue is the JSON of the mode znode and of a follower znode.
type modeValue struct {
	Version int    `json:"version"`
	Mode    string `json:"mode"`
	// KafkaMemberID (follower znodes in kafka mode) is the member id the
	// group coordinator gave the follower, so that tools can tell the
	// followers among the Kafka group's members.
	KafkaMemberID string `json:"kafka_member_id,omitempty"`
}

// ParseMode reads the value of a mode znode or a follower znode: version 1
// and a mode of ModeZooKeeper or ModeKafka. Unknown fields are ignored (a
// later version may add some); a higher version is accepted when its mode is
// one of those. The error says what is wrong with the value.
func ParseMode(data []byte) (string, error) {
	v, err := parseModeValue(data)
	return v.Mode, err
}

// ParseFollower reads a follower znode's value: its mode (as ParseMode)
// and, in kafka mode once it joined, its Kafka member id ("" if none).
func ParseFollower(data []byte) (mode, kafkaMemberID string, err error) {
	v, err := parseModeValue(data)
	return v.Mode, v.KafkaMemberID, err
}

func parseModeValue(data []byte) (modeValue, error) {
	var v modeValue
	if err := json.Unmarshal(data, &v); err != nil {
		return modeValue{}, fmt.Errorf("mode value %q is not JSON: %w", truncate(data), err)
	}
	if v.Version < 1 {
		return modeValue{}, fmt.Errorf("mode value %q has no version (want 1)", truncate(data))
	}
	switch v.Mode {
	case ModeZooKeeper, ModeKafka:
		return v, nil
	}
	return modeValue{}, fmt.Errorf("mode value %q names the unknown mode %q (zookeeper or kafka)", truncate(data), v.Mode)
}

// EncodeMode encodes a mode znode's or follower znode's value.
func EncodeMode(mode string) []byte {
	return EncodeFollower(mode, "")
}

// EncodeFollower encodes a follower znode's value: its mode and, in kafka
// mode, its Kafka member id (omitted when "").
func EncodeFollower(mode, kafkaMemberID string) []byte {
	b, _ := json.Marshal(modeValue{Version: 1, Mode: mode, KafkaMemberID: kafkaMemberID})
	return b
}

func truncate(b []byte) string {
	if len(b) > 64 {
		return string(b[:64]) + "..."
	}
	return string(b)
}
