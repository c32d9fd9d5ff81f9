package live

import (
	"errors"
	"io"
	"net"
	"sync"
	"syscall"
	"unsafe"

	"github.com/nicrt/nicrt/nicsim/frame"
	"golang.org/x/sys/unix"
)

// sink is where a half's released bytes go: a socket toward the wire or an
// upstream, the host application's end of a connection, or the egress
// router. Its methods are called by the goroutine driving the NIC, outside
// the NIC's lock, one at a time and in release order; they must not block
// for long.
type sink interface {
	// deliver takes released bytes; the slices are reused afterwards.
	deliver(bufs [][]byte)
	// closeWrite: the half's FIN left the NIC.
	closeWrite()
	// abort: the connection was reset.
	abort()
}

// sockSink writes a half's released bytes to a socket. A release first
// tries one non-blocking writev from the driving goroutine, so bytes leave
// at their release time without a hand-off; what the socket does not take
// at once is queued for a writer goroutine, so a slow peer never stalls the
// NIC. Before the socket is attached (an upstream still connecting) bytes
// queue.
type sockSink struct {
	mu      sync.Mutex
	conn    net.Conn
	rc      syscall.RawConn
	pend    []byte // bytes queued behind a full socket buffer
	writing bool   // the writer goroutine is running
	fin     bool   // close the write side once pend is written
	finDone bool
	dead    bool // aborted, or a write failed
	onFail  func(error)

	// writev's scratch: its arguments, results and iovecs.
	wbufs [][]byte
	wn    int
	werr  error
	wfn   func(uintptr) bool
	iov   []unix.Iovec
}

// attach gives the sink its socket (nil: the connect failed; the sink
// discards). Queued bytes start flowing.
func (s *sockSink) attach(c net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c == nil || s.dead {
		s.dead = true
		s.pend = nil
		if c != nil {
			c.Close()
		}
		return
	}
	s.conn = c
	if sc, ok := c.(syscall.Conn); ok {
		s.rc, _ = sc.SyscallConn()
	}
	s.kickLocked()
}

func (s *sockSink) deliver(bufs [][]byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dead {
		return
	}
	if s.conn != nil && !s.writing && len(s.pend) == 0 && s.rc != nil {
		n, err := s.writev(bufs)
		if err != nil {
			s.failLocked(err)
			return
		}
		for _, b := range bufs {
			if n >= len(b) {
				n -= len(b)
				continue
			}
			s.pend = append(s.pend, b[n:]...)
			n = 0
		}
	} else {
		for _, b := range bufs {
			s.pend = append(s.pend, b...)
		}
	}
	s.kickLocked()
}

// writev makes one non-blocking writev attempt; a full socket buffer is not
// an error (0 bytes taken). It allocates nothing: the callback and the
// iovec array are the sink's own.
func (s *sockSink) writev(bufs [][]byte) (int, error) {
	s.wbufs, s.wn, s.werr = bufs, 0, nil
	if s.wfn == nil {
		s.wfn = s.writevFD
	}
	err := s.rc.Write(s.wfn)
	s.wbufs = nil
	if s.werr == unix.EAGAIN {
		return 0, nil
	}
	if s.werr != nil {
		return s.wn, s.werr
	}
	return s.wn, err
}

// maxIOV is the most buffers one writev takes (IOV_MAX); the rest of a
// larger batch waits for the writer goroutine.
const maxIOV = 1024

func (s *sockSink) writevFD(fd uintptr) bool {
	s.iov = s.iov[:0]
	for _, b := range s.wbufs {
		if len(b) == 0 {
			continue
		}
		if len(s.iov) == maxIOV {
			break
		}
		v := unix.Iovec{Base: &b[0]}
		v.SetLen(len(b))
		s.iov = append(s.iov, v)
	}
	if len(s.iov) > 0 {
		for {
			n, _, e := unix.Syscall(unix.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&s.iov[0])), uintptr(len(s.iov)))
			if e == unix.EINTR {
				continue
			}
			if e != 0 {
				s.werr = e
			} else {
				s.wn = int(n)
			}
			break
		}
	}
	clear(s.iov) // do not keep the buffers alive
	return true
}

// kickLocked starts the writer for queued bytes, or half-closes when
// nothing is left to write.
func (s *sockSink) kickLocked() {
	if s.conn == nil || s.writing || s.dead {
		return
	}
	if len(s.pend) > 0 {
		s.writing = true
		go s.writer()
		return
	}
	if s.fin && !s.finDone {
		s.finDone = true
		closeWrite(s.conn)
	}
}

func (s *sockSink) writer() {
	var buf []byte
	s.mu.Lock()
	for len(s.pend) > 0 && !s.dead {
		buf, s.pend = s.pend, buf[:0]
		c := s.conn
		s.mu.Unlock()
		_, err := c.Write(buf)
		s.mu.Lock()
		if err != nil {
			s.failLocked(err)
			break
		}
	}
	s.writing = false
	s.kickLocked()
	s.mu.Unlock()
}

func (s *sockSink) closeWrite() {
	s.mu.Lock()
	s.fin = true
	s.kickLocked()
	s.mu.Unlock()
}

func (s *sockSink) abort() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dead {
		return
	}
	s.dead = true
	s.pend = nil
	if s.conn != nil {
		resetClose(s.conn)
	}
}

func (s *sockSink) failLocked(err error) {
	s.dead = true
	s.pend = nil
	if s.onFail != nil {
		go s.onFail(err)
	}
}

// close closes the socket (after the connection ended normally).
func (s *sockSink) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dead = true
	if s.conn != nil {
		s.conn.Close()
	}
}

func closeWrite(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
		return
	}
	c.Close()
}

// resetClose closes c with an RST where the platform allows, as a reset
// connection does.
func resetClose(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	c.Close()
}

// readLoop reads a socket and offers what it reads on h, until EOF (a FIN)
// or an error (an RST). It runs on its own goroutine per socket.
func (n *NIC) readLoop(c net.Conn, h *half) {
	var f filler
	defer f.free()
	for {
		ck := f.room(0)
		k, err := c.Read(ck.b[ck.used:])
		if k > 0 {
			data := ck.b[ck.used : ck.used+k]
			ck.used += k
			if n.offer(h, data, ck, 0) != nil {
				return
			}
		}
		if err != nil {
			flags := frame.RST
			if errors.Is(err, io.EOF) {
				flags = frame.FIN
			}
			n.offer(h, nil, nil, flags)
			return
		}
	}
}
