package sidecar

import (
	"errors"
	"io"
	"net"
	"os"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/nicrt/nicrt/runtime"
	"github.com/nicrt/nicrt/sidecar/internal/h1"
)

// Connection states, for shutdown: only idle connections are interrupted.
const (
	connActive int32 = iota
	connIdle
	connClosing
)

// dconn is one downstream connection. Its buffers, header maps and pause
// context are reused by every request it carries, so a request allocates
// little more than the strings of its two message heads.
type dconn struct {
	l     *listener
	sc    *Sidecar
	nc    net.Conn
	r     *h1.Reader
	state atomic.Int32
	lim   h1.Limits
	head  int // max head bytes

	req, resp   h1.Head
	reqF, respF runtime.Fields
	trF         runtime.Fields
	body, ubody h1.Body
	out         []byte // response bytes on their way downstream
	reqOut      []byte // request bytes on their way upstream
	pend        []byte // body held back until its head can be written
	upend       []byte // the same for a response while a pump owns pend

	rdl, wdl deadline // read and write deadlines

	info  runtime.StreamInfo
	peer  string // downstream IP, for x-forwarded-for
	pctx  pauseCtx
	ids   *idSource
	rec   record
	rxOff int64 // bytes read from downstream before this request
}

// record is what the access log and stats need about one request.
type record struct {
	start      time.Time
	status     int
	details    string
	cluster    *cluster
	upstream   string
	svcTime    time.Duration
	bytesIn    int64
	bytesOut   int64
	upstreamRq bool
}

func (l *listener) newConn(nc net.Conn) *dconn {
	c := &dconn{
		l: l, sc: l.sc, nc: nc,
		lim:  h1.Limits{MaxFields: l.sc.cfg.Limits.MaxHeaders},
		head: l.sc.cfg.Limits.MaxRequestHeadersKB << 10,
		reqF: make(runtime.Fields, 0, 24), respF: make(runtime.Fields, 0, 24),
		out: make([]byte, 0, 8<<10), reqOut: make([]byte, 0, 8<<10),
		ids: newIDSource(),
	}
	c.r = h1.NewReader(countingReader{nc, &l.stats.rxBytes}, 8<<10, c.head+8<<10)
	c.rdl.set, c.wdl.set = nc.SetReadDeadline, nc.SetWriteDeadline
	src, dst := addrPort(nc.RemoteAddr()), addrPort(nc.LocalAddr())
	c.peer = src.Addr().Unmap().String()
	c.info = runtime.StreamInfo{Source: src, Destination: dst, ConnectionID: l.nextID.Add(1)}
	return c
}

// countingReader counts bytes read from downstream.
type countingReader struct {
	c net.Conn
	n *atomic.Int64
}

func (r countingReader) Read(p []byte) (int, error) {
	n, err := r.c.Read(p)
	r.n.Add(int64(n))
	return n, err
}

func (c *dconn) write(p []byte) error {
	n, err := c.nc.Write(p)
	c.l.stats.txBytes.Add(int64(n))
	c.rec.bytesOut += int64(n)
	return err
}

var continue100 = []byte("HTTP/1.1 100 Continue\r\n\r\n")

// serve reads requests until the connection ends.
func (c *dconn) serve() {
	defer c.l.forget(c)
	defer c.nc.Close()
	t := &c.sc.cfg.Timeouts
	for {
		if c.r.Buffered() == 0 {
			c.state.Store(connIdle)
			c.rdl.extend(time.Now(), t.Idle.D())
			if c.state.Load() != connIdle {
				return // shutdown raced with the deadline above
			}
			err := c.r.Fill()
			if !c.state.CompareAndSwap(connIdle, connActive) {
				return // shutting down
			}
			if err != nil {
				if isTimeout(err) {
					c.l.stats.cxIdleTimeout.Add(1)
				}
				return
			}
		}
		head, ok := c.r.TryHead()
		if !ok {
			c.rdl.to(time.Now().Add(t.RequestHeaders.D()))
			var err error
			head, err = c.r.ReadHead(c.head)
			if err != nil {
				c.headError(err)
				return
			}
		}
		if !c.handle(head) || c.sc.draining.Load() {
			return
		}
	}
}

// headError answers a request head that could not be read.
func (c *dconn) headError(err error) {
	st := &c.l.stats
	var he *h1.Error
	switch {
	case err == io.EOF || err == io.ErrUnexpectedEOF || isReset(err):
		if err == io.ErrUnexpectedEOF {
			st.cxProtocolError.Add(1)
		}
	case isTimeout(err):
		st.rqHeaderTimeout.Add(1)
		st.rqTotal.Add(1)
		c.noRequest()
		c.proxyReply(408, "request_header_timeout", "timed out reading the request head\n", true)
	case errors.As(err, &he):
		st.cxProtocolError.Add(1)
		st.rqTotal.Add(1)
		c.noRequest()
		c.proxyReply(he.Status, "http1.codec_error", he.Reason+"\n", true)
	default:
		c.sc.log.Debug("downstream read failed", "listener", c.l.cfg.Name, "err", err)
	}
}

// noRequest resets the request state for a reply to a head that could not
// be read.
func (c *dconn) noRequest() {
	c.rec = record{start: time.Now()}
	c.req.Method, c.req.Path, c.req.Minor, c.req.Close = "", "", 1, true
}

// handle proxies one request; it reports whether the connection may carry
// another.
func (c *dconn) handle(head []byte) (keep bool) {
	l, st := c.l, &c.l.stats
	now := time.Now()
	c.rec = record{start: now}
	st.rqTotal.Add(1)
	st.rqActive.Add(1)
	defer func() {
		st.rqActive.Add(-1)
		st.rqXX[class(c.rec.status)].Add(1)
		st.rqTime.observe(time.Since(c.rec.start))
		if c.sc.access != nil {
			c.sc.access.log(c)
		}
	}()
	c.reqF = c.reqF[:0]
	if err := h1.ParseRequest(head, c.lim, &c.req, &c.reqF); err != nil {
		st.cxProtocolError.Add(1)
		status, reason := 400, err.Error()
		var he *h1.Error
		if errors.As(err, &he) {
			status = he.Status
		}
		c.req.Method = "" // not understood: the reply has its body even if it said HEAD
		c.proxyReply(status, "http1.codec_error", reason+"\n", true)
		return false
	}
	c.rec.bytesIn = int64(len(head))
	c.downstreamFields(now)
	c.body.Init(c.r, c.req.Framing, c.req.ContentLength, c.head)
	c.pctx.reset(now.Add(c.sc.cfg.Timeouts.Request.D()))

	s := l.slot.NewStream(c.info)
	defer s.Close()
	hasBody := c.req.Framing != h1.NoBody
	switch s.RequestHeaders(&c.pctx, &c.reqF, !hasBody) {
	case runtime.Respond:
		return c.filterReply(s, true)
	case runtime.Reset:
		return c.filterReset()
	}
	cl, details := l.route(c.reqF)
	if cl == nil {
		status := 404
		if details == "cluster_not_found" {
			status = 503
		}
		return c.proxyReply(status, details, "no route: "+details+"\n", !c.skipBody())
	}
	c.rec.cluster = cl
	return c.forward(s, cl)
}

// downstreamFields adds what the connection manager adds before the
// filters run: x-forwarded-for, x-forwarded-proto and x-request-id when
// absent, and removes an untrusted routing header.
func (c *dconn) downstreamFields(now time.Time) {
	f := c.reqF
	xff, proto, id, rh := -1, false, false, false
	for i := range f {
		switch f[i].Name {
		case "x-forwarded-for":
			xff = i
		case "x-forwarded-proto":
			proto = true
		case "x-request-id":
			id = true
		case c.l.routeHeader:
			rh = true
		}
	}
	if xff >= 0 {
		f[xff].Value += ", " + c.peer
	} else {
		f = append(f, runtime.Field{Name: "x-forwarded-for", Value: c.peer})
	}
	if !proto {
		f = append(f, runtime.Field{Name: "x-forwarded-proto", Value: "http"})
	}
	if !id {
		f = append(f, runtime.Field{Name: "x-request-id", Value: c.ids.next()})
	}
	c.reqF = f
	if rh && !c.l.cfg.TrustRouteHeader {
		c.reqF.Del(c.l.routeHeader)
	}
}

// forward sends the request to cl and relays the response.
func (c *dconn) forward(s *runtime.Stream, cl *cluster) bool {
	st, cs := &c.l.stats, &cl.stats
	ep := cl.pick()
	c.rec.upstream = ep.addr
	if !s.Empty() {
		s.SetUpstreamAddress(ep.addr)
	}
	uc, err := ep.get()
	if err != nil {
		details := "upstream_connect_failure"
		if err == errConnectTimeout {
			details = "upstream_connect_timeout"
		}
		return c.proxyReply(503, details, "upstream connect error: "+err.Error()+"\n", !c.skipBody())
	}
	c.rec.upstreamRq = true
	cs.rqTotal.Add(1)
	cs.rqActive.Add(1)
	defer cs.rqActive.Add(-1)
	deadline := c.rec.start.Add(c.sc.cfg.Timeouts.Request.D())
	uc.dl.extend(c.rec.start, c.sc.cfg.Timeouts.Request.D())

	// Send the request. A body already in the buffer (the common case for
	// small requests) goes out with the head in one write, and the request
	// stays replayable; a body still arriving is pumped by its own
	// goroutine so the response can stream back at the same time.
	var pm *pump
	replayable := false
	if c.body.Buffered() {
		v, err := c.sendRequest(s, uc, false)
		if v != runtime.Continue {
			ep.discard(uc)
			if v == runtime.Respond {
				return c.filterReply(s, true)
			}
			st.rqReset.Add(1)
			return false
		}
		if err != nil && !isUpstreamReset(err) {
			ep.discard(uc)
			return c.sendError(err)
		}
		replayable = true
	} else {
		if c.req.Expect100 && c.r.Buffered() == 0 {
			if err := c.write(continue100); err != nil {
				ep.discard(uc)
				return false
			}
		}
		pm = &pump{ch: make(chan pumpResult, 1), uc: uc}
		go func(uc *upconn) {
			v, err := c.sendRequest(s, uc, true)
			if v != runtime.Continue || err != nil {
				// Wake the response reader: this exchange is over (the
				// connection is discarded, so its cached deadline no
				// longer matters).
				_ = uc.nc.SetDeadline(time.Now())
			}
			pm.ch <- pumpResult{v, err}
		}(uc)
	}
	sent := time.Now()

	// Read the response head, retrying once on a fresh connection when a
	// reused one turns out closed before answering an idempotent request.
	head, err := c.readResponseHead(uc)
	if err != nil && replayable && uc.reused && isUpstreamReset(err) && idempotent(c.req.Method) {
		ep.discard(uc)
		cs.rqRetry.Add(1)
		if uc, err = ep.dial(); err != nil {
			return c.proxyReply(503, "upstream_connect_failure", "upstream connect error: "+err.Error()+"\n", false)
		}
		uc.dl.to(deadline)
		if _, err = uc.nc.Write(c.reqOut); err == nil {
			sent = time.Now()
			head, err = c.readResponseHead(uc)
		}
	}
	if err != nil {
		ep.discard(uc)
		if pm != nil {
			c.abortPump(pm)
			if r := pm.join(); r.v != runtime.Continue || r.err != nil {
				return c.pumpFailed(s, r)
			}
		}
		var he *h1.Error
		switch {
		case isTimeout(err):
			cs.rqTimeout.Add(1)
			st.rqTimeout.Add(1)
			return c.proxyReply(504, "upstream_response_timeout", "upstream request timeout\n", pm != nil || !c.skipBody())
		case errors.As(err, &he):
			cs.cxProtocolError.Add(1)
			return c.proxyReply(502, "upstream_protocol_error", "upstream sent an invalid response: "+he.Error()+"\n", pm != nil || !c.skipBody())
		default:
			cs.rqReset.Add(1)
			return c.proxyReply(503, "upstream_reset_before_response_started", "upstream connect error or disconnect/reset before headers\n", pm != nil || !c.skipBody())
		}
	}
	c.rec.svcTime = time.Since(sent)
	keepUp, keepDown := c.relayResponse(s, uc, head, pm)
	if pm != nil {
		if r := pm.join(); r.err != nil || r.v != runtime.Continue {
			keepUp, keepDown = false, false
		}
	}
	if keepUp {
		uc.ep.put(uc)
	} else {
		uc.ep.discard(uc)
	}
	cs.rqXX[class(c.rec.status)].Add(1)
	return keepDown
}

// pump is a request body being sent upstream by its own goroutine while
// the response is read.
type pump struct {
	ch     chan pumpResult
	uc     *upconn
	res    pumpResult
	joined bool
}

type pumpResult struct {
	v   runtime.Verdict
	err error
}

// downstreamError marks a pump failure on the downstream side (the client
// went away or stalled) rather than the upstream's.
type downstreamError struct{ err error }

func (e downstreamError) Error() string { return "downstream: " + e.err.Error() }
func (e downstreamError) Unwrap() error { return e.err }

// join waits for the pump to finish (once).
func (p *pump) join() pumpResult {
	if p == nil {
		return pumpResult{}
	}
	if !p.joined {
		p.res = <-p.ch
		p.joined = true
	}
	return p.res
}

// abortPump stops a pump still running (the exchange failed or was
// answered locally) by expiring both its connections' deadlines, and waits.
func (c *dconn) abortPump(p *pump) {
	if p == nil || p.joined {
		return
	}
	now := time.Now()
	// The pump may be using c.rdl: go around the cache, and reset it once
	// the pump is gone.
	_ = c.nc.SetReadDeadline(now)
	p.uc.dl.to(now)
	p.join()
	c.rdl.at = now
}

// pumpFailed answers when a streamed request body failed before any
// response: a filter answered or reset, the client stalled or vanished, or
// the upstream stopped reading.
func (c *dconn) pumpFailed(s *runtime.Stream, r pumpResult) bool {
	switch {
	case r.v == runtime.Respond:
		return c.filterReply(s, false)
	case r.v == runtime.Reset:
		c.l.stats.rqReset.Add(1)
		return false
	}
	var de downstreamError
	if errors.As(r.err, &de) {
		if isTimeout(de.err) {
			c.l.stats.rqTimeout.Add(1)
			return c.proxyReply(408, "stream_idle_timeout", "timed out reading the request body\n", true)
		}
		var he *h1.Error
		if errors.As(de.err, &he) {
			return c.proxyReply(he.Status, "http1.codec_error", he.Reason+"\n", true)
		}
		c.l.stats.rqReset.Add(1)
		return false
	}
	return c.sendError(r.err)
}

// sendError answers a request that could not be sent upstream.
func (c *dconn) sendError(err error) bool {
	var he *h1.Error
	if errors.As(err, &he) {
		if he.Status == 500 {
			// A filter left a field that cannot be written.
			return c.proxyReply(500, "filter_invalid_header", he.Reason+"\n", true)
		}
		return c.proxyReply(he.Status, "http1.codec_error", he.Reason+"\n", true)
	}
	if isTimeout(err) {
		c.l.stats.rqTimeout.Add(1)
		return c.proxyReply(504, "upstream_response_timeout", "upstream request timeout\n", true)
	}
	if errors.Is(err, errBodyLength) {
		return c.proxyReply(500, "filter_body_length_mismatch", err.Error()+"\n", true)
	}
	c.l.stats.rqReset.Add(1)
	return c.proxyReply(503, "upstream_reset_before_response_started", "upstream connect error or disconnect/reset before headers\n", true)
}

var errBodyLength = errors.New("the body a filter passed differs from the content-length it left in the headers")

// sendRequest writes the request head and body (through the filters) to
// uc. With streaming, each body piece is written as it arrives; without,
// the whole request is written at once (and stays in c.reqOut for a
// retry). The head is held back until the first body bytes leave the
// filters, so a filter that buffers the whole body can change its length
// and the content-length still fits.
func (c *dconn) sendRequest(s *runtime.Stream, uc *upconn, streaming bool) (runtime.Verdict, error) {
	f := &c.reqF
	fr, cl := h1.NoBody, int64(-1)
	if v, ok := f.Get("content-length"); ok {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil && n >= 0 {
			fr, cl = h1.Length, n
		}
	}
	if c.req.Framing != h1.NoBody && fr != h1.Length {
		fr = h1.Chunked
	}
	if c.req.Framing == h1.NoBody {
		// No body: only the head goes out (content-length kept if present).
		out, err := h1.AppendRequestHead(c.reqOut[:0], *f, fr, max(cl, 0))
		c.reqOut = out
		if err != nil {
			return runtime.Continue, err
		}
		_, err = uc.nc.Write(out)
		return runtime.Continue, err
	}
	w := msgWriter{conn: uc.nc, fields: f, fr: fr, declared: cl, out: c.reqOut[:0], pend: c.pend[:0], flushEach: streaming}
	v, err := c.relayBody(s, &c.body, &w, true, streaming)
	c.reqOut, c.pend = w.out, w.pend
	if err == nil && v == runtime.Continue {
		c.rec.bytesIn += c.body.Read()
	}
	return v, err
}

// relayBody moves one body through the filters into w, then its trailers.
func (c *dconn) relayBody(s *runtime.Stream, b *h1.Body, w *msgWriter, request, streaming bool) (runtime.Verdict, error) {
	empty := s.Empty()
	streamIdle := c.sc.cfg.Timeouts.StreamIdle.D()
	for {
		if streaming && request {
			c.rdl.extend(time.Now(), streamIdle)
		}
		p, err := b.Next()
		eof := err == io.EOF
		if err != nil && !eof {
			if request {
				err = downstreamError{err}
			}
			return runtime.Continue, err
		}
		if !empty {
			// A Length body knows its last piece; chunked and
			// close-delimited bodies end with an empty call.
			eos := eof || b.Done()
			var v runtime.Verdict
			if request {
				p, v = s.RequestBody(&c.pctx, p, eos)
			} else {
				p, v = s.ResponseBody(&c.pctx, p, eos)
			}
			if v != runtime.Continue {
				return v, nil
			}
			if eos && !eof {
				eof = true
				if _, err := b.Next(); err != io.EOF {
					return runtime.Continue, err
				}
			}
		} else if !eof && b.Done() {
			eof = true
			_, _ = b.Next()
		}
		if err := w.body(p, streaming); err != nil {
			return runtime.Continue, err
		}
		if eof {
			break
		}
	}
	var trailers runtime.Fields
	if raw := b.Trailers(); raw != nil {
		c.trF = c.trF[:0]
		if err := h1.ParseTrailers(raw, c.lim, &c.trF); err != nil {
			return runtime.Continue, err
		}
		if !empty {
			var v runtime.Verdict
			if request {
				v = s.RequestTrailers(&c.pctx, &c.trF)
			} else {
				v = s.ResponseTrailers(&c.pctx, &c.trF)
			}
			if v != runtime.Continue {
				return v, nil
			}
		}
		trailers = c.trF
	}
	return runtime.Continue, w.end(trailers)
}

// msgWriter frames one message body and writes it, holding the head back
// until body bytes exist (see sendRequest).
type msgWriter struct {
	conn net.Conn
	// down is set for responses: bytes are counted as sent downstream.
	down *dconn
	// The head: a request head from fields, or a response head with
	// status and the connection field.
	fields    *runtime.Fields
	status    int
	connHdr   h1.ConnHeader
	fr        h1.Framing
	declared  int64 // Length: content-length from the headers
	sent      int64 // body bytes framed
	out       []byte
	pend      []byte // body bytes seen before the head was written
	headDone  bool
	flushEach bool
}

// body adds a piece of forwarded body.
func (w *msgWriter) body(p []byte, streaming bool) error {
	if len(p) == 0 {
		return nil
	}
	if !w.headDone && !streaming {
		w.pend = append(w.pend, p...)
		return nil
	}
	if !w.headDone {
		if err := w.writeHead(w.declared); err != nil {
			return err
		}
	}
	w.frame(p)
	if w.flushEach {
		return w.flush()
	}
	return nil
}

func (w *msgWriter) writeHead(cl int64) error {
	var out []byte
	var err error
	if w.down != nil {
		out, err = h1.AppendResponseHead(w.out[:0], w.status, *w.fields, w.fr, cl, w.connHdr)
	} else {
		out, err = h1.AppendRequestHead(w.out[:0], *w.fields, w.fr, cl)
	}
	w.out = out
	if err != nil {
		return err
	}
	w.headDone = true
	if len(w.pend) > 0 {
		w.frame(w.pend)
		w.pend = w.pend[:0]
	}
	return nil
}

func (w *msgWriter) frame(p []byte) {
	w.sent += int64(len(p))
	if w.fr == h1.Chunked {
		w.out = h1.AppendChunk(w.out, p)
	} else {
		w.out = append(w.out, p...)
	}
}

func (w *msgWriter) flush() error {
	if len(w.out) == 0 {
		return nil
	}
	n, err := w.conn.Write(w.out)
	if w.down != nil {
		w.down.l.stats.txBytes.Add(int64(n))
		w.down.rec.bytesOut += int64(n)
	}
	if w.flushEach {
		w.out = w.out[:0]
	} // else the whole message stays in out, for a retry
	return err
}

// end writes what is left: the head (with the actual length when nothing
// was written yet), held-back body, and the chunked terminator with
// trailers.
func (w *msgWriter) end(trailers runtime.Fields) error {
	if !w.headDone {
		cl := w.declared
		if w.fr == h1.Length {
			cl = int64(len(w.pend))
		}
		if err := w.writeHead(cl); err != nil {
			return err
		}
	} else if w.fr == h1.Length && w.sent != w.declared {
		return errBodyLength
	}
	if w.fr == h1.Chunked {
		if len(trailers) > 0 {
			out, err := h1.AppendTrailers(w.out, trailers)
			w.out = out
			if err != nil {
				return err
			}
		} else {
			w.out = append(w.out, h1.LastChunk...)
		}
	}
	return w.flush()
}

// readResponseHead reads the next final response head from uc, skipping
// interim 1xx responses (the sidecar answered any Expect itself).
func (c *dconn) readResponseHead(uc *upconn) ([]byte, error) {
	for i := 0; i < 10; i++ {
		head, err := uc.r.ReadHead(c.head)
		if err != nil {
			if err == io.EOF {
				return nil, io.ErrUnexpectedEOF
			}
			return nil, err
		}
		if len(head) > 12 && head[9] == '1' && string(head[:5]) == "HTTP/" {
			if head[10] == '0' && head[11] == '1' {
				return nil, &h1.Error{Status: 502, Offset: 9, Reason: "101 Switching Protocols without an upgrade"}
			}
			continue
		}
		return head, nil
	}
	return nil, &h1.Error{Status: 502, Offset: -1, Reason: "too many interim responses"}
}

// relayResponse parses the upstream's response, runs the response filters
// and writes it downstream. It reports whether the upstream and downstream
// connections can be reused.
func (c *dconn) relayResponse(s *runtime.Stream, uc *upconn, head []byte, pm *pump) (keepUp, keepDown bool) {
	cs := &c.rec.cluster.stats
	c.respF = c.respF[:0]
	if err := h1.ParseResponse(head, c.req.Method, c.lim, &c.resp, &c.respF); err != nil {
		cs.cxProtocolError.Add(1)
		c.abortPump(pm)
		return false, c.proxyReply(502, "upstream_protocol_error", "upstream sent an invalid response: "+err.Error()+"\n", pm != nil || !c.skipBody())
	}
	f := &c.respF
	f.Add("x-envoy-upstream-service-time", msString(c.rec.svcTime))
	if c.sc.cfg.ServerName != "-" {
		f.Set("server", c.sc.cfg.ServerName)
	}
	c.ubody.Init(uc.r, c.resp.Framing, c.resp.ContentLength, c.head)
	hasBody := c.resp.Framing != h1.NoBody
	switch s.ResponseHeaders(&c.pctx, f, !hasBody) {
	case runtime.Respond:
		c.abortPump(pm)
		return false, c.filterReply(s, pm == nil)
	case runtime.Reset:
		c.abortPump(pm)
		return false, c.filterReset()
	}
	status := c.resp.Status
	if v, ok := f.Get(":status"); ok && v != statusText(status) {
		if n, err := strconv.Atoi(v); err == nil && n >= 100 && n <= 599 {
			status = n // a filter changed it
		}
	}
	c.rec.status = status

	// Downstream framing: the content-length the filters left, else chunked
	// for HTTP/1.1 clients, else until close.
	closeDown := c.req.Close || c.sc.draining.Load()
	fr, cl := h1.NoBody, int64(-1)
	if v, ok := f.Get("content-length"); ok && status != 204 {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil && n >= 0 {
			fr, cl = h1.Length, n
		}
	}
	if hasBody && fr != h1.Length {
		if c.req.Minor == 1 {
			fr = h1.Chunked
		} else {
			fr = h1.UntilClose
			closeDown = true
		}
	}
	// The request body must be consumed (or being consumed by the pump)
	// before the connection can carry another request.
	if pm == nil && !c.body.Done() {
		closeDown = true
	}
	conn := c.connHeader(closeDown)
	c.wdl.extend(time.Now(), c.sc.cfg.Timeouts.StreamIdle.D())
	if !hasBody {
		out, err := h1.AppendResponseHead(c.out[:0], status, *f, fr, max(cl, 0), conn)
		c.out = out
		if err != nil {
			c.abortPump(pm)
			return !c.resp.Close, c.proxyReply(500, "filter_invalid_header", err.Error()+"\n", true)
		}
		if err := c.write(out); err != nil {
			return !c.resp.Close, false
		}
		return !c.resp.Close, !closeDown
	}
	streaming := !c.ubody.Buffered()
	pend := &c.pend
	if pm != nil {
		pend = &c.upend // the pump owns c.pend
	}
	w := msgWriter{conn: c.nc, down: c, fields: f, status: status, connHdr: conn, fr: fr, declared: cl,
		out: c.out[:0], pend: (*pend)[:0], flushEach: streaming}
	v, err := c.relayBody(s, &c.ubody, &w, false, streaming)
	c.out, *pend = w.out, w.pend
	switch {
	case v == runtime.Respond && !w.headDone:
		c.abortPump(pm)
		return false, c.filterReply(s, false)
	case v != runtime.Continue:
		c.l.stats.rqReset.Add(1)
		c.abortPump(pm)
		return false, false
	case err != nil:
		c.abortPump(pm)
		var he *h1.Error
		if !w.headDone && errors.As(err, &he) {
			if he.Status == 500 {
				return false, c.proxyReply(500, "filter_invalid_header", he.Reason+"\n", true)
			}
			return false, c.proxyReply(502, "upstream_protocol_error", "upstream sent an invalid response: "+he.Error()+"\n", true)
		}
		if !w.headDone && isTimeout(err) {
			cs.rqTimeout.Add(1)
			return false, c.proxyReply(504, "upstream_response_timeout", "upstream request timeout\n", true)
		}
		return false, false
	}
	return !c.resp.Close, !closeDown
}

// filterReset handles a stream the filters reset before any response was
// sent: a filter that kept it paused past timeouts.request gets a 504, any
// other reset closes the connection without an answer, as Envoy does.
func (c *dconn) filterReset() bool {
	if c.pctx.Err() != nil {
		c.l.stats.rqTimeout.Add(1)
		c.proxyReply(504, "filter_pause_timeout", "a filter held the request past the request timeout\n", true)
		return false
	}
	c.l.stats.rqReset.Add(1)
	return false
}

// skipBody consumes a request body that is already buffered, so the
// connection can carry the next request after a local reply. It reports
// false when the body is not (fully) there: the connection must close.
func (c *dconn) skipBody() bool {
	if c.body.Done() {
		return true
	}
	if !c.body.Buffered() {
		return false
	}
	for {
		if _, err := c.body.Next(); err != nil {
			return err == io.EOF
		}
	}
}

// proxyReply sends a response the sidecar generates itself (no route,
// upstream failures, malformed requests), with the reason in
// x-nicrt-details. It reports whether the connection stays open.
func (c *dconn) proxyReply(status int, details, body string, closeConn bool) bool {
	c.l.stats.localReplies.Add(1)
	c.rec.status, c.rec.details = status, details
	closeConn = closeConn || c.req.Close || c.sc.draining.Load()
	f := runtime.Fields{
		{Name: "content-type", Value: "text/plain"},
		{Name: "x-nicrt-details", Value: details},
	}
	if c.sc.cfg.ServerName != "-" {
		f = append(f, runtime.Field{Name: "server", Value: c.sc.cfg.ServerName})
	}
	return c.writeLocal(status, f, []byte(body), closeConn)
}

// filterReply sends the local response a filter produced (or the 500 of a
// filter failing closed). bodyConsumed says whether the request body is
// out of the way; when it is not and cannot be skipped, the connection
// closes after the reply.
func (c *dconn) filterReply(s *runtime.Stream, trySkip bool) bool {
	lr := s.LocalResponse()
	if lr == nil {
		return false
	}
	closeConn := true
	if trySkip {
		closeConn = !c.skipBody()
	}
	closeConn = closeConn || c.req.Close || c.sc.draining.Load()
	c.rec.status, c.rec.details = lr.Status, lr.Details
	f := lr.Headers.Clone()
	if lr.Err != nil {
		c.l.stats.wasmFailClosed.Add(1)
		c.sc.log.Debug("filter failed closed", "listener", c.l.cfg.Name, "filter", lr.Plugin, "err", lr.Err)
		f.Set("x-nicrt-details", lr.Details)
	} else {
		c.l.stats.wasmLocalReplies.Add(1)
	}
	if len(lr.Body) > 0 {
		if _, ok := f.Get("content-type"); !ok {
			f = append(f, runtime.Field{Name: "content-type", Value: "text/plain"})
		}
	}
	if c.sc.cfg.ServerName != "-" {
		f.Set("server", c.sc.cfg.ServerName)
	}
	status := lr.Status
	if status < 100 || status > 599 {
		status = 500
	}
	return c.writeLocal(status, f, lr.Body, closeConn)
}

func (c *dconn) writeLocal(status int, f runtime.Fields, body []byte, closeConn bool) bool {
	conn := c.connHeader(closeConn)
	out, err := h1.AppendResponseHead(c.out[:0], status, f, h1.Length, int64(len(body)), conn)
	if err != nil {
		// A filter's local reply carries a field that cannot be written.
		f = runtime.Fields{{Name: "x-nicrt-details", Value: "filter_invalid_header"}}
		body = nil
		status, closeConn = 500, true
		c.rec.status, c.rec.details = 500, "filter_invalid_header"
		out, _ = h1.AppendResponseHead(c.out[:0], status, f, h1.Length, 0, h1.ConnClose)
	}
	if c.req.Method != "HEAD" {
		out = append(out, body...)
	}
	c.out = out
	c.wdl.extend(time.Now(), c.sc.cfg.Timeouts.StreamIdle.D())
	if err := c.write(out); err != nil {
		return false
	}
	return !closeConn
}

// connHeader is the connection field of a response: close when the
// connection ends after it, keep-alive for an HTTP/1.0 client that keeps it.
func (c *dconn) connHeader(closing bool) h1.ConnHeader {
	switch {
	case closing:
		return h1.ConnClose
	case c.req.Minor == 0:
		return h1.ConnKeepAlive
	}
	return h1.ConnDefault
}

// msString renders a duration in whole milliseconds without allocating for
// common values.
func msString(d time.Duration) string {
	ms := int(d / time.Millisecond)
	if ms >= 0 && ms < len(smallInts) {
		return smallInts[ms]
	}
	return strconv.Itoa(ms)
}

var smallInts = func() (s [1000]string) {
	for i := range s {
		s[i] = strconv.Itoa(i)
	}
	return s
}()

func statusText(code int) string {
	if code >= 0 && code < len(smallInts) {
		return smallInts[code]
	}
	return strconv.Itoa(code)
}

func idempotent(method string) bool {
	switch method {
	case "GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE":
		return true
	}
	return false
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() || errors.Is(err, os.ErrDeadlineExceeded)
}

func isReset(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, net.ErrClosed)
}

// isUpstreamReset reports an upstream that closed or reset the connection
// before answering.
func isUpstreamReset(err error) bool {
	return err == io.ErrUnexpectedEOF || err == io.EOF || isReset(err)
}
