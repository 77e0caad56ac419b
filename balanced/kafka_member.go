package balanced

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/IBM/sarama"

	"github.com/zkbalance/zkbalance/internal/ctxsleep"
	"github.com/zkbalance/zkbalance/internal/kafkacoord"
	"github.com/zkbalance/zkbalance/partition"
)

// kafkaGeneration is one generation of the Kafka group as this member
// joined it: what commits are fenced with and what it was assigned.
type kafkaGeneration struct {
	id       int32
	memberID string
	leader   bool
	protocol string
	assigned []TopicPartition // sorted
}

// kafkaMember speaks the group membership protocol (JoinGroup, SyncGroup,
// Heartbeat, LeaveGroup) to the group coordinator through its own client,
// whose connections carry nothing else: a JoinGroup is held by the
// coordinator until the rebalance completes (up to RebalanceTimeout), and
// the client's read timeout is stretched to cover that. Only the kafka
// session loop's goroutine uses it, except heartbeat (the heartbeat loop's,
// while the loop waits).
type kafkaMember struct {
	client   sarama.Client
	group    string
	topics   []string
	version  sarama.KafkaVersion
	strategy sarama.BalanceStrategy
	session  time.Duration
	rebal    time.Duration
	log      *slog.Logger

	memberID string
	// held is our assignment of the last generation and its id, announced
	// as the sticky assignor's user data in the next JoinGroup.
	held    map[string][]int32
	heldGen int32
}

// joinBackoff paces JoinGroups after coordinator errors.
var joinBackoff = partition.Backoff{Initial: 100 * time.Millisecond, Max: 5 * time.Second, Multiplier: 2, Jitter: 0.2}

// membershipConfig is conf for the membership client: its read timeout
// covers a JoinGroup held for the whole rebalance timeout.
func membershipConfig(conf *sarama.Config, rebalance time.Duration) *sarama.Config {
	cp := memberClientConfig(conf)
	cp.Net.ReadTimeout = max(cp.Net.ReadTimeout, rebalance+5*time.Second)
	return cp
}

// join joins the group and syncs, retrying until it has a generation, ctx
// ends, or a fatal error (wrapped). report is told about each failed
// attempt before its retry.
func (m *kafkaMember) join(ctx context.Context, report func(error)) (*kafkaGeneration, error) {
	for attempt := 0; ; {
		g, err := m.joinOnce(ctx)
		if err == nil {
			return g, nil
		}
		if ctx.Err() != nil {
			return nil, context.Cause(ctx)
		}
		switch groupAnswer(err) {
		case stepRetryWithID, stepRejoin:
			continue // joinOnce kept the id it was given
		case stepResetID:
			m.log.Info("coordinator does not know our member id or generation; joining anew", "err", err)
			m.memberID = ""
			continue
		case stepFatal:
			return nil, fmt.Errorf("balanced: join kafka group %s: %w", m.group, err)
		}
		m.log.Warn("joining the kafka group failed; retrying", "err", err, "attempt", attempt+1)
		report(fmt.Errorf("balanced: join kafka group %s: %w", m.group, err))
		if !ctxsleep.Sleep(ctx, joinBackoff.Delay(attempt, 0.5)) {
			return nil, context.Cause(ctx)
		}
		// Looked up after the backoff, not before it: a coordinator that
		// died is replaced only once its broker's registration expires,
		// and an answer cached before a 5 s wait would send the next
		// attempt to the dead one again.
		_, _ = kafkacoord.Call(ctx, func() (struct{}, error) { return struct{}{}, m.client.RefreshCoordinator(m.group) })
		attempt++
	}
}

// joinOnce is one JoinGroup and, if it succeeds, one SyncGroup. An error
// is a transport error or a sarama.KError (classify with groupAnswer); on
// MEMBER_ID_REQUIRED the given id is kept for the next attempt.
func (m *kafkaMember) joinOnce(ctx context.Context) (*kafkaGeneration, error) {
	coord, err := kafkacoord.Call(ctx, func() (*sarama.Broker, error) { return m.client.Coordinator(m.group) })
	if err != nil {
		return nil, err
	}
	req := sarama.NewJoinGroupRequest(m.version)
	req.GroupId = m.group
	req.MemberId = m.memberID
	req.SessionTimeout = int32(m.session / time.Millisecond)
	req.RebalanceTimeout = int32(m.rebal / time.Millisecond)
	req.ProtocolType = "consumer"
	var ud []byte // sticky: what we held; Java's StickyAssignor sends none before its first assignment either
	if m.held != nil {
		if ud, err = m.strategy.AssignmentData(m.memberID, m.held, m.heldGen); err != nil {
			return nil, err
		}
	}
	meta := &sarama.ConsumerGroupMemberMetadata{Version: 0, Topics: m.topics, UserData: ud}
	if err := req.AddGroupProtocolMetadata(m.strategy.Name(), meta); err != nil {
		return nil, err
	}
	t0 := time.Now()
	join, err := kafkacoord.Call(ctx, func() (*sarama.JoinGroupResponse, error) { return coord.JoinGroup(req) })
	if err == nil {
		m.log.Debug("JoinGroup answered", "err", join.Err, "generation", join.GenerationId, "leader", join.LeaderId == join.MemberId, "members", len(join.Members), "took", time.Since(t0))
	}
	if err != nil {
		_ = coord.Close() // the client reopens it; a half-read answer must not linger
		return nil, err
	}
	if join.Err == sarama.ErrMemberIdRequired {
		m.memberID = join.MemberId
		return nil, join.Err
	}
	if join.Err != sarama.ErrNoError {
		return nil, join.Err
	}
	m.memberID = join.MemberId
	g := &kafkaGeneration{id: join.GenerationId, memberID: join.MemberId, leader: join.LeaderId == join.MemberId, protocol: join.GroupProtocol}
	if join.GroupProtocol != m.strategy.Name() {
		return nil, fmt.Errorf("balanced: the coordinator chose assignor %q, we offered only %q", join.GroupProtocol, m.strategy.Name())
	}
	sync := &sarama.SyncGroupRequest{Version: syncGroupVersion(m.version), GroupId: m.group, MemberId: g.memberID, GenerationId: g.id}
	if sync.Version >= 5 {
		pt, pn := "consumer", m.strategy.Name()
		sync.ProtocolType, sync.ProtocolName = &pt, &pn
	}
	if g.leader {
		if err := m.lead(ctx, join, sync); err != nil {
			return nil, err
		}
	}
	t1 := time.Now()
	resp, err := kafkacoord.Call(ctx, func() (*sarama.SyncGroupResponse, error) { return coord.SyncGroup(sync) })
	if err == nil {
		m.log.Debug("SyncGroup answered", "err", resp.Err, "generation", g.id, "took", time.Since(t1))
	}
	if err != nil {
		_ = coord.Close()
		return nil, err
	}
	if resp.Err != sarama.ErrNoError {
		return nil, resp.Err
	}
	var topics map[string][]int32
	if len(resp.MemberAssignment) > 0 {
		a, err := resp.GetMemberAssignment()
		if err != nil {
			return nil, fmt.Errorf("balanced: decode our assignment: %w", err)
		}
		topics = a.Topics
	}
	var ignored []TopicPartition
	g.assigned, ignored = assignedPartitions(topics, m.topics)
	if len(ignored) > 0 {
		m.log.Warn("assigned partitions of topics we do not subscribe to; ignoring them", "partitions", ignored)
	}
	m.held, m.heldGen = map[string][]int32{}, g.id
	for _, tp := range g.assigned {
		m.held[tp.Topic] = append(m.held[tp.Topic], tp.Partition)
	}
	return g, nil
}

// lead computes the assignment as the group leader and adds it to sync.
func (m *kafkaMember) lead(ctx context.Context, join *sarama.JoinGroupResponse, sync *sarama.SyncGroupRequest) error {
	members, err := join.GetMembers()
	if err != nil {
		return fmt.Errorf("balanced: decode the members' subscriptions: %w", err)
	}
	wanted := map[string]bool{}
	for _, meta := range members {
		for _, t := range meta.Topics {
			wanted[t] = true
		}
	}
	var names []string
	for t := range wanted {
		names = append(names, t)
	}
	if _, err := kafkacoord.Call(ctx, func() (struct{}, error) { return struct{}{}, m.client.RefreshMetadata(names...) }); err != nil {
		m.log.Warn("metadata refresh before assigning failed; using what the client has", "err", err)
	}
	parts := map[string][]int32{}
	for _, t := range names {
		ps, err := m.client.Partitions(t)
		if err != nil {
			m.log.Warn("topic has no partitions (yet); assigning none of it", "topic", t, "err", err)
			continue
		}
		parts[t] = ps
	}
	asg, err := planAssignments(m.strategy, members, parts, join.GenerationId)
	if err != nil {
		return fmt.Errorf("balanced: assignor %s: %w", m.strategy.Name(), err)
	}
	for id, a := range asg {
		if err := sync.AddGroupAssignmentMember(id, a); err != nil {
			return fmt.Errorf("balanced: encode the assignment of %s: %w", id, err)
		}
	}
	m.log.Info("assigned as the kafka group leader", "generation", join.GenerationId, "members", len(members))
	return nil
}

// heartbeat sends one heartbeat for g.
func (m *kafkaMember) heartbeat(ctx context.Context, g *kafkaGeneration) error {
	coord, err := kafkacoord.Call(ctx, func() (*sarama.Broker, error) { return m.client.Coordinator(m.group) })
	if err != nil {
		return err
	}
	req := &sarama.HeartbeatRequest{Version: heartbeatVersion(m.version), GroupId: m.group, MemberId: g.memberID, GenerationId: g.id}
	resp, err := kafkacoord.Call(ctx, func() (*sarama.HeartbeatResponse, error) { return coord.Heartbeat(req) })
	if err != nil {
		_ = coord.Close()
		return err
	}
	if resp.Err != sarama.ErrNoError {
		return resp.Err
	}
	return nil
}

// refresh looks the coordinator up again (after a heartbeat failed).
func (m *kafkaMember) refresh(ctx context.Context) {
	_, _ = kafkacoord.Call(ctx, func() (struct{}, error) { return struct{}{}, m.client.RefreshCoordinator(m.group) })
}

// forgetHeld drops the held assignment (after the generation was lost:
// those partitions may be others' already).
func (m *kafkaMember) forgetHeld() { m.held, m.heldGen = nil, -1 }

// leave sends LeaveGroup, so the others rebalance at once instead of after
// the session timeout.
func (m *kafkaMember) leave(ctx context.Context) error {
	if m.memberID == "" {
		return nil
	}
	return kafkacoord.Do(ctx, m.client, m.group, nil, func(b *sarama.Broker) error {
		req := &sarama.LeaveGroupRequest{Version: leaveGroupVersion(m.version), GroupId: m.group}
		if req.Version >= 3 {
			req.Members = []sarama.MemberIdentity{{MemberId: m.memberID}}
		} else {
			req.MemberId = m.memberID
		}
		resp, err := kafkacoord.Call(ctx, func() (*sarama.LeaveGroupResponse, error) { return b.LeaveGroup(req) })
		if err != nil {
			return err
		}
		if resp.Err != sarama.ErrNoError && resp.Err != sarama.ErrUnknownMemberId {
			return resp.Err
		}
		m.memberID = ""
		return nil
	})
}

// Request versions by the client's Config.Version, as sarama's own
// consumer group picks them: the version of the first step v is at least,
// else 0.
func syncGroupVersion(v sarama.KafkaVersion) int16 {
	return requestVersion(v, []versionStep{{sarama.V2_5_0_0, 5}, {sarama.V2_4_0_0, 4}, {sarama.V2_3_0_0, 3}, {sarama.V2_0_0_0, 2}, {sarama.V0_11_0_0, 1}})
}

func heartbeatVersion(v sarama.KafkaVersion) int16 {
	return requestVersion(v, []versionStep{{sarama.V2_4_0_0, 4}, {sarama.V2_3_0_0, 3}, {sarama.V2_0_0_0, 2}, {sarama.V0_11_0_0, 1}})
}

func leaveGroupVersion(v sarama.KafkaVersion) int16 {
	return requestVersion(v, []versionStep{{sarama.V2_4_0_0, 4}, {sarama.V2_0_0_0, 2}, {sarama.V0_11_0_0, 1}})
}

// versionStep: from Kafka version since on, a request has version version.
type versionStep struct {
	since   sarama.KafkaVersion
	version int16
}

// requestVersion returns the version of the first step (newest first) that
// v is at least, else 0.
func requestVersion(v sarama.KafkaVersion, steps []versionStep) int16 {
	for _, s := range steps {
		if v.IsAtLeast(s.since) {
			return s.version
		}
	}
	return 0
}
