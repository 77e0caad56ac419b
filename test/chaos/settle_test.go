package chaos

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zkbalance/zkbalance/balanced"
	"github.com/zkbalance/zkbalance/partition"
	"github.com/zkbalance/zkbalance/zkwatch"
)

// settleQuiet is how long a group must stay settled, unchanged, before a
// test injects its faults. Far longer than the members' coalescing of
// rebalance triggers (Config.RebalanceDelay, 20 ms by default, bounded at
// 20x) and than one rebalance here (about 150 ms under the race detector):
// a rebalance still due would have changed something within it.
const settleQuiet = 2 * time.Second

// settleCheck is waitSettled's extra condition, given the owner znodes:
// nil error when it holds, and a description of what must stay unchanged
// over settleQuiet.
type settleCheck func(owners map[int32]ownerZnode) (state string, err error)

// waitSettled waits up to 60 s until the group has settled and returns its
// owner znodes and when that state was first seen: members members are registered, the owner znodes are
// exactly the scala-range assignment (one stream each, the members'
// default) of those members over topic's partitions, check (if not nil)
// holds, and all of it (the member ids, the owner znodes with their
// creation zxids and sessions, check's state) stays the same for
// settleQuiet.
//
// "Every partition owned, every member owning some" is not enough: members
// that register a few tens of milliseconds apart rebalance first on a
// partial view of the group, and while their partitions move to their
// final owners the group passes through states where all partitions are
// owned by all members, but not yet as assigned.
func waitSettled(t *testing.T, ctx context.Context, obs *zkwatch.Conn, group, topic string, partitions, members int, check settleCheck) (map[int32]ownerZnode, time.Time) {
	t.Helper()
	start := time.Now()
	deadline := start.Add(60 * time.Second)
	var (
		last    string // the settled state seen, "" when not settled
		since   time.Time
		why     string
		settled map[int32]ownerZnode
	)
	for {
		state, owners, err := settledState(t, ctx, obs, group, topic, partitions, members, check)
		switch {
		case err != nil:
			last, why = "", err.Error()
		case state != last:
			last, since, settled = state, time.Now(), owners
		case time.Since(since) >= settleQuiet:
			t.Logf("group settled %s after the wait began (then unchanged for %s)", since.Sub(start).Round(time.Millisecond), settleQuiet)
			return settled, since
		}
		if time.Now().After(deadline) {
			t.Fatalf("group %s not settled within 60s: %s", group, why)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// settledState reads the group once: a description of its settled state,
// and its owner znodes, or why it is not settled.
func settledState(t *testing.T, ctx context.Context, obs *zkwatch.Conn, group, topic string, partitions, members int, check settleCheck) (string, map[int32]ownerZnode, error) {
	t.Helper()
	ids, _, err := obs.Children(ctx, "/consumers/"+group+"/ids")
	if err != nil && !isNoNode(err) {
		t.Fatal(err)
	}
	if len(ids) != members {
		return "", nil, fmt.Errorf("%d members registered, want %d", len(ids), members)
	}
	want, err := rangeOwners(ids, topic, partitions)
	if err != nil {
		t.Fatal(err)
	}
	owners := readOwners(t, ctx, obs, group, topic)
	for p := range int32(partitions) {
		if got, ok := owners[p]; !ok || got.value != want[p] {
			return "", nil, fmt.Errorf("partition %d owned by %q, assigned to %q", p, owners[p].value, want[p])
		}
	}
	if len(owners) != partitions {
		return "", nil, fmt.Errorf("%d owner znodes for %d partitions", len(owners), partitions)
	}
	slices.Sort(ids)
	state := fmt.Sprint(ids, owners)
	if check != nil {
		extra, err := check(owners)
		if err != nil {
			return "", nil, err
		}
		state += " " + extra
	}
	return state, owners, nil
}

// rangeOwners is the scala-range assignment of topic's partitions to the
// members ids (one stream each): partition -> owner znode value (the
// thread id "<member>-0").
func rangeOwners(ids []string, topic string, partitions int) (map[int32]string, error) {
	in := partition.Input{Topics: partition.Topics{topic: {}}}
	for p := range int32(partitions) {
		in.Topics[topic][p] = 0
	}
	for _, id := range ids {
		in.Members = append(in.Members, partition.Member{ID: id, Subscription: map[string]int{topic: 1}})
	}
	a, err := partition.Lookup(partition.ScalaRange)
	if err != nil {
		return nil, err
	}
	asg, err := a.Assign(in)
	if err != nil {
		return nil, err
	}
	out := map[int32]string{}
	for tp, owner := range asg.Owners() {
		out[tp.Partition] = owner
	}
	return out, nil
}

// inprocSettled is waitSettled's check for in-process members: each one is
// connected, its last rebalance saw all of them, completed without error
// and claimed all it was assigned (Health: Members, Assigned == Owned), it
// runs exactly the partitions whose owner znodes carry its thread id, and
// its hook calls add up to them (no OnAssigned still to come). Its state
// is each member's last rebalance time and hook call count: a rebalance or
// a hook call resets the quiet period.
func inprocSettled(topic string, members []*inprocMember) settleCheck {
	return func(owners map[int32]ownerZnode) (string, error) {
		var state []string
		for _, m := range members {
			h := m.c.Health()
			owned := m.c.Owned()
			var want []balanced.TopicPartition
			for _, p := range slices.Sorted(maps.Keys(owners)) {
				if owners[p].value == partition.ThreadID(m.c.MemberID(), 0) {
					want = append(want, balanced.TopicPartition{Topic: topic, Partition: p})
				}
			}
			switch {
			case !h.Connected:
				return "", fmt.Errorf("member %s not connected", m.name)
			case h.RebalanceErr != nil:
				return "", fmt.Errorf("member %s: %w", m.name, h.RebalanceErr)
			case h.Members != len(members):
				return "", fmt.Errorf("member %s: last rebalance saw %d members", m.name, h.Members)
			case h.Assigned != len(owned):
				return "", fmt.Errorf("member %s: assigned %d, owns %d", m.name, h.Assigned, len(owned))
			case !slices.Equal(owned, want):
				return "", fmt.Errorf("member %s owns %v, its owner znodes are %v", m.name, owned, want)
			}
			calls := m.hookCalls()
			if got := heldAfter(calls); !slices.Equal(got, owned) {
				return "", fmt.Errorf("member %s owns %v, its hooks say %v", m.name, owned, got)
			}
			state = append(state, fmt.Sprintf("%s@%s/%d", m.name, h.LastRebalance.Format(time.RFC3339Nano), len(calls)))
		}
		return strings.Join(state, " "), nil
	}
}

// heldAfter is what a member holds after the hook calls: what OnAssigned
// gave it and neither OnRevoked nor OnLost took away, sorted.
func heldAfter(calls []hookCall) []balanced.TopicPartition {
	held := map[balanced.TopicPartition]bool{}
	for _, c := range calls {
		for _, tp := range c.tps {
			if c.kind == hookAssigned {
				held[tp] = true
			} else {
				delete(held, tp)
			}
		}
	}
	return slices.SortedFunc(maps.Keys(held), partition.CompareTopicPartitions)
}
