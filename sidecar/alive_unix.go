//go:build unix

package sidecar

import (
	"net"
	"syscall"
)

// alive reports whether an idle connection is still open: a non-blocking
// peek sees the upstream's FIN (or bytes it should not have sent) without
// consuming anything. One system call, paid only for connections that sat
// idle long enough to have been closed by the upstream.
func alive(nc net.Conn) bool {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return true
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	open := false
	var buf [1]byte
	err = rc.Read(func(fd uintptr) bool {
		_, _, err := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		open = err == syscall.EAGAIN || err == syscall.EWOULDBLOCK
		return true // never wait for readiness
	})
	return err == nil && open
}
