package sim

import "github.com/nicrt/nicrt/nicsim/model"

type eventKind uint8

const (
	evArrive  eventKind = iota // frame reaches the NIC (wire RX port or host DMA)
	evReasm                    // frame leaves the reassembly stage
	evRelease                  // frame is released toward the deparser
	evUnblock                  // a direction's stalled reassembly output may emit again (frame = direction)
)

// event is one scheduled step of one frame. Events run in (time, seq)
// order; seq is the order they were scheduled in, so ties resolve the same
// way on every run.
type event struct {
	t     model.Time
	seq   uint64
	frame int32
	kind  eventKind
}

func (a *event) before(b *event) bool {
	return a.t < b.t || (a.t == b.t && a.seq < b.seq)
}

// eventHeap is a 4-ary min-heap of events; 4-ary because the simulator's
// heap is shallow and wide, and fewer levels mean fewer cache misses.
type eventHeap struct {
	ev  []event
	seq uint64
}

func (h *eventHeap) push(t model.Time, frame int32, kind eventKind) {
	h.seq++
	e := event{t: t, seq: h.seq, frame: frame, kind: kind}
	h.ev = append(h.ev, e)
	i := len(h.ev) - 1
	for i > 0 {
		p := (i - 1) / 4
		if !e.before(&h.ev[p]) {
			break
		}
		h.ev[i] = h.ev[p]
		i = p
	}
	h.ev[i] = e
}

func (h *eventHeap) pop() event {
	top := h.ev[0]
	n := len(h.ev) - 1
	last := h.ev[n]
	h.ev = h.ev[:n]
	if n == 0 {
		return top
	}
	i := 0
	for {
		c := 4*i + 1
		if c >= n {
			break
		}
		m := c
		for k := c + 1; k < c+4 && k < n; k++ {
			if h.ev[k].before(&h.ev[m]) {
				m = k
			}
		}
		if !h.ev[m].before(&last) {
			break
		}
		h.ev[i] = h.ev[m]
		i = m
	}
	h.ev[i] = last
	return top
}

func (h *eventHeap) len() int { return len(h.ev) }
