package balanced

import (
	"time"

	"github.com/zkbalance/zkbalance/zkwatch"
)

// When a member stops its handlers because ZooKeeper may have expired its
// session: not when a disconnect is noticed, but when no server has
// answered for the silence limit (Config.LostAfterDisconnect, default half
// the session timeout).
//
// The server expires a session one session timeout after it last heard
// from the client, and it answers (at least go-zookeeper's pings, every
// third of the session timeout) whenever it hears, so the time since the
// last answer bounds how close the session is to expiry, whatever the
// connection looks like. A reset connection (a server restarted or killed)
// is noticed at once, but the session is alive for a session timeout after
// the last answer: a member that reconnects to another server of the
// ensemble before the limit pauses nothing. A silent partition is noticed by
// go-zookeeper only when its read times out, two thirds of the session
// timeout after the last answer; the handlers stop before that, at the
// limit, a margin of half the session timeout before the server can expire
// the session.

// silencePoll is how often a member whose handlers are stopped for
// silence looks for an answer again (a stall ended on the same
// connection, which no session event reports).
const silencePoll = 100 * time.Millisecond

// silenceLimit is how long ZooKeeper may go without answering before the
// handlers stop: configured (Config.LostAfterDisconnect), or half of
// requested (Config.SessionTimeout) when 0, scaled down in proportion when
// the server negotiated a shorter session timeout than requested. Pure.
func silenceLimit(configured, requested, negotiated time.Duration) time.Duration {
	limit := configured
	if limit <= 0 {
		limit = requested / 2
	}
	if negotiated > 0 && requested > 0 && negotiated < requested {
		limit = time.Duration(float64(limit) * float64(negotiated) / float64(requested))
	}
	return limit
}

// silenceVerdict is what a member does about ZooKeeper's silence.
type silenceVerdict int

const (
	// silenceNone: nothing changes.
	silenceNone silenceVerdict = iota
	// silenceStop: no answer for the limit: stop the handlers.
	silenceStop
	// silenceResume: the handlers were stopped for silence and ZooKeeper
	// has answered since.
	silenceResume
)

func (v silenceVerdict) String() string {
	return [...]string{"none", "stop", "resume"}[v]
}

// judgeSilence decides, from the time since ZooKeeper last answered
// (silent), the limit and whether the handlers are stopped for silence,
// what to do now and when to look again. Stopped handlers resume once an
// answer is younger than the limit (they were stopped when none was): the
// session was alive when it came. Pure.
func judgeSilence(silent, limit time.Duration, stopped bool) (silenceVerdict, time.Duration) {
	switch {
	case silent >= limit && !stopped:
		return silenceStop, silencePoll
	case silent >= limit:
		return silenceNone, silencePoll
	case stopped:
		return silenceResume, limit - silent
	default:
		return silenceNone, limit - silent
	}
}

// silenceWatch applies judgeSilence on a timer, for a loop's select: when
// C fires the loop calls check. Only the loop's goroutine uses it.
type silenceWatch struct {
	sess  *zkwatch.Conn
	limit time.Duration
	timer *time.Timer
}

// newSilenceWatch watches sess's answers against limit; C first fires
// when the limit has passed since the last answer.
func newSilenceWatch(sess *zkwatch.Conn, limit time.Duration) *silenceWatch {
	return &silenceWatch{sess: sess, limit: limit,
		timer: time.NewTimer(max(0, limit-time.Since(sess.LastAnswer())))}
}

// C fires when the watch should be checked.
func (w *silenceWatch) C() <-chan time.Time { return w.timer.C }

// check judges the silence now (stopped: the handlers are stopped for
// silence), re-arms C and returns the verdict and how long ZooKeeper has
// been silent. A resume needs a session too: an answer of a new session
// (the old one expired) resumes nothing.
func (w *silenceWatch) check(stopped bool) (silenceVerdict, time.Duration) {
	silent := time.Since(w.sess.LastAnswer())
	v, next := judgeSilence(silent, w.limit, stopped)
	if v == silenceResume && w.sess.State() != zkwatch.StateHasSession {
		v, next = silenceNone, silencePoll
	}
	w.timer.Reset(next)
	return v, silent
}

// lookNow makes C fire at once (a session event: the connection is back).
func (w *silenceWatch) lookNow() { w.timer.Reset(0) }

// stop stops the timer.
func (w *silenceWatch) stop() { w.timer.Stop() }
