package balanced

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/IBM/sarama"

	"github.com/zkbalance/zkbalance/internal/kafkacoord"
	"github.com/zkbalance/zkbalance/zkwatch"
)

// Follow mode in the pykafka layout keeps offsets in Kafka only
// (newFollowKafkaOffsets). Zookeeper-mode commits carry generation -1, as
// pykafka's own do, and Kafka's coordinator refuses those while its group
// of the same name has members. So a switch waits at the border between
// the modes:
//
//   - to kafka: the member joins the Kafka group only once no member is
//     registered in /ids (waitNoRegistrations): every member still in
//     zookeeper mode (a follower that has not seen the toggle yet, or is
//     still revoking) makes its final commit first;
//   - to zookeeper: the member registers in /ids only once the Kafka group
//     has no members (waitKafkaGroupEmpty), so that its commits are not
//     refused.
//
// Either wait lasts as long as the slowest member's revoke. A member that
// cannot follow (a pykafka consumer registered, a Java KafkaConsumer in the
// Kafka group: 'zkbalance coordination' refuses the switch unless forced)
// holds the followers at the border until it leaves, instead of letting
// both kinds consume at once.

// followWaitLog is how often a wait at the border logs who it waits for.
const followWaitLog = 10 * time.Second

// waitNoRegistrations returns nil once /consumers/<group>/ids has no
// children, ctx.Err() when ctx ends first, errSessionLost when the session
// ends first.
func (c *Consumer) waitNoRegistrations(ctx context.Context, sess *zkwatch.Conn) error {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	snaps := sess.WatchChildren(wctx, idsPath(c.cfg.Group))
	start := time.Now()
	var logged time.Time
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-sess.Done():
			return errSessionLost
		case snap, ok := <-snaps:
			if !ok {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				return errSessionLost
			}
			if snap.Err == nil && len(snap.Children) == 0 {
				if !logged.IsZero() {
					c.log.Info("follow: no member registered in zookeeper any more; joining the kafka group", "waited", time.Since(start).Round(time.Millisecond))
				}
				return nil
			}
			if time.Since(logged) >= followWaitLog {
				logged = time.Now()
				c.log.Info("follow: waiting until no member is registered in zookeeper before joining the kafka group (pykafka layout: their commits would be refused)",
					"registered", snap.Children, "err", snap.Err)
			}
		}
	}
}

// waitKafkaGroupEmpty returns nil once the Kafka group of our name has no
// members (polled with DescribeGroups every 200ms), ctx.Err() when ctx
// ends first. A failed DescribeGroups is retried.
func (c *Consumer) waitKafkaGroupEmpty(ctx context.Context) error {
	start := time.Now()
	var logged time.Time
	for {
		members, err := kafkaGroupMembers(ctx, c.client, c.cfg.Group)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err == nil && len(members) == 0 {
			if !logged.IsZero() {
				c.log.Info("follow: the kafka group is empty; registering in zookeeper", "waited", time.Since(start).Round(time.Millisecond))
			}
			return nil
		}
		if time.Since(logged) >= followWaitLog {
			logged = time.Now()
			c.log.Info("follow: waiting until the kafka group is empty before registering in zookeeper (pykafka layout: our commits would be refused)",
				"members", members, "err", err)
		}
		t := time.NewTimer(200 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// kafkaGroupMembers lists the member ids of the Kafka group (none when it
// does not exist or is empty), sorted.
func kafkaGroupMembers(ctx context.Context, client sarama.Client, group string) ([]string, error) {
	g, err := kafkacoord.DescribeGroup(ctx, client, group)
	if err != nil {
		return nil, fmt.Errorf("balanced: describe kafka group %s: %w", group, err)
	}
	var out []string
	if g != nil {
		for id := range g.Members {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out, nil
}

// atBorder runs wait, the border wait of a follow switch, and maps its
// end for followSession: nil to go on into the mode, or the error that
// ends the mode instead (nil error but false: the mode's ctx ended, e.g.
// another switch, or the session was lost: errSessionLost).
func atBorder(ctx context.Context, wait func() error) (proceed bool, err error) {
	err = wait()
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, errSessionLost):
		return false, errSessionLost
	case ctx.Err() != nil:
		return false, nil
	}
	return false, err
}
