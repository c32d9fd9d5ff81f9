package sidecar

import "time"

// deadline caches a connection deadline. extend moves it only when it
// would move by at least a sixteenth of the timeout, so a busy connection
// does not update the runtime's timer on every request (a measurable cost
// at tens of thousands of requests per second), and a timeout fires at most
// 1/16 of its length early — never late.
type deadline struct {
	at  time.Time
	set func(time.Time) error
}

// extend makes the deadline now+timeout, or keeps a current one that is at
// most timeout/16 earlier.
func (d *deadline) extend(now time.Time, timeout time.Duration) {
	want := now.Add(timeout)
	if lag := want.Sub(d.at); lag >= 0 && lag < timeout/16 {
		return
	}
	d.to(want)
}

// to sets the deadline exactly.
func (d *deadline) to(t time.Time) {
	d.at = t
	_ = d.set(t)
}
