package zkwatch

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/zkbalance/zkbalance/internal/zk"
)

// ReadBroker reads and parses /brokers/ids/<id>.
func (c *Conn) ReadBroker(ctx context.Context, id int32) (Broker, error) {
	p := BrokerPath(id)
	data, _, err := c.Get(ctx, p)
	if err != nil {
		return Broker{}, err
	}
	return ParseBroker(p, data)
}

// ReadBrokers reads every registered broker, sorted by id. A broker whose
// registration vanishes between the listing and the read is left out; one
// that fails to parse is left out and reported in the returned error (joined,
// each naming its path) while the others are still returned. The
// registrations are read concurrently (GetMany): two round trips in all,
// however many brokers there are.
func (c *Conn) ReadBrokers(ctx context.Context) ([]Broker, error) {
	names, _, err := c.Children(ctx, BrokerIDsPath)
	if err != nil {
		return nil, err
	}
	var (
		out   []Broker
		errs  []error
		paths []string
	)
	for _, s := range names {
		id, err := strconv.ParseInt(s, 10, 32)
		if err != nil || strconv.FormatInt(id, 10) != s {
			errs = append(errs, &ParseError{Path: BrokerIDsPath + "/" + s, Err: fmt.Errorf("broker id %q is not an int32", s)})
			continue
		}
		paths = append(paths, BrokerPath(int32(id)))
	}
	for i, r := range c.GetMany(ctx, paths) {
		if errors.Is(r.Err, zk.ErrNoNode) {
			continue
		}
		if r.Err != nil {
			errs = append(errs, r.Err)
			continue
		}
		b, err := ParseBroker(paths[i], r.Data)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, b)
	}
	slices.SortFunc(out, func(a, b Broker) int { return int(a.ID) - int(b.ID) })
	return out, errors.Join(errs...)
}

// ReadTopic reads and parses /brokers/topics/<name>.
func (c *Conn) ReadTopic(ctx context.Context, name string) (Topic, error) {
	p := TopicPath(name)
	data, _, err := c.Get(ctx, p)
	if err != nil {
		return Topic{}, err
	}
	return ParseTopic(p, data)
}

// ReadTopicNames lists /brokers/topics, sorted.
func (c *Conn) ReadTopicNames(ctx context.Context) ([]string, error) {
	names, _, err := c.Children(ctx, BrokerTopicsPath)
	if err != nil {
		return nil, err
	}
	slices.Sort(names)
	return names, nil
}

// ReadPartitionState reads and parses
// /brokers/topics/<topic>/partitions/<p>/state.
func (c *Conn) ReadPartitionState(ctx context.Context, topic string, partition int32) (PartitionState, error) {
	p := PartitionStatePath(topic, partition)
	data, _, err := c.Get(ctx, p)
	if err != nil {
		return PartitionState{}, err
	}
	return ParsePartitionState(p, data)
}

// ReadLeaders returns the leader broker id of every partition of a topic
// (-1 where a partition has no leader or no state yet). A malformed
// partition state counts as -1 too: the map is complete and the error joins
// the ParseErrors, so a caller may log them and go on.
func (c *Conn) ReadLeaders(ctx context.Context, t Topic) (map[int32]int32, error) {
	ids := t.PartitionIDs()
	paths := make([]string, len(ids))
	for i, p := range ids {
		paths[i] = PartitionStatePath(t.Name, p)
	}
	out := make(map[int32]int32, len(ids))
	var bad []error
	for i, r := range c.GetMany(ctx, paths) {
		p, err := ids[i], r.Err
		var st PartitionState
		if err == nil {
			st, err = ParsePartitionState(paths[i], r.Data)
		}
		var pe *ParseError
		switch {
		case errors.Is(err, zk.ErrNoNode):
			out[p] = -1
		case errors.As(err, &pe):
			out[p] = -1 // unknown, as while a partition has no leader
			bad = append(bad, err)
		case err != nil:
			return nil, err
		default:
			out[p] = st.Leader
		}
	}
	return out, errors.Join(bad...)
}
