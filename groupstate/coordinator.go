package groupstate

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/IBM/sarama"

	"github.com/zkbalance/zkbalance/internal/kafkacoord"
)

// Kafka group states (DescribeGroups, ListGroups v4+).
const (
	kafkaStateDead  = "Dead"
	kafkaStateEmpty = "Empty"
)

// consumerProtocolType is the protocol type of consumer groups, whose
// member metadata and assignments use the consumer protocol's encoding.
const consumerProtocolType = "consumer"

// describeGroupsVersion returns the DescribeGroups version for the client's
// Config.Version: v4 (group.instance.id) from Kafka 2.4, else v0 (v1 and v2
// add only the throttle time). v5's flexible encoding is not needed.
func describeGroupsVersion(v sarama.KafkaVersion) int16 {
	if v.IsAtLeast(sarama.V2_4_0_0) {
		return 4
	}
	if v.IsAtLeast(sarama.V2_0_0_0) {
		return 2 // Kafka 4 no longer serves v0 and v1
	}
	return 0
}

// DescribeKafkaGroup asks group's Kafka coordinator for the group
// (DescribeGroups): its state, protocol and members with their decoded
// subscriptions and assignments. A group Kafka does not know has State
// "Dead" and no members. A coordinator error that concerns only this group
// is in KafkaGroup.Error; not finding or reaching the coordinator is an
// error.
func DescribeKafkaGroup(ctx context.Context, client sarama.Client, group string) (*KafkaGroup, error) {
	if client == nil {
		return nil, errors.New("groupstate: describe kafka group: no kafka client")
	}
	var desc *sarama.GroupDescription
	err := kafkacoord.Do(ctx, client, group, nil, func(b *sarama.Broker) error {
		req := &sarama.DescribeGroupsRequest{Version: describeGroupsVersion(client.Config().Version), Groups: []string{group}}
		resp, err := kafkacoord.Call(ctx, func() (*sarama.DescribeGroupsResponse, error) { return b.DescribeGroups(req) })
		if err != nil {
			return err
		}
		desc = nil
		for _, d := range resp.Groups {
			if d != nil && d.GroupId == group {
				desc = d
			}
		}
		if desc == nil {
			return fmt.Errorf("kafka: group %s missing from the DescribeGroups response: %w", group, sarama.ErrIncompleteResponse)
		}
		if kafkacoord.Retriable(desc.Err) {
			return desc.Err
		}
		return nil
	})
	if err != nil {
		return nil, wrapf(err, "describe group %s at its kafka coordinator", group)
	}
	return kafkaGroupFrom(desc), nil
}

// kafkaGroupFrom turns a DescribeGroups answer into a KafkaGroup, decoding
// the consumer protocol's member metadata and assignments.
func kafkaGroupFrom(d *sarama.GroupDescription) *KafkaGroup {
	g := &KafkaGroup{State: d.State, ProtocolType: d.ProtocolType, Protocol: d.Protocol, Members: []KafkaMember{}}
	switch d.Err {
	case sarama.ErrNoError:
	case sarama.ErrGroupIDNotFound:
		g.State = kafkaStateDead
	default:
		g.Error = d.Err.Error()
	}
	for _, md := range d.Members {
		if md == nil {
			continue
		}
		m := KafkaMember{ID: md.MemberId, ClientID: md.ClientId, Host: md.ClientHost, Assignment: map[string][]int32{}}
		if md.GroupInstanceId != nil {
			m.InstanceID = *md.GroupInstanceId
		}
		if d.ProtocolType == consumerProtocolType {
			var errs []string
			if meta, err := md.GetMemberMetadata(); err != nil {
				errs = append(errs, fmt.Sprintf("member metadata: %v", err))
			} else if meta != nil {
				m.Topics = slices.Sorted(slices.Values(meta.Topics))
				m.Topics = slices.Compact(m.Topics)
			}
			if as, err := md.GetMemberAssignment(); err != nil {
				errs = append(errs, fmt.Sprintf("member assignment: %v", err))
			} else if as != nil {
				for t, ps := range as.Topics {
					m.Assignment[t] = slices.Compact(slices.Sorted(slices.Values(ps)))
				}
			}
			m.Error = strings.Join(errs, "; ")
		}
		g.Members = append(g.Members, m)
	}
	slices.SortFunc(g.Members, func(a, b KafkaMember) int { return cmp.Compare(a.ID, b.ID) })
	return g
}

// exists reports whether Kafka knows the group: it has members or
// committed offsets (state other than Dead).
func (g *KafkaGroup) exists() bool {
	return g != nil && g.Error == "" && g.State != kafkaStateDead && g.State != ""
}

// KafkaGroups lists the consumer groups Kafka's coordinators know
// (ListGroups to every broker), sorted: groups with members, and groups
// that only have committed offsets (protocol type ""). Groups of other
// protocol types (Kafka Connect's "connect", say) are left out. A broker
// that cannot be asked fails the listing.
func KafkaGroups(ctx context.Context, client sarama.Client) ([]string, error) {
	if client == nil {
		return nil, errors.New("groupstate: list kafka groups: no kafka client")
	}
	if _, err := kafkacoord.Call(ctx, func() (struct{}, error) { return struct{}{}, client.RefreshMetadata() }); err != nil {
		return nil, wrapf(err, "list kafka groups: metadata")
	}
	brokers := client.Brokers()
	if len(brokers) == 0 {
		return nil, errors.New("groupstate: list kafka groups: no broker in the metadata")
	}
	version := int16(0)
	if client.Config().Version.IsAtLeast(sarama.V2_0_0_0) {
		version = 2 // Kafka 4 no longer serves v0 and v1; v2 is the same request
	}
	var (
		mu    sync.Mutex
		names = map[string]bool{}
		errs  []error
		wg    sync.WaitGroup
	)
	for _, b := range brokers {
		wg.Add(1)
		go func() { // ends when the broker answers or its request times out
			defer wg.Done()
			resp, err := kafkacoord.Call(ctx, func() (*sarama.ListGroupsResponse, error) {
				if err := b.Open(client.Config()); err != nil && !errors.Is(err, sarama.ErrAlreadyConnected) {
					return nil, err
				}
				return b.ListGroups(&sarama.ListGroupsRequest{Version: version})
			})
			if err == nil && resp.Err != sarama.ErrNoError {
				err = resp.Err
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, fmt.Errorf("broker %s: %w", b.Addr(), err))
				return
			}
			for name, ptype := range resp.Groups {
				if ptype == consumerProtocolType || ptype == "" {
					names[name] = true
				}
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, wrapf(err, "list kafka groups")
	}
	return slices.Sorted(maps.Keys(names)), nil
}
