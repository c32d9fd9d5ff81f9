package live

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nicrt/nicrt/nicsim/engine"
	"github.com/nicrt/nicrt/nicsim/flow"
	"github.com/nicrt/nicrt/nicsim/frame"
	"github.com/nicrt/nicrt/nicsim/httpframe"
	"github.com/nicrt/nicrt/nicsim/model"
	"github.com/nicrt/nicrt/nicsim/sim"
	"github.com/nicrt/nicrt/runtime"
)

// Options configure a live NIC.
type Options struct {
	// Model is the timing model.
	Model model.Config
	// Engines are the NIC's wasm engines, one per Model.Engine.Count (a
	// single engine may fill every slot, as wasmengine does), for the
	// exchanges that come in from the wire (ingress, relay); nil means
	// pass-through engines (no filters).
	Engines []engine.Engine
	// PausingFilters says that some filter may pause a message until a
	// timer or a callout resumes it (a fault delay, an HTTP call): the NIC
	// then runs pausable engines on worker goroutines so that a pause holds
	// only its message, at the cost of a goroutine hand-off per message.
	// Without it a pause holds the whole NIC for its duration.
	// wasmengine.MayPause tells from a module's imports.
	PausingFilters bool
	// EgressEngines run the filters of exchanges the host starts (egress),
	// like an outbound sidecar's chain; nil means Engines. A NIC has one set
	// of engines: each message uses engine i of the set its exchange
	// belongs to, so the model's engine count and queues are shared.
	EgressEngines []engine.Engine
	// Tolerance is the lateness above which a released message counts as
	// an underrun (default DefaultTolerance). Every release's lateness is
	// measured and reported whatever this is; it only sets the line.
	Tolerance time.Duration
	// Capture, when set, receives a pcap of every frame that left the NIC,
	// stamped with its simulated departure time (Wireshark opens it).
	Capture io.Writer
	// Clusters name the egress upstreams: a routing header (RouteHeader)
	// naming a cluster sends the request to its endpoints, round-robin.
	Clusters map[string][]string
	// RouteHeader is the request field the filters name a cluster in
	// (default runtime.DefaultRouteHeader, "x-nicrt-cluster").
	RouteHeader string
	// HostIP is the host's address on egress frames, whose host side has no
	// socket of its own (default 127.0.0.1).
	HostIP netip.Addr
	// Dial opens the NIC's connections toward the wire (egress upstreams,
	// the relay's upstream); default a net.Dialer with DialTimeout.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// DialTimeout bounds those connects (default 5 s).
	DialTimeout time.Duration
	// Logger receives connection-level events (never one per request).
	Logger *slog.Logger
}

// DefaultTolerance is the default underrun line: a message released more
// than this after its modeled departure is an underrun. It is the release
// precision measured on a quiet 2-core VM with the spin-before-deadline
// release (docs/nicsim.md, "Precision"), so lateness below it is the
// release mechanism's jitter rather than a host that cannot keep up.
const DefaultTolerance = 10 * time.Microsecond

// Limits of one direction's bytes in flight through the NIC. The
// simulator's reassembly buffer is smaller than the in-flight budget, so a
// message too large to hold makes its stream bypass the engines (the
// simulator's rule) instead of stalling with a full budget.
const (
	reassemblyBuffer = 4 << 20
	inflightBudget   = 8 << 20
)

// offerHorizon is how far ahead a goroutine that offered bytes (a socket
// reader, the host's write) keeps driving the NIC itself, spinning, before
// it hands the wait to the clock goroutine: short, because it is a
// connection's reader or the host application's own goroutine.
const offerHorizon = 5 * model.Microsecond

// NIC is a live simulated SmartNIC: it sits between a host's sockets and the
// wire, represents the bytes crossing it as frames, evaluates the timing
// model on their real arrival times with the incremental simulator, runs
// the filters on the HTTP messages it frames, and releases each frame no
// earlier than its modeled departure. A NIC is safe for concurrent use; one
// NIC serves a host's ingress (Listener), egress (DialContext) and relays
// (Relay) together, as one card would.
type NIC struct {
	opt  Options
	t    *model.Timing
	clk  clock
	log  *slog.Logger
	dial func(ctx context.Context, network, addr string) (net.Conn, error)
	tol  model.Time

	mu        sync.Mutex
	sim       *sim.Sim
	lastT     model.Time // latest time offered or advanced to
	byID      []*frameRec
	recs      []*frameRec // free records
	flows     map[flow.Key]*conn
	dirty     []*half
	waiting   []*half
	deferred  []*half
	outbox    []*half
	spare     []*half
	kicks     []*egressSink
	cutBuf    []int
	rewriteHF httpframe.Conn      // frames rewritten egress requests to read their route
	closers   []engine.FlowCloser // distinct inner engines that keep per-flow state
	pausable  map[engine.Engine]bool
	pausing   atomic.Bool
	pw        pauseWatch
	cap       *capture
	ctr       counters
	serial    uint32
	rr        map[string]*uint64
	ports     uint16
	stopped   bool
	finished  *sim.Result

	gen        atomic.Uint64 // bumped whenever new work may need driving
	token      atomic.Bool   // held by the goroutine driving the simulation
	sleepingTo atomic.Int64  // deadline the clock goroutine sleeps toward; 0 when awake
	alarm      *timer
	wakeClock  chan struct{}
	quit       atomic.Bool
	clockDone  chan struct{}
	mrg        margin       // clock goroutine only
	marginNs   atomic.Int64 // mrg's current value, for reports

	conns sync.WaitGroup
	open  atomic.Int64
}

// New starts a NIC: its clock starts now.
func New(opt Options) (*NIC, error) {
	t, err := model.NewTiming(opt.Model)
	if err != nil {
		return nil, err
	}
	n := &NIC{opt: opt, t: t, flows: map[flow.Key]*conn{}, rr: map[string]*uint64{}, clockDone: make(chan struct{})}
	if n.opt.Tolerance <= 0 {
		n.opt.Tolerance = DefaultTolerance
	}
	n.tol = model.Time(n.opt.Tolerance) * model.Nanosecond
	if n.opt.RouteHeader == "" {
		n.opt.RouteHeader = runtime.DefaultRouteHeader
	}
	if !n.opt.HostIP.IsValid() {
		n.opt.HostIP = netip.AddrFrom4([4]byte{127, 0, 0, 1})
	}
	if !n.opt.HostIP.Unmap().Is4() {
		return nil, fmt.Errorf("nicsim/live: HostIP %v is not IPv4 (the NIC's frames are IPv4)", n.opt.HostIP)
	}
	n.opt.HostIP = n.opt.HostIP.Unmap()
	if n.opt.DialTimeout <= 0 {
		n.opt.DialTimeout = 5 * time.Second
	}
	n.dial = n.opt.Dial
	if n.dial == nil {
		d := &net.Dialer{Timeout: n.opt.DialTimeout}
		n.dial = d.DialContext
	}
	for name, eps := range n.opt.Clusters {
		if len(eps) == 0 {
			return nil, fmt.Errorf("nicsim/live: cluster %q has no endpoints", name)
		}
		for _, ep := range eps {
			if _, _, err := net.SplitHostPort(ep); err != nil {
				return nil, fmt.Errorf("nicsim/live: cluster %q: endpoint %q: %v", name, ep, err)
			}
		}
		n.rr[name] = new(uint64)
	}
	n.log = opt.Logger
	if n.log == nil {
		n.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	count := opt.Model.Engine.Count
	in, out := opt.Engines, opt.EgressEngines
	if in == nil {
		in = engine.NewPassThrough(count)
	}
	if out == nil {
		out = in
	}
	if len(in) != count || len(out) != count {
		return nil, fmt.Errorf("nicsim/live: %d engines (%d egress) given, the model has engine.count %d", len(in), len(out), count)
	}
	engines := make([]engine.Engine, count)
	for i := range in {
		engines[i] = &liveEngine{n: n, ingress: in[i], egress: out[i], first: i == 0}
		for _, e := range []engine.Engine{in[i], out[i]} {
			if fc, ok := e.(engine.FlowCloser); ok && !slices.ContainsFunc(n.closers, func(x engine.FlowCloser) bool { return same(x, fc) }) {
				n.closers = append(n.closers, fc)
			}
		}
	}
	n.setPauseHooks(in, out)
	n.pausing.Store(opt.PausingFilters)
	if opt.Capture != nil {
		if n.cap, err = newCapture(opt.Capture); err != nil {
			return nil, fmt.Errorf("nicsim/live: capture: %w", err)
		}
	}
	n.sim, err = sim.New(sim.Options{
		Timing: t, Engines: engines, OnDepart: n.onDepart,
		Reassembly: flow.Limits{MaxBuffered: reassemblyBuffer, MaxSegments: flow.DefaultLimits.MaxSegments, MaxGap: flow.DefaultLimits.MaxGap},
	})
	if err != nil {
		return nil, err
	}
	n.wakeClock = make(chan struct{}, 1)
	if n.alarm, err = newTimer(); err != nil {
		return nil, fmt.Errorf("nicsim/live: clock: %w", err)
	}
	n.clk = clock{start: time.Now()}
	go n.clockLoop()
	return n, nil
}

// Model is the timing model the NIC evaluates.
func (n *NIC) Model() model.Config { return n.opt.Model }

// ErrClosed is returned for work offered to a NIC that was closed.
var ErrClosed = errors.New("nicsim/live: NIC closed")

// Close stops the NIC: connections still open are reset, the simulation
// runs to its end and the clock stops. Stats stay readable. Callers who
// want a graceful stop close their listeners and wait for their
// connections first (Relay does).
func (n *NIC) Close() error {
	n.mu.Lock()
	if n.stopped {
		n.mu.Unlock()
		return nil
	}
	n.stopped = true
	var open []*conn
	for _, c := range n.flows {
		open = append(open, c)
	}
	n.mu.Unlock()
	for _, c := range open {
		c.abort()
	}
	n.conns.Wait()
	n.quit.Store(true)
	n.wake()
	<-n.clockDone
	n.alarm.close()
	n.stopWorkers()
	// Finish while holding the token so no driver runs concurrently.
	for !n.token.CompareAndSwap(false, true) {
		time.Sleep(time.Millisecond)
	}
	n.mu.Lock()
	n.finished = n.sim.Finish()
	now := n.clk.now()
	n.drainAll(now)
	out := n.takeOutbox()
	var err error
	if n.cap != nil {
		err = n.cap.flush()
	}
	n.mu.Unlock()
	n.deliver(out)
	n.token.Store(false)
	return err
}

// ---- offering bytes ---------------------------------------------------------

// offer hands bytes the NIC received on h's side to the simulation: data
// (aliasing ck, which the NIC references until delivered), or a FIN or RST
// (flags). It blocks while h has more than its budget in flight, then
// drives the NIC.
func (n *NIC) offer(h *half, data []byte, ck *chunk, flags frame.Flags) error {
	return n.offerCheck(h, data, ck, flags, nil)
}

// offerHost is offer for the host's writes: a write deadline or a close
// ends the wait for room.
func (n *NIC) offerHost(hc *hostConn, data []byte, ck *chunk) error {
	return n.offerCheck(hc.out, data, ck, 0, hc.writable)
}

func (n *NIC) offerCheck(h *half, data []byte, ck *chunk, flags frame.Flags, check func() error) error {
	n.mu.Lock()
	for h.inflight >= inflightBudget && !n.stopped && !h.c.closed {
		h.waiting = true
		n.mu.Unlock()
		<-h.roomWait
		if check != nil {
			if err := check(); err != nil {
				return err
			}
		}
		n.mu.Lock()
	}
	switch {
	case n.stopped:
		n.mu.Unlock()
		return ErrClosed
	case h.c.closed && len(data) > 0:
		n.mu.Unlock()
		return errReset
	case h.fin:
		n.mu.Unlock()
		return nil
	}
	now := n.clk.now()
	n.enqueue(h, data, ck, flags, now, now)
	n.mu.Unlock()
	n.kick()
	return nil
}

// enqueue offers data now at time at, or defers it: behind earlier deferred
// offers of h, or in the client's first flight (see conn.firstFlight).
func (n *NIC) enqueue(h *half, data []byte, ck *chunk, flags frame.Flags, arrive, at model.Time) {
	if flags&(frame.FIN|frame.RST) != 0 {
		h.fin = true
	}
	h.inflight += int64(len(data))
	if ck != nil {
		ck.ref()
	}
	c := h.c
	shift := h == c.client && c.firstFlight && len(data) > 0
	if shift {
		if c.hsLeft > 0 {
			at = never
		} else {
			at = max(at, c.afterHandshake(arrive))
		}
	}
	if h.qHead < len(h.q) || at > arrive {
		h.q = append(h.q, deferredOffer{data: data, ck: ck, flags: flags, arrive: arrive, at: at, shift: shift})
		if !h.flags.deferred {
			h.flags.deferred = true
			n.deferred = append(n.deferred, h)
		}
		return
	}
	n.offerNow(h, data, ck, flags, max(at, n.lastT))
}

// offerNow cuts data into segments — at the MSS and at message
// boundaries — and offers them (then the FIN/RST, if flags has one) to the
// simulation at time t. ck carries one reference for this call, passed on
// to the frames.
func (n *NIC) offerNow(h *half, data []byte, ck *chunk, flags frame.Flags, t model.Time) {
	n.lastT = t
	n.cutBuf = h.c.cuts(h, data, n.cutBuf[:0])
	pos := 0
	for _, end := range n.cutBuf {
		n.offerSegments(h, data[pos:end], ck, t)
		pos = end
	}
	n.offerSegments(h, data[pos:], ck, t)
	if flags&(frame.FIN|frame.RST) != 0 {
		n.offerFrame(h, nil, nil, frame.ACK|flags&(frame.FIN|frame.RST), t, false)
	}
	if ck != nil {
		ck.release()
	}
}

// offerSegments offers data as segments of at most mss bytes, the last
// one with PSH.
func (n *NIC) offerSegments(h *half, data []byte, ck *chunk, t model.Time) {
	for len(data) > 0 {
		k := min(len(data), mss)
		f := frame.ACK
		if k == len(data) {
			f |= frame.PSH
		}
		if ck != nil {
			ck.ref()
		}
		n.offerFrame(h, data[:k], ck, f, t, false)
		data = data[k:]
	}
}

// offerFrame offers one frame of h carrying payload (already referenced in
// ck when it has bytes).
func (n *NIC) offerFrame(h *half, payload []byte, ck *chunk, flags frame.Flags, t model.Time, hs bool) {
	if len(payload) == 0 {
		ck = nil
	}
	seq := h.seqAt(h.off)
	if flags&frame.SYN != 0 {
		seq = h.isn
	}
	pk, length := h.packet(seq, flags, payload)
	id, err := n.sim.Offer(sim.Input{Time: t, Len: length, Packet: pk, ToHost: h.toHost, Epoch: h.c.id})
	if err != nil {
		// Only a time before the last offer or advance fails, and every
		// offer is clamped to lastT: a bug if it happens.
		panic(fmt.Sprintf("nicsim/live: offer refused: %v", err))
	}
	h.off += int64(len(payload))
	r := n.newRec()
	*r = frameRec{h: h, payload: payload, ck: ck, flags: flags, seq: seq, ack: pk.Ack,
		end: h.off, arrive: t, hs: hs, frameID: id}
	for id >= len(n.byID) {
		n.byID = append(n.byID, nil)
	}
	n.byID[id] = r
	h.fifo = append(h.fifo, r)
	n.ctr.framesIn[b2i(h.toHost)]++
	n.ctr.bytesIn[b2i(h.toHost)] += int64(len(payload))
}

func (n *NIC) newRec() *frameRec {
	if k := len(n.recs); k > 0 {
		r := n.recs[k-1]
		n.recs = n.recs[:k-1]
		return r
	}
	return new(frameRec)
}

// openConn registers c and offers its handshake: the client's SYN and the
// server's SYN-ACK, at the time the connection opened; a relayed
// connection's SYN-ACK waits for its upstream (see conn.synGone).
func (n *NIC) openConn(c *conn) {
	now := n.clk.now()
	t := max(now, n.lastT)
	n.lastT = t
	n.flows[c.key] = c
	c.hsLeft = 2
	n.offerFrame(c.client, nil, nil, frame.SYN, t, true)
	if c.synGone == nil {
		n.offerFrame(c.server, nil, nil, frame.SYN|frame.ACK, t, true)
	}
	n.open.Add(1)
	n.conns.Add(1)
	n.ctr.conns[c.kind]++
}

// ---- the simulation's departures ----------------------------------------------

// onDepart is the simulator's OnDepart: frame id leaves at at (or is
// dropped there). It runs inside Advance, under n.mu.
func (n *NIC) onDepart(id int, at model.Time, drop sim.Drop) {
	r := n.byID[id]
	n.byID[id] = nil
	if r == nil {
		return
	}
	r.done, r.at, r.drop = true, at, drop
	if drop == sim.Forwarded {
		r.patch = n.sim.Patch(id)
	}
	n.markDirty(r.h)
}

func (n *NIC) markDirty(h *half) {
	if !h.flags.dirty {
		h.flags.dirty = true
		n.dirty = append(n.dirty, h)
	}
}

// ---- driving ------------------------------------------------------------------

// kick records new work and, when nobody is driving, drives the NIC from
// the calling goroutine for a short horizon.
func (n *NIC) kick() {
	n.gen.Add(1)
	if n.token.CompareAndSwap(false, true) {
		n.drive(offerHorizon)
	}
}

// drive runs the simulation up to the present, delivers what it released,
// and spins toward the next deadline while it is within horizon. The
// caller holds the token; drive releases it. When the next deadline is
// farther, the clock goroutine is woken if it sleeps past it.
func (n *NIC) drive(horizon model.Time) { n.driveLoop(horizon, false) }

// driveYielding is drive for the clock goroutine: its spin yields the P
// between clock reads, so the goroutines it just woke (the host reading
// what was released) run instead of waiting for the spin to end.
func (n *NIC) driveYielding(horizon model.Time) { n.driveLoop(horizon, true) }

func (n *NIC) driveLoop(horizon model.Time, yield bool) {
	for {
		g := n.gen.Load()
		n.mu.Lock()
		now := n.clk.now()
		next := n.pump(now)
		out := n.takeOutbox()
		kicks := n.takeKicks()
		n.mu.Unlock()
		n.deliver(out)
		for _, s := range kicks {
			s.advance()
		}
		if n.gen.Load() != g {
			continue
		}
		if next != never && next-n.clk.now() <= horizon {
			n.clk.spinUntil(next, &n.gen, g, yield)
			continue
		}
		n.token.Store(false)
		if next != never {
			if s := n.sleepingTo.Load(); s != 0 && int64(next) < s {
				n.wake()
			}
		}
		// Work may have arrived after the last check but before the token
		// was free; its kicker found the token taken.
		if n.gen.Load() != g && n.token.CompareAndSwap(false, true) {
			continue
		}
		return
	}
}

// clockLoop is the NIC's clock goroutine: it sleeps until shortly before
// the next deadline (by the adaptive margin), then drives the NIC, spinning
// the last stretch so releases land on time. A goroutine that leaves work
// with an earlier deadline wakes it through a channel: a cheap hand-off
// between goroutines, where the alarm costs an OS wake-up.
func (n *NIC) clockLoop() {
	defer close(n.clockDone)
	n.mrg = newMargin()
	n.marginNs.Store(int64(n.mrg.get()))
	for !n.quit.Load() {
		m := model.Time(n.mrg.get()) * model.Nanosecond
		if n.token.CompareAndSwap(false, true) {
			n.driveYielding(m)
		}
		g := n.gen.Load()
		n.mu.Lock()
		next := n.nextDeadline()
		n.mu.Unlock()
		now := n.clk.now()
		wakeAt := next - m
		if next != never && wakeAt <= now {
			continue
		}
		if next != never {
			n.alarm.arm(time.Duration((wakeAt - now) / model.Nanosecond))
		}
		n.sleepingTo.Store(int64(next))
		if n.gen.Load() != g || n.quit.Load() {
			n.sleepingTo.Store(0)
			continue
		}
		select {
		case <-n.wakeClock:
			n.sleepingTo.Store(0)
		case <-n.alarm.c:
			n.sleepingTo.Store(0)
			if late := n.clk.now() - wakeAt; next != never && late >= 0 {
				// How late the OS woke us: the margin learns from it.
				d := time.Duration(late / model.Nanosecond)
				n.mrg.observe(d)
				n.marginNs.Store(int64(n.mrg.get()))
				n.mu.Lock()
				n.ctr.oversleep.add(d)
				n.mu.Unlock()
			}
		}
	}
}

// wake ends the clock goroutine's sleep.
func (n *NIC) wake() {
	select {
	case n.wakeClock <- struct{}{}:
	default:
	}
}

// pump brings the simulation to now: due deferred offers are made, the
// events up to now run (engines included), and frames whose departure has
// come are collected for delivery. It returns the next deadline: the next
// event, departure or deferred offer. Caller holds n.mu and the token.
func (n *NIC) pump(now model.Time) model.Time {
	for {
		n.offerDue(now)
		n.sim.Advance(now)
		n.lastT = max(n.lastT, now)
		n.drainAll(now)
		if !n.hasDue(now) {
			break
		}
	}
	return n.nextDeadline()
}

// drainAll drains the halves that may have frames to release: those a
// departure touched, and those waiting for a departure time that has come.
func (n *NIC) drainAll(now model.Time) {
	for {
		for len(n.dirty) > 0 {
			h := n.dirty[len(n.dirty)-1]
			n.dirty = n.dirty[:len(n.dirty)-1]
			h.flags.dirty = false
			n.drain(h, now)
		}
		k := 0
		for _, h := range n.waiting {
			r := h.headRec()
			switch {
			case r == nil || !r.done:
				h.flags.waiting = false
			case r.at <= now:
				h.flags.waiting = false
				n.markDirty(h)
			default:
				n.waiting[k] = h
				k++
			}
		}
		clear(n.waiting[k:])
		n.waiting = n.waiting[:k]
		if len(n.dirty) == 0 {
			return
		}
	}
}

func (n *NIC) markWaiting(h *half) {
	if !h.flags.waiting {
		h.flags.waiting = true
		n.waiting = append(n.waiting, h)
	}
}

func (h *half) headRec() *frameRec {
	if h.head < len(h.fifo) {
		return h.fifo[h.head]
	}
	return nil
}

// hasDue reports whether a deferred offer is due at now.
func (n *NIC) hasDue(now model.Time) bool {
	for _, h := range n.deferred {
		if h.qHead < len(h.q) && h.q[h.qHead].at <= now {
			return true
		}
	}
	return false
}

// nextDeadline is the earliest time something must happen. Caller holds n.mu.
func (n *NIC) nextDeadline() model.Time {
	next := never
	if t, ok := n.sim.NextEvent(); ok {
		next = t
	}
	for _, h := range n.waiting {
		if r := h.headRec(); r != nil && r.done {
			next = min(next, r.at)
		}
	}
	for _, h := range n.deferred {
		if h.qHead < len(h.q) {
			next = min(next, h.q[h.qHead].at)
		}
	}
	return next
}

// offerDue makes the deferred offers whose time has come, in order per half.
func (n *NIC) offerDue(now model.Time) {
	k := 0
	for _, h := range n.deferred {
		for h.qHead < len(h.q) {
			d := &h.q[h.qHead]
			if d.shift && d.at == never && h.c.hsLeft == 0 {
				d.at = h.c.afterHandshake(d.arrive)
			}
			if d.at > now {
				break
			}
			off := *d
			*d = deferredOffer{}
			h.qHead++
			n.offerNow(h, off.data, off.ck, off.flags, max(off.at, n.lastT))
		}
		if h.qHead == len(h.q) {
			h.q, h.qHead = h.q[:0], 0
			h.flags.deferred = false
			continue
		}
		n.deferred[k] = h
		k++
	}
	clear(n.deferred[k:])
	n.deferred = n.deferred[:k]
}

// takeOutbox hands the halves with released bytes to the deliverer.
func (n *NIC) takeOutbox() []*half {
	out := n.outbox
	n.outbox = n.spare[:0]
	n.spare = nil
	return out
}

func (n *NIC) takeKicks() []*egressSink {
	if len(n.kicks) == 0 {
		return nil
	}
	k := n.kicks
	n.kicks = nil
	return k
}

// deliver hands each half's released bytes to its sink, outside the lock
// (the token keeps deliveries in order), then frees their buffers and
// returns the budget to the producers.
func (n *NIC) deliver(out []*half) {
	if len(out) == 0 {
		n.mu.Lock()
		n.spare = out
		n.mu.Unlock()
		return
	}
	for _, h := range out {
		o := &h.out
		if len(o.bufs) > 0 {
			h.sink.deliver(o.bufs)
		}
		if o.fin {
			h.sink.closeWrite()
		}
		if o.abort {
			h.sink.abort()
		}
	}
	n.mu.Lock()
	for _, h := range out {
		o := &h.out
		for _, ck := range o.cks {
			ck.release()
		}
		n.returnRoom(h, o.orig)
		if o.fin || o.abort {
			n.halfDone(h)
		}
		o.reset()
		h.flags.outbox = false
	}
	clear(out)
	n.spare = out[:0]
	n.mu.Unlock()
}

// returnRoom gives k bytes of h's in-flight budget back and wakes a
// producer waiting for room. Caller holds n.mu.
func (n *NIC) returnRoom(h *half, k int64) {
	h.inflight -= k
	if h.waiting && h.inflight < inflightBudget {
		h.waiting = false
		select {
		case h.roomWait <- struct{}{}:
		default:
		}
	}
}

// same reports whether two engines are the same value; engines whose
// dynamic type cannot be compared count as different.
func same(a, b any) (eq bool) {
	defer func() { _ = recover() }()
	return a == b
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
