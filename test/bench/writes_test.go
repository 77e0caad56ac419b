package bench_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zkbalance/zkbalance/balanced"
	"github.com/zkbalance/zkbalance/test/bench"
	"github.com/zkbalance/zkbalance/zkwatch"
)

// ownerSnap is an owner directory: its cversion (ZooKeeper bumps it on
// every child create and delete) and its children.
type ownerSnap struct {
	cversion int32
	nodes    map[string]ownerNode
}

type ownerNode struct {
	czxid int64
	value string
}

// snapshot reads dir and its children; it retries until the directory's
// cversion did not change while it read.
func snapshot(ctx context.Context, obs *zkwatch.Conn, dir string) (ownerSnap, error) {
	for {
		names, st, err := obs.Children(ctx, dir)
		if err != nil {
			return ownerSnap{}, fmt.Errorf("children of %s: %w", dir, err)
		}
		s := ownerSnap{cversion: st.Cversion, nodes: map[string]ownerNode{}}
		for _, n := range names {
			data, nst, err := obs.Get(ctx, dir+"/"+n)
			if err != nil {
				return ownerSnap{}, fmt.Errorf("%s/%s: %w", dir, n, err)
			}
			s.nodes[n] = ownerNode{czxid: nst.Czxid, value: string(data)}
		}
		_, st2, err := obs.Exists(ctx, dir)
		if err != nil {
			return ownerSnap{}, err
		}
		if st2.Cversion == s.cversion {
			return s, nil
		}
	}
}

// runWrites measures one join for every assignor in writesAssignors.
func (r *run) runWrites(t *testing.T) {
	members, parts := r.sizes.writesMembers, r.sizes.partitions
	topic, err := createTopic(r.ctx, r.cl, "writes", parts)
	for _, a := range r.sizes.writesAssignors {
		w := bench.Writes{Assignor: a, Layout: string(balanced.LayoutScala), Members: members, Partitions: parts, Dirs: 1}
		if strings.HasPrefix(a, "pykafka-") {
			w.Layout, w.Dirs = string(balanced.LayoutPykafka), 2
		}
		if err == nil {
			w = r.measureWrites(t, w, topic)
		} else {
			w.Err = "create topic: " + err.Error()
		}
		t.Logf("writes %s: %+v", a, w)
		r.report.Writes = append(r.report.Writes, w)
	}
}

func (r *run) measureWrites(t *testing.T, w bench.Writes, topic string) bench.Writes {
	ctx, cancel := context.WithTimeout(r.ctx, 2*(*flagJoinTimeout)+time.Minute)
	defer cancel()
	fail := func(format string, args ...any) bench.Writes {
		w.Err = fmt.Sprintf(format, args...)
		return w
	}
	g, err := newZKGroup(ctx, r.cl, r.obs, w.Assignor, topic, w.Partitions)
	if err != nil {
		return fail("%v", err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
		defer cancel()
		if err := g.close(cctx); err != nil {
			t.Logf("writes %s: stopping the members: %v", w.Assignor, err)
		}
	}()
	if err := g.form(ctx, w.Members); err != nil {
		return fail("the group did not form: %v", err)
	}
	dirs := []string{"/consumers/" + g.group + "/owners/" + topic}
	if w.Dirs == 2 {
		dirs = append(dirs, "/consumers/"+g.group+"/owners/b'"+topic+"'")
	}
	// Settled: a second with no owner write, and still converged.
	quiet := func() ([]ownerSnap, error) {
		var prev []ownerSnap
		for {
			var snaps []ownerSnap
			for _, d := range dirs {
				s, err := snapshot(ctx, r.obs, d)
				if err != nil {
					return nil, err
				}
				snaps = append(snaps, s)
			}
			same := prev != nil
			for i := range prev {
				same = same && prev[i].cversion == snaps[i].cversion
			}
			if same {
				return snaps, nil
			}
			prev = snaps
			if err := sleepCtx(ctx, time.Second); err != nil {
				return nil, err
			}
		}
	}
	before, err := quiet()
	if err != nil {
		return fail("before the join: %v", err)
	}
	if _, _, err := g.join(ctx); err != nil {
		return fail("the join did not converge: %v", err)
	}
	after, err := quiet()
	if err != nil {
		return fail("after the join: %v", err)
	}
	all := append(slices.Clone(g.members), g.joiner)
	if !g.matches(all, fetchingOf) {
		return fail("the group did not stay converged after the join")
	}
	for i := range dirs {
		b, a := before[i], after[i]
		w.Total += int(a.cversion - b.cversion)
		for name, n := range a.nodes {
			if o, ok := b.nodes[name]; !ok || o.czxid != n.czxid {
				w.Creates++
			}
		}
		for name, o := range b.nodes {
			if n, ok := a.nodes[name]; !ok || o.czxid != n.czxid {
				w.Deletes++
			}
		}
		if i == 0 {
			for name, n := range a.nodes {
				if b.nodes[name].value != n.value {
					w.Moved++
				}
			}
			if len(a.nodes) != w.Partitions || len(b.nodes) != w.Partitions {
				return fail("%d owner znodes before the join and %d after, want %d", len(b.nodes), len(a.nodes), w.Partitions)
			}
		}
	}
	return w
}
