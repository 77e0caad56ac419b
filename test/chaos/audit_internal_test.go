package chaos

import (
	"strings"
	"testing"
	"time"
)

// TestAuditEvaluate feeds the audit's check fake listings (no ZooKeeper):
// two owner znodes of one partition are flagged at once and only once, in
// the pykafka layout and mixed with the Scala one; an owner that is not
// registered only after the grace period.
func TestAuditEvaluate(t *testing.T) {
	const grace = 10 * time.Second
	t0 := time.Now()
	type step struct {
		after  time.Duration
		owners map[string]string // topic "t"'s owner znodes: name -> value
		want   []string          // substrings of the violations this step adds, in order
	}
	members := map[string]bool{"m1": true, "m2": true, "host:a1b2": true, "host:c3d4": true}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"scala layout, clean", []step{
			{0, map[string]string{"0": "m1-0", "1": "m2-0"}, nil},
		}},
		{"pykafka layout, clean", []step{
			{0, map[string]string{"1-0": "host:a1b2", "2-1": "host:c3d4", "-1-2": "host:a1b2"}, nil},
		}},
		{"pykafka layout, two owners", []step{
			{0, map[string]string{"1-0": "host:a1b2", "2-0": "host:c3d4", "2-1": "host:c3d4"},
				[]string{"t/0: two owners at once: 1-0=host:a1b2, 2-0=host:c3d4"}},
			{time.Second, map[string]string{"1-0": "host:a1b2", "2-0": "host:c3d4"}, nil}, // reported once
			{2 * time.Second, map[string]string{"2-0": "host:c3d4"}, nil},
			{3 * time.Second, map[string]string{"2-0": "host:c3d4", "3-0": "host:a1b2"},
				[]string{"t/0: two owners at once: 2-0=host:c3d4, 3-0=host:a1b2"}},
		}},
		{"mixed layouts, two owners", []step{
			{0, map[string]string{"0": "m1-0", "1-0": "host:a1b2"}, []string{"t/0: two owners at once: 0=m1-0, 1-0=host:a1b2"}},
		}},
		{"unregistered owner", []step{
			{0, map[string]string{"0": "gone-0", "1-1": "host:gone"}, nil},
			{grace, map[string]string{"0": "gone-0", "1-1": "host:gone"}, nil},
			{grace + time.Second, map[string]string{"0": "gone-0", "1-1": "host:gone"},
				[]string{"t/0 owned by unregistered member gone for 11s", "t/1-1 owned by unregistered member host:gone for 11s"}},
			{grace + 2*time.Second, map[string]string{}, nil},
			{3 * grace, map[string]string{"0": "gone-0"}, nil}, // a new episode
		}},
		{"bad names and values", []step{
			{0, map[string]string{"x": "m1-0", "0": "m1", "a-1": "m1-0"},
				[]string{`t/0: owner value "m1" is not a thread id`, "t/a-1: not an owner znode name", "t/x: not an owner znode name"}},
			{time.Second, map[string]string{"x": "m1-0", "0": "m1"}, nil},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newAudit("", "g", []string{"t"}, grace)
			for i, st := range tc.steps {
				before := len(a.violations)
				a.evaluate(listing{members: members, owners: map[string]map[string]string{"t": st.owners}}, t0.Add(st.after))
				got := a.violations[before:]
				ok := len(got) == len(st.want)
				for j := 0; ok && j < len(got); j++ {
					ok = strings.Contains(got[j], st.want[j])
				}
				if !ok {
					t.Errorf("step %d: violations %q, want %q", i, got, st.want)
				}
			}
		})
	}
}
