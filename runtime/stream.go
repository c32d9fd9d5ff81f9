package runtime

import (
	"context"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nicrt/nicrt/runtime/internal/abi"
)

// Verdict is what a data plane does after running a phase of a stream.
type Verdict int

const (
	// Continue forwards the (possibly modified) headers, body or trailers.
	Continue Verdict = iota
	// Respond sends Stream.LocalResponse downstream instead of forwarding;
	// a filter asked for it, or a filter failed closed.
	Respond
	// Reset drops the stream without a response: a filter closed it, a
	// paused stream's context ended, or a failure happened after the
	// response headers had already gone downstream.
	Reset
)

func (v Verdict) String() string {
	switch v {
	case Continue:
		return "continue"
	case Respond:
		return "respond"
	default:
		return "reset"
	}
}

// LocalResponse is a response produced by the filters instead of the
// upstream.
type LocalResponse struct {
	Status  int
	Details string // why, as Envoy's response code details (e.g. "wasm_fail_stream")
	Headers Fields
	Body    []byte
	// GRPCStatus is the gRPC status a filter asked for, or -1.
	GRPCStatus int32
	// Plugin names the filter that answered or failed.
	Plugin string
	// Err is set when the response reports a filter failure (fail closed).
	Err error
}

// StreamInfo describes the connection a stream arrived on; filters read it
// as properties (source.*, destination.*, connection.id, request.protocol).
type StreamInfo struct {
	Source, Destination netip.AddrPort
	ConnectionID        uint64
	Protocol            string // default "HTTP/1.1"
	// OnCallback, when set, is told about every guest callback the stream
	// runs, from context create to proxy_on_delete (nicrt run prints them);
	// it costs two clock reads per callback. It runs on the goroutine that
	// drives the callback: proxy_on_log and proxy_on_delete deferred by a
	// filter's proxy_done run on whichever goroutine delivered the callback
	// in which the filter called it.
	OnCallback func(CallbackEvent)
}

// CallbackEvent describes one guest callback of a stream.
type CallbackEvent struct {
	Plugin       string
	Callback     string
	Duration     time.Duration
	Instructions uint64 // when the plugin counts instructions
	Result       uint64 // the callback's return value (action or bool)
	Err          error
}

type direction int

const (
	dirRequest direction = iota
	dirResponse
)

type phase int

// atomicPhase is a phase read and written atomically.
type atomicPhase struct{ v atomic.Int32 }

func (a *atomicPhase) load() phase   { return phase(a.v.Load()) }
func (a *atomicPhase) store(p phase) { a.v.Store(int32(p)) }

const (
	phaseNone phase = iota
	phaseHeaders
	phaseBody
	phaseTrailers
	phaseDone
)

// dirState tracks one direction of a stream.
type dirState struct {
	// phase is changed under Stream.mu, and atomic so that a host call
	// asking whether a map may be written now reads it without the lock
	// (the answer could change as soon as the lock was released anyway).
	phase atomicPhase
	body  []byte // the body buffer a body callback sees
	// pause bookkeeping: inCall from just before a callback until its result
	// is processed; a continue arriving then sets early, a continue while
	// paused wakes the waiter.
	inCall bool
	paused bool
	early  bool
	// wake is made by the first pause (under Stream.mu, before paused is
	// set) and never replaced, so most streams never allocate it.
	wake chan struct{}
	sent bool // headers forwarded (no local response possible after response headers are sent)
}

// Stream is one HTTP request/response through a chain. Its methods for one
// direction must be called from one goroutine at a time, in order (headers,
// body chunks, trailers); the request and response directions may run on
// different goroutines, as a full-duplex proxy does.
type Stream struct {
	chain *Chain
	info  StreamInfo
	start time.Time
	ctxs  []pctx
	one   [1]pctx // ctxs of a one-filter chain, the common case: no allocation

	mu           sync.Mutex // guards local, reset, dirs, props, upstream
	local        *LocalResponse
	reset        bool
	dirs         [2]dirState
	props        map[string][]byte
	upstream     string
	respBodySize atomic.Int64
	instructions atomic.Uint64

	reqHeaders, reqTrailers, respHeaders, respTrailers *Fields
	closed                                             bool
}

// pctx is one plugin's context within a stream.
type pctx struct {
	s  *Stream
	p  *Plugin
	v  *vm
	id uint32
	// lifecycle
	created     bool
	skip        bool  // failed open: passes untouched from now on
	err         error // failed closed
	vmErr       error // its VM died (set by another goroutine under s.mu)
	pendingDone bool  // proxy_on_done returned false; waiting for proxy_done
	finished    bool
	buf         [2][]byte // body buffered while this filter pauses on body
}

func newStream(c *Chain, info StreamInfo) *Stream {
	if info.Protocol == "" {
		info.Protocol = "HTTP/1.1"
	}
	s := &Stream{chain: c, info: info, start: time.Now()}
	if len(c.plugins) <= len(s.one) {
		s.ctxs = s.one[:len(c.plugins)]
	} else {
		s.ctxs = make([]pctx, len(c.plugins))
	}
	for i, p := range c.plugins {
		s.ctxs[i] = pctx{s: s, p: p}
		p.stats.streams.Add(1)
	}
	return s
}

// LocalResponse returns the response filters produced, or nil.
func (s *Stream) LocalResponse() *LocalResponse {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.local
}

// Instructions returns the wasm instructions this stream's callbacks have
// executed so far (only plugins loaded with CountInstructions count), from
// proxy_on_context_create through proxy_on_done, proxy_on_log and
// proxy_on_delete once Close has run them.
func (s *Stream) Instructions() uint64 { return s.instructions.Load() }

// SetUpstreamAddress records the endpoint the request went to (property
// upstream.address).
func (s *Stream) SetUpstreamAddress(addr string) {
	s.mu.Lock()
	s.upstream = addr
	s.mu.Unlock()
}

// Empty reports whether the stream runs no filters, so data planes can skip
// work that only filters need.
func (s *Stream) Empty() bool { return len(s.ctxs) == 0 }

// RequestHeaders runs proxy_on_request_headers through the chain. h stays
// owned by the stream until Close: filters may read it in later callbacks.
// ctx bounds how long a paused filter may hold the request.
func (s *Stream) RequestHeaders(ctx context.Context, h *Fields, endOfStream bool) Verdict {
	s.reqHeaders = h
	return s.fields(ctx, dirRequest, phaseHeaders, cbRequestHeaders, uint64(len(*h)), endOfStream)
}

// RequestTrailers runs proxy_on_request_trailers through the chain.
func (s *Stream) RequestTrailers(ctx context.Context, t *Fields) Verdict {
	s.reqTrailers = t
	return s.fields(ctx, dirRequest, phaseTrailers, cbRequestTrailers, uint64(len(*t)), false)
}

// ResponseHeaders runs proxy_on_response_headers through the chain, in
// reverse order.
func (s *Stream) ResponseHeaders(ctx context.Context, h *Fields, endOfStream bool) Verdict {
	s.respHeaders = h
	return s.fields(ctx, dirResponse, phaseHeaders, cbResponseHeaders, uint64(len(*h)), endOfStream)
}

// ResponseTrailers runs proxy_on_response_trailers through the chain.
func (s *Stream) ResponseTrailers(ctx context.Context, t *Fields) Verdict {
	s.respTrailers = t
	return s.fields(ctx, dirResponse, phaseTrailers, cbResponseTrailers, uint64(len(*t)), false)
}

// RequestBody runs one chunk of request body through the chain and returns
// the bytes to forward now. A filter that pauses on a body chunk buffers it
// (Envoy's StopIterationAndBuffer): the bytes come out later, with a
// following chunk or at end of stream. chunk is not retained.
func (s *Stream) RequestBody(ctx context.Context, chunk []byte, endOfStream bool) ([]byte, Verdict) {
	return s.body(ctx, dirRequest, cbRequestBody, chunk, endOfStream)
}

// ResponseBody is RequestBody for the response.
func (s *Stream) ResponseBody(ctx context.Context, chunk []byte, endOfStream bool) ([]byte, Verdict) {
	s.respBodySize.Add(int64(len(chunk)))
	return s.body(ctx, dirResponse, cbResponseBody, chunk, endOfStream)
}

// order returns plugin indexes in the direction's order.
func (s *Stream) at(d direction, i int) *pctx {
	if d == dirRequest {
		return &s.ctxs[i]
	}
	return &s.ctxs[len(s.ctxs)-1-i]
}

func (s *Stream) fields(ctx context.Context, d direction, ph phase, cb callback, n uint64, eos bool) Verdict {
	if len(s.ctxs) == 0 {
		return Continue
	}
	s.setPhase(d, ph)
	// Once the phase returns, its map belongs to the data plane again.
	defer s.setPhase(d, phaseNone)
	for i := range s.ctxs {
		c := s.at(d, i)
		act, v := s.invoke(c, d, cb, n, b2u(eos))
		if v != Continue {
			return v
		}
		if act == abi.ActionPause {
			if v := s.waitResume(ctx, c, d); v != Continue {
				return v
			}
		} else {
			s.endCall(d)
		}
		if v := s.check(); v != Continue {
			return v
		}
	}
	if d == dirResponse && ph == phaseHeaders {
		s.mu.Lock()
		s.dirs[d].sent = true
		s.mu.Unlock()
	}
	return Continue
}

func (s *Stream) body(ctx context.Context, d direction, cb callback, chunk []byte, eos bool) ([]byte, Verdict) {
	if len(s.ctxs) == 0 {
		return chunk, Continue
	}
	s.setPhase(d, phaseBody)
	defer s.setPhase(d, phaseNone)
	data := chunk
	for i := range s.ctxs {
		c := s.at(d, i)
		if c.skip {
			continue
		}
		if len(c.buf[d]) > 0 {
			c.buf[d] = append(c.buf[d], data...)
			data = c.buf[d]
		}
		s.mu.Lock()
		s.dirs[d].body = data
		s.mu.Unlock()
		act, v := s.invoke(c, d, cb, uint64(len(data)), b2u(eos))
		s.mu.Lock()
		data = s.dirs[d].body
		s.mu.Unlock()
		if v != Continue {
			return nil, v
		}
		if act == abi.ActionPause {
			if !eos {
				// Buffer and wait for more body; a later continue_stream
				// while buffering lets the next chunk through.
				s.endCall(d)
				if len(c.buf[d]) == 0 || &data[0] != &c.buf[d][0] {
					c.buf[d] = append(c.buf[d][:0], data...)
				} else {
					c.buf[d] = data
				}
				return nil, s.check()
			}
			if v := s.waitResume(ctx, c, d); v != Continue {
				return nil, v
			}
			s.mu.Lock()
			data = s.dirs[d].body
			s.mu.Unlock()
		} else {
			s.endCall(d)
		}
		c.buf[d] = c.buf[d][:0]
		if v := s.check(); v != Continue {
			return nil, v
		}
	}
	return data, Continue
}

func (s *Stream) setPhase(d direction, ph phase) {
	s.mu.Lock()
	s.dirs[d].phase.store(ph)
	s.mu.Unlock()
}

// check reports a local response or reset that a callback produced.
func (s *Stream) check() Verdict {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.reset:
		return Reset
	case s.local != nil:
		return Respond
	}
	return Continue
}

// invoke runs one callback (context id, a1, a2) on one plugin context,
// creating the context on first use, and applies the plugin's failure
// policy. It returns the guest's action and a verdict other than Continue
// when the stream must stop. Callbacks taking one argument after the id
// (trailers) ignore a2.
func (s *Stream) invoke(c *pctx, d direction, cb callback, a1, a2 uint64) (abi.Action, Verdict) {
	if c.skip {
		return abi.ActionContinue, Continue
	}
	if c.err != nil {
		return 0, s.failVerdict()
	}
	if !c.created {
		if err := c.create(); err != nil {
			return 0, s.fail(c, err)
		}
	}
	s.mu.Lock()
	if c.vmErr != nil {
		err := c.vmErr
		s.mu.Unlock()
		return 0, s.fail(c, err)
	}
	s.dirs[d].inCall = true
	s.mu.Unlock()
	r, err := c.run(cb, uint64(c.id), a1, a2)
	if err != nil {
		s.endCall(d)
		return 0, s.fail(c, err)
	}
	return abi.Action(r), Continue
}

// endCall closes the window in which a continue_stream counts as "early".
func (s *Stream) endCall(d direction) {
	s.mu.Lock()
	s.dirs[d].inCall, s.dirs[d].early = false, false
	s.mu.Unlock()
}

// waitResume blocks a paused direction until a filter continues it, answers
// locally, resets it, its VM dies, or ctx ends.
func (s *Stream) waitResume(ctx context.Context, c *pctx, d direction) Verdict {
	ds := &s.dirs[d]
	s.mu.Lock()
	ds.inCall = false
	if ds.early {
		ds.early = false
		s.mu.Unlock()
		return Continue
	}
	if s.reset || s.local != nil || c.vmErr != nil {
		s.mu.Unlock()
		return s.afterWake(c)
	}
	if ds.wake == nil {
		ds.wake = make(chan struct{}, 1)
	}
	ds.paused = true
	s.mu.Unlock()
	select {
	case <-ds.wake:
	case <-ctx.Done():
		s.mu.Lock()
		if ds.paused { // not woken meanwhile
			ds.paused = false
			s.reset = true
		}
		s.mu.Unlock()
		select { // drain a wake-up that raced with ctx
		case <-ds.wake:
		default:
		}
	}
	return s.afterWake(c)
}

func (s *Stream) afterWake(c *pctx) Verdict {
	s.mu.Lock()
	vmErr := c.vmErr
	s.mu.Unlock()
	if vmErr != nil {
		return s.fail(c, &CallError{Plugin: c.p.cfg.Name, Callback: "paused stream", Err: vmErr})
	}
	return s.check()
}

// resume is proxy_continue_stream for direction d.
func (s *Stream) resume(d direction) {
	s.mu.Lock()
	ds := &s.dirs[d]
	switch {
	case ds.paused:
		ds.paused = false
		s.mu.Unlock()
		ds.wake <- struct{}{}
		return
	case ds.inCall:
		ds.early = true
	case ds.phase.load() == phaseBody && len(s.ctxs) > 0:
		// continue while buffering body: forward what is buffered with the
		// next chunk (nothing else to do until the data plane sends more).
	}
	s.mu.Unlock()
}

// wakeAll releases any paused direction (after a local response, a reset
// or a VM failure).
func (s *Stream) wakeAllLocked() {
	for d := range s.dirs {
		if s.dirs[d].paused {
			s.dirs[d].paused = false
			s.dirs[d].wake <- struct{}{}
		}
	}
}

// fail applies c's plugin failure policy after err.
func (s *Stream) fail(c *pctx, err error) Verdict {
	p := c.p
	if p.cfg.FailOpen {
		c.skip = true
		p.stats.failOpen.Add(1)
		return Continue
	}
	c.err = err
	p.stats.failClosed.Add(1)
	s.mu.Lock()
	if s.local == nil && !s.dirs[dirResponse].sent {
		s.local = &LocalResponse{
			Status:     500,
			Details:    "wasm_fail_stream",
			Headers:    Fields{{"content-type", "text/plain"}},
			Body:       []byte("filter " + p.cfg.Name + " failed\n"),
			GRPCStatus: -1,
			Plugin:     p.cfg.Name,
			Err:        err,
		}
	} else if s.local == nil {
		s.reset = true
	}
	s.mu.Unlock()
	return s.failVerdict()
}

func (s *Stream) failVerdict() Verdict {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.local != nil && !s.dirs[dirResponse].sent {
		return Respond
	}
	return Reset
}

// create makes the plugin context on a live VM.
func (c *pctx) create() error {
	v := c.p.pickOrWait()
	if v == nil {
		return &CallError{Plugin: c.p.cfg.Name, Callback: cbContextCreate.String(), Err: errNoVM}
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	c.v = v
	c.id = v.newContextID()
	c.created = true
	if v.dead.Load() {
		return &CallError{Plugin: c.p.cfg.Name, Callback: cbContextCreate.String(), Err: v.deathReason()}
	}
	v.ctxs[c.id] = c
	v.cur = c
	t0 := c.clock()
	_, err := v.call(cbContextCreate, c.p.host.cfg.CallDeadline, 0, uint64(c.id), uint64(v.rootID))
	v.cur = nil
	c.s.instructions.Add(v.last)
	c.event(cbContextCreate, t0, v.last, 0, err)
	return err
}

// clock starts timing a callback when someone listens (OnCallback).
func (c *pctx) clock() time.Time {
	if c.s.info.OnCallback == nil {
		return time.Time{}
	}
	return time.Now()
}

// event reports a callback timed from t0 to the stream's OnCallback.
func (c *pctx) event(cb callback, t0 time.Time, instructions, result uint64, err error) {
	if c.s.info.OnCallback != nil {
		c.s.info.OnCallback(CallbackEvent{Plugin: c.p.cfg.Name, Callback: cb.String(), Duration: time.Since(t0),
			Instructions: instructions, Result: result, Err: err})
	}
}

// run calls cb with this context effective.
func (c *pctx) run(cb callback, args ...uint64) (uint64, error) {
	v := c.v
	t0 := c.clock()
	v.mu.Lock()
	v.cur = c
	r, err := v.call(cb, c.p.host.cfg.CallDeadline, 0, args...)
	v.cur = nil
	n := v.last
	v.mu.Unlock()
	c.s.instructions.Add(n)
	c.event(cb, t0, n, r, err)
	return r, err
}

// vmFailed is called (under the dead VM's lock) for every context it hosted.
func (c *pctx) vmFailed(reason error) {
	s := c.s
	s.mu.Lock()
	c.vmErr = reason
	s.wakeAllLocked()
	s.mu.Unlock()
}

// Close ends the stream: every plugin context gets proxy_on_done, then
// proxy_on_log and proxy_on_delete (or later, when a filter defers with
// proxy_done), and the stream's hold on its plugins is released. Call it
// exactly once, whatever the verdicts were.
func (s *Stream) Close() {
	if s.closed {
		return
	}
	s.closed = true
	s.mu.Lock()
	s.dirs[0].phase.store(phaseDone)
	s.dirs[1].phase.store(phaseDone)
	s.mu.Unlock()
	pending := false
	for i := range s.ctxs {
		c := &s.ctxs[i]
		if !c.created || c.v == nil {
			continue
		}
		v := c.v
		v.mu.Lock()
		if _, live := v.ctxs[c.id]; live && !v.dead.Load() {
			v.cur = c
			t0 := c.clock()
			done, err := v.call(cbDone, v.p.host.cfg.CallDeadline, 1, uint64(c.id))
			s.instructions.Add(v.last)
			c.event(cbDone, t0, v.last, done, err)
			if err == nil {
				if uint32(done) != 0 {
					_ = c.finish()
				} else {
					c.pendingDone = true
					pending = true
				}
			}
			v.cur = nil
		}
		v.mu.Unlock()
	}
	if pending {
		// Filters finishing later may still read the maps in proxy_on_log;
		// detach them from buffers the data plane will reuse.
		s.mu.Lock()
		s.reqHeaders, s.respHeaders = cloneFields(s.reqHeaders), cloneFields(s.respHeaders)
		s.reqTrailers, s.respTrailers = cloneFields(s.reqTrailers), cloneFields(s.respTrailers)
		s.mu.Unlock()
	}
	for i := range s.ctxs {
		s.ctxs[i].p.release()
	}
}

func cloneFields(f *Fields) *Fields {
	if f == nil {
		return nil
	}
	c := f.Clone()
	return &c
}

// finish runs proxy_on_log and proxy_on_delete; the VM lock is held.
func (c *pctx) finish() error {
	if c.finished {
		return nil
	}
	c.finished = true
	v := c.v
	prev := v.cur
	v.cur = c
	t0 := c.clock()
	_, err := v.call(cbLog, v.p.host.cfg.CallDeadline, 0, uint64(c.id))
	c.s.instructions.Add(v.last)
	c.event(cbLog, t0, v.last, 0, err)
	if err == nil {
		t0 = c.clock()
		_, err = v.call(cbDelete, v.p.host.cfg.CallDeadline, 0, uint64(c.id))
		c.s.instructions.Add(v.last)
		c.event(cbDelete, t0, v.last, 0, err)
	}
	v.cur = prev
	delete(v.ctxs, c.id)
	return err
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}
