// Package sim evaluates the SmartNIC timing model (nicsim/model) on frames
// with arrival times, as a discrete-event simulation: every pipeline stage,
// the PCIe link, the Ethernet port and each wasm engine is a FIFO server with
// its own virtual clock, so frames that arrive close together queue exactly
// as the model says, and messages that find the engines full are dropped or
// held back according to the model's queue policy.
//
// The simulation is deterministic: events run in (time, schedule order), no
// map iteration order reaches the output, and engines are called in
// simulated-time order, so the same input and engines give the same output
// bit for bit.
//
// Run simulates a whole input (offline replay). New, Offer, Advance and
// Finish drive the same simulation as frames arrive, with OnDepart
// reporting each departure: the form a live NIC uses to know when a frame
// may leave.
//
// What a frame goes through, ingress (wire → host):
//
//	wire RX → MAC/PHY RX → parser → flow table → reassembly ─┬→ deparser → DMA to host
//	                                                        └ hold: message framed, queued, run by an engine
//
// and egress (host → wire): DMA from host → parser → flow table → reassembly
// → hold → deparser → MAC/PHY TX → wire TX. Frames that carry an HTTP message
// are held at the reassembly stage until the whole message is framed and an
// engine has run the filters on it; all frames of a connection direction
// leave in the order they were released.
package sim

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/nicrt/nicrt/nicsim/engine"
	"github.com/nicrt/nicrt/nicsim/flow"
	"github.com/nicrt/nicrt/nicsim/frame"
	"github.com/nicrt/nicrt/nicsim/httpframe"
	"github.com/nicrt/nicrt/nicsim/model"
)

// Input is one frame offered to the NIC.
type Input struct {
	// Time is when the frame's first bit reaches the NIC's wire port
	// (ingress) or when the host posts it for DMA (egress). Inputs must be
	// in non-decreasing Time order.
	Time model.Time
	// Len is the frame's length in bytes as captured (without FCS).
	Len int
	// Packet is the parsed frame; Err is the parser's error for a malformed
	// frame, which the NIC drops at its parser.
	Packet frame.Packet
	Err    error
	// ToHost is true for ingress frames, false for egress.
	ToHost bool
	// Epoch separates flows of replicated inputs (see flow.Key).
	Epoch uint32
}

// Drop says why a frame was not forwarded (or Forwarded).
type Drop uint8

// Drop reasons.
const (
	Forwarded   Drop = iota
	Malformed        // the parser rejected the frame
	QueueFull        // its message found every engine queue full (drop policy)
	FilterDrop       // the filters stopped its message
	EngineError      // the engine failed on its message
	Merged           // its bytes left in the segments of a message the filters rewrote
	numDrops
)

var dropNames = [numDrops]string{"forwarded", "malformed", "queue full", "filter drop", "engine error", "merged into a rewritten message"}

// String names the reason for reports.
func (d Drop) String() string { return dropNames[d] }

// Options configure a run.
type Options struct {
	// Timing is the model to evaluate.
	Timing *model.Timing
	// Engines are the NIC's engines, len == Timing.Config.Engine.Count.
	Engines []engine.Engine
	// MaxFlows bounds the flow table (default 65536); frames of flows that
	// do not fit bypass reassembly and filters, counted in Stats.
	MaxFlows int
	// Reassembly and HTTP bound per-flow buffers (defaults from their packages).
	Reassembly flow.Limits
	HTTP       httpframe.Limits
	// KeepTransit keeps every forwarded frame's transit time for
	// percentiles (Stats.Transit); off for saturation probes.
	KeepTransit bool
	// KeepMessages records every message in Result.Messages.
	KeepMessages bool
	// OnDepart, if set, is called for every frame as it leaves the NIC or
	// is dropped, in simulated-time order, with the frame's id (its index
	// in Run's input, or the id Offer returned).
	OnDepart func(id int, at model.Time, drop Drop)
}

// Result is the outcome of a run.
type Result struct {
	// Depart is each input frame's departure: its first bit on the wire
	// (egress) or its DMA completing into host memory (ingress). Meaningful
	// only where Dropped is Forwarded.
	Depart  []model.Time
	Dropped []Drop
	// Messages lists every framed message in dispatch order, when
	// Options.KeepMessages.
	Messages []Message
	// Patches says, by frame id, how frames leave that differ from their
	// input: on connections where the filters rewrote a message. Nil when
	// nothing was rewritten. Only meaningful for Run (streaming reuses ids).
	Patches map[int]*Patch
	Stats   Stats
}

// Patch is how a frame leaves when the filters rewrote a message of its
// connection: the segments of the rewritten message in its place, or its
// sequence and acknowledgment numbers shifted by the change in length.
type Patch struct {
	// SeqDelta and AckDelta are added (mod 2^32) to the frame's numbers.
	SeqDelta, AckDelta uint32
	// Replaced frames carried the original message; they leave as Segments.
	Replaced bool
	Segments []Segment
}

// Segment is a TCP segment the deparser built for a rewritten message.
type Segment struct {
	Seq, Ack uint32
	Flags    frame.Flags
	Payload  []byte
	// Depart is when it left, like Result.Depart.
	Depart model.Time
}

// Message records one framed HTTP message's trip through the engines.
type Message struct {
	Flow    flow.Key
	Dir     flow.Dir
	Request bool
	// Final is true for a response that completes its exchange (not 1xx).
	Final    bool
	Exchange int
	// Frame is the input index of the frame that completed the message.
	Frame int32
	// Framed is when the message was complete at the reassembly output,
	// Done when its engine finished with it.
	Framed, Done model.Time
	Drop         Drop
}

type server struct {
	free model.Time
	busy model.Time
}

// serve admits a job arriving at in that occupies the server for occ; it
// returns when the job started (Lindley's recursion for a FIFO server).
func (s *server) serve(in, occ model.Time) model.Time {
	start := max(in, s.free)
	s.free = start + occ
	s.busy += occ
	return start
}

// pipe is one direction's chain of servers.
type pipe struct {
	port, pcie                 server // wire port (RX or TX) and PCIe direction
	parser, flowT, reasm, depa server
	blockedUntil               model.Time // backpressure: reassembly emits nothing before this
	// stalled holds, in order, frames that reached the reassembly output
	// while it was blocked; one evUnblock event drains them, so a long
	// backlog costs each frame one step, not one per stall.
	stalled      []int32
	stalledHead  int
	unblockTimer bool
}

type dirState struct {
	re        flow.Reassembler
	pending   []int32    // frames held until the bytes they carry are processed
	processed int64      // stream offset through which bytes are processed
	procAt    model.Time // when those bytes were processed (engine done)
	lastRel   model.Time // release time of the last frame, for in-order release
	opaque    bool       // not HTTP (tunnel or framing error): bytes bypass the engines
	messages  int
	shifts    []shift // rewritten messages, in stream order
}

// shift records a message the filters rewrote: original stream offsets
// [start, end) and the cumulative length change after it.
type shift struct {
	start, end, delta int64
}

// mapOffset maps an original stream offset to the offset in the stream as
// it leaves the NIC; an offset inside a rewritten message maps to its start.
func (d *dirState) mapOffset(off int64) int64 {
	n := len(d.shifts)
	if n == 0 {
		return off
	}
	if last := d.shifts[n-1]; off >= last.end {
		return off + last.delta
	}
	var prev int64
	for _, sh := range d.shifts {
		if off <= sh.start {
			break
		}
		if off < sh.end {
			return sh.start + prev
		}
		prev = sh.delta
	}
	return off + prev
}

// inRewritten reports whether [so, eo) lies inside a rewritten message.
func (d *dirState) inRewritten(so, eo int64) bool {
	for k := len(d.shifts) - 1; k >= 0; k-- {
		sh := d.shifts[k]
		if so >= sh.start && eo <= sh.end {
			return true
		}
		if eo <= sh.start {
			continue
		}
		break
	}
	return false
}

type flowState struct {
	key         flow.Key
	dirs        [2]dirState
	http        httpframe.Conn
	idx         int32 // index in Sim.flows
	client      flow.Dir
	clientKnown bool
	// sawSYN: the connection's start is in the input, so every response's
	// request is too, and a response waits for its request to be framed.
	sawSYN bool
	closed bool
}

// reset prepares a new or recycled flow state, keeping its buffers.
func (fs *flowState) reset(key flow.Key, idx int32, opt *Options) {
	fs.key, fs.idx = key, idx
	fs.client, fs.clientKnown, fs.closed, fs.sawSYN = 0, false, false, false
	for d := range fs.dirs {
		ds := &fs.dirs[d]
		ds.re.Reset(opt.Reassembly)
		ds.pending = ds.pending[:0]
		ds.processed, ds.procAt, ds.lastRel, ds.opaque, ds.messages = 0, 0, 0, false, 0
		ds.shifts = ds.shifts[:0]
	}
	fs.http.Reset(opt.HTTP)
}

type engineQ struct {
	done []model.Time // done times of assigned messages, FIFO
	head int
}

func (q *engineQ) prune(now model.Time) {
	for q.head < len(q.done) && q.done[q.head] <= now {
		q.head++
	}
	if q.head == len(q.done) {
		q.done, q.head = q.done[:0], 0
	} else if q.head > 1024 && q.head*2 > len(q.done) {
		n := copy(q.done, q.done[q.head:])
		q.done, q.head = q.done[:n], 0
	}
}

func (q *engineQ) len() int { return len(q.done) - q.head }

func (q *engineQ) last() model.Time {
	if q.len() == 0 {
		return 0
	}
	return q.done[len(q.done)-1]
}

// Sim is one simulation's state: Run drives it over a whole input; New,
// Offer, Advance and Finish drive it incrementally, as frames arrive (the
// form a live NIC needs).
type Sim struct {
	opt   Options
	batch bool // Run: s.in is the caller's input, ids are its indices
	next  int  // batch: next input to schedule
	// streaming: slots of frames that have left, reused by Offer
	free      []int32
	lastOffer model.Time
	advanced  model.Time
	finished  bool
	t         *model.Timing
	in        []Input
	res       *Result
	h         eventHeap
	pipes     [2]pipe // [egress, ingress] indexed by ToHost
	eng       []engineQ
	table     *flow.Table[flowState]
	flows     []*flowState // live flows, in a deterministic order (flush walks it)

	// per frame
	startOff []int64
	endOff   []int64
	reasmAt  []model.Time

	msg   engine.Message
	stats Stats
}

// Run simulates in through the model and engines.
func Run(in []Input, opt Options) (*Result, error) {
	s, err := newSim(in, opt)
	if err != nil {
		return nil, err
	}
	s.batch = true
	wall := time.Now()
	// Arrivals are scheduled lazily, one ahead, so the heap holds only
	// frames in flight.
	if len(in) > 0 {
		s.h.push(in[0].Time, 0, evArrive)
		s.next = 1
	}
	s.finish()
	s.res.Stats.Wall = time.Since(wall)
	return s.res, nil
}

// New returns an empty simulation to drive incrementally: Offer each frame
// as it arrives, Advance the simulated clock, and Finish at the end. Frame
// ids are reused once a frame has left (OnDepart reports it), so memory
// stays proportional to the frames in flight; Result's per-frame slices
// are then indexed by id and only meaningful inside OnDepart.
func New(opt Options) (*Sim, error) { return newSim(nil, opt) }

// Offer adds a frame arriving at in.Time, which must not precede the
// previous frame's arrival nor the time the simulation was advanced to. It
// returns the frame's id.
func (s *Sim) Offer(in Input) (int, error) {
	switch {
	case s.batch || s.finished:
		return 0, errors.New("sim: Offer on a finished or batch simulation")
	case in.Time < s.lastOffer:
		return 0, fmt.Errorf("sim: frame arrives at %v, before the previous frame at %v", in.Time, s.lastOffer)
	case in.Time < s.advanced:
		return 0, fmt.Errorf("sim: frame arrives at %v, but the simulation already advanced to %v", in.Time, s.advanced)
	}
	if len(s.free) == 0 && len(s.in) == math.MaxInt32 {
		return 0, fmt.Errorf("sim: %d frames in flight; no id left", len(s.in))
	}
	s.lastOffer = in.Time
	var id int32
	if n := len(s.free); n > 0 {
		id, s.free = s.free[n-1], s.free[:n-1]
		s.in[id] = in
	} else {
		id = int32(len(s.in))
		s.in = append(s.in, in)
		s.res.Depart = append(s.res.Depart, 0)
		s.res.Dropped = append(s.res.Dropped, Forwarded)
		s.startOff = append(s.startOff, 0)
		s.endOff = append(s.endOff, 0)
		s.reasmAt = append(s.reasmAt, 0)
	}
	s.res.Depart[id], s.res.Dropped[id] = 0, Forwarded
	delete(s.res.Patches, int(id))
	s.stats.Frames++
	if s.stats.Frames == 1 {
		s.stats.FirstArrival = in.Time
	}
	s.h.push(in.Time, id, evArrive)
	return int(id), nil
}

// Advance runs every event at or before t. Offer every frame that arrives
// at or before t first: later offers may not arrive before t.
func (s *Sim) Advance(t model.Time) {
	if s.finished {
		return
	}
	s.step(t)
	s.advanced = max(s.advanced, t)
}

// NextEvent returns the time of the earliest scheduled event, and false
// when nothing is scheduled. A live NIC sleeps until then: nothing changes
// before it unless a frame is offered.
func (s *Sim) NextEvent() (model.Time, bool) {
	if s.h.len() == 0 || s.finished {
		return 0, false
	}
	return s.h.ev[0].t, true
}

// Patch returns how frame id leaves when the filters rewrote a message of
// its connection (nil if it leaves as it came). A streaming caller reads it
// inside OnDepart, before the id is reused.
func (s *Sim) Patch(id int) *Patch { return s.res.Patches[id] }

// Stats returns a snapshot of the statistics so far, for a live NIC's
// reports while it runs. Transit percentiles and Busy are filled only by
// Finish; the snapshot shares nothing with the running simulation.
func (s *Sim) Stats() Stats {
	st := s.stats
	st.Engine.PerEngine = slices.Clone(st.Engine.PerEngine)
	st.Engine.Busy = slices.Clone(st.Engine.Busy)
	st.Errors = slices.Clone(st.Errors)
	st.Transit = [2][]model.Time{}
	st.Busy = nil
	return st
}

// Finish runs the simulation to its end: held frames of messages that
// cannot complete are released as they are (see Stats.Flushed).
func (s *Sim) Finish() *Result {
	if !s.finished {
		s.finish()
	}
	return s.res
}

func newSim(in []Input, opt Options) (*Sim, error) {
	if opt.Timing == nil {
		return nil, errors.New("sim: no timing model")
	}
	n := opt.Timing.Config.Engine.Count
	if len(opt.Engines) != n {
		return nil, fmt.Errorf("sim: %d engines given, the model has engine.count %d", len(opt.Engines), n)
	}
	if len(in) > math.MaxInt32 {
		return nil, fmt.Errorf("sim: %d input frames; at most %d per run", len(in), math.MaxInt32)
	}
	for i := 1; i < len(in); i++ {
		if in[i].Time < in[i-1].Time {
			return nil, fmt.Errorf("sim: input frame %d arrives at %v, before frame %d at %v (inputs must be in time order)", i+1, in[i].Time, i, in[i-1].Time)
		}
	}
	if opt.MaxFlows == 0 {
		opt.MaxFlows = 65536
	}
	if opt.Reassembly == (flow.Limits{}) {
		opt.Reassembly = flow.DefaultLimits
	}
	if opt.HTTP == (httpframe.Limits{}) {
		opt.HTTP = httpframe.DefaultLimits
	}
	s := &Sim{
		opt: opt, t: opt.Timing, in: in,
		res: &Result{Depart: make([]model.Time, len(in)), Dropped: make([]Drop, len(in))},
		eng: make([]engineQ, n), table: flow.NewTable[flowState](opt.MaxFlows),
		startOff: make([]int64, len(in)), endOff: make([]int64, len(in)),
		reasmAt: make([]model.Time, len(in)),
	}
	s.h.ev = make([]event, 0, 1024)
	s.stats.init(n, opt.KeepTransit)
	return s, nil
}

// step runs the events at or before limit, in (time, schedule) order.
func (s *Sim) step(limit model.Time) {
	for s.h.len() > 0 && s.h.ev[0].t <= limit {
		e := s.h.pop()
		switch e.kind {
		case evArrive:
			if s.batch && s.next < len(s.in) {
				s.h.push(s.in[s.next].Time, int32(s.next), evArrive)
				s.next++
			}
			s.arrive(e.frame, e.t)
		case evReasm:
			s.reassembled(e.frame, e.t)
		case evRelease:
			s.depart(e.frame, e.t)
		case evUnblock:
			s.unblock(int(e.frame), e.t)
		}
	}
}

func (s *Sim) finish() {
	for {
		s.step(math.MaxInt64)
		if !s.flush() {
			break
		}
	}
	s.finished = true
	s.stats.finish(s)
	s.res.Stats = s.stats
}

// left records that frame i left the NIC at t (or was dropped there).
func (s *Sim) left(i int32, t model.Time, drop Drop) {
	s.res.Dropped[i] = drop
	if drop != Forwarded {
		s.stats.Dropped[drop]++
	}
	if s.opt.OnDepart != nil {
		s.opt.OnDepart(int(i), t, drop)
	}
	if !s.batch {
		s.in[i] = Input{} // drop the reference to the frame's bytes
		s.free = append(s.free, i)
	}
}

// arrive runs the frame through the stages before the reassembly output:
// each is a FIFO server fed only by this direction in arrival order, so
// Lindley's recursion evaluates them exactly without events.
func (s *Sim) arrive(i int32, t model.Time) {
	in := &s.in[i]
	p := &s.pipes[b2i(in.ToHost)]
	beats := s.t.Beats(in.Len)
	occ := model.Time(beats) * s.t.Cycle()
	st := &s.stats.Stages
	var at model.Time // first beat enters the parser
	if in.ToHost {
		ser := s.t.Serialization(in.Len + model.FCSBytes)
		start := p.port.serve(t, ser)
		rxDone := start + ser
		st[StageWireRX].add(rxDone-t, start-t)
		mac := s.t.MACPHY + s.t.Cycles(int64(s.t.Config.Stages.MACRX))
		st[StageMACRX].add(mac, 0)
		at = rxDone + mac
	} else {
		occDMA := s.t.PCIeTransfer(in.Len)
		start := p.pcie.serve(t, occDMA)
		at = start + occDMA + s.t.DMALatency
		st[StageDMAFromHost].add(at-t, start-t)
	}
	if in.Err != nil {
		// The parser checks and drops it; it occupies the parser meanwhile.
		start := p.parser.serve(at, occ)
		st[StageParser].add(start-at+s.t.Cycles(int64(s.t.Config.Stages.Parser)), start-at)
		s.left(i, start, Malformed)
		return
	}
	at = s.stage(&p.parser, StageParser, at, occ, s.t.Config.Stages.Parser)
	at = s.stage(&p.flowT, StageFlowTable, at, occ, s.t.Config.Stages.FlowTable)
	start := p.reasm.serve(at, occ)
	// Reassembly stores the whole frame before its bytes count as received.
	out := start + s.t.Cycles(int64(s.t.Config.Stages.Reassembly)) + occ
	st[StageReassembly].add(out-at, start-at)
	s.h.push(out, i, evReasm)
}

// stage passes a frame's first beat through a pipelined stage of the given
// depth, occupying it for the frame's beats; it returns when the first beat
// leaves.
func (s *Sim) stage(sv *server, which Stage, at, occ model.Time, depth int) model.Time {
	start := sv.serve(at, occ)
	out := start + s.t.Cycles(int64(depth))
	s.stats.Stages[which].add(out-at, start-at)
	return out
}

// reassembled handles a frame leaving the reassembly stage at t: the flow
// table lookup's effect, TCP reassembly, HTTP framing, engine dispatch and
// the release of held frames.
func (s *Sim) reassembled(i int32, t model.Time) {
	in := &s.in[i]
	p := &s.pipes[b2i(in.ToHost)]
	if t < p.blockedUntil || p.stalledHead < len(p.stalled) {
		// Backpressure: the stage emits nothing until an engine has room;
		// frames wait in order behind the blocked message.
		s.reasmAt[i] = t
		p.stalled = append(p.stalled, i)
		s.armUnblock(p, b2i(in.ToHost))
		return
	}
	s.process(i, t)
}

// armUnblock schedules the draining of p's stalled frames when it unblocks.
func (s *Sim) armUnblock(p *pipe, dir int) {
	if !p.unblockTimer {
		p.unblockTimer = true
		s.h.push(p.blockedUntil, int32(dir), evUnblock)
	}
}

// unblock drains the direction's stalled frames at t, in order, until a
// message blocks the stage again.
func (s *Sim) unblock(dir int, t model.Time) {
	p := &s.pipes[dir]
	p.unblockTimer = false
	for p.stalledHead < len(p.stalled) {
		if t < p.blockedUntil {
			s.armUnblock(p, dir)
			return
		}
		f := p.stalled[p.stalledHead]
		p.stalledHead++
		s.stats.Stages[StageReassembly].extra(t-s.reasmAt[f], t-s.reasmAt[f])
		s.process(f, t)
	}
	p.stalled, p.stalledHead = p.stalled[:0], 0
}

// process is reassembled's work once the stage may emit the frame.
func (s *Sim) process(i int32, t model.Time) {
	in := &s.in[i]
	p := &s.pipes[b2i(in.ToHost)]
	s.reasmAt[i] = t
	pk := &in.Packet
	if pk.Kind != frame.KindTCP {
		s.stats.NonTCP++
		s.releaseNow(i, t)
		return
	}
	key, dir := flow.KeyOf(pk.Src, pk.Dst, in.Epoch)
	fs := s.table.Get(key)
	if fs == nil {
		if pk.Flags&frame.SYN == 0 && len(pk.Payload) == 0 {
			s.releaseNow(i, t) // an ACK or FIN of a flow we do not track
			return
		}
		var err error
		if fs, err = s.table.Insert(key); err != nil {
			s.stats.noteFlowError(err)
			s.releaseNow(i, t)
			return
		}
		fs.reset(key, int32(len(s.flows)), &s.opt)
		s.flows = append(s.flows, fs)
		s.stats.Flows++
	}
	if !fs.clientKnown {
		switch {
		case pk.Flags&(frame.SYN|frame.ACK) == frame.SYN:
			fs.client, fs.clientKnown, fs.sawSYN = dir, true, true
		case pk.Flags&(frame.SYN|frame.ACK) == frame.SYN|frame.ACK:
			fs.client, fs.clientKnown, fs.sawSYN = 1-dir, true, true
		case len(pk.Payload) > 0:
			fs.client, fs.clientKnown = dir, true
		}
	}
	d := &fs.dirs[dir]
	// The frame's payload as stream offsets.
	var off int64
	if d.re.Started() {
		seq := pk.Seq
		if pk.Flags&frame.SYN != 0 {
			seq++
		}
		off = d.re.Offset(seq)
	}
	s.startOff[i], s.endOff[i] = off, off+int64(len(pk.Payload))
	d.pending = append(d.pending, i)
	if _, err := d.re.Push(pk.Seq, pk.Flags, pk.Payload); err != nil && !d.opaque {
		s.stats.noteStreamError(fs.key, err)
		d.opaque = true
	}
	if len(pk.Payload) == 0 && pk.Flags&frame.FIN == 0 {
		// A bare ACK carries no bytes: it waits only for the bytes already
		// received before it (its sequence number may lie past our FIN).
		s.startOff[i] = min(s.startOff[i], d.re.End())
		s.endOff[i] = s.startOff[i]
	}
	s.frameMessages(fs, dir, p, in.ToHost, i, t)
	if !fs.closed && fs.dirs[0].re.Finished() && fs.dirs[1].re.Finished() &&
		len(fs.dirs[0].pending) == 0 && len(fs.dirs[1].pending) == 0 {
		s.closeFlow(fs)
	}
}

// closeFlow forgets a finished flow: it leaves the live list (the last
// flow takes its place) and its state returns to the table for reuse.
func (s *Sim) closeFlow(fs *flowState) {
	fs.closed = true
	last := s.flows[len(s.flows)-1]
	s.flows[fs.idx], last.idx = last, fs.idx
	s.flows[len(s.flows)-1] = nil
	s.flows = s.flows[:len(s.flows)-1]
	s.table.Delete(fs.key)
	for _, e := range s.opt.Engines {
		if c, ok := e.(engine.FlowCloser); ok {
			c.FlowClosed(fs.key)
		}
	}
}

// frameMessages frames every complete message now in the direction's
// stream, dispatches each to an engine, and releases the frames whose bytes
// are processed.
func (s *Sim) frameMessages(fs *flowState, dir flow.Dir, p *pipe, toHost bool, cur int32, now model.Time) {
	d := &fs.dirs[dir]
	isReq := !fs.clientKnown || dir == fs.client
	framed := 0
	for !d.opaque {
		data := d.re.Data()
		eof := d.re.Finished()
		var m *httpframe.Message
		var err error
		if isReq {
			m, err = fs.http.NextRequest(data, eof)
		} else {
			if fs.sawSYN && fs.http.Pending() == 0 && len(data) > 0 && !eof {
				// How a response is framed depends on its request (HEAD,
				// CONNECT): wait until that request has been framed.
				break
			}
			m, err = fs.http.NextResponse(data, eof)
		}
		if err != nil {
			if errors.Is(err, httpframe.ErrTunnel) {
				s.stats.Tunnels++
			} else {
				s.stats.noteStreamError(fs.key, err)
			}
			d.opaque = true
			break
		}
		if m == nil {
			break
		}
		now = max(now, p.blockedUntil)
		mStart := d.re.Base()
		mEnd := mStart + int64(m.Len)
		s.msg = engine.Message{
			Flow: fs.key, Dir: dir, ToHost: toHost,
			Exchange: d.messages, Final: !isReq && m.Status >= 200, Head: m, Raw: data[:m.Len],
		}
		if isReq || m.Status >= 200 {
			d.messages++
		}
		framed++
		done, wait, drop, rewrite := s.dispatch(p, now, &s.msg)
		if rewrite != nil && drop == Forwarded {
			if err := s.rewrite(fs, dir, mStart, mEnd, rewrite); err != nil {
				s.stats.RewriteErrors++
				s.stats.noteErr(fmt.Sprintf("flow %v: rewritten message not applied, original forwarded: %v", fs.key, err))
			} else {
				s.stats.Rewritten++
			}
		}
		if s.opt.KeepMessages {
			s.res.Messages = append(s.res.Messages, Message{
				Flow: fs.key, Dir: dir, Request: isReq, Final: s.msg.Final, Exchange: s.msg.Exchange,
				Frame: cur, Framed: now, Done: done, Drop: drop,
			})
		}
		d.re.Consume(m.Len)
		d.processed, d.procAt = mEnd, done
		s.release(fs, dir, done, wait, drop, mStart)
	}
	if !d.opaque && d.re.Finished() && len(d.re.Data()) > 0 {
		// The stream ended with bytes no message will claim (empty lines
		// before a message that never came): they leave as they are now,
		// not when the run ends — a live NIC has no end to wait for.
		d.opaque = true
	}
	if d.opaque {
		d.re.Consume(len(d.re.Data()))
		d.processed, d.procAt = math.MaxInt64, now
	}
	s.release(fs, dir, d.procAt, 0, Forwarded, 0)
	if isReq && framed > 0 && fs.clientKnown {
		// Responses that waited for these requests can be framed now.
		r := &fs.dirs[1-dir]
		if len(r.pending) > 0 && !r.opaque {
			s.frameMessages(fs, 1-dir, &s.pipes[b2i(!toHost)], !toHost, r.pending[len(r.pending)-1], now)
		}
	}
}

// release hands every pending frame whose bytes are all processed to the
// deparser at time at (or later, to keep the direction's order); wait is
// how long their message queued for an engine (the hold stage's queueing).
// A message dropped for reason drop takes the frames lying wholly inside it
// along.
func (s *Sim) release(fs *flowState, dir flow.Dir, at, wait model.Time, drop Drop, mStart int64) {
	d := &fs.dirs[dir]
	k := 0
	for _, f := range d.pending {
		if s.endOff[f] > d.processed {
			d.pending[k] = f
			k++
			continue
		}
		if drop != Forwarded && s.endOff[f] > s.startOff[f] && s.startOff[f] >= mStart {
			s.left(f, at, drop)
			continue
		}
		if s.rewritten(fs, dir, f) {
			s.left(f, max(at, s.reasmAt[f]), Merged)
			continue
		}
		rel := max(at, s.reasmAt[f], d.lastRel)
		d.lastRel = rel
		hold := rel - s.reasmAt[f]
		s.stats.Stages[StageHold].add(hold, min(wait, hold))
		s.h.push(rel, f, evRelease)
	}
	clear(d.pending[k:])
	d.pending = d.pending[:k]
}

func (s *Sim) releaseNow(i int32, t model.Time) {
	s.stats.Stages[StageHold].add(0, 0)
	s.h.push(t, i, evRelease)
}

// dispatch assigns a message to the engine with the shortest queue (lowest
// index on ties), runs the filters, and returns when the engine is done with
// it and whether it is dropped.
func (s *Sim) dispatch(p *pipe, now model.Time, m *engine.Message) (done, wait model.Time, drop Drop, rewrite []byte) {
	ec := &s.t.Config.Engine
	best := 0
	for e := range s.eng {
		s.eng[e].prune(now)
		if s.eng[e].len() < s.eng[best].len() {
			best = e
		}
	}
	enq := now
	if s.eng[best].len() > ec.QueueDepth {
		if ec.QueuePolicy == model.PolicyDrop {
			s.stats.Engine.QueueFull++
			return now, 0, QueueFull, nil
		}
		// Backpressure: wait for the first engine whose queue drains below
		// the depth; the reassembly stage emits nothing meanwhile.
		enq = model.Time(math.MaxInt64)
		for e := range s.eng {
			q := &s.eng[e]
			if at := q.done[len(q.done)-ec.QueueDepth-1]; at < enq {
				enq, best = at, e
			}
		}
		s.stats.Engine.Blocked++
		s.stats.Engine.BlockedTime += enq - now
		p.blockedUntil = enq
	}
	q := &s.eng[best]
	var host time.Duration
	var res engine.Result
	var err error
	if ec.Cost == model.CostHostScaled {
		t0 := time.Now()
		res, err = s.opt.Engines[best].Process(m)
		host = time.Since(t0)
	} else {
		res, err = s.opt.Engines[best].Process(m)
	}
	cost := s.t.EngineTime(res.Instructions)
	if ec.Cost == model.CostHostScaled {
		cost = s.t.HostScaled(model.Time(host.Nanoseconds()) * model.Nanosecond)
	}
	service := s.t.Cycles(int64(s.t.Config.Stages.Dispatch)+s.t.Beats(m.Head.Len)) + cost
	start := max(enq, q.last())
	done = start + service
	// The end-of-stream work occupies the engine after the message has
	// left it: it delays the messages queued behind, not this one.
	// (Host-scaled cost measured it with the rest.)
	var after model.Time
	if ec.Cost != model.CostHostScaled {
		after = s.t.InstructionTime(res.After)
	}
	s.stats.Engine.noteDepth(q.len()) // messages waiting once this one is queued
	q.done = append(q.done, done+after)
	es := &s.stats.Engine
	es.Messages++
	es.Instructions += res.Instructions + res.After
	es.Service += service
	es.Wait += start - now
	es.MaxWait = max(es.MaxWait, start-now)
	es.PerEngine[best]++
	es.Busy[best] += service + after
	switch {
	case err != nil:
		es.Errors++
		s.stats.noteEngineError(m.Flow, err)
		return done, start - now, EngineError, nil
	case res.Verdict == engine.Drop:
		es.FilterDrops++
		return done, start - now, FilterDrop, nil
	}
	return done, start - now, Forwarded, res.Rewrite
}

// depart runs a released frame through the deparser and out of the NIC.
func (s *Sim) depart(i int32, t model.Time) {
	in := &s.in[i]
	var dep model.Time
	if pt := s.res.Patches[int(i)]; pt != nil && pt.Replaced {
		// The deparser emits the rewritten message's segments instead.
		hdr := in.Len - len(in.Packet.Payload)
		for k := range pt.Segments {
			sg := &pt.Segments[k]
			sg.Depart = s.emit(in.ToHost, max(hdr+len(sg.Payload), 60), t)
			dep = sg.Depart
		}
	} else {
		dep = s.emit(in.ToHost, in.Len, t)
	}
	s.res.Depart[i] = dep
	s.stats.Forwarded++
	s.stats.noteTransit(in.ToHost, dep-in.Time)
	s.stats.LastDepart = max(s.stats.LastDepart, dep)
	s.left(i, dep, Forwarded)
}

// emit runs one frame of n bytes, released at t, through the deparser and
// out of the NIC, and returns its departure.
func (s *Sim) emit(toHost bool, n int, t model.Time) model.Time {
	p := &s.pipes[b2i(toHost)]
	st := &s.stats.Stages
	occ := model.Time(s.t.Beats(n)) * s.t.Cycle()
	start := p.depa.serve(t, occ)
	out := start + s.t.Cycles(int64(s.t.Config.Stages.Deparser))
	var dep model.Time
	if toHost {
		last := out + occ // DMA starts once the whole frame is out
		st[StageDeparser].add(last-t, start-t)
		x := s.t.PCIeTransfer(n)
		ds := p.pcie.serve(last, x)
		dep = ds + x + s.t.DMALatency
		st[StageDMAToHost].add(dep-last, ds-last)
	} else {
		st[StageDeparser].add(out-t, start-t)
		mac := s.t.Cycles(int64(s.t.Config.Stages.MACTX)) + s.t.MACPHY
		st[StageMACTX].add(mac, 0)
		ready := out + mac
		ser := s.t.Serialization(n + model.FCSBytes)
		ws := p.port.serve(ready, ser)
		st[StageWireTX].add(ws-ready, ws-ready)
		dep = ws
	}
	return dep
}

// flush ends the capture: messages that can no longer complete (no more
// bytes will come) are framed with end-of-stream, and frames still held
// are released as they are. It reports whether it scheduled anything.
func (s *Sim) flush() bool {
	any := false
	for _, fs := range s.flows {
		for dir := range fs.dirs {
			d := &fs.dirs[dir]
			if len(d.pending) == 0 {
				continue
			}
			any = true
			last := d.pending[len(d.pending)-1]
			toHost := s.in[last].ToHost
			at := max(s.reasmAt[last], d.lastRel)
			if !d.opaque {
				s.frameMessages(fs, flow.Dir(dir), &s.pipes[b2i(toHost)], toHost, last, at)
			}
			if len(d.pending) > 0 {
				s.stats.Flushed += len(d.pending)
				d.opaque = true
				d.processed, d.procAt = math.MaxInt64, at
				s.release(fs, flow.Dir(dir), at, 0, Forwarded, 0)
			}
		}
	}
	return any
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
