//go:build !linux

package live

import "time"

// timer is the clock goroutine's alarm. This portable version is a Go
// timer, coarser than the Linux timerfd; the spin before each deadline
// makes up the difference.
type timer struct {
	t *time.Timer
	c chan struct{}
}

func newTimer() (*timer, error) {
	t := &timer{c: make(chan struct{}, 1)}
	t.t = time.AfterFunc(time.Hour, func() {
		select {
		case t.c <- struct{}{}:
		default:
		}
	})
	return t, nil
}

func (t *timer) arm(d time.Duration) { t.t.Reset(max(d, 1)) }

func (t *timer) close() { t.t.Stop() }
