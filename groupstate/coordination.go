package groupstate

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/IBM/sarama"

	"github.com/zkbalance/zkbalance/internal/kafkacoord"

	"github.com/zkbalance/zkbalance/internal/zkformat"
	"github.com/zkbalance/zkbalance/zkwatch"
)

// Coordination modes of a group (its mode znode).
const (
	ModeZooKeeper = zkformat.ModeZooKeeper
	ModeKafka     = zkformat.ModeKafka
)

// ErrCannotFollow: SetCoordination was asked to switch a group one of
// whose registered members cannot follow the switch, without force.
var ErrCannotFollow = errors.New("groupstate: a member cannot follow the switch")

// Coordination is a group's coordination state: the mode its mode znode
// (/consumers/<g>/coordination) names, and its members with whether each
// can follow a switch. Its JSON form is what 'zkbalance coordination
// --json' prints.
type Coordination struct {
	Group string `json:"group"`
	// Mode is "zookeeper" or "kafka"; zookeeper when the mode znode is
	// absent (or malformed: ModeError says so).
	Mode string `json:"mode"`
	// ModeSet is whether the mode znode exists.
	ModeSet bool `json:"mode_set"`
	// ModeError says why the mode znode could not be parsed.
	ModeError string `json:"mode_error,omitempty"`
	// Detached (mode kafka): the mode znode tells the members to stop
	// using ZooKeeper (see PlanDetach).
	Detached bool `json:"zookeeper_detached"`
	// Members are the registered members (/ids), the follow-mode members
	// (/followers) and the members of the Kafka group of the same name
	// that are not followers (by their Kafka member id), sorted by id.
	Members []CoordinationMember `json:"members"`
	// KafkaChecked: the Kafka group's members were read (a client was
	// given and the coordinator answered); KafkaError says why not.
	KafkaChecked bool   `json:"kafka_checked"`
	KafkaError   string `json:"kafka_error,omitempty"`
}

// CoordinationMember is one member as the switch sees it.
type CoordinationMember struct {
	ID string `json:"id"`
	// Registered: it has an /ids znode (it is in zookeeper mode).
	Registered bool `json:"registered"`
	// Layout is the layout of its registration ("" when not registered).
	Layout Layout `json:"layout,omitempty"`
	// Follower: it has a /followers znode (a zkbalance member in follow
	// mode).
	Follower bool `json:"follower"`
	// Mode is the mode a follower is in ("" for others).
	Mode string `json:"mode,omitempty"`
	// InKafkaGroup: it is a member of the Kafka group (a follower in
	// kafka mode, or a consumer of the Kafka group that is no follower).
	InKafkaGroup bool `json:"in_kafka_group"`
	// KafkaMemberID is its member id in the Kafka group; ClientID and
	// Host are what the coordinator reports for a Kafka member that is no
	// follower (its ID is then its Kafka member id).
	KafkaMemberID string `json:"kafka_member_id,omitempty"`
	ClientID      string `json:"client_id,omitempty"`
	Host          string `json:"host,omitempty"`
	// CanFollow: it switches when the mode znode changes.
	CanFollow bool `json:"can_follow"`
	// Reason says why it cannot follow.
	Reason string `json:"reason,omitempty"`
}

// classifyMember decides whether a member can follow (pure). registered
// and layout describe its /ids znode; follower is its /followers znode's
// value, nil when it has none.
func classifyMember(id string, registered bool, layout Layout, follower []byte) CoordinationMember {
	m := CoordinationMember{ID: id, Registered: registered}
	if registered {
		m.Layout = layout
	}
	if follower != nil {
		m.Follower = true
		mode, kid, err := zkformat.ParseFollower(follower)
		if err != nil {
			m.Reason = "its follower znode is malformed: " + err.Error()
			return m
		}
		m.Mode, m.KafkaMemberID, m.CanFollow = mode, kid, true
		return m
	}
	switch layout {
	case LayoutPykafka:
		m.Reason = "pykafka member: it cannot follow a switch"
	case LayoutScala:
		m.Reason = "not in follow mode: a Scala consumer, a Go port, or zkbalance without --coordination follow; it stays in zookeeper mode"
	default:
		m.Reason = "unparsable registration: cannot tell what it is"
	}
	return m
}

// KafkaGroupMember is one member of a Kafka group as DescribeGroups
// reports it.
type KafkaGroupMember struct {
	MemberID, ClientID, Host string
}

// mergeKafkaMembers marks the followers the Kafka group's members are and
// adds the others, which cannot follow (pure). The result is sorted by id.
func mergeKafkaMembers(ms []CoordinationMember, kafka []KafkaGroupMember) []CoordinationMember {
	byKafkaID := map[string]int{}
	for i, m := range ms {
		if m.Follower && m.KafkaMemberID != "" {
			byKafkaID[m.KafkaMemberID] = i
		}
	}
	for _, k := range kafka {
		if i, ok := byKafkaID[k.MemberID]; ok {
			ms[i].InKafkaGroup = true
			continue
		}
		ms = append(ms, CoordinationMember{ID: k.MemberID, InKafkaGroup: true, KafkaMemberID: k.MemberID,
			ClientID: k.ClientID, Host: k.Host,
			Reason: fmt.Sprintf("in the Kafka group without a follower znode, client id %q, host %s: a Java KafkaConsumer, zkbalance in kafka mode, or a follower that only just joined; it stays in the Kafka group", k.ClientID, k.Host)})
	}
	slices.SortFunc(ms, func(a, b CoordinationMember) int { return strings.Compare(a.ID, b.ID) })
	return ms
}

// SwitchPlan is what switching a group to a mode would do.
type SwitchPlan struct {
	From string `json:"from"`
	To   string `json:"to"`
	// NoOp: the mode znode names To already (and, for PlanDetach, the
	// members are detached already).
	NoOp bool `json:"noop"`
	// DetachZooKeeper: the plan is PlanDetach's (To is kafka).
	DetachZooKeeper bool `json:"detach_zookeeper,omitempty"`
	// Blockers are the members that cannot follow the switch: they would
	// stay in their mode. SetCoordination refuses unless forced.
	Blockers []CoordinationMember `json:"blockers,omitempty"`
	// Steps say, in order, what would happen.
	Steps []string `json:"steps"`
}

// Plan says what switching to mode would do (pure). Switching to kafka is
// blocked by every registered member that cannot follow (it would stay in
// zookeeper mode, outside the Kafka group, taking partitions by ZooKeeper's
// assignment); switching to zookeeper by every member of the Kafka group
// that cannot follow (it would go on consuming what Kafka assigns it, with
// no owner znode), and, when the Kafka group could not be read
// (KafkaChecked false), by that.
func (c *Coordination) Plan(mode string) (SwitchPlan, error) {
	if mode != ModeZooKeeper && mode != ModeKafka {
		return SwitchPlan{}, fmt.Errorf("groupstate: unknown coordination mode %q (zookeeper or kafka)", mode)
	}
	p := SwitchPlan{From: c.Mode, To: mode, NoOp: c.Mode == mode && c.ModeSet && !c.Detached}
	p.Blockers = c.detachedBlockers(mode)
	for _, m := range c.Members {
		if !m.CanFollow && (mode == ModeKafka && m.Registered || mode == ModeZooKeeper && m.InKafkaGroup) {
			p.Blockers = append(p.Blockers, m)
		}
	}
	if mode == ModeZooKeeper && !c.KafkaChecked {
		why := c.KafkaError
		if why == "" {
			why = "no Kafka client"
		}
		p.Blockers = append(p.Blockers, CoordinationMember{ID: "(kafka group " + c.Group + ")",
			Reason: "its members could not be read (" + why + "): a Java KafkaConsumer in it would not follow"})
	}
	if p.NoOp {
		p.Steps = append(p.Steps, fmt.Sprintf("the mode znode names %s already: nothing to write", mode))
	} else if c.Detached {
		p.Steps = append(p.Steps, c.reattachSteps(mode)...)
	} else {
		p.Steps = append(p.Steps, fmt.Sprintf("write %s = %s", zkformat.CoordinationPath(c.Group), zkformat.EncodeMode(mode)))
	}
	stores, start := "ZooKeeper and Kafka", "the higher of the ZooKeeper and Kafka offsets"
	switch planLayout(c.Members) {
	case LayoutPykafka:
		stores, start = "Kafka (pykafka layout)", "the offset committed in Kafka"
	case LayoutUnknown:
		stores, start = "ZooKeeper and Kafka, or Kafka only in the pykafka layout", "the committed offset (the higher of the two stores; Kafka's in the pykafka layout)"
	}
	for _, m := range c.Members {
		switch {
		case !m.CanFollow:
			p.Steps = append(p.Steps, fmt.Sprintf("member %s stays as it is (%s)", m.ID, m.Reason))
		case m.Mode == mode:
			p.Steps = append(p.Steps, fmt.Sprintf("member %s is in %s mode already", m.ID, mode))
		case mode == ModeKafka:
			p.Steps = append(p.Steps, fmt.Sprintf("member %s revokes its partitions (handlers stopped, offsets committed to %s, owner znodes released), deregisters from /ids and joins Kafka group %s", m.ID, stores, c.Group))
		default:
			p.Steps = append(p.Steps, fmt.Sprintf("member %s revokes its partitions (handlers stopped, offsets committed to %s, owner znodes released), leaves Kafka group %s and registers in /ids", m.ID, stores, c.Group))
		}
	}
	if !p.NoOp {
		p.Steps = append(p.Steps, "members in the new mode claim each partition's owner znode once its old holder released it, and start from "+start+": nothing is lost or processed twice at once")
	}
	return p, nil
}

// planLayout is the layout of the group's registered members, for the
// plan's wording (pure): LayoutScala or LayoutPykafka when every
// registered member with a known layout has it, LayoutUnknown when none is
// registered or they differ.
func planLayout(ms []CoordinationMember) Layout {
	var l Layout
	for _, m := range ms {
		if !m.Registered || (m.Layout != LayoutScala && m.Layout != LayoutPykafka) {
			continue
		}
		if l != "" && l != m.Layout {
			return LayoutUnknown
		}
		l = m.Layout
	}
	if l == "" {
		return LayoutUnknown
	}
	return l
}

// ReadCoordination reads a group's mode znode, its /ids registrations, its
// /followers znodes and, when client is not nil, the members of the Kafka
// group of the same name (DescribeGroups; an error there is reported in
// KafkaError, not returned). A group without a /consumers/<group> znode is
// ErrNoGroup.
func ReadCoordination(ctx context.Context, conn *zkwatch.Conn, client sarama.Client, group string) (*Coordination, error) {
	if err := checkGroupName(group); err != nil {
		return nil, err
	}
	if conn == nil {
		return nil, errors.New("groupstate: read coordination: no zookeeper connection")
	}
	ok, _, err := conn.Exists(ctx, groupPath(group))
	if err != nil {
		return nil, wrapf(err, "read coordination of %s", group)
	}
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrNoGroup, group)
	}
	c := &Coordination{Group: group, Mode: ModeZooKeeper, Members: []CoordinationMember{}}
	data, _, err := conn.Get(ctx, zkformat.CoordinationPath(group))
	switch {
	case errors.Is(err, zkwatch.ErrNoNode):
	case err != nil:
		return nil, wrapf(err, "read coordination of %s", group)
	default:
		c.ModeSet = true
		if s, perr := zkformat.ParseCoordination(data); perr != nil {
			c.ModeError = perr.Error()
		} else {
			c.Mode, c.Detached = s.Mode, s.Detached
		}
	}
	layouts := map[string]Layout{}
	ids, err := children(ctx, conn, groupPath(group)+"/ids")
	if err != nil {
		return nil, wrapf(err, "read coordination of %s", group)
	}
	for _, id := range ids {
		p := groupPath(group) + "/ids/" + id
		data, _, err := conn.Get(ctx, p)
		if errors.Is(err, zkwatch.ErrNoNode) {
			continue
		}
		if err != nil {
			return nil, wrapf(err, "read coordination of %s", group)
		}
		m := Member{ID: id}
		parseMember(&m, p, data)
		layouts[id] = m.Layout
	}
	followers := map[string][]byte{}
	fs, err := children(ctx, conn, zkformat.FollowersPath(group))
	if err != nil {
		return nil, wrapf(err, "read coordination of %s", group)
	}
	for _, id := range fs {
		data, _, err := conn.Get(ctx, zkformat.FollowerPath(group, id))
		if errors.Is(err, zkwatch.ErrNoNode) {
			continue
		}
		if err != nil {
			return nil, wrapf(err, "read coordination of %s", group)
		}
		if data == nil {
			data = []byte{}
		}
		followers[id] = data
	}
	seen := map[string]bool{}
	for id := range layouts {
		seen[id] = true
	}
	for id := range followers {
		seen[id] = true
	}
	for _, id := range slices.Sorted(maps.Keys(seen)) {
		l, reg := layouts[id]
		c.Members = append(c.Members, classifyMember(id, reg, l, followers[id]))
	}
	if client == nil {
		return c, nil
	}
	kms, err := describeKafkaGroup(ctx, client, group)
	if err != nil {
		c.KafkaError = err.Error()
		return c, nil
	}
	c.KafkaChecked = true
	c.Members = mergeKafkaMembers(c.Members, kms)
	c.noteDetached()
	return c, nil
}

// describeKafkaGroup lists the members of the Kafka group (none when it
// does not exist or is empty).
func describeKafkaGroup(ctx context.Context, client sarama.Client, group string) ([]KafkaGroupMember, error) {
	g, err := kafkacoord.DescribeGroup(ctx, client, group)
	if err != nil {
		return nil, wrapf(err, "describe kafka group %s", group)
	}
	var out []KafkaGroupMember
	if g != nil {
		for id, m := range g.Members {
			out = append(out, KafkaGroupMember{MemberID: id, ClientID: m.ClientId, Host: m.ClientHost})
		}
	}
	return out, nil
}

// SetCoordination writes the group's mode znode (creating it, persistent,
// with acl) after checking Plan (client, for the Kafka group's members, may
// be nil only with force when switching to zookeeper): it refuses with
// ErrCannotFollow, naming the members, while a member cannot follow,
// unless force. It returns the plan it followed.
func SetCoordination(ctx context.Context, conn *zkwatch.Conn, client sarama.Client, group, mode string, force bool, acl []zkwatch.ACL) (SwitchPlan, error) {
	c, err := ReadCoordination(ctx, conn, client, group)
	if err != nil {
		return SwitchPlan{}, err
	}
	p, err := c.Plan(mode)
	if err != nil {
		return p, err
	}
	if len(p.Blockers) > 0 && !force {
		return p, fmt.Errorf("%w: %s", ErrCannotFollow, BlockersText(p.Blockers))
	}
	if p.NoOp {
		return p, nil
	}
	return p, writeModeZnode(ctx, conn, group, zkformat.EncodeMode(mode), acl)
}

// writeModeZnode creates or overwrites the group's mode znode.
func writeModeZnode(ctx context.Context, conn *zkwatch.Conn, group string, data []byte, acl []zkwatch.ACL) error {
	path := zkformat.CoordinationPath(group)
	_, err := conn.Create(ctx, path, data, 0, acl)
	if errors.Is(err, zkwatch.ErrNodeExists) {
		_, err = conn.Set(ctx, path, data, -1)
	}
	if err != nil {
		return wrapf(err, "write %s", path)
	}
	return nil
}

// BlockersText names the blocking members and why each cannot follow.
func BlockersText(ms []CoordinationMember) string {
	s := ""
	for i, m := range ms {
		if i > 0 {
			s += "; "
		}
		s += fmt.Sprintf("member %s cannot follow (%s)", m.ID, m.Reason)
	}
	return s
}
