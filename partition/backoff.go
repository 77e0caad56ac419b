package partition

import (
	"math"
	"time"
)

// Backoff is exponential backoff with jitter: attempt n waits
// Initial*Multiplier^n, capped at Max, spread by ±Jitter (a fraction).
// The zero value means the defaults: 50ms doubling to 2s with 20% jitter.
type Backoff struct {
	Initial    time.Duration
	Max        time.Duration
	Multiplier float64
	Jitter     float64
}

// DefaultBackoff is the claim backoff used when none is configured.
var DefaultBackoff = Backoff{Initial: 50 * time.Millisecond, Max: 2 * time.Second, Multiplier: 2, Jitter: 0.2}

// withDefaults fills zero fields from DefaultBackoff.
func (b Backoff) withDefaults() Backoff {
	if b == (Backoff{}) {
		return DefaultBackoff
	}
	if b.Initial <= 0 {
		b.Initial = DefaultBackoff.Initial
	}
	if b.Max <= 0 {
		b.Max = DefaultBackoff.Max
	}
	if b.Max < b.Initial {
		b.Max = b.Initial
	}
	if b.Multiplier < 1 {
		b.Multiplier = DefaultBackoff.Multiplier
	}
	if b.Jitter < 0 || b.Jitter > 1 {
		b.Jitter = DefaultBackoff.Jitter
	}
	return b
}

// Delay is the wait before retry number attempt (0-based). rnd is a random
// number in [0,1) supplying the jitter (0.5 means none); Delay is pure, so
// tests pass fixed values.
func (b Backoff) Delay(attempt int, rnd float64) time.Duration {
	b = b.withDefaults()
	if attempt < 0 {
		attempt = 0
	}
	d := float64(b.Initial) * math.Pow(b.Multiplier, float64(attempt))
	if d > float64(b.Max) || math.IsInf(d, 0) || math.IsNaN(d) {
		d = float64(b.Max)
	}
	if rnd < 0 {
		rnd = 0
	} else if rnd >= 1 {
		rnd = math.Nextafter(1, 0)
	}
	d *= 1 + b.Jitter*(2*rnd-1)
	return time.Duration(d)
}
