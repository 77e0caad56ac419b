package groupstate

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"

	"github.com/IBM/sarama"

	"github.com/zkbalance/zkbalance/internal/kafkacoord"
	"github.com/zkbalance/zkbalance/zkwatch"
)

// ResetRequest says which offsets ResetOffsets resets, where and to what.
type ResetRequest struct {
	// Topics are the partitions to reset (kafka-consumer-groups' --topic);
	// ignored with AllTopics.
	Topics []TopicSelection
	// AllTopics resets every partition of every topic the group has a
	// committed offset for in Store.
	AllTopics bool
	// Spec is what to reset them to.
	Spec ResetSpec
	// Store is where the offsets are read and written: StorageZooKeeper,
	// StorageKafka or StorageDual (both; the old offset is the higher, as
	// Read's Committed). "" detects it: Read's Status.Storage, or
	// StorageKafka for a group ZooKeeper does not know; a group without any
	// committed offset must name it.
	Store Storage
	// DryRun plans and writes nothing.
	DryRun bool
	// Force resets a group with live members.
	Force bool
	// ACL is the ACL of the offset znodes (and their parents) created in
	// ZooKeeper, for a group whose znodes have a digest ACL; nil:
	// world:anyone ALL. Existing znodes keep theirs.
	ACL []zkwatch.ACL
}

// ResetResult is what ResetOffsets planned and did. Its JSON form is what
// 'zkbalance reset-offsets --json' prints.
type ResetResult struct {
	Group   string        `json:"group"`
	Store   Storage       `json:"store"`
	Spec    string        `json:"spec"`
	DryRun  bool          `json:"dry_run"`
	Offsets []ResetOffset `json:"offsets"`
	// Clamped counts the offsets moved into their log's range.
	Clamped int `json:"clamped"`
}

// ResetOffset is one partition of a ResetResult. Offsets are -1 when
// absent.
type ResetOffset struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	// Old is the committed offset in the store (with StorageDual the
	// higher of ZooKeeperOld and KafkaOld).
	Old int64 `json:"old_offset"`
	// ZooKeeperOld and KafkaOld are each store's offset before the reset,
	// -1 for a store that is not reset or has none.
	ZooKeeperOld int64 `json:"zookeeper_offset"`
	KafkaOld     int64 `json:"kafka_offset"`
	New          int64 `json:"new_offset"`
	LogStart     int64 `json:"log_start"`
	LogEnd       int64 `json:"log_end"`
	// Clamped says which end of the log New was moved to ("" when none).
	Clamped Clamp `json:"clamped,omitempty"`
	// Applied is true once every store written holds New (never in a dry
	// run); Error says why not after a failed write.
	Applied bool   `json:"applied"`
	Error   string `json:"error,omitempty"`
}

// ResetOffsets resets consumer group's committed offsets, as
// kafka-consumer-groups --reset-offsets does, in ZooKeeper
// (/consumers/<g>/offsets/<t>/<p>, decimal ASCII, set with the version read
// or created with its parents), in Kafka (one OffsetCommit v2 to the
// coordinator with generation -1 and an empty member id, as MigrateOffsets
// writes) or in both. The new offsets are PlanReset's, from the log range
// each partition's leader reports (client.GetOffset) and, for
// ResetToDatetime, the offset Kafka's ListOffsets resolves the timestamp
// to. Every selected partition is written, also one whose offset does not
// change.
//
// The group is read with Read. A group with live members (registered under
// /consumers/<g>/ids, or joined at Kafka's coordinator) is refused with an
// error wrapping ErrLiveMembers that names them, unless req.Force, in a dry
// run as well. A missing group wraps ErrNoGroup; an unknown topic, a
// partition the topic does not have, a bad selection or a shift without a
// committed offset wrap ErrBadReset; all are found before anything is
// written. conn may be nil only for StorageKafka; client must not be nil.
//
// After a failed write the result says which offsets were applied and the
// error lists the others.
func ResetOffsets(ctx context.Context, conn *zkwatch.Conn, client sarama.Client, group string, req ResetRequest) (*ResetResult, error) {
	res, err := resetOffsets(ctx, conn, client, group, req)
	if err != nil {
		return res, wrapf(err, "reset offsets of group %s", group)
	}
	return res, nil
}

func resetOffsets(ctx context.Context, conn *zkwatch.Conn, client sarama.Client, group string, req ResetRequest) (*ResetResult, error) {
	switch req.Store {
	case "", StorageZooKeeper, StorageKafka, StorageDual:
	default:
		return nil, fmt.Errorf("%w: store %q (want zookeeper, kafka or dual)", ErrBadReset, req.Store)
	}
	if client == nil {
		return nil, errors.New("no kafka client")
	}
	if conn == nil && req.Store != StorageKafka {
		return nil, fmt.Errorf("%w: without zookeeper only the kafka store can be reset", ErrBadReset)
	}
	if !req.AllTopics && len(req.Topics) == 0 {
		return nil, fmt.Errorf("%w: no topic selected", ErrBadReset)
	}
	if req.Spec.Kind == ResetToDatetime && req.Spec.Time.UnixMilli() < 0 {
		return nil, fmt.Errorf("%w: to-datetime %s is before 1970", ErrBadReset, req.Spec.Time)
	}
	if _, err := PlanReset(req.Spec, nil); err != nil {
		return nil, err
	}
	st, err := read(ctx, conn, client, group, true)
	if err != nil {
		return nil, err
	}
	if !req.Force {
		if err := liveMembersError(st); err != nil {
			return nil, err
		}
	}
	store := req.Store
	if store == "" {
		store = st.Storage
		switch {
		case store != StorageNone:
		case !st.InZooKeeper:
			store = StorageKafka
		default:
			return nil, fmt.Errorf("%w: the group has no committed offset in zookeeper or kafka to tell which store to reset: name it (zookeeper, kafka or dual)", ErrBadReset)
		}
	}
	known := map[tp]*Partition{}
	for i := range st.Partitions {
		x := &st.Partitions[i]
		known[tp{x.Topic, x.Partition}] = x
	}
	sel, err := selectPartitions(ctx, client, st, store, req)
	if err != nil {
		return nil, err
	}
	in := make([]ResetInput, 0, len(sel))
	res := &ResetResult{Group: group, Store: store, Spec: req.Spec.String(), DryRun: req.DryRun, Offsets: []ResetOffset{}}
	for _, k := range sel {
		zk, kf := int64(-1), int64(-1)
		var errs []string
		if x := known[k]; x != nil {
			if store != StorageKafka {
				zk = x.ZooKeeperOffset
				if x.zkErr != nil {
					errs = append(errs, x.zkErr.Error())
				}
			}
			if store != StorageZooKeeper {
				kf = x.KafkaOffset
				if x.kafkaErr != nil {
					errs = append(errs, x.kafkaErr.Error())
				}
			}
		}
		start, end, err := logOffsets(ctx, client, k)
		if err != nil {
			return nil, fmt.Errorf("%s/%d: %w", k.topic, k.partition, err)
		}
		at := int64(-1)
		if req.Spec.Kind == ResetToDatetime {
			ms := req.Spec.Time.UnixMilli()
			at, err = kafkacoord.Call(ctx, func() (int64, error) { return client.GetOffset(k.topic, k.partition, ms) })
			if err != nil {
				return nil, fmt.Errorf("%s/%d: offset at %s: %w", k.topic, k.partition, req.Spec.Time.UTC().Format("2006-01-02T15:04:05.000Z07:00"), err)
			}
		}
		in = append(in, ResetInput{Topic: k.topic, Partition: k.partition, Old: max(zk, kf), OldError: strings.Join(errs, "; "),
			LogStart: start, LogEnd: end, AtTime: at})
		res.Offsets = append(res.Offsets, ResetOffset{Topic: k.topic, Partition: k.partition, Old: max(zk, kf),
			ZooKeeperOld: zk, KafkaOld: kf, LogStart: start, LogEnd: end})
	}
	plan, err := PlanReset(req.Spec, in)
	if err != nil {
		return nil, err
	}
	for i, p := range plan {
		res.Offsets[i].New, res.Offsets[i].Clamped = p.New, p.Clamped
		if p.Clamped != ClampNone {
			res.Clamped++
		}
	}
	if req.DryRun {
		return res, nil
	}
	return res, writeReset(ctx, conn, client, group, store, known, res, req.ACL)
}

// liveMembersError is the ErrLiveMembers error naming st's live members
// (up to 5 of each kind), nil when it has none.
func liveMembersError(st *Status) error {
	var names []string
	for _, m := range st.Members {
		names = append(names, "zookeeper "+m.ID)
	}
	if st.Kafka != nil {
		for _, m := range st.Kafka.Members {
			s := "kafka " + m.ID
			if m.ClientID != "" || m.Host != "" {
				s += " (" + strings.TrimSpace(m.ClientID+" "+m.Host) + ")"
			}
			names = append(names, s)
		}
	}
	if len(names) == 0 {
		return nil
	}
	more := ""
	if len(names) > 5 {
		more = fmt.Sprintf(" and %d more", len(names)-5)
		names = names[:5]
	}
	return fmt.Errorf("%w: %s%s would overwrite the reset offsets with their own commits: stop them first, or force",
		ErrLiveMembers, strings.Join(names, ", "), more)
}

// selectPartitions lists the partitions to reset, sorted: every partition of
// every topic with an offset in store (AllTopics), or the selected ones,
// checked against Kafka's metadata.
func selectPartitions(ctx context.Context, client sarama.Client, st *Status, store Storage, req ResetRequest) ([]tp, error) {
	set := map[tp]bool{}
	if req.AllTopics {
		topics := map[string]bool{}
		for _, x := range st.Partitions {
			if (store != StorageKafka && x.ZooKeeperOffset >= 0) || (store != StorageZooKeeper && x.KafkaOffset >= 0) {
				topics[x.Topic] = true
			}
		}
		if len(topics) == 0 {
			return nil, fmt.Errorf("%w: the group has no committed offset in %s (--all-topics)", ErrBadReset, store)
		}
		for _, x := range st.Partitions {
			if topics[x.Topic] {
				set[tp{x.Topic, x.Partition}] = true
			}
		}
	} else {
		// A fresh list of every topic: asking for one topic's metadata
		// would create it on a broker with auto.create.topics.enable.
		if _, err := kafkacoord.Call(ctx, func() (struct{}, error) { return struct{}{}, client.RefreshMetadata() }); err != nil {
			return nil, fmt.Errorf("kafka metadata: %w", err)
		}
		all, err := kafkacoord.Call(ctx, client.Topics)
		if err != nil {
			return nil, fmt.Errorf("list kafka's topics: %w", err)
		}
		for _, s := range req.Topics {
			if !slices.Contains(all, s.Topic) {
				return nil, fmt.Errorf("%w: topic %s does not exist", ErrBadReset, s.Topic)
			}
			ids, err := kafkacoord.Call(ctx, func() ([]int32, error) { return client.Partitions(s.Topic) })
			if err != nil {
				return nil, fmt.Errorf("topic %s: partitions: %w", s.Topic, err)
			}
			want := s.Partitions
			if want == nil {
				want = ids
			}
			for _, p := range want {
				if !slices.Contains(ids, p) {
					return nil, fmt.Errorf("%w: topic %s has %d partition(s), no partition %d", ErrBadReset, s.Topic, len(ids), p)
				}
				set[tp{s.Topic, p}] = true
			}
		}
	}
	return slices.SortedFunc(maps.Keys(set), func(a, b tp) int {
		return cmp.Or(strings.Compare(a.topic, b.topic), cmp.Compare(a.partition, b.partition))
	}), nil
}

// writeReset writes res's new offsets to store (creating offset znodes
// with acl) and marks what was applied.
func writeReset(ctx context.Context, conn *zkwatch.Conn, client sarama.Client, group string, store Storage, known map[tp]*Partition, res *ResetResult, acl []zkwatch.ACL) error {
	failed := make([][]string, len(res.Offsets))
	if store != StorageKafka {
		for i, o := range res.Offsets {
			version := int32(-1)
			if x := known[tp{o.Topic, o.Partition}]; x != nil {
				version = x.zkVersion
			}
			c := &Change{Topic: o.Topic, Partition: o.Partition, To: o.New}
			if err := writeZooKeeperOffset(ctx, conn, group, c, version, acl); err != nil {
				failed[i] = append(failed[i], "zookeeper: "+err.Error())
				if ctx.Err() != nil {
					return fmt.Errorf("%d of %d offset(s) not written: %w", len(res.Offsets)-i, len(res.Offsets), err)
				}
			}
		}
	}
	if store != StorageZooKeeper {
		offs := make(map[tp]int64, len(res.Offsets))
		for _, o := range res.Offsets {
			offs[tp{o.Topic, o.Partition}] = o.New
		}
		perr, err := commitKafkaOffsets(ctx, client, group, offs)
		if err != nil {
			return err
		}
		for i, o := range res.Offsets {
			if err := perr[tp{o.Topic, o.Partition}]; err != nil {
				failed[i] = append(failed[i], err.Error())
			}
		}
	}
	var errs []string
	log := slog.Default()
	for i := range res.Offsets {
		o := &res.Offsets[i]
		if len(failed[i]) > 0 {
			o.Error = strings.Join(failed[i], "; ")
			errs = append(errs, fmt.Sprintf("%s/%d: %s", o.Topic, o.Partition, o.Error))
			continue
		}
		o.Applied = true
		log.DebugContext(ctx, "groupstate: offset reset", "group", group, "store", string(store),
			"topic", o.Topic, "partition", o.Partition, "from", o.Old, "to", o.New)
	}
	if len(errs) > 0 {
		return fmt.Errorf("%d of %d offset(s) not written: %s", len(errs), len(res.Offsets), strings.Join(errs, "; "))
	}
	return nil
}
