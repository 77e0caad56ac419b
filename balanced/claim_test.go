package balanced_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/zkbalance/zkbalance/balanced"
	"github.com/zkbalance/zkbalance/scenario"
)

// channelRecorder records like recorder but ranges over Claim.Messages (the
// forwarding goroutine) instead of Claim.Next, and records why each range
// ended.
func channelRecorder(l *plog, name string, ends *causes) balanced.Handler {
	return balanced.HandlerFunc(func(ctx context.Context, c *balanced.Claim) error {
		for m := range c.Messages() {
			now := time.Now()
			l.Add(scenario.Record{Member: name, TP: balanced.TopicPartition{Topic: m.Topic, Partition: m.Partition},
				Offset: m.Offset, Start: now, End: now})
			c.Mark(m)
		}
		ends.add(context.Cause(ctx))
		return nil
	})
}

type causes struct {
	mu   sync.Mutex
	errs []error
}

func (c *causes) add(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.errs = append(c.errs, err)
}

func (c *causes) count(target error) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, err := range c.errs {
		if errors.Is(err, target) {
			n++
		}
	}
	return n
}

// Handlers that range over Claim.Messages get every message once through a
// join (their channel is closed at the revoke, with ErrRevoked as the
// context's cause) and a leave; nothing is lost and no partition is worked
// on by two members at once.
func TestMessagesChannelAcrossRebalances(t *testing.T) {
	cl := shared.Get(t)
	ctx := testCtx(t, 4*time.Minute)
	topic, group := uniq(t, "chan"), uniq(t, "g-chan")
	if err := cl.CreateTopic(ctx, topic, 6, 1); err != nil {
		t.Fatal(err)
	}
	topics := map[string]int32{topic: 6}
	var log plog
	var ends causes
	cfg := balanced.Config{Group: group, Topics: []string{topic}}
	a := startMember(t, "A", cfg, channelRecorder(&log, "A", &ends))
	waitConverged(t, 30*time.Second, "scala-range", group, topics, a)
	stopStream := stream(t, topic, 6, 30)
	time.Sleep(time.Second)
	b := startMember(t, "B", cfg, channelRecorder(&log, "B", &ends))
	waitConverged(t, 30*time.Second, "scala-range", group, topics, a, b)
	time.Sleep(time.Second)
	b.Stop(t)
	waitConverged(t, 30*time.Second, "scala-range", group, topics, a)
	produced := stopStream()
	waitProcessed(t, &log, total(produced), 2*time.Minute)
	an := log.Analyze(produced)
	t.Logf("produced %d across a join and a leave: lost %d, duplicates %d, overlaps %d; handler ends: %d revoked, %d closed",
		total(produced), an.Lost, an.Duplicates, an.Overlaps, ends.count(balanced.ErrRevoked), ends.count(balanced.ErrClosed))
	if an.Lost != 0 || an.Overlaps != 0 {
		t.Fatalf("lost %d, overlaps %d (%s)", an.Lost, an.Overlaps, an.FirstOverlap)
	}
	if ends.count(balanced.ErrRevoked) == 0 {
		t.Fatal("no Messages channel ended with a revoke, though B's join moved half of A's partitions")
	}
}

// Next fails with the cause of whichever context ended first: the caller's
// (a wait bound) or the partition's (revoked).
func TestNextErrors(t *testing.T) {
	cl := shared.Get(t)
	ctx := testCtx(t, 2*time.Minute)
	topic, group := uniq(t, "next"), uniq(t, "g-next")
	if err := cl.CreateTopic(ctx, topic, 2, 1); err != nil {
		t.Fatal(err)
	}
	topics := map[string]int32{topic: 2}
	var timeouts, revokes causes
	h := balanced.HandlerFunc(func(ctx context.Context, c *balanced.Claim) error {
		for {
			wait, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
			_, err := c.Next(wait) // an empty topic: nothing arrives
			cancel()
			switch {
			case errors.Is(err, context.DeadlineExceeded):
				timeouts.add(err)
			case err != nil:
				revokes.add(err)
				return nil
			}
		}
	})
	cfg := balanced.Config{Group: group, Topics: []string{topic}}
	a := startMember(t, "A", cfg, h)
	waitConverged(t, 30*time.Second, "scala-range", group, topics, a)
	time.Sleep(200 * time.Millisecond)
	b := startMember(t, "B", cfg, h)
	waitConverged(t, 30*time.Second, "scala-range", group, topics, a, b)
	if timeouts.count(context.DeadlineExceeded) == 0 {
		t.Fatal("Next never reported the caller's deadline")
	}
	if n := revokes.count(balanced.ErrRevoked); n != 1 {
		t.Fatalf("Next reported ErrRevoked %d times, want 1 (B's join moves one partition)", n)
	}
}
