package balanced

import (
	"errors"
	"slices"

	"github.com/IBM/sarama"

	"github.com/zkbalance/zkbalance/internal/kafkacoord"
	"github.com/zkbalance/zkbalance/partition"
)

// The pure decisions of kafka mode: what to do with each answer of the
// group coordinator. No I/O here; kafka_member.go and coord_kafka.go act on
// them.

// joinStep is what the member does after a JoinGroup or SyncGroup answer.
type joinStep int

const (
	// stepDone: joined (JoinGroup: go on to SyncGroup; SyncGroup: the
	// generation starts).
	stepDone joinStep = iota + 1
	// stepRetryWithID: JoinGroup v4+ answered MEMBER_ID_REQUIRED with an id;
	// join again at once with it.
	stepRetryWithID
	// stepResetID: the coordinator does not know our member id (any more)
	// or our generation is stale: forget the id and join again at once.
	stepResetID
	// stepRejoin: a rebalance began between our JoinGroup and SyncGroup:
	// join again at once, keeping the id.
	stepRejoin
	// stepBackoff: the coordinator moved, is loading or unavailable, or the
	// connection failed: refresh the coordinator and join again after a
	// backoff.
	stepBackoff
	// stepFatal: a configuration or authorization error retrying cannot
	// fix; Run returns it.
	stepFatal
)

// groupAnswer classifies the error of a JoinGroup or SyncGroup call (the
// transport error, or the response's error code).
func groupAnswer(err error) joinStep {
	if err == nil {
		return stepDone
	}
	var kerr sarama.KError
	if !errors.As(err, &kerr) {
		if kafkacoord.Retriable(err) {
			return stepBackoff
		}
		return stepFatal
	}
	switch kerr {
	case sarama.ErrNoError:
		return stepDone
	case sarama.ErrMemberIdRequired:
		return stepRetryWithID
	case sarama.ErrUnknownMemberId, sarama.ErrIllegalGeneration:
		return stepResetID
	case sarama.ErrRebalanceInProgress:
		return stepRejoin
	case sarama.ErrNotCoordinatorForConsumer, sarama.ErrConsumerCoordinatorNotAvailable,
		sarama.ErrOffsetsLoadInProgress, sarama.ErrRequestTimedOut,
		// Another protocol (type or assignor) holds the group: members of
		// it may leave; retry, reported through Hooks.OnError.
		sarama.ErrInconsistentGroupProtocol, sarama.ErrGroupMaxSizeReached:
		return stepBackoff
	}
	return stepFatal // GROUP_AUTHORIZATION_FAILED, INVALID_SESSION_TIMEOUT, UNSUPPORTED_VERSION, ...
}

// heartbeatVerdict is what a heartbeat answer means for the generation.
type heartbeatVerdict int

const (
	// hbOK: the generation goes on.
	hbOK heartbeatVerdict = iota + 1
	// hbRebalance: a rebalance began (REBALANCE_IN_PROGRESS): revoke
	// everything, commit, release, rejoin within RebalanceTimeout.
	hbRebalance
	// hbLost: the coordinator no longer counts us in the generation
	// (UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION, FENCED_INSTANCE_ID): stop the
	// handlers without committing (ErrGenerationLost).
	hbLost
	// hbRetry: the heartbeat did not get through (coordinator moved or
	// unavailable, network): refresh the coordinator and try again soon;
	// the generation counts as lost once none got through for
	// KafkaSessionTimeout (heartbeatLate).
	hbRetry
)

// heartbeatAnswer classifies a heartbeat's error.
func heartbeatAnswer(err error) heartbeatVerdict {
	if err == nil {
		return hbOK
	}
	var kerr sarama.KError
	if !errors.As(err, &kerr) {
		return hbRetry
	}
	switch kerr {
	case sarama.ErrNoError:
		return hbOK
	case sarama.ErrRebalanceInProgress:
		return hbRebalance
	case sarama.ErrUnknownMemberId, sarama.ErrIllegalGeneration, sarama.ErrFencedInstancedId:
		return hbLost
	}
	return hbRetry
}

// fencedByGeneration reports whether an OffsetCommit error means the
// commit was refused because the member is not (any more) in the
// generation it committed with: nothing was written, and the partition
// may be another member's already.
func fencedByGeneration(err error) bool {
	var kerr sarama.KError
	if !errors.As(err, &kerr) {
		return false
	}
	switch kerr {
	case sarama.ErrIllegalGeneration, sarama.ErrUnknownMemberId, sarama.ErrFencedInstancedId,
		// The group completes a rebalance we are not part of.
		sarama.ErrRebalanceInProgress:
		return true
	}
	return false
}

// assignedPartitions flattens a SyncGroup assignment (topic -> partitions)
// to the subscribed topics' partitions, sorted; partitions of topics we
// did not subscribe to (a leader's mistake) are dropped and returned as
// ignored.
func assignedPartitions(topics map[string][]int32, subscribed []string) (tps, ignored []TopicPartition) {
	for t, ps := range topics {
		for _, p := range ps {
			tp := TopicPartition{Topic: t, Partition: p}
			if slices.Contains(subscribed, t) {
				tps = append(tps, tp)
			} else {
				ignored = append(ignored, tp)
			}
		}
	}
	slices.SortFunc(tps, partition.CompareTopicPartitions)
	slices.SortFunc(ignored, partition.CompareTopicPartitions)
	tps = slices.Compact(tps)
	return tps, ignored
}

// planAssignments runs the leader's assignor over the members' decoded
// subscriptions and the partitions of their topics, and returns every
// member's assignment (members the plan leaves out get an empty one, as the
// Java leader sends) with the assignor's user data (sticky: the member's
// partitions and the generation).
func planAssignments(s sarama.BalanceStrategy, members map[string]sarama.ConsumerGroupMemberMetadata, partitions map[string][]int32, generation int32) (map[string]*sarama.ConsumerGroupMemberAssignment, error) {
	plan, err := s.Plan(members, partitions)
	if err != nil {
		return nil, err
	}
	out := make(map[string]*sarama.ConsumerGroupMemberAssignment, len(members))
	for id := range members {
		topics := plan[id]
		for _, ps := range topics {
			slices.Sort(ps)
		}
		ud, err := s.AssignmentData(id, topics, generation)
		if err != nil {
			return nil, err
		}
		out[id] = &sarama.ConsumerGroupMemberAssignment{Topics: topics, UserData: ud}
	}
	return out, nil
}
