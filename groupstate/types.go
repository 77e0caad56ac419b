package groupstate

import (
	"errors"
	"time"
)

// Sentinel errors, wrapped with context by the functions that return them.
var (
	// ErrNoGroup: /consumers/<group> does not exist (Read: and Kafka's
	// group coordinator knows no such group either).
	ErrNoGroup = errors.New("groupstate: no such group")
	// ErrLiveMembers: MigrateOffsets was asked to migrate a group that has
	// registered members (children of /consumers/<group>/ids), or
	// ResetOffsets to reset one that has those or members joined at Kafka's
	// coordinator, without force.
	ErrLiveMembers = errors.New("groupstate: group has live members")
	// ErrBadOffset: an offset znode whose value is not a non-negative decimal
	// number, or a negative offset other than -1 in Kafka.
	ErrBadOffset = errors.New("groupstate: malformed offset")
	// ErrBadRegistration: a member registration that is neither the Scala
	// consumer's JSON nor a topic name (pykafka).
	ErrBadRegistration = errors.New("groupstate: malformed member registration")
)

// Layout is the ZooKeeper layout of a member or a group.
type Layout string

// Layouts.
const (
	// LayoutScala: JSON registration, owner znodes named "<p>" holding a
	// thread id "<memberId>-<n>" (or, for the wvanbergen Go port, the member
	// id), offsets in ZooKeeper or Kafka.
	LayoutScala Layout = "scala"
	// LayoutPykafka: registration holding the raw topic name, owner znodes
	// named "<leader>-<p>" holding the member id, offsets in Kafka.
	LayoutPykafka Layout = "pykafka"
	// LayoutMixed (groups only): members of both layouts are registered.
	LayoutMixed Layout = "mixed"
	// LayoutUnknown: a registration that could not be parsed, or a group with
	// no member and no owner or offset znode to tell.
	LayoutUnknown Layout = "unknown"
	// LayoutNone (groups only): the group has no /consumers/<group> znode
	// (or no ZooKeeper was given); only Kafka knows it.
	LayoutNone Layout = "none"
)

// LiveCoordination says who coordinates a group's live members (Status;
// Coordination is the mode a group is switched to).
type LiveCoordination string

// Coordinations.
const (
	// CoordinationNone: no live member, neither registered in ZooKeeper nor
	// joined at Kafka's group coordinator.
	CoordinationNone LiveCoordination = "none"
	// CoordinationZooKeeper: members registered under /consumers/<g>/ids
	// only (Scala high-level consumer, pykafka, zkbalance zookeeper mode).
	CoordinationZooKeeper LiveCoordination = "zookeeper"
	// CoordinationKafka: members joined at Kafka's group coordinator only
	// (KafkaConsumer, zkbalance kafka mode, sarama ConsumerGroup).
	CoordinationKafka LiveCoordination = "kafka"
	// CoordinationBoth: members of both kinds, as during a migration from
	// ZooKeeper to Kafka coordination.
	CoordinationBoth LiveCoordination = "both"
)

// LiveCoordinationOf is the LiveCoordination of a group that has live
// members registered in ZooKeeper (zk) and joined at Kafka's group
// coordinator (kafka).
func LiveCoordinationOf(zk, kafka bool) LiveCoordination {
	switch {
	case zk && kafka:
		return CoordinationBoth
	case zk:
		return CoordinationZooKeeper
	case kafka:
		return CoordinationKafka
	}
	return CoordinationNone
}

// Storage says where a group's committed offsets are.
type Storage string

// Storages.
const (
	StorageNone      Storage = "none"      // no committed offset anywhere
	StorageZooKeeper Storage = "zookeeper" // only /consumers/<g>/offsets has offsets
	StorageKafka     Storage = "kafka"     // only Kafka has offsets
	StorageDual      Storage = "dual"      // both have: the higher one counts, as with Scala dual.commit.enabled
)

// Source says which store a partition's effective committed offset comes from.
type Source string

// Sources.
const (
	SourceNone      Source = ""          // no committed offset
	SourceZooKeeper Source = "zookeeper" // from ZooKeeper (the higher, or the only one)
	SourceKafka     Source = "kafka"     // from Kafka (the higher, or the only one)
	SourceBoth      Source = "both"      // both stores hold the same offset
)

// Status is what Read found for a group. Its JSON form (the tags) is what
// 'zkbalance status --json' prints.
type Status struct {
	// Group is the group name.
	Group string `json:"group"`
	// Layout is the group's layout, from its members (LayoutMixed when both
	// are registered); a group without members is judged by its owner znode
	// names and offset znodes.
	Layout Layout `json:"layout"`
	// Storage is where the group's offsets are.
	Storage Storage `json:"storage"`
	// Coordination says whose members are live now: registered in
	// ZooKeeper (Members), joined at Kafka's coordinator (Kafka.Members),
	// both, or none.
	Coordination LiveCoordination `json:"coordination"`
	// CoordinationMode is what the group's mode znode names, "zookeeper"
	// or "kafka" ("" when it is absent or malformed: a warning says so);
	// ZooKeeperDetached, that it tells the members to stop using ZooKeeper
	// (see Coordination.PlanDetach).
	CoordinationMode  string `json:"coordination_mode,omitempty"`
	ZooKeeperDetached bool   `json:"zookeeper_detached,omitempty"`
	// InZooKeeper is true when /consumers/<g> exists; false also when no
	// ZooKeeper connection was given.
	InZooKeeper bool `json:"in_zookeeper"`
	// Members are the registrations under /consumers/<g>/ids, sorted by id.
	Members []Member `json:"members"`
	// Kafka is the group as Kafka's group coordinator describes it; nil when
	// Kafka was not asked (no client).
	Kafka *KafkaGroup `json:"kafka,omitempty"`
	// Partitions are every partition of every topic the group subscribes to,
	// has owner znodes for or has committed offsets for (in ZooKeeper or in
	// Kafka), sorted by topic then partition.
	Partitions []Partition `json:"partitions"`
	// Totals sum up Partitions.
	Totals Totals `json:"totals"`
	// Warnings are problems that affect no single member or partition (an
	// owner znode with an unparsable name, Kafka unavailable, ...).
	Warnings []string `json:"warnings,omitempty"`
}

// Member is one registration under /consumers/<g>/ids.
type Member struct {
	// ID is the member id (the znode name).
	ID string `json:"id"`
	// Layout is LayoutScala for JSON, LayoutPykafka for a raw topic name and
	// LayoutUnknown when the value cannot be parsed.
	Layout Layout `json:"layout"`
	// Subscription maps topic (or, for a pattern, the regex) to its number
	// of streams; pykafka members have one topic with 1 stream.
	Subscription map[string]int `json:"subscription,omitempty"`
	// Pattern is "static", "white_list" or "black_list" (Scala); "" for pykafka.
	Pattern string `json:"pattern,omitempty"`
	// Topics are the existing topics the subscription resolves to, sorted.
	Topics []string `json:"topics,omitempty"`
	// Timestamp is the registration's own timestamp (Scala: milliseconds as
	// a string; the wvanbergen port: seconds as a number); zero when absent.
	Timestamp time.Time `json:"timestamp,omitzero"`
	// Created is when the ids znode was created (ZooKeeper's ctime).
	Created time.Time `json:"created,omitzero"`
	// Raw is the registration's value when it could not be parsed.
	Raw string `json:"raw,omitempty"`
	// Error says why it could not be parsed.
	Error string `json:"error,omitempty"`
}

// Owner is one owner znode of a partition.
type Owner struct {
	// Znode is the owner znode's name: "<p>" (Scala) or "<leader>-<p>"
	// (pykafka); "b'<topic>'/<leader>-<p>" for one that only pykafka on
	// Python 3's directory holds (a copy in both directories with one value,
	// as zkbalance writes, is listed once).
	Znode string `json:"znode"`
	// Value is the znode's value: a thread id "<memberId>-<n>" (Scala), or a
	// member id (pykafka, wvanbergen).
	Value string `json:"value"`
	// Member is the registered member the value belongs to; "" when no
	// registered member matches.
	Member string `json:"member"`
}

// Partition is the state of one partition for the group. Offsets are -1 when
// absent or unknown.
type Partition struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	// Owners are the owner znodes for the partition; more than one only in
	// the pykafka layout after a leader change (or with a broken group).
	Owners []Owner `json:"owners"`
	// KafkaOwners are the members of the Kafka group whose assignment (from
	// the coordinator) holds the partition; more than one only with a
	// broken assignor. Empty when no Kafka member is assigned it.
	KafkaOwners []KafkaOwner `json:"kafka_owners"`
	// ZooKeeperOffset is /consumers/<g>/offsets/<t>/<p>, -1 when absent or
	// malformed (then Error says so).
	ZooKeeperOffset int64 `json:"zookeeper_offset"`
	// KafkaOffset is the offset Kafka holds for the group, -1 when none.
	KafkaOffset int64 `json:"kafka_offset"`
	// Committed is the effective committed offset (the next to consume):
	// the higher of the two, -1 when neither store has one.
	Committed int64 `json:"committed"`
	// Source is where Committed comes from.
	Source Source `json:"source"`
	// LogStart and LogEnd are the oldest available offset and the next
	// offset to be written; -1 when unknown.
	LogStart int64 `json:"log_start"`
	LogEnd   int64 `json:"log_end"`
	// Lag is LogEnd - Committed, or LogEnd - LogStart when nothing is
	// committed; -1 when unknown. Negative values other than -1 do not
	// occur: a committed offset beyond the log end (a recreated or truncated
	// topic) gives lag 0 and an Error.
	Lag int64 `json:"lag"`
	// Error lists what went wrong reading this partition; "" when nothing did.
	Error string `json:"error,omitempty"`

	zkVersion int32 // version of the offset znode; -1 when absent
	zkErr     error // the offset znode exists but is malformed
	kafkaErr  error // Kafka answered with an error for this partition
}

// KafkaGroup is a consumer group as Kafka's group coordinator describes it
// (DescribeGroups).
type KafkaGroup struct {
	// State is the coordinator's group state: "Stable",
	// "PreparingRebalance", "CompletingRebalance", "Empty" (no member; a
	// group that only has committed offsets) or "Dead" (unknown group).
	State string `json:"state"`
	// ProtocolType is "consumer" for consumer groups; "" for a group that
	// never had a member (only committed offsets).
	ProtocolType string `json:"protocol_type"`
	// Protocol is the chosen assignor ("range", "roundrobin", "sticky",
	// "cooperative-sticky", ...); "" without members.
	Protocol string `json:"protocol"`
	// Members are the group's members, sorted by id.
	Members []KafkaMember `json:"members"`
	// Error is the coordinator's error for the group (a group of the newer
	// consumer protocol, say), "" for none.
	Error string `json:"error,omitempty"`
}

// KafkaMember is one member of a Kafka-coordinated group.
type KafkaMember struct {
	// ID is the member id the coordinator gave.
	ID string `json:"id"`
	// InstanceID is the static membership id (group.instance.id), if any.
	InstanceID string `json:"instance_id,omitempty"`
	// ClientID and Host are the member's client.id and address.
	ClientID string `json:"client_id"`
	Host     string `json:"host"`
	// Topics are the subscribed topics from the member's metadata (protocol
	// type "consumer"), sorted.
	Topics []string `json:"topics,omitempty"`
	// Assignment is the member's current assignment, topic → partitions
	// (sorted); empty while a rebalance is in progress.
	Assignment map[string][]int32 `json:"assignment"`
	// Error says why the metadata or the assignment could not be decoded.
	Error string `json:"error,omitempty"`
}

// KafkaOwner is a Kafka member assigned a partition.
type KafkaOwner struct {
	Member   string `json:"member"`
	ClientID string `json:"client_id"`
	Host     string `json:"host"`
}

// Totals sum up a Status.
type Totals struct {
	Members    int `json:"members"`
	Partitions int `json:"partitions"`
	// Owned counts partitions with at least one owner znode.
	Owned int `json:"owned"`
	// KafkaMembers counts the members at Kafka's group coordinator.
	KafkaMembers int `json:"kafka_members"`
	// KafkaOwned counts partitions some Kafka member is assigned.
	KafkaOwned int `json:"kafka_owned"`
	// Committed counts partitions with an effective committed offset.
	Committed int `json:"committed"`
	// LogEnd and Lag sum the partitions where they are known.
	LogEnd int64 `json:"log_end"`
	Lag    int64 `json:"lag"`
	// Errors counts partitions with an Error and members with an Error.
	Errors int `json:"errors"`
}

// Direction is the way MigrateOffsets copies offsets.
type Direction int

// Directions.
const (
	// ZooKeeperToKafka copies /consumers/<g>/offsets into Kafka (OffsetCommit
	// v2 to the coordinator, generation -1, no member id).
	ZooKeeperToKafka Direction = iota + 1
	// KafkaToZooKeeper copies the group's Kafka offsets into
	// /consumers/<g>/offsets, decimal ASCII as the Scala consumer writes.
	KafkaToZooKeeper
)

// String implements fmt.Stringer.
func (d Direction) String() string {
	switch d {
	case ZooKeeperToKafka:
		return "zookeeper→kafka"
	case KafkaToZooKeeper:
		return "kafka→zookeeper"
	}
	return "invalid direction"
}

// Change is one partition's offset that MigrateOffsets copies (or would copy).
type Change struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	// From is the destination's offset before the change, -1 when it has
	// none (or a malformed one: then FromError says so).
	From      int64  `json:"from"`
	FromError string `json:"from_error,omitempty"`
	// To is the source's offset, which the destination gets.
	To int64 `json:"to"`
	// Applied is true once the destination holds To (never in a dry run).
	Applied bool `json:"applied"`
}
