package scenario

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/IBM/sarama"

	"github.com/zkbalance/zkbalance/balanced"
	"github.com/zkbalance/zkbalance/groupstate"
	"github.com/zkbalance/zkbalance/internal/ctxsleep"
	"github.com/zkbalance/zkbalance/internal/zkformat"
	"github.com/zkbalance/zkbalance/zkwatch"
)

// MigrateOptions configure the migrate scenario.
type MigrateOptions struct {
	Partitions int32         // default 8
	Members    int           // default 3
	Interval   time.Duration // one message per partition every Interval (default 50ms)
	Dwell      time.Duration // time in each mode between the switches (default 4s)
	Delay      time.Duration // handler time per message (default 2ms)
}

func (o MigrateOptions) withDefaults() MigrateOptions {
	if o.Partitions <= 0 {
		o.Partitions = 8
	}
	if o.Members <= 0 {
		o.Members = 3
	}
	if o.Interval <= 0 {
		o.Interval = 50 * time.Millisecond
	}
	if o.Dwell <= 0 {
		o.Dwell = 4 * time.Second
	}
	if o.Delay <= 0 {
		o.Delay = 2 * time.Millisecond
	}
	return o
}

// SwitchResult is one live switch of the migrate scenario.
type SwitchResult struct {
	// To is the mode switched to (groupstate.ModeKafka or ModeZooKeeper).
	To string
	// Took is from the mode znode written to every member in the new mode
	// and the partitions owned again, each by one member.
	Took time.Duration
	// GapP50 and GapMax are the median and the longest, over the
	// partitions, of a partition's longest pause in processing around the
	// switch (between two consecutive processed messages).
	GapP50, GapMax time.Duration
}

// MigrateResult is the outcome of Migrate.
type MigrateResult struct {
	Pass     bool
	Reason   string
	Produced int
	Analysis Analysis
	Switches []SwitchResult
	// SteadyGapMax is the longest pause in processing of any partition in
	// the middle of the first Dwell, without a switch: the floor.
	SteadyGapMax time.Duration
	// Lost counts partitions reported lost by any member (expulsions).
	Lost int
}

// Migrate runs the migration story live: a continuous stream of messages
// to a topic, members in follow mode (balanced.CoordinationFollow) consuming
// it in zookeeper mode, the group's mode znode toggled to kafka
// (groupstate.SetCoordination, as `zkbalance coordination --to kafka
// --apply`) and, after Dwell, back to zookeeper, the same processes
// switching live. Checked: every message processed (lost 0) and no
// partition processed by two members at overlapping times (overlap 0); the
// longest pause in processing per partition around each switch is
// reported.
func Migrate(ctx context.Context, env Env, o MigrateOptions) (MigrateResult, error) {
	env, o = env.withDefaults(), o.withDefaults()
	tl := newTimeline(env.Out)
	var res MigrateResult
	failf := func(format string, args ...any) (MigrateResult, error) {
		res.Reason = fmt.Sprintf(format, args...)
		tl.header("FAIL migrate: %s", res.Reason)
		return res, nil
	}
	conn, err := zkwatch.Dial(ctx, zkwatch.Config{Servers: env.ZooKeeper, Logger: env.Logger})
	if err != nil {
		return res, fmt.Errorf("scenario: %w", err)
	}
	defer conn.Close()
	client, err := sarama.NewClient(env.Brokers, saramaConfig())
	if err != nil {
		return res, fmt.Errorf("scenario: client: %w", err)
	}
	defer client.Close()
	topic := unique("migrate")
	group := topic
	if err := env.createTopic(ctx, topic, o.Partitions); err != nil {
		return res, err
	}
	tl.header("== migrate: %d follow-mode members on a topic of %d partitions, one message per partition every %s;",
		o.Members, o.Partitions, o.Interval)
	tl.header("   the group's mode znode is toggled zookeeper -> kafka -> zookeeper while messages flow")
	tl.header("   topic %s, group %s", topic, group)

	stream, err := env.startStream(ctx, topic, o.Partitions, o.Interval)
	if err != nil {
		return res, err
	}
	defer stream.stop()
	tl.printf("stream started")

	var log Log
	cfg := balanced.Config{Group: group, Topics: []string{topic}, Coordination: balanced.CoordinationFollow}
	var ms []*member
	defer func() {
		for _, m := range ms {
			m.stop()
		}
	}()
	for i := range o.Members {
		name := string(rune('A' + i))
		m, err := env.startMember(tl, name, cfg, Recorder(&log, name, o.Delay))
		if err != nil {
			return res, err
		}
		ms = append(ms, m)
	}
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	err = waitShares(wctx, conn, group, topic, o.Partitions, ms...)
	cancel()
	if err != nil {
		return failf("the members did not converge in zookeeper mode: %v", err)
	}
	var steady window // the middle of the first dwell: the pauses without a switch
	for _, m := range ms {
		tl.printf("%s owns its share in zookeeper mode: partitions %s", m.name, ownedList(m, topic))
	}
	dwell := func(mode string) error {
		if steady.from.IsZero() {
			steady = window{from: time.Now().Add(o.Dwell / 4), to: time.Now().Add(o.Dwell * 3 / 4)}
		}
		tl.printf("messages flow in %s mode for %s (%d processed so far)", mode, o.Dwell, log.Processed())
		if !ctxsleep.Sleep(ctx, o.Dwell) {
			return ctx.Err()
		}
		return nil
	}
	if err := dwell(groupstate.ModeZooKeeper); err != nil {
		return res, err
	}
	var windows []window
	for _, mode := range []string{groupstate.ModeKafka, groupstate.ModeZooKeeper} {
		w, err := switchLive(ctx, tl, conn, client, group, topic, o.Partitions, mode, ms)
		if err != nil {
			return failf("switch to %s: %v", mode, err)
		}
		windows = append(windows, w)
		res.Switches = append(res.Switches, SwitchResult{To: mode, Took: w.to.Sub(w.from)})
		if err := dwell(mode); err != nil {
			return res, err
		}
	}
	produced, err := stream.stop()
	if err != nil {
		return failf("stream: %v", err)
	}
	for _, n := range produced {
		res.Produced += int(n)
	}
	tl.printf("stream stopped: %d messages produced; waiting for every one to be processed", res.Produced)
	wctx, cancel = context.WithTimeout(ctx, 60*time.Second)
	err = log.WaitProcessed(wctx, res.Produced)
	cancel()
	if err != nil {
		return failf("%v", err)
	}
	tl.printf("all %d processed", res.Produced)
	for _, m := range ms {
		if err := m.failed(); err != nil {
			return failf("%v", err)
		}
	}
	for _, m := range ms {
		m.cancel() // all at once: no rebalance among the leaving
	}
	for _, m := range ms {
		if err := m.stop(); err != nil && !errors.Is(err, context.Canceled) {
			return failf("member %s: %v", m.name, err)
		}
	}
	tl.printf("members stopped")

	recs := log.Records()
	res.Analysis = log.Analyze(produced)
	for _, m := range ms {
		res.Lost += int(m.lost.Load())
	}
	tl.header("")
	tl.header("   switch          took      gap p50   gap max   (longest pause in processing per partition, %d partitions)", o.Partitions)
	_, res.SteadyGapMax = gapStats(switchGaps(recs, steady))
	tl.header("   no switch          -             %8s", ms3(res.SteadyGapMax))
	for i, w := range windows {
		s := &res.Switches[i]
		s.GapP50, s.GapMax = gapStats(switchGaps(recs, w))
		tl.header("   to %-11s %8s  %8s  %8s", s.To, ms3(s.Took), ms3(s.GapP50), ms3(s.GapMax))
	}
	switch an := res.Analysis; {
	case an.Overlaps != 0:
		return failf("%s (%s)", an, an.FirstOverlap)
	case an.Lost != 0:
		return failf("%s", an)
	}
	res.Pass = true
	var gaps []string
	for _, s := range res.Switches {
		gaps = append(gaps, fmt.Sprintf("to %s p50 %s max %s", s.To, ms3(s.GapP50), ms3(s.GapMax)))
	}
	tl.header("PASS migrate: %d messages, %s; gap %s; partitions lost by expulsion %d",
		res.Produced, res.Analysis, strings.Join(gaps, ", "), res.Lost)
	return res, nil
}

func ms3(d time.Duration) string { return d.Round(time.Millisecond).String() }

func ownedList(m *member, topic string) string {
	mine := m.owned(topic)
	ps := slices.Sorted(maps.Keys(mine))
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = strconv.Itoa(int(p))
	}
	return strings.Join(out, ",")
}

// switchLive writes the group's mode znode and follows the members into
// mode, printing when each is in the new mode and owns partitions again.
// It returns once every member is in mode and the partitions are owned,
// each by exactly one member, every member owning some.
func switchLive(ctx context.Context, tl *timeline, conn *zkwatch.Conn, client sarama.Client, group, topic string, partitions int32, mode string, ms []*member) (window, error) {
	w := window{from: time.Now()}
	if _, err := groupstate.SetCoordination(ctx, conn, client, group, mode, false, nil); err != nil {
		return w, err
	}
	tl.printf("toggle written: the mode znode says %s (what `zkbalance coordination --to %s --apply` does; %d members can follow)",
		mode, mode, len(ms))
	inMode := map[string]bool{}
	owning := map[string]bool{}
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for {
		for _, m := range ms {
			if err := m.failed(); err != nil {
				return w, err
			}
			if !inMode[m.name] {
				data, _, err := conn.Get(wctx, zkformat.FollowerPath(group, m.c.MemberID()))
				if err == nil {
					got, kid, perr := zkformat.ParseFollower(data)
					if perr == nil && got == mode && (mode != groupstate.ModeKafka || kid != "") {
						inMode[m.name] = true
						if mode == groupstate.ModeKafka {
							tl.printf("%s in kafka mode (joined the Kafka group) +%s", m.name, ms3(time.Since(w.from)))
						} else {
							tl.printf("%s in zookeeper mode (registered under /ids) +%s", m.name, ms3(time.Since(w.from)))
						}
					}
				}
			}
			if inMode[m.name] && !owning[m.name] && len(m.owned(topic)) > 0 {
				owning[m.name] = true
				tl.printf("%s owning again (its first partition running) +%s", m.name, ms3(time.Since(w.from)))
			}
		}
		if len(inMode) == len(ms) && settled(ms, topic, partitions) {
			w.to = time.Now()
			var shares []string
			for _, m := range ms {
				shares = append(shares, m.name+" "+ownedList(m, topic))
			}
			tl.printf("switch to %s done in %s: %s", mode, ms3(w.to.Sub(w.from)), strings.Join(shares, "; "))
			return w, nil
		}
		select {
		case <-wctx.Done():
			return w, fmt.Errorf("members in %s mode: %d of %d, owning: %d: %w", mode, len(inMode), len(ms), len(owning), context.Cause(wctx))
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// settled: every partition owned by exactly one member, every member
// owning some.
func settled(ms []*member, topic string, partitions int32) bool {
	count := map[int32]int{}
	for _, m := range ms {
		mine := m.owned(topic)
		if len(mine) == 0 {
			return false
		}
		for p := range mine {
			count[p]++
		}
	}
	for p := range partitions {
		if count[p] != 1 {
			return false
		}
	}
	return true
}

// stream produces one message to each partition every interval until
// stopped.
type stream struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
	mu     sync.Mutex
	next   map[balanced.TopicPartition]int64
	err    error
}

func (e Env) startStream(ctx context.Context, topic string, partitions int32, interval time.Duration) (*stream, error) {
	p, err := sarama.NewSyncProducer(e.Brokers, saramaConfig())
	if err != nil {
		return nil, fmt.Errorf("scenario: producer: %w", err)
	}
	sctx, cancel := context.WithCancel(ctx)
	s := &stream{cancel: cancel, next: map[balanced.TopicPartition]int64{}}
	s.wg.Go(func() { // owned by s: stop waits for it
		defer p.Close()
		seq := 0
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			msgs := make([]*sarama.ProducerMessage, partitions)
			for i := range msgs {
				msgs[i] = &sarama.ProducerMessage{Topic: topic, Partition: int32(i),
					Value: sarama.StringEncoder("seq=" + strconv.Itoa(seq))}
				seq++
			}
			err := p.SendMessages(msgs)
			s.mu.Lock()
			for _, m := range msgs {
				if m.Offset >= 0 && (err == nil || !failedMsg(err, m)) {
					tp := balanced.TopicPartition{Topic: topic, Partition: m.Partition}
					s.next[tp] = max(s.next[tp], m.Offset+1)
				}
			}
			if err != nil && s.err == nil {
				s.err = fmt.Errorf("scenario: produce to %s: %w", topic, err)
			}
			s.mu.Unlock()
			if err != nil {
				return
			}
			select {
			case <-sctx.Done():
				return
			case <-t.C:
			}
		}
	})
	return s, nil
}

func failedMsg(err error, m *sarama.ProducerMessage) bool {
	var pe sarama.ProducerErrors
	if !errors.As(err, &pe) {
		return true
	}
	for _, e := range pe {
		if e.Msg == m {
			return true
		}
	}
	return false
}

// stop ends the stream and returns, per partition, the next offset after
// the last message written.
func (s *stream) stop() (map[balanced.TopicPartition]int64, error) {
	s.once.Do(func() { s.cancel(); s.wg.Wait() })
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.next, s.err
}
