package flow

import (
	"errors"
	"fmt"
	"sort"

	"github.com/nicrt/nicrt/nicsim/frame"
)

// Limits bound one direction's reassembly memory.
type Limits struct {
	// MaxBuffered bounds the bytes held: delivered but not yet consumed,
	// plus out-of-order segments waiting for a gap to fill.
	MaxBuffered int
	// MaxSegments bounds the number of out-of-order segments held.
	MaxSegments int
	// MaxGap bounds how far beyond the next expected byte a segment may
	// start; beyond it the segment cannot belong to this window.
	MaxGap int64
}

// DefaultLimits are 1 MiB of buffer, 256 held segments, 1 GiB gap.
var DefaultLimits = Limits{MaxBuffered: 1 << 20, MaxSegments: 256, MaxGap: 1 << 30}

// ErrBufferFull reports that a segment would exceed the reassembly limits.
var ErrBufferFull = errors.New("reassembly buffer full")

// Outcome says what a pushed segment contributed.
type Outcome uint8

// Outcomes of Push.
const (
	// InOrder: the segment extended the in-order stream (possibly filling a
	// gap, so held segments were delivered too).
	InOrder Outcome = iota
	// Held: the segment starts beyond a gap and waits.
	Held
	// Duplicate: every byte of the segment was already received.
	Duplicate
	// Empty: no payload (a pure ACK, or a SYN or FIN without data).
	Empty
)

type held struct {
	off  int64
	data []byte
}

// Reassembler rebuilds one direction's byte stream. Stream offset 0 is the
// byte after the SYN; when the SYN was not seen (a capture that starts
// mid-connection) it is the first byte seen. Sequence numbers wrap; offsets
// are 64-bit and never do.
type Reassembler struct {
	lim     Limits
	started bool
	next    uint32 // sequence number of offset `end`
	base    int64  // offset of buf[0]
	buf     []byte // delivered, not yet consumed
	held    []held // out of order, sorted by off
	heldN   int
	finOff  int64 // offset of the FIN, -1 if none seen
	synSeen bool
	isn     uint32
	rst     bool
	// counters
	dups, ooo int
}

// NewReassembler returns a reassembler with the given limits.
func NewReassembler(lim Limits) *Reassembler {
	r := &Reassembler{}
	r.Reset(lim)
	return r
}

// Reset empties r for reuse with new limits, keeping its buffers.
func (r *Reassembler) Reset(lim Limits) {
	*r = Reassembler{lim: lim, buf: r.buf[:0], held: r.held[:0], finOff: -1}
}

// End is the stream offset one past the last in-order byte received.
func (r *Reassembler) End() int64 { return r.base + int64(len(r.buf)) }

// Base is the stream offset of Data()[0].
func (r *Reassembler) Base() int64 { return r.base }

// Data is the in-order bytes received and not yet consumed. It is valid
// until the next Push or Consume.
func (r *Reassembler) Data() []byte { return r.buf }

// Consume discards the first n bytes of Data.
func (r *Reassembler) Consume(n int) {
	if n <= 0 {
		return
	}
	n = min(n, len(r.buf))
	r.base += int64(n)
	k := copy(r.buf, r.buf[n:])
	r.buf = r.buf[:k]
}

// Finished reports whether the FIN has been reached in order (every byte
// before it received), or the connection was reset.
func (r *Reassembler) Finished() bool { return r.rst || (r.finOff >= 0 && r.End() >= r.finOff) }

// Started reports whether any segment has been seen.
func (r *Reassembler) Started() bool { return r.started }

// Stats returns how many duplicate and out-of-order segments were seen.
func (r *Reassembler) Stats() (duplicates, outOfOrder int) { return r.dups, r.ooo }

// Offset converts a sequence number to a stream offset, interpreting it
// within ±2^31 of the next expected byte (RFC 1982 serial arithmetic).
func (r *Reassembler) Offset(seq uint32) int64 {
	return r.End() + int64(int32(seq-r.next))
}

// Push adds one segment's sequence number, control bits and payload.
// The payload is copied; the caller may reuse it.
func (r *Reassembler) Push(seq uint32, flags frame.Flags, payload []byte) (Outcome, error) {
	if !r.started {
		r.started = true
		r.next = seq
		if flags&frame.SYN != 0 {
			r.next = seq + 1
			r.synSeen, r.isn = true, seq
		}
	} else if flags&frame.SYN != 0 && (!r.synSeen || seq != r.isn) {
		return Empty, fmt.Errorf("SYN with sequence number %d in an established stream", seq)
	}
	if flags&frame.RST != 0 {
		r.rst = true
	}
	dataSeq := seq
	if flags&frame.SYN != 0 {
		dataSeq++ // SYN occupies the sequence number before the data
	}
	off := r.Offset(dataSeq)
	if flags&frame.FIN != 0 {
		fin := off + int64(len(payload))
		if r.finOff >= 0 && r.finOff != fin {
			return Empty, fmt.Errorf("FIN at stream offset %d, but an earlier FIN was at %d", fin, r.finOff)
		}
		r.finOff = fin
	}
	if len(payload) == 0 {
		return Empty, nil
	}
	if r.finOff >= 0 && off+int64(len(payload)) > r.finOff {
		return Empty, fmt.Errorf("segment at stream offset %d..%d goes past the FIN at %d", off, off+int64(len(payload)), r.finOff)
	}
	end := r.End()
	if off+int64(len(payload)) <= end {
		r.dups++
		return Duplicate, nil
	}
	if off < end { // overlaps delivered bytes: keep the new tail
		payload = payload[end-off:]
		off = end
	}
	if off > end {
		return r.hold(off, payload)
	}
	if err := r.room(len(payload)); err != nil {
		return InOrder, err
	}
	r.deliver(payload)
	return InOrder, nil
}

func (r *Reassembler) room(n int) error {
	if len(r.buf)+r.heldN+n > r.lim.MaxBuffered {
		return fmt.Errorf("%w: %d bytes held + %d new > limit %d", ErrBufferFull, len(r.buf)+r.heldN, n, r.lim.MaxBuffered)
	}
	return nil
}

func (r *Reassembler) deliver(p []byte) {
	r.buf = append(r.buf, p...)
	r.next += uint32(len(p))
	// Deliver held segments the new bytes reached.
	i := 0
	for ; i < len(r.held); i++ {
		h := r.held[i]
		end := r.End()
		if h.off > end {
			break
		}
		r.heldN -= len(h.data)
		if tail := h.off + int64(len(h.data)) - end; tail > 0 {
			add := h.data[int64(len(h.data))-tail:]
			r.buf = append(r.buf, add...)
			r.next += uint32(len(add))
		}
	}
	if i > 0 {
		n := copy(r.held, r.held[i:])
		clear(r.held[n:])
		r.held = r.held[:n]
	}
}

func (r *Reassembler) hold(off int64, p []byte) (Outcome, error) {
	if gap := off - r.End(); gap > r.lim.MaxGap {
		return Held, fmt.Errorf("segment starts %d bytes beyond the next expected byte (limit %d)", gap, r.lim.MaxGap)
	}
	i := sort.Search(len(r.held), func(i int) bool { return r.held[i].off >= off })
	// Already covered by the held segment that starts at or before it?
	if i > 0 {
		prev := r.held[i-1]
		if prev.off+int64(len(prev.data)) >= off+int64(len(p)) {
			r.dups++
			return Duplicate, nil
		}
	}
	if i < len(r.held) && r.held[i].off == off && len(r.held[i].data) >= len(p) {
		r.dups++
		return Duplicate, nil
	}
	if len(r.held) >= r.lim.MaxSegments {
		return Held, fmt.Errorf("%w: %d out-of-order segments held (limit %d)", ErrBufferFull, len(r.held), r.lim.MaxSegments)
	}
	if err := r.room(len(p)); err != nil {
		return Held, err
	}
	r.ooo++
	r.held = append(r.held, held{})
	copy(r.held[i+1:], r.held[i:])
	r.held[i] = held{off: off, data: append([]byte(nil), p...)}
	r.heldN += len(p)
	return Held, nil
}
