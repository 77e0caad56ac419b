package bench_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/IBM/sarama"

	"github.com/zkbalance/zkbalance/internal/cluster"
)

// saramaGroupSetup describes the ConsumerGroup settings, for the report.
const saramaGroupSetup = "sarama defaults (range strategy, eager; Heartbeat.Interval 3 s, Session.Timeout 10 s, MaxWaitTime 500 ms, ChannelBufferSize 256), Version 2.1, Offsets.Initial oldest, MarkMessage per message, auto-commit 1 s"

func cgConfig(clientID string) *sarama.Config {
	sc := sarama.NewConfig()
	sc.Version = sarama.V2_1_0_0
	sc.ClientID = clientID
	sc.Consumer.Offsets.Initial = sarama.OffsetOldest
	return sc
}

// cgMember is one in-process sarama ConsumerGroup member.
type cgMember struct {
	idx    int
	group  sarama.ConsumerGroup
	cancel context.CancelFunc
	done   chan struct{} // the Consume loop ended
	once   sync.Once
	err    error
}

// startCG joins group: its Consume loop (owned by the member, ended by
// stop) calls Consume again after every rebalance, as sarama requires.
// sarama.NewConsumerGroup takes no context; its bootstrap is bounded by
// sarama's own Net and Metadata settings.
func startCG(cl *cluster.Cluster, idx int, group, topic string, h sarama.ConsumerGroupHandler) (*cgMember, error) {
	g, err := sarama.NewConsumerGroup(cl.BrokerAddrs(), group, cgConfig(fmt.Sprintf("bench-cg-%d", idx)))
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &cgMember{idx: idx, group: g, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(m.done)
		for ctx.Err() == nil {
			err := g.Consume(ctx, []string{topic}, h)
			if errors.Is(err, sarama.ErrClosedConsumerGroup) {
				return
			}
			if err != nil && sleepCtx(ctx, 100*time.Millisecond) != nil {
				return
			}
		}
	}()
	return m, nil
}

// stop ends the Consume loop (the session commits) and closes the group
// (LeaveGroup).
func (m *cgMember) stop(ctx context.Context) error {
	m.once.Do(func() {
		m.cancel()
		select {
		case <-m.done:
		case <-ctx.Done():
			m.err = fmt.Errorf("sarama member %d: Consume did not return: %w", m.idx, context.Cause(ctx))
		}
		if err := m.group.Close(); err != nil && m.err == nil {
			m.err = fmt.Errorf("sarama member %d: Close: %w", m.idx, err)
		}
	})
	return m.err
}

func stopCG(ctx context.Context, ms []*cgMember) error {
	errs := make([]error, len(ms))
	var wg sync.WaitGroup
	for i, m := range ms {
		wg.Go(func() { errs[i] = m.stop(ctx) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// cgHandler consumes every claim; with a tracker it reports sessions and
// claim starts, with onMsg it counts messages. Every message is marked.
type cgHandler struct {
	idx   int
	topic string
	tr    *cgTracker
	onMsg func(*sarama.ConsumerMessage)
}

func (h *cgHandler) Setup(s sarama.ConsumerGroupSession) error {
	if h.tr != nil {
		h.tr.setup(h.idx, s.GenerationID(), s.Claims()[h.topic])
	}
	return nil
}

func (h *cgHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }

// ConsumeClaim runs after sarama created the claim's partition consumer:
// its start is the partition's "owned and fetching".
func (h *cgHandler) ConsumeClaim(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	if h.tr != nil {
		h.tr.claimStarted(h.idx, s.GenerationID())
	}
	for {
		select {
		case m, ok := <-c.Messages():
			if !ok {
				return nil
			}
			if h.onMsg != nil {
				h.onMsg(m)
			}
			s.MarkMessage(m, "")
		case <-s.Context().Done():
			return nil
		}
	}
}

// cgTracker follows the registered members' sessions: a generation is
// complete when every registered member has a session of it whose claims
// all started, and the claims cover every partition once.
type cgTracker struct {
	mu       sync.Mutex
	parts    int
	members  map[int]*cgState
	complete map[int32]cgComplete
	changed  chan struct{} // closed and replaced on every completion
}

type cgState struct {
	gen     int32
	claims  []int32
	started int
}

type cgComplete struct {
	at      time.Time
	members int
}

func newCGTracker(parts int) *cgTracker {
	return &cgTracker{parts: parts, members: map[int]*cgState{}, complete: map[int32]cgComplete{}, changed: make(chan struct{})}
}

func (tr *cgTracker) register(idx int) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.members[idx] = &cgState{}
}

func (tr *cgTracker) unregister(idx int) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	delete(tr.members, idx)
}

func (tr *cgTracker) setup(idx int, gen int32, claims []int32) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if st := tr.members[idx]; st != nil {
		*st = cgState{gen: gen, claims: slices.Clone(claims)}
		tr.check()
	}
}

func (tr *cgTracker) claimStarted(idx int, gen int32) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if st := tr.members[idx]; st != nil && st.gen == gen {
		st.started++
		tr.check()
	}
}

// check runs under mu after every change.
func (tr *cgTracker) check() {
	var gen int32
	seen := map[int32]bool{}
	for _, st := range tr.members {
		if st.gen == 0 || (gen != 0 && st.gen != gen) || st.started < len(st.claims) {
			return
		}
		gen = st.gen
		for _, p := range st.claims {
			if seen[p] {
				return
			}
			seen[p] = true
		}
	}
	if gen == 0 || len(seen) != tr.parts {
		return
	}
	if _, ok := tr.complete[gen]; !ok {
		tr.complete[gen] = cgComplete{at: time.Now(), members: len(tr.members)}
		close(tr.changed)
		tr.changed = make(chan struct{})
	}
}

// waitComplete waits for a generation after `after` that completed with
// `members` members.
func (tr *cgTracker) waitComplete(ctx context.Context, after int32, members int) (int32, time.Time, error) {
	for {
		tr.mu.Lock()
		gens := slices.Sorted(maps.Keys(tr.complete))
		changed := tr.changed
		for _, g := range slices.Backward(gens) {
			if c := tr.complete[g]; g > after && c.members == members {
				tr.mu.Unlock()
				return g, c.at, nil
			}
		}
		state := tr.describe()
		tr.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			return 0, time.Time{}, failf("not converged within the bound", "sarama group of %d not complete after generation %d: %s: %v", members, after, state, context.Cause(ctx))
		}
	}
}

func (tr *cgTracker) describe() string {
	gens := map[int32]int{}
	for _, st := range tr.members {
		gens[st.gen]++
	}
	return fmt.Sprintf("%d members, members per generation %v", len(tr.members), gens)
}

// cgGroup is a group of in-process sarama ConsumerGroup members.
type cgGroup struct {
	cl      *cluster.Cluster
	topic   string
	parts   int
	group   string
	tr      *cgTracker
	members []*cgMember
	joiner  *cgMember
	lastGen int32
	seq     int
}

func (g *cgGroup) start() (*cgMember, error) {
	g.seq++
	g.tr.register(g.seq)
	m, err := startCG(g.cl, g.seq, g.group, g.topic, &cgHandler{idx: g.seq, topic: g.topic, tr: g.tr})
	if err != nil {
		g.tr.unregister(g.seq)
	}
	return m, err
}

func (g *cgGroup) form(ctx context.Context, n int) error {
	g.group = uniq("g-sarama")
	g.tr = newCGTracker(g.parts)
	g.members, g.joiner, g.lastGen = nil, nil, 0
	for range n {
		m, err := g.start()
		if err != nil {
			return err
		}
		g.members = append(g.members, m)
	}
	gen, _, err := g.tr.waitComplete(ctx, 0, n)
	g.lastGen = gen
	return err
}

func (g *cgGroup) join(ctx context.Context) (fetching, owned time.Duration, err error) {
	start := time.Now()
	j, err := g.start()
	if err != nil {
		return 0, 0, err
	}
	g.joiner = j
	gen, at, err := g.tr.waitComplete(ctx, g.lastGen, len(g.members)+1)
	if err != nil {
		return 0, 0, err
	}
	g.lastGen = gen
	return at.Sub(start), 0, nil
}

func (g *cgGroup) leave(ctx context.Context) error {
	if g.joiner == nil {
		return nil
	}
	j := g.joiner
	g.joiner = nil
	g.tr.unregister(j.idx)
	if err := j.stop(ctx); err != nil {
		return err
	}
	gen, _, err := g.tr.waitComplete(ctx, g.lastGen, len(g.members))
	g.lastGen = gen
	return err
}

func (g *cgGroup) close(ctx context.Context) error {
	ms := g.members
	if g.joiner != nil {
		ms = append(slices.Clone(ms), g.joiner)
	}
	g.members, g.joiner = nil, nil
	return stopCG(ctx, ms)
}
