package balanced

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/zkbalance/zkbalance/partition"
	"github.com/zkbalance/zkbalance/zkwatch"
)

// Pure tests of the session loop's scheduler, trigger policy and watch
// filters: no ZooKeeper, no Kafka.

var errBoom = errors.New("boom")

func evt(k eventKind) event { return event{kind: k} }

func triggerEv(reasons ...string) event { return event{kind: evTrigger, reasons: reasons} }

func quietEv(reasons ...string) event { return event{kind: evOwnersQuiet, reasons: reasons} }

func doneEv(topics []string, err error) event {
	return event{kind: evRebalanceDone, result: rebalanceResult{topics: topics, err: err}}
}

func act(k actionKind) action { return action{kind: k} }

func supersedeAct(reasons ...string) action { return action{kind: actSupersede, reasons: reasons} }

func ownersAct(reason string) action {
	return action{kind: actTriggerOwners, reasons: []string{reason}}
}

func syncAct(topics ...string) action { return action{kind: actSyncWatches, topics: topics} }

func retryAct(d time.Duration, err error) action {
	return action{kind: actArmRetry, delay: d, err: err}
}

func cancelAct(keep bool) action { return action{kind: actCancelHandlers, keepClaims: keep} }

func loseAct(keep bool) action { return action{kind: actLoseHandlers, keepClaims: keep} }

var (
	start    = act(actStartRebalance)
	release  = act(actReleaseRebalance)
	stopReb  = act(actStopRebalance)
	resumed  = act(actResumed)
	noAction []action
)

func sameActions(got, want []action) bool {
	if len(got) == 0 && len(want) == 0 {
		return true
	}
	return reflect.DeepEqual(got, want)
}

// TestScheduleTransitions: one event from a given state.
func TestScheduleTransitions(t *testing.T) {
	canceled := fmt.Errorf("rebalance: %w", context.Canceled)
	tests := []struct {
		name string
		from schedState
		ev   event
		want []action
		to   schedState
	}{
		// Starting.
		{name: "first rebalance needs no trigger", from: schedState{pending: true}, ev: evt(evStart),
			want: []action{start}, to: schedState{running: true}},
		{name: "start forgets owner flags of the last rebalance", from: schedState{ownersDirty: true, claimWaiting: true},
			ev: triggerEv("members changed"), want: []action{start}, to: schedState{running: true}},
		{name: "start keeps the retry count", from: schedState{retries: 3}, ev: evt(evRetryDue),
			want: []action{start}, to: schedState{running: true, retries: 3}},

		// Triggers.
		{name: "trigger supersedes a running rebalance", from: schedState{running: true},
			ev: triggerEv("members changed", "topics changed"), want: []action{supersedeAct("members changed", "topics changed")},
			to: schedState{running: true, pending: true}},
		{name: "every trigger supersedes again", from: schedState{running: true, pending: true},
			ev: triggerEv("brokers changed"), want: []action{supersedeAct("brokers changed")}, to: schedState{running: true, pending: true}},
		{name: "trigger while suspended waits", from: schedState{suspended: true},
			ev: triggerEv("members changed"), want: noAction, to: schedState{suspended: true, pending: true}},

		// Sticky owner changes.
		{name: "owners change while a claim waits waits for quiet owners", from: schedState{running: true, claimWaiting: true},
			ev: evt(evOwnersChanged), want: []action{ownersAct("owners changed while a claim waits")},
			to: schedState{running: true, claimWaiting: true, ownersDirty: true}},
		{name: "owners quiet while a claim waits supersedes", from: schedState{running: true, claimWaiting: true, ownersDirty: true},
			ev: quietEv("owners changed while a claim waits"), want: []action{supersedeAct("owners quiet while a claim waits", "owners changed while a claim waits")},
			to: schedState{running: true, claimWaiting: true, ownersDirty: true, pending: true}},
		{name: "owners quiet while a claim waits supersedes once", from: schedState{running: true, claimWaiting: true, ownersDirty: true, pending: true},
			ev: quietEv("o"), want: noAction, to: schedState{running: true, claimWaiting: true, ownersDirty: true, pending: true}},
		{name: "owners change does not supersede a rebalance without waiting claims", from: schedState{running: true},
			ev: evt(evOwnersChanged), want: noAction, to: schedState{running: true, ownersDirty: true}},
		{name: "owners change while idle waits for the owners to calm", from: schedState{},
			ev: evt(evOwnersChanged), want: []action{ownersAct("owners changed")}, to: schedState{}},
		{name: "owners change while suspended waits for the owners to calm", from: schedState{suspended: true},
			ev: evt(evOwnersChanged), want: []action{ownersAct("owners changed")}, to: schedState{suspended: true}},
		{name: "owners quiet while running are remembered", from: schedState{running: true},
			ev: quietEv("owners changed"), want: noAction, to: schedState{running: true, ownersDirty: true}},
		{name: "owners quiet while idle rebalance", from: schedState{},
			ev: quietEv("owners changed"), want: []action{{kind: actOwnersSettled, reasons: []string{"owners changed"}}, start},
			to: schedState{running: true}},
		{name: "owners quiet while suspended rebalance later", from: schedState{suspended: true},
			ev: quietEv("owners changed"), want: []action{{kind: actOwnersSettled, reasons: []string{"owners changed"}}},
			to: schedState{suspended: true, pending: true}},
		{name: "claim waits with clean owners is remembered", from: schedState{running: true},
			ev: evt(evClaimWaits), want: noAction, to: schedState{running: true, claimWaiting: true}},
		{name: "claim waits with changed owners waits for quiet owners", from: schedState{running: true, ownersDirty: true},
			ev: evt(evClaimWaits), want: []action{ownersAct("a claim waits and the owners changed")},
			to: schedState{running: true, ownersDirty: true, claimWaiting: true}},
		{name: "claim waits again changes nothing", from: schedState{running: true, ownersDirty: true, claimWaiting: true},
			ev: evt(evClaimWaits), want: noAction, to: schedState{running: true, ownersDirty: true, claimWaiting: true}},
		{name: "claim wait signal while idle is stale", from: schedState{},
			ev: evt(evClaimWaits), want: noAction, to: schedState{}},

		// Rebalance results.
		{name: "success syncs the topic watches and resets retries", from: schedState{running: true, retries: 3},
			ev: doneEv([]string{"a", "b"}, nil), want: []action{release, syncAct("a", "b")}, to: schedState{}},
		{name: "success without topics read syncs nothing", from: schedState{running: true},
			ev: doneEv(nil, nil), want: []action{release}, to: schedState{}},
		{name: "an empty topic list still syncs", from: schedState{running: true},
			ev: doneEv([]string{}, nil), want: []action{release, {kind: actSyncWatches, topics: []string{}}}, to: schedState{}},
		{name: "pending rebalance starts after the result", from: schedState{running: true, pending: true},
			ev: doneEv([]string{"a"}, context.Canceled), want: []action{release, syncAct("a"), start}, to: schedState{running: true}},
		{name: "owners changed during the rebalance are read again once quiet", from: schedState{running: true, ownersDirty: true},
			ev: doneEv([]string{"a"}, nil), want: []action{release, ownersAct("owners changed during the rebalance"), syncAct("a")},
			to: schedState{ownersDirty: true}},
		{name: "a pending rebalance reads the changed owners anyway", from: schedState{running: true, ownersDirty: true, claimWaiting: true, pending: true},
			ev: doneEv([]string{"a"}, canceled), want: []action{release, syncAct("a"), start}, to: schedState{running: true}},
		{name: "first failure retries after 200ms", from: schedState{running: true},
			ev: doneEv([]string{"a"}, errBoom), want: []action{release, syncAct("a"), retryAct(200*time.Millisecond, errBoom)},
			to: schedState{retries: 1}},
		{name: "second failure retries after 400ms", from: schedState{running: true, retries: 1},
			ev: doneEv(nil, errBoom), want: []action{release, retryAct(400*time.Millisecond, errBoom)}, to: schedState{retries: 2}},
		{name: "retry backoff is capped at 5s", from: schedState{running: true, retries: 5},
			ev: doneEv(nil, errBoom), want: []action{release, retryAct(5*time.Second, errBoom)}, to: schedState{retries: 6}},
		{name: "failure with a pending rebalance retries and starts", from: schedState{running: true, pending: true},
			ev: doneEv(nil, errBoom), want: []action{release, retryAct(200*time.Millisecond, errBoom), start},
			to: schedState{running: true, retries: 1}},
		{name: "cancelled rebalance is no failure and keeps the retry count", from: schedState{running: true, retries: 2},
			ev: doneEv(nil, canceled), want: []action{release}, to: schedState{retries: 2}},
		{name: "retry due while running waits for the result", from: schedState{running: true},
			ev: evt(evRetryDue), want: noAction, to: schedState{running: true, pending: true}},
		{name: "retry due while suspended waits", from: schedState{suspended: true},
			ev: evt(evRetryDue), want: noAction, to: schedState{suspended: true, pending: true}},

		// ZooKeeper silent within the session.
		{name: "silence suspends: cancel handlers first, then stop the rebalance",
			from: schedState{running: true, pending: true, ownersDirty: true},
			ev:   evt(evSilent), want: []action{cancelAct(true), stopReb, loseAct(true)},
			to: schedState{suspended: true, pending: true, ownersDirty: true}},
		{name: "silence while idle", from: schedState{},
			ev: evt(evSilent), want: []action{cancelAct(true), loseAct(true)}, to: schedState{suspended: true}},
		{name: "silence while suspended changes nothing", from: schedState{suspended: true},
			ev: evt(evSilent), want: noAction, to: schedState{suspended: true}},
		{name: "answers again: resume with a rebalance", from: schedState{suspended: true, retries: 1},
			ev: evt(evAnswering), want: []action{resumed, start}, to: schedState{running: true, retries: 1}},
		{name: "answering while not suspended changes nothing", from: schedState{running: true},
			ev: evt(evAnswering), want: noAction, to: schedState{running: true}},

		// The end of the session.
		{name: "session expiry cancels handlers, stops the rebalance, loses handlers", from: schedState{running: true, pending: true},
			ev: evt(evSessionExpired), want: []action{cancelAct(false), stopReb, loseAct(false)}, to: schedState{pending: true}},
		{name: "session expiry while idle", from: schedState{},
			ev: evt(evSessionExpired), want: []action{cancelAct(false), loseAct(false)}, to: schedState{}},
		{name: "session expiry while suspended loses the kept claims", from: schedState{suspended: true},
			ev: evt(evSessionExpired), want: []action{cancelAct(false), loseAct(false)}, to: schedState{suspended: true}},
		{name: "close stops the rebalance", from: schedState{running: true, pending: true},
			ev: evt(evClose), want: []action{stopReb}, to: schedState{pending: true}},
		{name: "close while idle", from: schedState{suspended: true},
			ev: evt(evClose), want: noAction, to: schedState{suspended: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &scheduler{schedState: tt.from}
			got := s.handle(tt.ev)
			if !sameActions(got, tt.want) {
				t.Errorf("%v: actions\n got %v\nwant %v", tt.ev.kind, got, tt.want)
			}
			if s.schedState != tt.to {
				t.Errorf("%v: state\n got %+v\nwant %+v", tt.ev.kind, s.schedState, tt.to)
			}
		})
	}
}

// TestScheduleSequences: event sequences from a new session.
func TestScheduleSequences(t *testing.T) {
	type step struct {
		ev   event
		want []action
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{name: "failures back off, doubling to the cap; success resets", steps: []step{
			{evt(evStart), []action{start}},
			{doneEv([]string{"a"}, errBoom), []action{release, syncAct("a"), retryAct(200*time.Millisecond, errBoom)}},
			{evt(evRetryDue), []action{start}},
			{doneEv(nil, errBoom), []action{release, retryAct(400*time.Millisecond, errBoom)}},
			{evt(evRetryDue), []action{start}},
			{doneEv(nil, errBoom), []action{release, retryAct(800*time.Millisecond, errBoom)}},
			{evt(evRetryDue), []action{start}},
			{doneEv(nil, errBoom), []action{release, retryAct(1600*time.Millisecond, errBoom)}},
			{evt(evRetryDue), []action{start}},
			{doneEv(nil, errBoom), []action{release, retryAct(3200*time.Millisecond, errBoom)}},
			{evt(evRetryDue), []action{start}},
			{doneEv(nil, errBoom), []action{release, retryAct(5*time.Second, errBoom)}},
			{evt(evRetryDue), []action{start}},
			{doneEv([]string{"a"}, nil), []action{release, syncAct("a")}},
			{triggerEv("members changed"), []action{start}},
			{doneEv(nil, errBoom), []action{release, retryAct(200*time.Millisecond, errBoom)}},
		}},
		{name: "a silence suspends until ZooKeeper answers again", steps: []step{
			{evt(evStart), []action{start}},
			{evt(evSilent), []action{cancelAct(true), stopReb, loseAct(true)}},
			{triggerEv("members changed"), noAction},
			{evt(evRetryDue), noAction},
			{evt(evAnswering), []action{resumed, start}},
			{doneEv([]string{"a"}, nil), []action{release, syncAct("a")}},
		}},
		{name: "suspended then the session expires", steps: []step{
			{evt(evStart), []action{start}},
			{evt(evSilent), []action{cancelAct(true), stopReb, loseAct(true)}},
			{evt(evSessionExpired), []action{cancelAct(false), loseAct(false)}},
		}},
		{name: "sticky: owner changes wait for quiet owners, and then supersede a waiting claim", steps: []step{
			{evt(evStart), []action{start}},
			{evt(evOwnersChanged), noAction}, // remembered
			{evt(evOwnersChanged), noAction},
			{evt(evClaimWaits), []action{ownersAct("a claim waits and the owners changed")}},
			{evt(evClaimWaits), noAction},
			{quietEv("a claim waits and the owners changed"), []action{supersedeAct("owners quiet while a claim waits", "a claim waits and the owners changed")}},
			{doneEv([]string{"a"}, context.Canceled), []action{release, syncAct("a"), start}},
			{evt(evClaimWaits), []action{}}, // a new rebalance: flags were reset
			{evt(evOwnersChanged), []action{ownersAct("owners changed while a claim waits")}},
			{evt(evOwnersChanged), []action{ownersAct("owners changed while a claim waits")}},
			{doneEv([]string{"a"}, nil), []action{release, ownersAct("owners changed during the rebalance"), syncAct("a")}}, // the claim got its partition
			{quietEv("owners changed while a claim waits", "owners changed during the rebalance"), []action{
				{kind: actOwnersSettled, reasons: []string{"owners changed while a claim waits", "owners changed during the rebalance"}}, start}},
			{evt(evOwnersChanged), noAction},
			{doneEv([]string{"a"}, nil), []action{release, ownersAct("owners changed during the rebalance"), syncAct("a")}},
			{evt(evOwnersChanged), []action{ownersAct("owners changed")}},
			{quietEv("owners changed during the rebalance", "owners changed"), []action{
				{kind: actOwnersSettled, reasons: []string{"owners changed during the rebalance", "owners changed"}}, start}},
			{doneEv([]string{"a"}, nil), []action{release, syncAct("a")}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newScheduler()
			for i, st := range tt.steps {
				if got := s.handle(st.ev); !sameActions(got, st.want) {
					t.Fatalf("step %d (%v): actions\n got %v\nwant %v", i, st.ev.kind, got, st.want)
				}
			}
		})
	}
}

// TestScheduleInvariant: after every event of any sequence, a pending
// rebalance waits only for a running one or a suspension.
func TestScheduleInvariant(t *testing.T) {
	evs := []event{triggerEv("x"), evt(evOwnersChanged), quietEv("o"), evt(evClaimWaits),
		doneEv([]string{"a"}, nil), doneEv(nil, errBoom), doneEv(nil, context.Canceled), evt(evRetryDue),
		evt(evSilent), evt(evAnswering)}
	// Every sequence of 5 events after the start (a result only while
	// running, as the loop delivers them).
	var walk func(s scheduler, depth int, trail []eventKind)
	walk = func(s scheduler, depth int, trail []eventKind) {
		if s.pending && !s.running && !s.suspended {
			t.Fatalf("%v: pending rebalance not started: %+v", trail, s.schedState)
		}
		if depth == 0 {
			return
		}
		for _, ev := range evs {
			if ev.kind == evRebalanceDone && !s.running {
				continue
			}
			next := s
			acts := next.handle(ev)
			starts := 0
			for _, a := range acts {
				if a.kind == actStartRebalance {
					starts++
				}
			}
			if starts > 1 || starts == 1 && acts[len(acts)-1].kind != actStartRebalance {
				t.Fatalf("%v %v: start must come last and once: %v", trail, ev.kind, acts)
			}
			if next.suspended && next.running {
				t.Fatalf("%v %v: a rebalance runs while suspended: %+v", trail, ev.kind, next.schedState)
			}
			walk(next, depth-1, append(trail[:len(trail):len(trail)], ev.kind))
		}
	}
	s := newScheduler()
	s.handle(evt(evStart))
	walk(*s, 5, nil)
}

func TestScheduleRetryBackoff(t *testing.T) {
	want := []time.Duration{200, 400, 800, 1600, 3200, 5000, 5000}
	for i, w := range want {
		if got := rebalanceRetry.Delay(i, 0.5); got != w*time.Millisecond {
			t.Errorf("retry %d: %s, want %s", i, got, w*time.Millisecond)
		}
	}
}

func TestScheduleTriggerPolicy(t *testing.T) {
	tests := []struct {
		assignor string
		layout   Layout
		want     triggerPolicy
	}{
		{partition.ScalaRange, LayoutScala, triggerPolicy{}},
		{partition.ScalaRoundRobin, LayoutScala, triggerPolicy{}},
		{partition.Sticky, LayoutScala, triggerPolicy{ownerWatches: true}},
		{partition.PykafkaRange, LayoutPykafka, triggerPolicy{leaderWatches: true}},
		{partition.PykafkaRoundRobin, LayoutPykafka, triggerPolicy{leaderWatches: true}},
		{partition.Sticky, LayoutPykafka, triggerPolicy{ownerWatches: true, leaderWatches: true}},
	}
	for _, tt := range tests {
		if got := policyFor(Config{Assignor: tt.assignor, Layout: tt.layout}); got != tt.want {
			t.Errorf("%s/%v: %+v, want %+v", tt.assignor, tt.layout, got, tt.want)
		}
	}
}

func TestScheduleWatchFilters(t *testing.T) {
	t.Run("firstUnless", func(t *testing.T) {
		same := func(s zkwatch.Snapshot) bool { return s.Exists && s.Stat != nil && s.Stat.Mzxid == 7 }
		f := firstUnless(same)
		read := zkwatch.Snapshot{Exists: true, Stat: &zkwatch.Stat{Mzxid: 7}}
		if f(read) {
			t.Error("first snapshot equal to what was read triggered")
		}
		if !f(read) {
			t.Error("a later snapshot did not trigger")
		}
		if !firstUnless(same)(zkwatch.Snapshot{Exists: true, Stat: &zkwatch.Stat{Mzxid: 8}}) {
			t.Error("first snapshot newer than what was read did not trigger")
		}
	})
	t.Run("leaderChanged", func(t *testing.T) {
		state := func(leader, isr string) zkwatch.Snapshot {
			return zkwatch.Snapshot{Exists: true, Path: "/brokers/topics/t/partitions/0/state",
				Data: []byte(`{"controller_epoch":1,"leader":` + leader + `,"version":1,"leader_epoch":0,"isr":[` + isr + `]}`)}
		}
		f := leaderChanged(1)
		steps := []struct {
			snap zkwatch.Snapshot
			want bool
		}{
			{state("1", "1,2"), false},               // the leader read
			{state("1", "1"), false},                 // ISR only
			{state("2", "2"), true},                  // new leader
			{zkwatch.Snapshot{Exists: false}, true},  // gone: -1
			{zkwatch.Snapshot{Exists: false}, false}, // still -1
			{zkwatch.Snapshot{Exists: true, Path: "/brokers/topics/t/partitions/0/state", Data: []byte("{")}, false}, // malformed: -1
			{state("2", "2"), true},
		}
		for i, st := range steps {
			if got := f(st.snap); got != st.want {
				t.Errorf("step %d: %v, want %v", i, got, st.want)
			}
		}
	})
}
