package scenario

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/zkbalance/zkbalance/balanced"
)

// member is one zkbalance consumer of a scenario, running in-process.
type member struct {
	name   string
	c      *balanced.Consumer
	cancel context.CancelFunc
	done   chan error
	err    error
	lost   atomic.Int32 // partitions reported lost (expulsions)
}

// startMember runs a balanced.Consumer whose assignment changes go to the
// timeline.
func (e Env) startMember(tl *timeline, name string, cfg balanced.Config, h balanced.Handler) (*member, error) {
	cfg.ZooKeeper, cfg.Brokers = e.ZooKeeper, e.Brokers
	cfg.Logger = e.Logger.With("member", name)
	cfg.Registerer = e.registerer(name)
	m := &member{name: name, done: make(chan error, 1)}
	cfg.Hooks = balanced.Hooks{
		OnAssigned: func(_ context.Context, tps []balanced.TopicPartition) {
			tl.printf("%s assigned partitions %s", name, partitionsOf(tps))
		},
		OnRevoked: func(_ context.Context, tps []balanced.TopicPartition) {
			tl.printf("%s revoked partitions %s (handlers stopped, offsets committed, owner znodes deleted)", name, partitionsOf(tps))
		},
		OnLost: func(_ context.Context, tps []balanced.TopicPartition) {
			m.lost.Add(int32(len(tps)))
			tl.printf("%s LOST partitions %s", name, partitionsOf(tps))
		},
	}
	c, err := balanced.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("scenario: member %s: %w", name, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m.c, m.cancel = c, cancel
	go func() { m.done <- c.Run(ctx, h) }() // owned by m: stop waits for it
	tl.printf("%s joined the group", name)
	return m, nil
}

// failed reports a Run that returned on its own (a fatal error).
func (m *member) failed() error {
	if m.err != nil {
		return m.err
	}
	select {
	case err := <-m.done:
		m.err = fmt.Errorf("member %s stopped: %v", m.name, err)
		m.done <- err
		return m.err
	default:
		return nil
	}
}

// stop leaves the group and waits for Run to return.
func (m *member) stop() error {
	m.cancel()
	select {
	case err := <-m.done:
		m.done <- err
		return err
	case <-time.After(60 * time.Second):
		return fmt.Errorf("member %s did not stop within 60s", m.name)
	}
}

// owned is the member's owned partitions of topic.
func (m *member) owned(topic string) map[int32]bool {
	out := map[int32]bool{}
	for _, tp := range m.c.Owned() {
		if tp.Topic == topic {
			out[tp.Partition] = true
		}
	}
	return out
}
