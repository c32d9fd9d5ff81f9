package sim

import (
	"errors"
	"fmt"
	"slices"

	"github.com/nicrt/nicrt/nicsim/flow"
	"github.com/nicrt/nicrt/nicsim/frame"
)

// The deparser's side of a rewritten message. When the filters change a
// message (Result.Rewrite), the frames that carried it leave as new
// segments of the rewritten bytes, cut at the largest segment size the
// sender used, and every later segment of the connection has its sequence
// numbers (in this direction) or acknowledgment numbers (in the other)
// shifted by the change in length, as a NAT that edits payloads does.

// rewrite records that the message at stream offsets [ms, me) of fs's
// direction dir leaves as data: it picks the frames that carried the
// message, cuts data into segments for them, and records the shift.
func (s *Sim) rewrite(fs *flowState, dir flow.Dir, ms, me int64, data []byte) error {
	d := &fs.dirs[dir]
	var carriers []int32
	for _, f := range d.pending {
		so, eo := s.startOff[f], s.endOff[f]
		if eo <= so || eo <= ms || so >= me {
			continue
		}
		if so < ms || eo > me {
			return fmt.Errorf("a segment (stream bytes %d..%d) straddles the message (%d..%d)", so, eo, ms, me)
		}
		carriers = append(carriers, f)
	}
	if len(carriers) == 0 {
		return errors.New("no held frame carries the message")
	}
	slices.SortStableFunc(carriers, func(a, b int32) int {
		switch {
		case s.startOff[a] < s.startOff[b]:
			return -1
		case s.startOff[a] > s.startOff[b]:
			return 1
		}
		return 0
	})
	first := &s.in[carriers[0]].Packet
	if s.startOff[carriers[0]] != ms {
		return errors.New("the message's first bytes are in no held frame")
	}
	seq := first.Seq
	if first.Flags&frame.SYN != 0 {
		seq++
	}
	seq += uint32(d.mapOffset(ms) - ms) // earlier rewrites moved this message
	mss := 1
	var fin frame.Flags
	for _, f := range carriers {
		mss = max(mss, len(s.in[f].Packet.Payload))
		fin |= s.in[f].Packet.Flags & frame.FIN
	}
	if s.res.Patches == nil {
		s.res.Patches = map[int]*Patch{}
	}
	var segs []Segment
	for off := 0; off < len(data); off += mss {
		end := min(off+mss, len(data))
		segs = append(segs, Segment{Seq: seq + uint32(off), Flags: frame.ACK, Payload: data[off:end]})
	}
	if n := len(segs); n > 0 {
		segs[n-1].Flags |= frame.PSH | fin
	}
	for k, f := range carriers {
		pt := &Patch{Replaced: true}
		switch {
		case k == len(carriers)-1 && k < len(segs):
			pt.Segments = segs[k:]
		case k < len(segs):
			pt.Segments = segs[k : k+1]
		}
		s.res.Patches[int(f)] = pt
	}
	var prev int64
	if n := len(d.shifts); n > 0 {
		prev = d.shifts[n-1].delta
	}
	d.shifts = append(d.shifts, shift{start: ms, end: me, delta: prev + int64(len(data)) - (me - ms)})
	return nil
}

// rewritten decides, as frame f of fs's direction dir is released, how it
// leaves: a carrier of a rewritten message gets its segments' numbers set;
// a frame whose bytes all lie in a rewritten message that it did not carry
// (a late retransmission) is merged (true: it does not leave); any other
// frame of a connection with rewrites gets its numbers shifted.
func (s *Sim) rewritten(fs *flowState, dir flow.Dir, f int32) bool {
	d, r := &fs.dirs[dir], &fs.dirs[1-dir]
	if len(d.shifts) == 0 && len(r.shifts) == 0 {
		return false
	}
	pk := &s.in[f].Packet
	var ackDelta uint32
	if pk.Flags&frame.ACK != 0 && len(r.shifts) > 0 && r.re.Started() {
		off := r.re.Offset(pk.Ack)
		ackDelta = uint32(r.mapOffset(off) - off)
	}
	pt := s.res.Patches[int(f)]
	if pt != nil && pt.Replaced {
		for k := range pt.Segments {
			pt.Segments[k].Ack = pk.Ack + ackDelta
		}
		return len(pt.Segments) == 0
	}
	so, eo := s.startOff[f], s.endOff[f]
	if eo > so && d.inRewritten(so, eo) {
		return true
	}
	seqDelta := uint32(d.mapOffset(so) - so)
	if seqDelta == 0 && ackDelta == 0 {
		return false
	}
	if s.res.Patches == nil {
		s.res.Patches = map[int]*Patch{}
	}
	s.res.Patches[int(f)] = &Patch{SeqDelta: seqDelta, AckDelta: ackDelta}
	return false
}
