package balanced

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/zkbalance/zkbalance/partition"
)

// rebalanceRetry is the wait before retrying a failed rebalance: 200ms
// doubling to 5s (rnd 0.5 in Delay: no jitter).
var rebalanceRetry = partition.Backoff{Initial: 200 * time.Millisecond, Max: 5 * time.Second, Multiplier: 2}

// scheduler holds the session loop's decisions: when to start a
// rebalance, when a newer trigger supersedes the running one, when owner
// changes are answered, when handlers stop because ZooKeeper has been
// silent too long and when they resume. (When it has been silent too long
// is silence.go's judgeSilence.) It is a pure state machine: handle takes one event
// and returns the actions the loop performs, in order; it does no I/O,
// starts no goroutine and reads no clock (delays are values in actions).
// One goroutine (the session loop) uses it.
type scheduler struct {
	schedState
}

// schedState is the scheduler's mutable state.
type schedState struct {
	// pending: a rebalance is due; it starts once none runs and the
	// handlers are not suspended.
	pending bool
	// running: a rebalance runs; its result is still to come.
	running bool
	// suspended: ZooKeeper was silent for the silence limit (see
	// silence.go) and the handlers are stopped until it answers again in
	// the same session.
	suspended bool
	// retries counts the rebalances that failed in a row.
	retries int
	// Sticky groups: owner changes do not supersede a running rebalance
	// (each member's claims and releases would restart everyone's). They
	// are remembered (ownersDirty) and, like changes seen while idle,
	// answered by another rebalance once the owners have been quiet for
	// 10 x RebalanceDelay (at most 50 x after the first change; the owners
	// coalescer's periods). Every member thus reads the owners again after
	// the last change, so all compute with the same input and agree,
	// without a storm of reads while partitions are still moving.
	//
	// A rebalance that waits for a partition another member holds
	// (claimWaiting) while the owners change is superseded, but only once
	// the owners have been quiet (the coalescer runs then too): the holder
	// may be keeping it on newer owners than this member read, but the
	// change is usually the very release the claim waits for, which the
	// claim takes at once (superseding it would read everything again).
	ownersDirty, claimWaiting bool
}

// newScheduler returns the scheduler of a new session: its first
// rebalance is pending (it needs no trigger) and starts on evStart.
func newScheduler() *scheduler {
	return &scheduler{schedState: schedState{pending: true}}
}

// eventKind is what happened, as the session loop tells the scheduler.
type eventKind int

const (
	// evStart: the member is registered and its session watches are set.
	evStart eventKind = iota + 1
	// evTrigger: a coalesced burst of rebalance triggers (reasons).
	evTrigger
	// evOwnersChanged: an owners directory changed (owner watches).
	evOwnersChanged
	// evOwnersQuiet: the owners coalescer's signal (reasons): owner
	// changes have calmed down.
	evOwnersQuiet
	// evClaimWaits: a claim of the running rebalance waits for a
	// partition another member holds.
	evClaimWaits
	// evRebalanceDone: the running rebalance reported (result).
	evRebalanceDone
	// evRetryDue: the retry timer of a failed rebalance fired.
	evRetryDue
	// evSilent: ZooKeeper has not answered for the silence limit (the
	// connection may look up or down): the server may expire the session
	// soon.
	evSilent
	// evAnswering: ZooKeeper answers again in the same session after an
	// evSilent.
	evAnswering
	// evSessionExpired: the session is gone; the loop returns after the
	// actions (the caller opens a new session).
	evSessionExpired
	// evClose: the member shuts down; the loop returns after the actions.
	evClose
)

var eventNames = [...]string{"?", "start", "trigger", "owners changed", "owners quiet", "claim waits",
	"rebalance done", "retry due", "silent", "answering", "session expired", "close"}

func (k eventKind) String() string {
	if k < 0 || int(k) >= len(eventNames) {
		return fmt.Sprintf("event(%d)", int(k))
	}
	return eventNames[k]
}

// event is one input of the scheduler.
type event struct {
	kind    eventKind
	reasons []string        // evTrigger, evOwnersQuiet
	result  rebalanceResult // evRebalanceDone
}

// actionKind is what the session loop does.
type actionKind int

const (
	// actStartRebalance: forget earlier claim-wait signals and start a
	// rebalance on its own goroutine.
	actStartRebalance actionKind = iota + 1
	// actSupersede: log the reasons, count a superseded rebalance and
	// cancel the running one (its result still comes, as evRebalanceDone).
	actSupersede
	// actReleaseRebalance: the rebalance reported; release its context.
	actReleaseRebalance
	// actStopRebalance: cancel the running rebalance, wait for its result
	// and sync the topic watches to the topics it read, if it read them.
	actStopRebalance
	// actSyncWatches: watch exactly these topics (topics).
	actSyncWatches
	// actTriggerOwners: trigger the owners coalescer (reason).
	actTriggerOwners
	// actOwnersSettled: log that the owners are quiet (reasons); a
	// rebalance is pending.
	actOwnersSettled
	// actArmRetry: log the failure (err) and fire evRetryDue after delay,
	// replacing an armed retry.
	actArmRetry
	// actCancelHandlers: cancel every handler's context at once (cause
	// ErrSessionExpired); with keepClaims (suspending) first log that the
	// handlers stop until the session is back.
	actCancelHandlers
	// actLoseHandlers: stop every handler, calling OnLost (cause
	// ErrSessionExpired); keepClaims keeps the owner znodes for the next
	// rebalance of the same session.
	actLoseHandlers
	// actResumed: log that the same session is back.
	actResumed
)

var actionNames = [...]string{"?", "start rebalance", "supersede", "release rebalance", "stop rebalance",
	"sync watches", "trigger owners", "owners settled", "arm retry",
	"cancel handlers", "lose handlers", "resumed"}

func (k actionKind) String() string {
	if k < 0 || int(k) >= len(actionNames) {
		return fmt.Sprintf("action(%d)", int(k))
	}
	return actionNames[k]
}

// action is one thing the session loop does, with its arguments.
type action struct {
	kind       actionKind
	reasons    []string      // actSupersede, actTriggerOwners (one), actOwnersSettled
	topics     []string      // actSyncWatches
	delay      time.Duration // actArmRetry
	err        error         // actArmRetry
	keepClaims bool          // actCancelHandlers, actLoseHandlers
}

func (a action) String() string {
	s := a.kind.String()
	switch a.kind {
	case actSupersede, actTriggerOwners, actOwnersSettled:
		s += fmt.Sprintf("%q", a.reasons)
	case actSyncWatches:
		s += fmt.Sprint(a.topics)
	case actArmRetry:
		s += fmt.Sprintf("(%s, %v)", a.delay, a.err)
	case actCancelHandlers, actLoseHandlers:
		if a.keepClaims {
			s += "(keep claims)"
		}
	}
	return s
}

// handle applies ev and returns the actions to perform, in order. After
// evSessionExpired and evClose the loop returns.
func (s *scheduler) handle(ev event) []action {
	var acts []action
	switch ev.kind {
	case evStart:
	case evTrigger:
		s.pending = true
		if s.running {
			acts = append(acts, action{kind: actSupersede, reasons: ev.reasons})
		}
	case evOwnersChanged:
		switch {
		case s.running && s.claimWaiting:
			s.ownersDirty = true
			acts = append(acts, action{kind: actTriggerOwners, reasons: []string{"owners changed while a claim waits"}})
		case s.running:
			s.ownersDirty = true
		default:
			acts = append(acts, action{kind: actTriggerOwners, reasons: []string{"owners changed"}})
		}
	case evOwnersQuiet:
		switch {
		case s.running && s.claimWaiting && !s.pending:
			s.ownersDirty, s.pending = true, true
			acts = append(acts, action{kind: actSupersede, reasons: append([]string{"owners quiet while a claim waits"}, ev.reasons...)})
		case s.running:
			s.ownersDirty = true
		default:
			s.pending = true
			acts = append(acts, action{kind: actOwnersSettled, reasons: ev.reasons})
		}
	case evClaimWaits:
		if s.running && !s.claimWaiting {
			s.claimWaiting = true
			if s.ownersDirty {
				acts = append(acts, action{kind: actTriggerOwners, reasons: []string{"a claim waits and the owners changed"}})
			}
		}
	case evRebalanceDone:
		acts = s.done(ev.result)
	case evRetryDue:
		s.pending = true
	case evSilent:
		acts = s.suspend(acts)
	case evAnswering:
		if s.suspended {
			s.suspended, s.pending = false, true
			acts = append(acts, action{kind: actResumed})
		}
	case evSessionExpired:
		acts = append(acts, action{kind: actCancelHandlers})
		acts = s.stop(acts)
		return append(acts, action{kind: actLoseHandlers})
	case evClose:
		return s.stop(acts)
	}
	return s.next(acts)
}

// done handles the running rebalance's result.
func (s *scheduler) done(r rebalanceResult) []action {
	s.running = false
	acts := []action{{kind: actReleaseRebalance}}
	if s.ownersDirty && !s.pending { // a pending rebalance reads them anyway
		acts = append(acts, action{kind: actTriggerOwners, reasons: []string{"owners changed during the rebalance"}})
	}
	if r.topics != nil {
		acts = append(acts, action{kind: actSyncWatches, topics: r.topics})
	}
	switch {
	case r.err == nil:
		s.retries = 0
	case !errors.Is(r.err, context.Canceled):
		s.retries++
		acts = append(acts, action{kind: actArmRetry, delay: rebalanceRetry.Delay(s.retries-1, 0.5), err: r.err})
	}
	return acts
}

// suspend stops every handler while the session may be gone: nothing is
// committed; the claims stay and are resumed or released by the next
// rebalance once the same session is back. The handlers' contexts are
// cancelled first, before anything that may wait.
func (s *scheduler) suspend(acts []action) []action {
	if s.suspended {
		return acts
	}
	acts = append(acts, action{kind: actCancelHandlers, keepClaims: true})
	acts = s.stop(acts)
	s.suspended = true
	return append(acts, action{kind: actLoseHandlers, keepClaims: true})
}

// stop stops the running rebalance, if any.
func (s *scheduler) stop(acts []action) []action {
	if s.running {
		s.running = false
		acts = append(acts, action{kind: actStopRebalance})
	}
	return acts
}

// next starts the pending rebalance if nothing prevents it.
func (s *scheduler) next(acts []action) []action {
	if s.pending && !s.suspended && !s.running {
		s.pending, s.running = false, true
		s.ownersDirty, s.claimWaiting = false, false
		acts = append(acts, action{kind: actStartRebalance})
	}
	return acts
}
