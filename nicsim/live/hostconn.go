package live

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/nicrt/nicrt/nicsim/frame"
)

// hostConn is the host application's end of a connection through the NIC:
// what a wrapped listener's Accept and the NIC's DialContext return. Reads
// see the bytes the NIC released toward the host (its receive ring); writes
// hand bytes to the NIC (its transmit ring), returning once they are
// queued, as a socket write returns once the kernel has the bytes.
type hostConn struct {
	n     *NIC
	in    *half // the half whose released bytes this conn reads
	out   *half // the half this conn's writes feed
	laddr net.Addr
	raddr net.Addr

	mu       sync.Mutex
	buf      []byte
	rpos     int
	eof      bool
	reset    bool
	closed   bool
	wclosed  bool
	readable chan struct{}
	rdl, wdl deadline

	wmu sync.Mutex // serializes writes (each is one ordered offer)
	wf  filler
}

func newHostConn(n *NIC, in, out *half, laddr, raddr net.Addr) *hostConn {
	hc := &hostConn{n: n, in: in, out: out, laddr: laddr, raddr: raddr, readable: make(chan struct{}, 1)}
	hc.rdl.init(hc.signal)
	hc.wdl.init(func() {
		select {
		case out.roomWait <- struct{}{}:
		default:
		}
	})
	return hc
}

// errReset is what reads and writes return on a connection the peer or
// the NIC reset.
var errReset = &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}

func (hc *hostConn) signal() {
	select {
	case hc.readable <- struct{}{}:
	default:
	}
}

// ---- the NIC's side: a sink ----------------------------------------------------

func (hc *hostConn) deliver(bufs [][]byte) {
	hc.mu.Lock()
	if !hc.closed && !hc.reset {
		if hc.rpos == len(hc.buf) {
			hc.buf, hc.rpos = hc.buf[:0], 0
		}
		for _, b := range bufs {
			hc.buf = append(hc.buf, b...)
		}
	}
	hc.mu.Unlock()
	hc.signal()
}

func (hc *hostConn) closeWrite() {
	hc.mu.Lock()
	hc.eof = true
	hc.mu.Unlock()
	hc.signal()
}

func (hc *hostConn) abort() {
	hc.mu.Lock()
	hc.reset = true
	hc.buf, hc.rpos = nil, 0
	hc.mu.Unlock()
	hc.signal()
}

// ---- the host's side: a net.Conn ---------------------------------------------------

// Read reads bytes the NIC released toward the host.
func (hc *hostConn) Read(p []byte) (int, error) {
	for {
		hc.mu.Lock()
		switch {
		case hc.closed:
			hc.mu.Unlock()
			return 0, net.ErrClosed
		case hc.rpos < len(hc.buf):
			k := copy(p, hc.buf[hc.rpos:])
			hc.rpos += k
			hc.mu.Unlock()
			return k, nil
		case hc.reset:
			hc.mu.Unlock()
			return 0, errReset
		case hc.eof:
			hc.mu.Unlock()
			return 0, io.EOF
		case hc.rdl.passed():
			hc.mu.Unlock()
			return 0, os.ErrDeadlineExceeded
		}
		hc.mu.Unlock()
		if len(p) == 0 {
			return 0, nil
		}
		<-hc.readable
	}
}

// Write hands p to the NIC; it blocks only while the NIC has a full budget
// of this direction's bytes in flight.
func (hc *hostConn) Write(p []byte) (int, error) {
	hc.wmu.Lock()
	defer hc.wmu.Unlock()
	written := 0
	for len(p) > 0 {
		if err := hc.writable(); err != nil {
			return written, err
		}
		ck := hc.wf.room(len(p))
		k := copy(ck.b[ck.used:], p)
		data := ck.b[ck.used : ck.used+k]
		ck.used += k
		if err := hc.n.offerHost(hc, data, ck); err != nil {
			return written, err
		}
		written += k
		p = p[k:]
	}
	return written, nil
}

func (hc *hostConn) writable() error {
	hc.mu.Lock()
	defer hc.mu.Unlock()
	switch {
	case hc.closed:
		return net.ErrClosed
	case hc.reset:
		return &net.OpError{Op: "write", Net: "tcp", Err: syscall.ECONNRESET}
	case hc.wclosed:
		return &net.OpError{Op: "write", Net: "tcp", Err: syscall.EPIPE}
	case hc.wdl.passed():
		return os.ErrDeadlineExceeded
	}
	return nil
}

// CloseWrite sends a FIN through the NIC; reads go on.
func (hc *hostConn) CloseWrite() error {
	hc.wmu.Lock()
	defer hc.wmu.Unlock()
	hc.mu.Lock()
	if hc.wclosed || hc.closed {
		hc.mu.Unlock()
		return nil
	}
	hc.wclosed = true
	hc.mu.Unlock()
	hc.wf.free()
	return hc.n.offer(hc.out, nil, nil, frame.FIN)
}

// Close sends a FIN (if not sent) and stops reading: bytes that arrive
// later are discarded.
func (hc *hostConn) Close() error {
	err := hc.CloseWrite()
	hc.mu.Lock()
	if hc.closed {
		hc.mu.Unlock()
		return nil
	}
	hc.closed = true
	hc.buf, hc.rpos = nil, 0
	hc.rdl.stop()
	hc.wdl.stop()
	hc.mu.Unlock()
	hc.signal()
	if errors.Is(err, ErrClosed) {
		return nil
	}
	return err
}

// LocalAddr is the host's address of the connection.
func (hc *hostConn) LocalAddr() net.Addr { return hc.laddr }

// RemoteAddr is the peer's address.
func (hc *hostConn) RemoteAddr() net.Addr { return hc.raddr }

// SetDeadline sets both deadlines.
func (hc *hostConn) SetDeadline(t time.Time) error {
	hc.SetReadDeadline(t)
	return hc.SetWriteDeadline(t)
}

// SetReadDeadline makes a pending and future Read fail once t passes.
func (hc *hostConn) SetReadDeadline(t time.Time) error {
	hc.mu.Lock()
	hc.rdl.set(t)
	hc.mu.Unlock()
	hc.signal()
	return nil
}

// SetWriteDeadline makes a Write waiting for room fail once t passes.
func (hc *hostConn) SetWriteDeadline(t time.Time) error {
	hc.mu.Lock()
	hc.wdl.set(t)
	hc.mu.Unlock()
	hc.wdl.wake() // a writer waiting for room re-checks
	return nil
}

// deadline is a connection deadline: a time and a timer that wakes the
// waiters when it passes.
type deadline struct {
	at    time.Time
	timer *time.Timer
	wake  func()
}

func (d *deadline) init(wake func()) { d.wake = wake }

// set moves the deadline; the timer is made once and reset after (net/http
// moves a connection's deadlines on every request).
func (d *deadline) set(t time.Time) {
	d.at = t
	if d.timer != nil {
		d.timer.Stop()
	}
	if t.IsZero() {
		return
	}
	wait := time.Until(t)
	if wait <= 0 {
		return // passed already: waiters re-check it when signalled
	}
	if d.timer == nil {
		d.timer = time.AfterFunc(wait, d.wake)
	} else {
		d.timer.Reset(wait)
	}
}

func (d *deadline) passed() bool { return !d.at.IsZero() && !time.Now().Before(d.at) }

func (d *deadline) stop() {
	if d.timer != nil {
		d.timer.Stop()
	}
}
