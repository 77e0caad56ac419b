package balanced_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/zkbalance/zkbalance/balanced"
	"github.com/zkbalance/zkbalance/internal/cluster"
	"github.com/zkbalance/zkbalance/internal/proxy"
	"github.com/zkbalance/zkbalance/partition"
)

// TestS4SessionExpiry expires one member's session while both consume a
// stream: it must report its partitions lost, stop their handlers with
// ErrSessionExpired, commit nothing for them, re-register in a new session,
// and the group converges with nothing lost and no overlap.
//
// The expiry is as a server's: only after ZooKeeper has been silent for the
// member (its connection goes through a proxy that holds everything) for
// longer than Config.LostAfterDisconnect (default half the session), when
// it has stopped its handlers; then the session is closed at once
// (cluster.ExpireSession) instead of after the whole session timeout. (An
// expiry while ZooKeeper still answers the member cannot happen: the
// server expires a session only after not hearing from it for the session
// timeout, and it answers whenever it hears.)
func TestS4SessionExpiry(t *testing.T) {
	cl := shared.Get(t)
	ctx := testCtx(t, 4*time.Minute)
	topic, group := uniq(t, "s4"), uniq(t, "g-s4")
	if err := cl.CreateTopic(ctx, topic, 6, 1); err != nil {
		t.Fatal(err)
	}
	topics := map[string]int32{topic: 6}
	var log plog
	var capture cluster.SessionCapture
	px, err := proxy.New(ctx, cl.ZooKeeperAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer px.Close()
	var mu sync.Mutex
	var lost []balanced.TopicPartition
	var causes []error
	cfgA := balanced.Config{Group: group, Topics: []string{topic}, ZooKeeper: px.Addr(), ZooKeeperDialer: capture.Dialer,
		Hooks: balanced.Hooks{OnLost: func(_ context.Context, tps []balanced.TopicPartition) {
			mu.Lock()
			lost = append(lost, tps...)
			mu.Unlock()
		}}}
	recA := recorder(&log, "A", 20*time.Millisecond)
	handlerA := balanced.HandlerFunc(func(ctx context.Context, c *balanced.Claim) error {
		err := recA.Consume(ctx, c)
		mu.Lock()
		causes = append(causes, context.Cause(ctx))
		mu.Unlock()
		return err
	})
	a := startMember(t, "A", cfgA, handlerA)
	b := startMember(t, "B", balanced.Config{Group: group, Topics: []string{topic}}, recorder(&log, "B", 20*time.Millisecond))
	waitConverged(t, 30*time.Second, "scala-range", group, topics, a, b)
	ownedBefore := a.c.Owned()

	stopStream := stream(t, topic, 6, 60)
	time.Sleep(time.Second)
	id, pw := capture.Credentials()
	px.Pause() // ZooKeeper silent for A (nothing delivered either way); A stops its handlers after 3 s
	time.Sleep(3500 * time.Millisecond)
	if err := cl.ExpireSession(ctx, id, pw); err != nil {
		t.Fatal(err)
	}
	// A reads the server's close, reconnects and learns of the expiry. (Its
	// handlers were cancelled at the suspension; OnLost comes once its
	// commits in flight have failed, which needs ZooKeeper back.)
	px.Resume()
	deadline := time.Now().Add(20 * time.Second)
	for {
		mu.Lock()
		n := len(lost)
		mu.Unlock()
		if n > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	mu.Lock()
	gotLost := slices.Clone(lost)
	mu.Unlock()
	slices.SortFunc(gotLost, partition.CompareTopicPartitions)
	if !slices.Equal(gotLost, ownedBefore) {
		t.Fatalf("OnLost reported %v, A owned %v", gotLost, ownedBefore)
	}
	waitConverged(t, 30*time.Second, "scala-range", group, topics, a, b)
	time.Sleep(time.Second)
	produced := stopStream()
	total := total(produced)
	waitProcessed(t, &log, total, time.Minute)
	an := log.Analyze(produced)
	t.Logf("produced %d: lost %d, duplicates %d, overlaps %d", total, an.Lost, an.Duplicates, an.Overlaps)
	if an.Lost != 0 || an.Overlaps != 0 {
		t.Fatalf("lost %d, overlaps %d (%s)", an.Lost, an.Overlaps, an.FirstOverlap)
	}
	mu.Lock()
	defer mu.Unlock()
	sawExpired := false
	for _, c := range causes {
		sawExpired = sawExpired || errors.Is(c, balanced.ErrSessionExpired)
	}
	if !sawExpired {
		t.Fatalf("no handler context ended with ErrSessionExpired; causes %v", causes)
	}
}
