package live

import (
	"math"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/nicrt/nicrt/nicsim/model"
)

// never is a deadline that does not come.
const never = model.Time(math.MaxInt64)

// clock is the NIC's time base: simulated time is real time since the NIC
// started, in the model's picoseconds, so the model is evaluated on real
// arrival times.
type clock struct{ start time.Time }

func (c *clock) now() model.Time { return model.Time(time.Since(c.start)) * model.Nanosecond }

// wall converts a simulated instant back to wall-clock nanoseconds since
// the epoch (pcap timestamps).
func (c *clock) wall(t model.Time) int64 { return c.start.UnixNano() + t.Nanoseconds() }

// spinUntil busy-waits until the clock reaches t or gen moves away from
// seen (new work may have an earlier deadline). With yield, it lets the
// other goroutines of its P run between clock reads until the last
// tightSpin before t, then spins without yielding: yielding hands the P to
// the goroutines a release just woke, but one that runs long would make
// the spinner miss the deadline. Callers bound how far ahead they spin.
func (c *clock) spinUntil(t model.Time, gen *atomic.Uint64, seen uint64, yield bool) {
	for {
		now := c.now()
		if now >= t || gen.Load() != seen {
			return
		}
		if yield && t-now > tightSpin {
			runtime.Gosched()
		}
	}
}

// tightSpin is the final stretch before a deadline the clock goroutine
// spins without yielding.
const tightSpin = 20 * model.Microsecond

// margin estimates how much earlier than a deadline the clock goroutine
// must ask the OS to wake it, so that it wakes before the deadline and
// spins the rest: a smoothed mean of the observed oversleep plus four
// smoothed deviations (the estimator TCP uses for its retransmission
// timer), clamped to [minMargin, maxMargin].
type margin struct {
	mean, dev float64 // ns
}

const (
	minMargin = 10 * time.Microsecond
	maxMargin = 500 * time.Microsecond
)

func newMargin() margin { return margin{mean: 30e3, dev: 10e3} }

func (m *margin) observe(over time.Duration) {
	// An oversleep of milliseconds is the host preempting us, not the
	// timer's precision: spinning that long before every deadline would
	// not be worth it, so such samples count as the cap.
	x := float64(min(over, maxMargin))
	d := x - m.mean
	m.mean += d / 8
	if d < 0 {
		d = -d
	}
	m.dev += (d - m.dev) / 4
}

func (m *margin) get() time.Duration {
	return min(max(time.Duration(m.mean+4*m.dev), minMargin), maxMargin)
}
