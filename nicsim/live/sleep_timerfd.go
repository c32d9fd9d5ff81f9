//go:build linux

package live

import (
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// timer is the clock goroutine's alarm. On Linux it is a timerfd read
// through Go's network poller by a small goroutine that forwards each
// expiry to a channel: the kernel's high-resolution timer fires without
// timer slack, and nothing holds a P while waiting. Go's own timers are not
// used because an idle Go process waits for them in epoll with millisecond
// granularity.
type timer struct {
	f  *os.File
	fd int
	c  chan struct{}
}

func newTimer() (*timer, error) {
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return nil, err
	}
	t := &timer{f: os.NewFile(uintptr(fd), "nicsim-clock"), fd: fd, c: make(chan struct{}, 1)}
	go t.forward()
	return t, nil
}

func (t *timer) forward() {
	var buf [8]byte
	for {
		if _, err := t.f.Read(buf[:]); err != nil {
			return // closed
		}
		select {
		case t.c <- struct{}{}:
		default:
		}
	}
}

// arm sets the alarm to fire after d (at least 1 ns: zero would disarm).
func (t *timer) arm(d time.Duration) {
	spec := unix.ItimerSpec{Value: unix.NsecToTimespec(int64(max(d, 1)))}
	_ = unix.TimerfdSettime(t.fd, 0, &spec, nil)
}

func (t *timer) close() { t.f.Close() }
