package groupstate

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/IBM/sarama"

	"github.com/zkbalance/zkbalance/internal/kafkacoord"
	"github.com/zkbalance/zkbalance/internal/zkformat"
	"github.com/zkbalance/zkbalance/zkwatch"
)

// consumersPath is where consumer groups live.
const consumersPath = "/consumers"

func groupPath(group string) string { return consumersPath + "/" + group }

// Groups lists the consumer groups, the children of /consumers, sorted. A
// missing /consumers is no group (an empty list, no error).
func Groups(ctx context.Context, conn *zkwatch.Conn) ([]string, error) {
	if conn == nil {
		return nil, errors.New("groupstate: list groups: no zookeeper connection")
	}
	names, _, err := conn.Children(ctx, consumersPath)
	if errors.Is(err, zkwatch.ErrNoNode) {
		return []string{}, nil
	}
	if err != nil {
		return nil, wrapf(err, "list groups")
	}
	slices.Sort(names)
	return names, nil
}

// Read returns the state of a consumer group, from ZooKeeper and from
// Kafka: its members registered under /consumers/<group>/ids, the group as
// Kafka's group coordinator describes it (state, assignor, members with
// their subscriptions and assignments), and for every partition of every
// topic it subscribes to, has owner znodes for, is assigned at the
// coordinator or has committed offsets for (in ZooKeeper, or in Kafka), the
// owner znodes and Kafka owners, the committed offsets of both stores and
// the effective one, the log-end offset and the lag. Status.Coordination
// says whose members are live: ZooKeeper's, Kafka's or both (a migration).
//
// The partitions of a topic are those of its registration
// /brokers/topics/<t> (from Kafka's metadata when conn is nil), plus any
// partition an owner, an assignment or an offset names. The group is
// described with DescribeGroups at its coordinator. Kafka offsets are read
// with OffsetFetch v1 from the coordinator; when the client's
// Config.Version is at least sarama.V0_10_2_0 an OffsetFetch v2 for all
// topics first finds the topics the group has offsets for in Kafka but no
// znode for. Log offsets come from client.GetOffset.
//
// conn may be nil (a cluster without ZooKeeper, Kafka 4): then only Kafka's
// side is read and InZooKeeper is false. client may be nil: then Kafka is
// not asked, Kafka is nil, and KafkaOffset, LogStart, LogEnd and Lag are
// -1 (Status.Warnings says so). Otherwise the client's Config.Version must
// be at least sarama.V0_9_0_0 (sarama.V2_0_0_0 for Kafka 4).
//
// A registration that cannot be parsed, an offset znode that is not a
// decimal number, a Kafka member whose metadata cannot be decoded and
// per-partition errors from Kafka are reported in the Member, KafkaMember
// or Partition (Error) and do not fail Read. A group that neither has
// /consumers/<group> nor is known to Kafka (no member, no committed offset)
// is an error wrapping ErrNoGroup; ZooKeeper errors, and Kafka errors that
// concern the whole group (no coordinator), fail Read, except that a group
// found in ZooKeeper is still shown, with a warning, when its Kafka
// coordinator cannot describe it.
func Read(ctx context.Context, conn *zkwatch.Conn, client sarama.Client, group string) (*Status, error) {
	st, err := read(ctx, conn, client, group, true)
	if err != nil {
		return nil, wrapf(err, "read group %s", group)
	}
	return st, nil
}

// reader gathers one group's state.
type reader struct {
	conn   *zkwatch.Conn
	client sarama.Client
	group  string
	inZK   bool // /consumers/<group> exists
	st     *Status
	parts  map[tp]*Partition
}

func (r *reader) part(topic string, p int32) *Partition {
	k := tp{topic, p}
	if x, ok := r.parts[k]; ok {
		return x
	}
	x := &Partition{Topic: topic, Partition: p, Owners: []Owner{}, KafkaOwners: []KafkaOwner{}, ZooKeeperOffset: -1, KafkaOffset: -1,
		Committed: -1, LogStart: -1, LogEnd: -1, Lag: -1, zkVersion: -1}
	r.parts[k] = x
	return x
}

func (r *reader) warn(format string, args ...any) {
	r.st.Warnings = append(r.st.Warnings, fmt.Sprintf(format, args...))
}

// children lists a znode's children, sorted; a missing znode has none.
func children(ctx context.Context, conn *zkwatch.Conn, p string) ([]string, error) {
	names, _, err := conn.Children(ctx, p)
	if errors.Is(err, zkwatch.ErrNoNode) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	slices.Sort(names)
	return names, nil
}

// checkGroupName rejects names that cannot be a znode name.
func checkGroupName(group string) error {
	if group == "" || group == "." || group == ".." || strings.ContainsAny(group, "/\x00") {
		return fmt.Errorf("invalid group name %q", group)
	}
	return nil
}

// read does Read's work; full says whether to ask Kafka's coordinator
// for the group and for log offsets, and to accept a group that has no
// /consumers/<group> (MigrateOffsets passes false).
func read(ctx context.Context, conn *zkwatch.Conn, client sarama.Client, group string, full bool) (*Status, error) {
	if conn == nil && (!full || client == nil) {
		return nil, errors.New("no zookeeper connection")
	}
	if group == "" {
		return nil, errors.New("empty group name")
	}
	r := &reader{conn: conn, client: client, group: group, parts: map[tp]*Partition{},
		st: &Status{Group: group, Members: []Member{}, Partitions: []Partition{}}}
	if conn != nil {
		if err := checkGroupName(group); err != nil && (!full || client == nil) {
			return nil, err
		} else if err == nil {
			ok, _, err := conn.Exists(ctx, groupPath(group))
			if err != nil {
				return nil, err
			}
			r.inZK = ok
		}
	}
	if !r.inZK && (!full || client == nil) {
		return nil, fmt.Errorf("%w: %s does not exist", ErrNoGroup, groupPath(group))
	}

	topics := map[string]bool{} // every topic the group is concerned with
	ownerLayouts := map[Layout]bool{}
	if r.inZK {
		if err := r.readMode(ctx); err != nil {
			return nil, err
		}
		if err := r.readMembers(ctx, topics); err != nil {
			return nil, err
		}
		if err := r.readOwners(ctx, topics, ownerLayouts); err != nil {
			return nil, err
		}
		if err := r.readZooKeeperOffsets(ctx, topics); err != nil {
			return nil, err
		}
	}
	if client != nil && full {
		kg, err := DescribeKafkaGroup(ctx, client, group)
		switch {
		case err == nil:
			r.st.Kafka = kg
			if kg.Error != "" {
				r.warn("kafka's coordinator: group %s: %s", group, kg.Error)
			}
			r.addKafkaMembers(topics)
		case ctx.Err() != nil || !r.inZK:
			return nil, err
		default:
			r.warn("kafka's group coordinator not consulted: %v", err)
		}
	}
	var discovered map[string]map[int32]int64
	var err error
	if client != nil {
		if client.Config().Version.IsAtLeast(sarama.V0_10_2_0) {
			discovered, err = discoverKafkaOffsets(ctx, client, group)
			if err != nil {
				if ctx.Err() != nil {
					return nil, err
				}
				r.warn("kafka offsets of topics without a znode of the group are not listed: %v", err)
			}
			for t := range discovered {
				topics[t] = true
			}
		} else {
			r.warn("kafka offsets of topics without a znode of the group are not listed: the kafka client's version %s is below 0.10.2", client.Config().Version)
		}
	} else {
		r.warn("kafka not consulted: kafka_offset, log_start, log_end and lag are -1 (unknown)")
	}
	if !r.inZK && !r.st.Kafka.exists() && len(discovered) == 0 {
		if r.st.Kafka != nil && r.st.Kafka.Error != "" {
			return nil, fmt.Errorf("%w: %s does not exist and kafka's coordinator answers: %s", ErrNoGroup, groupPath(group), r.st.Kafka.Error)
		}
		where := groupPath(group) + " does not exist and kafka's coordinator does not know the group"
		if conn == nil {
			where = "kafka's coordinator does not know the group (no zookeeper given)"
		}
		return nil, fmt.Errorf("%w: %s", ErrNoGroup, where)
	}
	// Every partition of every topic concerned.
	for _, t := range slices.Sorted(maps.Keys(topics)) {
		for p := range discovered[t] {
			r.part(t, p)
		}
		if conn == nil {
			ids, err := kafkacoord.Call(ctx, func() ([]int32, error) { return client.Partitions(t) })
			if ctx.Err() != nil {
				return nil, context.Cause(ctx)
			}
			if err != nil {
				r.warn("topic %s: kafka metadata: %v", t, err)
			}
			for _, p := range ids {
				r.part(t, p)
			}
			continue
		}
		reg, err := conn.ReadTopic(ctx, t)
		switch {
		case errors.Is(err, zkwatch.ErrNoNode):
			r.warn("topic %s is not registered in /brokers/topics", t)
		case errors.Is(err, zkwatch.ErrMalformed):
			r.warn("%v", err)
		case err != nil:
			return nil, err
		default:
			for _, p := range reg.PartitionIDs() {
				r.part(t, p)
			}
		}
	}
	all := slices.SortedFunc(maps.Keys(r.parts), func(a, b tp) int {
		return cmp.Or(strings.Compare(a.topic, b.topic), cmp.Compare(a.partition, b.partition))
	})
	if client != nil {
		offs, perr, err := fetchKafkaOffsets(ctx, client, group, all)
		if err != nil {
			return nil, err
		}
		for k, off := range offs {
			r.parts[k].KafkaOffset = off
		}
		for k, err := range perr {
			r.parts[k].kafkaErr = err
		}
	}
	var logErrs map[tp]error
	if client != nil && full {
		if logErrs, err = r.readLogOffsets(ctx, all); err != nil {
			return nil, err
		}
	}
	r.finish(all, logErrs, ownerLayouts)
	return r.st, nil
}

// addKafkaMembers adds the Kafka members' subscribed and assigned topics
// and their assigned partitions' KafkaOwners.
func (r *reader) addKafkaMembers(topics map[string]bool) {
	for _, m := range r.st.Kafka.Members {
		for _, t := range m.Topics {
			topics[t] = true
		}
		for _, t := range slices.Sorted(maps.Keys(m.Assignment)) {
			topics[t] = true
			for _, p := range m.Assignment[t] {
				x := r.part(t, p)
				x.KafkaOwners = append(x.KafkaOwners, KafkaOwner{Member: m.ID, ClientID: m.ClientID, Host: m.Host})
			}
		}
	}
}

// readMembers reads /consumers/<g>/ids and adds the subscribed topics.
func (r *reader) readMembers(ctx context.Context, topics map[string]bool) error {
	ids, err := children(ctx, r.conn, groupPath(r.group)+"/ids")
	if err != nil {
		return err
	}
	var existing []string
	var haveExisting bool
	for _, id := range ids {
		p := groupPath(r.group) + "/ids/" + id
		data, stat, err := r.conn.Get(ctx, p)
		if errors.Is(err, zkwatch.ErrNoNode) {
			continue // left since the listing
		}
		if err != nil {
			return err
		}
		m := Member{ID: id, Created: time.UnixMilli(stat.Ctime)}
		parseMember(&m, p, data)
		if m.Pattern == "white_list" || m.Pattern == "black_list" {
			if !haveExisting {
				existing, err = r.conn.ReadTopicNames(ctx)
				if err != nil && !errors.Is(err, zkwatch.ErrNoNode) {
					return err
				}
				haveExisting = true
			}
		}
		resolveTopics(&m, existing)
		for _, t := range m.Topics {
			topics[t] = true
		}
		r.st.Members = append(r.st.Members, m)
	}
	return nil
}

// readOwners reads /consumers/<g>/owners/<t>/<name> for every topic.
func (r *reader) readOwners(ctx context.Context, topics map[string]bool, layouts map[Layout]bool) error {
	dir := groupPath(r.group) + "/owners"
	ts, err := children(ctx, r.conn, dir)
	if err != nil {
		return err
	}
	members := map[string]bool{}
	for _, m := range r.st.Members {
		members[m.ID] = true
	}
	// Python 2 directories first, so that mirrors in b'<t>' are recognised.
	slices.SortStableFunc(ts, func(a, b string) int {
		_, pa := zkformat.Py3OwnersTopic(a)
		_, pb := zkformat.Py3OwnersTopic(b)
		return cmp.Compare(b2i(pa), b2i(pb))
	})
	for _, d := range ts {
		// pykafka on Python 3 writes owners/b'<t>' (pykafka #888); zkbalance
		// in the pykafka layout writes both directories.
		t, py3 := zkformat.Py3OwnersTopic(d)
		topics[t] = true
		names, err := children(ctx, r.conn, dir+"/"+d)
		if err != nil {
			return err
		}
		for _, name := range names {
			p, pykafka, ok := parseOwnerName(name)
			path := dir + "/" + d + "/" + name
			if !ok {
				r.warn("%s: not an owner znode name (<partition> or <leader>-<partition>)", path)
				continue
			}
			data, _, err := r.conn.Get(ctx, path)
			if errors.Is(err, zkwatch.ErrNoNode) {
				continue // released since the listing
			}
			if err != nil {
				return err
			}
			if pykafka {
				layouts[LayoutPykafka] = true
			} else {
				layouts[LayoutScala] = true
			}
			v := string(data)
			x := r.part(t, p)
			o := Owner{Znode: name, Value: v, Member: ownerMember(v, members)}
			if py3 {
				o.Znode = d + "/" + name
				if slices.ContainsFunc(x.Owners, func(e Owner) bool { return e.Znode == name && e.Value == v }) {
					continue // the mirror of an owner znode already listed
				}
			}
			x.Owners = append(x.Owners, o)
		}
	}
	return nil
}

// readZooKeeperOffsets reads /consumers/<g>/offsets/<t>/<p>.
func (r *reader) readZooKeeperOffsets(ctx context.Context, topics map[string]bool) error {
	dir := groupPath(r.group) + "/offsets"
	ts, err := children(ctx, r.conn, dir)
	if err != nil {
		return err
	}
	for _, t := range ts {
		names, err := children(ctx, r.conn, dir+"/"+t)
		if err != nil {
			return err
		}
		if len(names) > 0 {
			topics[t] = true
		}
		for _, name := range names {
			path := dir + "/" + t + "/" + name
			p, ok := zkformat.ParsePartitionName(name)
			if !ok {
				r.warn("%s: not a partition id", path)
				continue
			}
			data, stat, err := r.conn.Get(ctx, path)
			if errors.Is(err, zkwatch.ErrNoNode) {
				continue
			}
			if err != nil {
				return err
			}
			x := r.part(t, p)
			x.zkVersion = stat.Version
			off, err := parseZooKeeperOffset(path, data)
			if err != nil {
				x.zkErr = err
				continue
			}
			x.ZooKeeperOffset = off
		}
	}
	return nil
}

// readLogOffsets asks the partitions' leaders for their log start and end.
// Partition-level failures are returned per partition.
func (r *reader) readLogOffsets(ctx context.Context, all []tp) (map[tp]error, error) {
	errs := map[tp]error{}
	known := map[string]map[int32]bool{}
	for _, k := range all {
		if err := ctx.Err(); err != nil {
			return nil, context.Cause(ctx)
		}
		ps, ok := known[k.topic]
		if !ok {
			ids, err := kafkacoord.Call(ctx, func() ([]int32, error) { return r.client.Partitions(k.topic) })
			if ctx.Err() != nil {
				return nil, context.Cause(ctx)
			}
			ps = map[int32]bool{}
			for _, id := range ids {
				ps[id] = true
			}
			if err != nil {
				r.warn("topic %s: kafka metadata: %v", k.topic, err)
			}
			known[k.topic] = ps
		}
		if !ps[k.partition] {
			errs[k] = errors.New("not in the kafka metadata")
			continue
		}
		start, end, err := logOffsets(ctx, r.client, k)
		if ctx.Err() != nil {
			return nil, context.Cause(ctx)
		}
		x := r.parts[k]
		x.LogStart, x.LogEnd = start, end
		if err != nil {
			errs[k] = err
		}
	}
	return errs, nil
}

// finish computes the effective offsets, lags, totals, layout and storage
// and sorts everything.
func (r *reader) finish(all []tp, logErrs map[tp]error, ownerLayouts map[Layout]bool) {
	st := r.st
	anyZK, anyKafka := false, false
	for _, k := range all {
		x := r.parts[k]
		var errs []string
		for _, err := range []error{x.zkErr, x.kafkaErr, logErrs[k]} {
			if err != nil {
				errs = append(errs, err.Error())
			}
		}
		z, kf := x.ZooKeeperOffset, x.KafkaOffset
		anyZK = anyZK || z >= 0
		anyKafka = anyKafka || kf >= 0
		switch {
		case z < 0 && kf < 0:
			x.Committed, x.Source = -1, SourceNone
		case kf < 0 || z > kf:
			x.Committed, x.Source = z, SourceZooKeeper
		case z < 0 || kf > z:
			x.Committed, x.Source = kf, SourceKafka
		default:
			x.Committed, x.Source = z, SourceBoth
		}
		switch {
		case x.LogEnd < 0:
			x.Lag = -1
		case x.Committed >= 0 && x.Committed > x.LogEnd:
			x.Lag = 0
			errs = append(errs, fmt.Sprintf("committed offset %d is beyond the log end %d", x.Committed, x.LogEnd))
		case x.Committed >= 0:
			x.Lag = x.LogEnd - x.Committed
		case x.LogStart >= 0:
			x.Lag = x.LogEnd - x.LogStart
		default:
			x.Lag = -1
		}
		x.Error = strings.Join(errs, "; ")
		slices.SortFunc(x.Owners, func(a, b Owner) int { return strings.Compare(a.Znode, b.Znode) })
		slices.SortFunc(x.KafkaOwners, func(a, b KafkaOwner) int { return strings.Compare(a.Member, b.Member) })
		st.Partitions = append(st.Partitions, *x)

		t := &st.Totals
		t.Partitions++
		if len(x.Owners) > 0 {
			t.Owned++
		}
		if len(x.KafkaOwners) > 0 {
			t.KafkaOwned++
		}
		if x.Committed >= 0 {
			t.Committed++
		}
		if x.LogEnd >= 0 {
			t.LogEnd += x.LogEnd
		}
		if x.Lag >= 0 {
			t.Lag += x.Lag
		}
		if x.Error != "" {
			t.Errors++
		}
	}
	st.Totals.Members = len(st.Members)
	st.InZooKeeper = r.inZK
	st.Coordination = LiveCoordinationOf(len(st.Members) > 0, st.Kafka != nil && len(st.Kafka.Members) > 0)
	if st.Kafka != nil {
		st.Totals.KafkaMembers = len(st.Kafka.Members)
		for _, m := range st.Kafka.Members {
			if m.Error != "" {
				st.Totals.Errors++
			}
		}
	}
	memberLayouts := map[Layout]bool{}
	for _, m := range st.Members {
		if m.Error != "" {
			st.Totals.Errors++
		}
		if m.Layout != LayoutUnknown {
			memberLayouts[m.Layout] = true
		}
	}
	switch {
	case !r.inZK:
		st.Layout = LayoutNone
	case len(memberLayouts) > 1:
		st.Layout = LayoutMixed
	case len(memberLayouts) == 1:
		st.Layout = slices.Collect(maps.Keys(memberLayouts))[0]
	case len(ownerLayouts) > 1:
		st.Layout = LayoutMixed
	case len(ownerLayouts) == 1:
		st.Layout = slices.Collect(maps.Keys(ownerLayouts))[0]
	case anyZK:
		st.Layout = LayoutScala // only the Scala layout keeps offsets in ZooKeeper
	default:
		st.Layout = LayoutUnknown
	}
	switch {
	case anyZK && anyKafka:
		st.Storage = StorageDual
	case anyZK:
		st.Storage = StorageZooKeeper
	case anyKafka:
		st.Storage = StorageKafka
	default:
		st.Storage = StorageNone
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
