package live

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nicrt/nicrt/nicsim/engine"
	"github.com/nicrt/nicrt/nicsim/frame"
	"github.com/nicrt/nicrt/nicsim/httpframe"
)

// Egress: the host's outbound connections. DialContext returns at once with
// the host's end of a connection the NIC terminates (a SmartNIC that routes
// on HTTP headers must, since the destination is known only once a
// request's headers are parsed). Requests cross the NIC's egress pipeline,
// where the filters may name a cluster in the routing header; as each
// request leaves the NIC it goes to an upstream connection to the chosen
// endpoint, and the response comes back through the NIC's ingress
// pipeline. Requests on one connection are sent one at a time, in order.

// DialContext opens a connection from the host through the NIC. addr is
// what the host dialed ("reviews:9080" or "127.0.0.1:9083"); the frames
// carry it as the destination (a name resolves through the cluster it
// names, else through the resolver), and it is where requests go that no
// routing header and no cluster named by their Host sends elsewhere.
// It is the hook for bookinfo.Config.DialContext.
func (n *NIC) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if network != "tcp" && network != "tcp4" {
		return nil, fmt.Errorf("nicsim/live: dial %s %s: the NIC carries TCP over IPv4 only", network, addr)
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("nicsim/live: dial %s: %w", addr, err)
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("nicsim/live: dial %s: bad port %q", addr, port)
	}
	ip, err := n.frameAddr(host, addr)
	if err != nil {
		return nil, err
	}
	remote := netip.AddrPortFrom(ip, uint16(p))
	n.mu.Lock()
	if n.stopped {
		n.mu.Unlock()
		return nil, ErrClosed
	}
	n.ports++
	local := netip.AddrPortFrom(n.opt.HostIP, 32768+n.ports%28000)
	c := n.newConn(kindEgress, local, remote, false)
	eg := &egressSink{n: n, c: c, dialed: addr}
	eg.fr.Reset(httpframe.DefaultLimits)
	c.eg = eg
	hc := newHostConn(n, c.server, c.client, net.TCPAddrFromAddrPort(local), net.TCPAddrFromAddrPort(remote))
	c.client.sink = eg
	c.server.sink = hc
	c.onDone = eg.close
	n.openConn(c)
	n.mu.Unlock()
	n.kick()
	return hc, nil
}

// frameAddr finds the IPv4 address the egress frames carry for a dialed
// host: the address itself, the first endpoint of the cluster it names,
// 127.0.0.1 for localhost, or else a stand-in: an address in 127.255/16
// derived from the name. The host never resolved the name (the NIC routes
// its requests), so the frames need only a stable label for it; the
// resolver is not asked, since a lookup that goes to DNS could take
// seconds on every dial.
func (n *NIC) frameAddr(host, addr string) (netip.Addr, error) {
	if ip, err := netip.ParseAddr(host); err == nil {
		if ip = ip.Unmap(); ip.Is4() {
			return ip, nil
		}
		return netip.Addr{}, fmt.Errorf("nicsim/live: dial %s: the NIC's frames are IPv4", addr)
	}
	for _, name := range []string{addr, host} {
		if eps, ok := n.opt.Clusters[name]; ok {
			if h, _, err := net.SplitHostPort(eps[0]); err == nil {
				if ip, err := netip.ParseAddr(h); err == nil && ip.Unmap().Is4() {
					return ip.Unmap(), nil
				}
			}
		}
	}
	if strings.EqualFold(host, "localhost") {
		return netip.AddrFrom4([4]byte{127, 0, 0, 1}), nil
	}
	h := fnv.New32a()
	h.Write([]byte(strings.ToLower(host)))
	x := h.Sum32()
	return netip.AddrFrom4([4]byte{127, 255, byte(x >> 8), byte(x)}), nil
}

// egRoute is where one forwarded request goes. A request whose filter
// paused has a pending route until its result comes (skip: it was dropped).
type egRoute struct {
	cluster string
	addr    string
	err     error
	pending bool
	skip    bool
}

// route decides an egress request's destination as it leaves the engines:
// the cluster its routing header names, else a cluster named by its Host
// or by the dialed address, else the dialed address. Caller holds n.mu.
func (n *NIC) route(c *conn, m *engine.Message, res *engine.Result) egRoute {
	head := m.Head
	if res.Rewrite != nil {
		// The filters' version of the request is what leaves the NIC.
		n.rewriteHF.Reset(httpframe.DefaultLimits)
		if rm, err := n.rewriteHF.NextRequest(res.Rewrite, true); err == nil && rm != nil {
			head = rm
		}
	}
	var cluster, host string
	if v, ok := head.Header(n.opt.RouteHeader); ok {
		cluster = string(v)
	}
	if v, ok := head.Header("host"); ok {
		host = string(v)
	}
	r := egRoute{cluster: cluster}
	r.addr, r.err = n.pick(cluster, host, c.eg.dialed)
	if r.err != nil {
		n.ctr.unknownCluster++
	}
	return r
}

// errUnknownCluster: a routing header named a cluster the NIC does not know.
type errUnknownCluster string

// Error names the cluster.
func (e errUnknownCluster) Error() string {
	return fmt.Sprintf("the routing header names cluster %q, which is not configured", string(e))
}

func (n *NIC) pick(cluster, host, dialed string) (string, error) {
	if cluster != "" {
		eps, ok := n.opt.Clusters[cluster]
		if !ok {
			return "", errUnknownCluster(cluster)
		}
		return n.roundRobin(cluster, eps), nil
	}
	for _, name := range []string{host, hostOnly(host), dialed, hostOnly(dialed)} {
		if eps, ok := n.opt.Clusters[name]; ok && name != "" {
			return n.roundRobin(name, eps), nil
		}
	}
	return dialed, nil
}

func (n *NIC) roundRobin(cluster string, eps []string) string {
	k := n.rr[cluster]
	ep := eps[*k%uint64(len(eps))]
	*k++
	return ep
}

func hostOnly(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return hostport
}

// egressSink receives the host's requests as they leave the NIC and sends
// each to its upstream; it reads the upstream's response and hands it to
// the NIC's ingress pipeline toward the host. Lock order: n.mu before s.mu;
// work that needs n.mu is returned as actions and run after s.mu is let go.
type egressSink struct {
	n      *NIC
	c      *conn
	dialed string

	mu        sync.Mutex
	routes    []*egRoute // forwarded requests not yet sent, in order
	buf       []byte     // released request bytes not yet sent
	fr        httpframe.Conn
	busy      bool // a request went upstream and its response is incomplete
	raw       bool // the stream is not HTTP: bytes relay as they come
	up        *upstream
	resp      []byte // upstream bytes of the current response not yet framed
	respSeen  bool   // bytes of the current response arrived
	hostFin   bool   // the host's FIN left the NIC
	finished  bool   // the upstream side is done (FIN sent toward the host)
	lastClose bool   // the last response closes the connection
	dead      bool
}

// upstream is one connection from the NIC to an endpoint.
type upstream struct {
	addr   string
	sk     sockSink
	conn   net.Conn
	queued time.Time // when the first request was queued before connecting
	used   bool      // a request was assigned to it
	failed bool
	err    error
	eof    bool
}

// egAction is work for n.mu, run after s.mu is let go.
type egAction struct {
	reply []byte // a response the NIC produced (503), toward the host
	fin   bool   // end the host's connection (a FIN toward it)
	abort bool
}

// push queues a forwarded request's route; it may start the connect at
// once, overlapping it with the rest of the request's trip through the NIC.
// Called with n.mu held.
func (s *egressSink) push(r egRoute) *egRoute {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := &r
	s.routes = append(s.routes, p)
	s.predialLocked()
	return p
}

// resolve fills a pending route. Called with n.mu held.
func (s *egressSink) resolve(p *egRoute, r egRoute) {
	s.mu.Lock()
	defer s.mu.Unlock()
	*p = r
	s.predialLocked()
}

// predialLocked starts the connect for the next request if none is
// outstanding.
func (s *egressSink) predialLocked() {
	for len(s.routes) > 0 && s.routes[0].skip {
		s.routes = s.routes[:copy(s.routes, s.routes[1:])]
	}
	if len(s.routes) == 0 || s.busy || s.raw || s.dead {
		return
	}
	if r := s.routes[0]; !r.pending && r.err == nil {
		s.upstreamFor(r.addr)
	}
}

// upstreamFor returns a live connection to addr, opening one (and closing
// another) as needed. Caller holds s.mu.
func (s *egressSink) upstreamFor(addr string) *upstream {
	if u := s.up; u != nil && u.addr == addr && !u.eof && !u.failed {
		return u
	}
	if s.up != nil {
		s.up.close()
	}
	u := &upstream{addr: addr}
	u.sk.onFail = func(error) { s.upstreamEnded(u, errWriteFailed) }
	s.up = u
	go s.connect(u)
	return u
}

var errWriteFailed = errors.New("write to upstream failed")

func (u *upstream) close() {
	u.sk.close()
}

func (s *egressSink) connect(u *upstream) {
	ctx, cancel := context.WithTimeout(context.Background(), s.n.opt.DialTimeout)
	conn, err := s.n.dial(ctx, "tcp", u.addr)
	cancel()
	s.mu.Lock()
	if err != nil {
		u.failed, u.err = true, err
		s.mu.Unlock()
		u.sk.attach(nil)
		s.n.noteUpstreamError(fmt.Errorf("connect %s: %w", u.addr, err))
		s.upstreamEnded(u, err)
		return
	}
	u.conn = conn
	var wait time.Duration
	if !u.queued.IsZero() {
		wait = time.Since(u.queued)
	}
	s.mu.Unlock()
	s.n.noteConnectWait(wait)
	u.sk.attach(conn)
	go s.readUpstream(u)
}

// deliver takes request bytes released by the NIC.
func (s *egressSink) deliver(bufs [][]byte) {
	s.mu.Lock()
	for _, b := range bufs {
		s.buf = append(s.buf, b...)
	}
	acts := s.advanceLocked()
	s.mu.Unlock()
	s.run(acts)
}

// advance sends the next requests if none is outstanding.
func (s *egressSink) advance() {
	s.mu.Lock()
	acts := s.advanceLocked()
	s.mu.Unlock()
	s.run(acts)
}

func (s *egressSink) advanceLocked() []egAction {
	var acts []egAction
	for !s.busy && !s.dead && len(s.buf) > 0 {
		if s.raw {
			if s.up == nil {
				s.upstreamFor(s.dialed)
			}
			s.send(s.buf)
			s.buf = s.buf[:0]
			break
		}
		m, err := s.fr.NextRequest(s.buf, s.hostFin)
		if err != nil {
			// Not HTTP after all (or a tunnel): the NIC's simulation let
			// the bytes through unframed; so does the router, to the
			// current upstream or the dialed address.
			s.n.log.Warn("nicsim/live: egress stream is not HTTP; relaying it unrouted", "dialed", s.dialed, "err", err)
			s.raw = true
			continue
		}
		if m == nil {
			break
		}
		for len(s.routes) > 0 && s.routes[0].skip {
			s.routes = s.routes[:copy(s.routes, s.routes[1:])]
		}
		var r egRoute
		if len(s.routes) > 0 {
			if s.routes[0].pending {
				break // its filter has not decided yet
			}
			r = *s.routes[0]
			s.routes = s.routes[:copy(s.routes, s.routes[1:])]
		} else {
			r.addr = s.dialed // a request the engines did not see
		}
		msg := s.buf[:m.Len]
		if r.err != nil {
			reply := localReply(m.Minor, 503, "cluster_not_found", r.err.Error()+"\n")
			s.fr.NextResponse(reply, false)
			acts = append(acts, egAction{reply: reply})
		} else if u := s.up; u != nil && u.addr == r.addr && u.failed && !u.used {
			// The connect started for this request already failed.
			u.used = true
			reply := localReply(m.Minor, 503, "upstream_reset_before_response_started{connection_failure}",
				fmt.Sprintf("upstream %s: %v\n", u.addr, u.err))
			s.fr.NextResponse(reply, false)
			acts = append(acts, egAction{reply: reply})
		} else {
			s.upstreamFor(r.addr).used = true
			s.send(msg)
			s.busy, s.respSeen = true, false
			if m.Tunnel {
				s.raw = true
			}
		}
		s.buf = s.buf[:copy(s.buf, s.buf[m.Len:])]
	}
	if s.hostFin && !s.busy && !s.raw && len(bytes.Trim(s.buf, "\r\n")) == 0 {
		s.buf = s.buf[:0] // empty lines before a request that never came
	}
	if s.hostFin && !s.busy && len(s.buf) == 0 && !s.finished {
		s.finished = true
		if s.up != nil {
			s.up.close()
		}
		acts = append(acts, egAction{fin: true})
	}
	return acts
}

// send writes a request to the current upstream (queued until connected).
func (s *egressSink) send(b []byte) {
	u := s.up
	if u.conn == nil && u.queued.IsZero() {
		u.queued = time.Now()
	}
	u.sk.deliver([][]byte{b})
}

// run performs actions that need the NIC's lock.
func (s *egressSink) run(acts []egAction) {
	for _, a := range acts {
		switch {
		case a.reply != nil:
			s.n.inject(s.c, a.reply)
		case a.fin:
			s.n.offer(s.c.server, nil, nil, frame.FIN)
		case a.abort:
			s.c.abort()
		}
	}
}

// readUpstream relays an upstream's bytes into the NIC toward the host,
// framing responses to know when each is complete.
func (s *egressSink) readUpstream(u *upstream) {
	var f filler
	defer f.free()
	for {
		ck := f.room(0)
		k, err := u.conn.Read(ck.b[ck.used:])
		if k > 0 {
			data := ck.b[ck.used : ck.used+k]
			ck.used += k
			s.mu.Lock()
			if u != s.up || s.dead {
				s.mu.Unlock()
				return // an upstream the sink moved away from
			}
			complete := false
			if !s.raw {
				s.resp = append(s.resp, data...)
				s.respSeen = true
				complete = s.frameLocked(false)
			}
			s.mu.Unlock()
			if s.n.offer(s.c.server, data, ck, 0) != nil {
				return
			}
			if complete {
				s.mu.Lock()
				s.busy = false
				acts := s.advanceLocked()
				s.mu.Unlock()
				s.run(acts)
			}
		}
		if err != nil {
			s.upstreamEnded(u, err)
			return
		}
	}
}

// frameLocked frames the upstream's response bytes; it reports whether the
// outstanding request's final response is complete.
func (s *egressSink) frameLocked(eof bool) bool {
	for len(s.resp) > 0 || eof {
		m, err := s.fr.NextResponse(s.resp, eof)
		if err != nil {
			s.raw = true
			s.resp = s.resp[:0]
			return false
		}
		if m == nil {
			return false
		}
		s.resp = s.resp[:copy(s.resp, s.resp[m.Len:])]
		if m.Status >= 200 {
			s.lastClose = closes(m)
			if m.Tunnel {
				s.raw = true
			}
			return true
		}
	}
	return false
}

// closes reports whether a response ends its connection.
func closes(m *httpframe.Message) bool {
	v, ok := m.Header("connection")
	if ok && tokenIn(v, "close") {
		return true
	}
	return m.Minor == 0 && !(ok && tokenIn(v, "keep-alive")) || m.Body == httpframe.UntilClose
}

// upstreamEnded handles an upstream's end (EOF, error, failed connect).
func (s *egressSink) upstreamEnded(u *upstream, err error) {
	s.mu.Lock()
	u.eof = true
	if u != s.up || s.dead {
		s.mu.Unlock()
		u.close()
		return
	}
	var acts []egAction
	switch {
	case s.finished:
	case s.raw:
		s.finished = true
		acts = append(acts, egAction{fin: true})
	case s.busy && !s.respSeen:
		// Nothing came back for the outstanding request.
		details := "upstream_reset_before_response_started{connection_termination}"
		if u.failed {
			details = "upstream_reset_before_response_started{connection_failure}"
		}
		reply := localReply(1, 503, details, fmt.Sprintf("upstream %s: %v\n", u.addr, err))
		s.fr.NextResponse(reply, false)
		s.busy = false
		acts = append(acts, egAction{reply: reply})
		acts = append(acts, s.advanceLocked()...)
	case s.busy:
		if s.frameLocked(true) {
			// A response delimited by the close: the host's connection
			// ends with it.
			s.busy = false
			s.finished = true
			acts = append(acts, egAction{fin: true})
		} else {
			acts = append(acts, egAction{abort: true}) // truncated response
		}
	case s.lastClose:
		s.finished = true
		acts = append(acts, egAction{fin: true})
	}
	s.mu.Unlock()
	u.close()
	s.run(acts)
}

// closeWrite: the host's FIN left the NIC; once no request is outstanding
// the upstream is closed and the host's connection ends.
func (s *egressSink) closeWrite() {
	s.mu.Lock()
	s.hostFin = true
	acts := s.advanceLocked()
	s.mu.Unlock()
	s.run(acts)
}

func (s *egressSink) abort() { s.end((*sockSink).abort) }

// close releases the upstream when the connection ended.
func (s *egressSink) close() { s.end((*sockSink).close) }

// end stops the sink and ends its upstream connection with how.
func (s *egressSink) end(how func(*sockSink)) {
	s.mu.Lock()
	s.dead = true
	u := s.up
	s.mu.Unlock()
	if u != nil {
		how(&u.sk)
	}
}

// inject offers a response the NIC itself produced toward the host.
func (n *NIC) inject(c *conn, reply []byte) {
	n.mu.Lock()
	if c.closed || c.server.fin || n.stopped {
		n.mu.Unlock()
		return
	}
	n.ctr.nicReplies++
	now := n.clk.now()
	n.enqueue(c.server, reply, nil, 0, now, now)
	n.mu.Unlock()
	n.kick()
}
