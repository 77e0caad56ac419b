package scenario

import (
	"context"
	"fmt"
	"maps"
	"time"

	"github.com/zkbalance/zkbalance/partition"
	"github.com/zkbalance/zkbalance/zkwatch"
)

// waitShares waits until the owner znodes of topic are exactly scala-range's
// answer for ms and each member owns (handler running) exactly its share.
// It fails early when a member's Run has returned.
func waitShares(ctx context.Context, conn *zkwatch.Conn, group, topic string, partitions int32, ms ...*member) error {
	ids := make([]string, len(ms))
	for i, m := range ms {
		ids[i] = m.c.MemberID()
	}
	want, err := rangeShares(topic, partitions, ids...)
	if err != nil {
		return err
	}
	var last string
	for {
		for _, m := range ms {
			if err := m.failed(); err != nil {
				return err
			}
		}
		got, err := owners(ctx, conn, group, topic)
		if err == nil {
			for p, o := range got {
				if id, _, ok := partition.SplitThreadID(o); ok {
					got[p] = id
				}
			}
			ok := maps.Equal(got, want)
			for _, m := range ms {
				mine := m.owned(topic)
				for p, o := range want {
					if (o == m.c.MemberID()) != mine[p] {
						ok = false
					}
				}
				if len(mine) != len(partitionSet(want, m.c.MemberID())) {
					ok = false
				}
			}
			if ok {
				return nil
			}
			last = fmt.Sprintf("owners %v, want %v", got, want)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("group %s did not converge: %s: %w", group, last, context.Cause(ctx))
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func partitionSet(m map[int32]string, who string) map[int32]bool {
	out := map[int32]bool{}
	for p, o := range m {
		if o == who {
			out[p] = true
		}
	}
	return out
}
