package balanced

import (
	"testing"
	"time"
)

func TestSilenceLimit(t *testing.T) {
	const s = time.Second
	for _, tt := range []struct {
		name                           string
		configured, requested, granted time.Duration
		want                           time.Duration
	}{
		{"default: half the session timeout", 0, 6 * s, 6 * s, 3 * s},
		{"configured", 4 * s, 6 * s, 6 * s, 4 * s},
		{"no handshake yet", 0, 6 * s, 0, 3 * s},
		{"a longer grant changes nothing", 0, 6 * s, 10 * s, 3 * s},
		{"a shorter grant shrinks it in proportion", 0, 6 * s, 3 * s, 1500 * time.Millisecond},
		{"a shorter grant shrinks a configured limit too", 4 * s, 6 * s, 3 * s, 2 * s},
	} {
		if got := silenceLimit(tt.configured, tt.requested, tt.granted); got != tt.want {
			t.Errorf("%s: silenceLimit(%s, %s, %s) = %s, want %s", tt.name, tt.configured, tt.requested, tt.granted, got, tt.want)
		}
	}
}

func TestJudgeSilence(t *testing.T) {
	const limit = 3 * time.Second
	ms := time.Millisecond
	for _, tt := range []struct {
		name     string
		silent   time.Duration
		stopped  bool
		want     silenceVerdict
		wantNext time.Duration
	}{
		{"fresh answer: look again when the limit would pass", 500 * ms, false, silenceNone, 2500 * ms},
		{"a ping interval of silence is normal", 2100 * ms, false, silenceNone, 900 * ms},
		{"a reset noticed at once is not a reason: only the silence counts", 10 * ms, false, silenceNone, 2990 * ms},
		{"silent for the limit: stop", limit, false, silenceStop, silencePoll},
		{"silent longer (a partition noticed at 2/3 of the session): stop", 4 * time.Second, false, silenceStop, silencePoll},
		{"stopped and still silent: poll", 5 * time.Second, true, silenceNone, silencePoll},
		{"stopped and answered since: resume", 20 * ms, true, silenceResume, 2980 * ms},
		{"stopped, answered just under the limit ago: resume", limit - ms, true, silenceResume, ms},
	} {
		v, next := judgeSilence(tt.silent, limit, tt.stopped)
		if v != tt.want || next != tt.wantNext {
			t.Errorf("%s: judgeSilence(%s, %s, %v) = %s, %s; want %s, %s", tt.name, tt.silent, limit, tt.stopped, v, next, tt.want, tt.wantNext)
		}
	}
}
