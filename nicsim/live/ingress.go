package live

import (
	"fmt"
	"net"
	"net/netip"
)

// Listener wraps a service's listener: every connection it accepts passes
// the NIC. Requests from the wire cross the NIC's ingress pipeline (and its
// filters) before the service reads them; what the service writes crosses
// the egress pipeline back to the wire. A connection from a peer the NIC
// cannot represent (IPv6) is closed and not returned.
func (n *NIC) Listener(inner net.Listener) net.Listener { return &listener{n: n, inner: inner} }

type listener struct {
	n     *NIC
	inner net.Listener
}

// Accept waits for a connection on the inner listener and returns the
// service's end of it, behind the NIC.
func (l *listener) Accept() (net.Conn, error) {
	for {
		c, err := l.inner.Accept()
		if err != nil {
			return nil, err
		}
		hc, err := l.n.ingress(c)
		if err != nil {
			l.n.log.Warn("nicsim/live: connection refused by the NIC", "remote", c.RemoteAddr(), "err", err)
			c.Close()
			if err == ErrClosed {
				return nil, err
			}
			continue
		}
		return hc, nil
	}
}

// Close closes the inner listener.
func (l *listener) Close() error { return l.inner.Close() }

// Addr is the inner listener's address.
func (l *listener) Addr() net.Addr { return l.inner.Addr() }

// ingress puts an accepted wire connection behind the NIC and returns the
// service's end.
func (n *NIC) ingress(wire net.Conn) (net.Conn, error) {
	raddr, err := ipv4AddrPort(wire.RemoteAddr())
	if err != nil {
		return nil, err
	}
	laddr, err := ipv4AddrPort(wire.LocalAddr())
	if err != nil {
		return nil, err
	}
	ws := &sockSink{}
	ws.attach(wire)
	n.mu.Lock()
	if n.stopped {
		n.mu.Unlock()
		return nil, ErrClosed
	}
	c := n.newConn(kindIngress, raddr, laddr, true)
	hc := newHostConn(n, c.client, c.server, wire.LocalAddr(), wire.RemoteAddr())
	c.client.sink = hc
	c.server.sink = ws
	c.onDone = ws.close
	n.openConn(c)
	n.mu.Unlock()
	go n.readLoop(wire, c.client)
	n.kick()
	return hc, nil
}

// ipv4AddrPort converts a TCP address to the IPv4 form the frames carry.
func ipv4AddrPort(a net.Addr) (netip.AddrPort, error) {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return netip.AddrPort{}, fmt.Errorf("nicsim/live: %v is not a TCP address", a)
	}
	ap := ta.AddrPort()
	ip := ap.Addr().Unmap()
	if !ip.Is4() {
		return netip.AddrPort{}, fmt.Errorf("nicsim/live: %v is not IPv4 (the NIC's frames are IPv4)", a)
	}
	return netip.AddrPortFrom(ip, ap.Port()), nil
}

// abort resets the connection (from outside the NIC's lock).
func (c *conn) abort() {
	n := c.n
	n.mu.Lock()
	n.abortLocked(c)
	n.mu.Unlock()
	n.kick()
}
