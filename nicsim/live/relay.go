package live

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/nicrt/nicrt/nicsim/frame"
)

// Relay puts the NIC in front of a service nicrt did not write: it accepts
// connections on ln, and passes each through the NIC (ingress: the filters
// see the requests) to a new connection to upstream, the service's address
// on the host. The connection's handshake is sequenced as it would be with
// a card in front of the host: the client's SYN crosses the NIC, only then
// is the upstream dialed (the host answering the SYN), and the SYN-ACK
// crosses the NIC once that connect has completed; the client's first
// request leaves after it. A relay that dialed at accept would hide the
// modeled handshake behind its own connect time. When ctx
// ends, Relay stops accepting, waits up to grace for open connections to
// finish, and returns; the caller then closes the NIC (which resets what is
// still open) and reads its stats.
func (n *NIC) Relay(ctx context.Context, ln net.Listener, upstream string, grace time.Duration) error {
	if _, _, err := net.SplitHostPort(upstream); err != nil {
		return fmt.Errorf("nicsim/live: upstream %q: %w", upstream, err)
	}
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	var tempDelay time.Duration
	for {
		wire, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				break
			}
			// Out of file descriptors and the like: back off, as
			// net/http's server does.
			tempDelay = min(max(2*tempDelay, 5*time.Millisecond), time.Second)
			n.log.Warn("nicsim/live: relay accept", "err", err)
			time.Sleep(tempDelay)
			continue
		}
		tempDelay = 0
		if err := n.relayConn(wire, upstream); err != nil {
			n.log.Warn("nicsim/live: relay refused a connection", "remote", wire.RemoteAddr(), "err", err)
			wire.Close()
		}
	}
	deadline := time.Now().Add(grace)
	for n.open.Load() > 0 && time.Now().Before(deadline) {
		n.closeIdle(kindRelay)
		time.Sleep(5 * time.Millisecond)
	}
	return nil
}

// closeIdle ends the connections of a kind that carry no exchange: every
// request answered, nothing in flight. Both sides get a FIN, as a server
// that shuts down closes its idle keep-alive connections.
func (n *NIC) closeIdle(kind connKind) {
	n.mu.Lock()
	var idle []*conn
	for _, c := range n.flows {
		if c.kind == kind && !c.closed && c.hf.Pending() == 0 &&
			c.client.inflight == 0 && c.server.inflight == 0 &&
			len(c.client.cut.buf) == 0 && len(c.server.cut.buf) == 0 {
			idle = append(idle, c)
		}
	}
	for _, c := range idle {
		for _, h := range c.h {
			if !h.fin {
				n.enqueue(h, nil, nil, frame.FIN, n.lastT, n.lastT)
			}
		}
	}
	n.mu.Unlock()
	if len(idle) > 0 {
		n.kick()
	}
}

// relayConn passes one accepted connection through the NIC to upstream.
func (n *NIC) relayConn(wire net.Conn, upstream string) error {
	raddr, err := ipv4AddrPort(wire.RemoteAddr())
	if err != nil {
		return err
	}
	laddr, err := ipv4AddrPort(wire.LocalAddr())
	if err != nil {
		return err
	}
	ws := &sockSink{}
	ws.attach(wire)
	us := &sockSink{}
	n.mu.Lock()
	if n.stopped {
		n.mu.Unlock()
		return ErrClosed
	}
	c := n.newConn(kindRelay, raddr, laddr, true)
	c.client.sink = us
	c.server.sink = ws
	c.onDone = func() {
		ws.close()
		us.close()
	}
	synGone := make(chan struct{})
	c.synGone = synGone
	n.openConn(c)
	n.mu.Unlock()
	go func() {
		<-synGone
		n.mu.Lock()
		closed := c.closed
		n.mu.Unlock()
		if closed {
			us.attach(nil)
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), n.opt.DialTimeout)
		up, err := n.dial(ctx, "tcp", upstream)
		cancel()
		if err != nil {
			n.noteUpstreamError(fmt.Errorf("connect %s: %w", upstream, err))
			us.attach(nil)
			c.abort()
			return
		}
		// The host's SYN-ACK reaches the NIC now.
		n.mu.Lock()
		if !c.closed {
			t := max(n.clk.now(), n.lastT)
			n.lastT = t
			n.offerFrame(c.server, nil, nil, frame.SYN|frame.ACK, t, true)
		}
		n.mu.Unlock()
		n.kick()
		us.attach(up)
		n.readLoop(up, c.server)
	}()
	go n.readLoop(wire, c.client)
	n.kick()
	return nil
}
