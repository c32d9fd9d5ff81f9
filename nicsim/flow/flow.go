// Package flow is the NIC's connection state: a bounded table of TCP flows
// keyed by their 5-tuple, and per direction a reassembler that turns segments
// (out of order, duplicated, overlapping) back into the in-order byte stream
// the HTTP framer reads. Every buffer is bounded; exceeding a bound is an
// error, never unbounded growth.
package flow

import (
	"errors"
	"fmt"

	"github.com/nicrt/nicrt/nicsim/frame"
)

// Key identifies a TCP connection regardless of direction: the endpoint that
// sorts lower (by IP, then port) is A.
type Key struct {
	A, B         [4]byte
	APort, BPort uint16
	// Epoch distinguishes connections with the same 5-tuple that must not
	// share state, e.g. copies of one capture replayed side by side.
	Epoch uint32
}

// Dir is a direction within a flow: AtoB or BtoA.
type Dir uint8

// Directions of a flow.
const (
	AtoB Dir = 0
	BtoA Dir = 1
)

// KeyOf returns the flow key of a segment from src to dst and its direction.
func KeyOf(src, dst frame.Endpoint, epoch uint32) (Key, Dir) {
	if less(dst, src) {
		return Key{A: dst.IP, B: src.IP, APort: dst.Port, BPort: src.Port, Epoch: epoch}, BtoA
	}
	return Key{A: src.IP, B: dst.IP, APort: src.Port, BPort: dst.Port, Epoch: epoch}, AtoB
}

func less(x, y frame.Endpoint) bool {
	for i := range x.IP {
		if x.IP[i] != y.IP[i] {
			return x.IP[i] < y.IP[i]
		}
	}
	return x.Port < y.Port
}

// String renders the key as "a:port<->b:port".
func (k Key) String() string {
	a := frame.Endpoint{IP: k.A, Port: k.APort}
	b := frame.Endpoint{IP: k.B, Port: k.BPort}
	return a.AddrPort().String() + "<->" + b.AddrPort().String()
}

// ErrTableFull is returned when a new flow would exceed the table's capacity.
var ErrTableFull = errors.New("flow table full")

// Table maps flow keys to per-flow state V, with a fixed capacity: a NIC's
// flow table is a fixed-size memory, so a flow that does not fit is refused.
type Table[V any] struct {
	flows map[Key]*V
	max   int
	free  []*V // deleted entries, reused so their buffers are too
}

// NewTable returns a table holding at most max flows.
func NewTable[V any](max int) *Table[V] {
	return &Table[V]{flows: make(map[Key]*V), max: max}
}

// Get returns the flow's state, or nil.
func (t *Table[V]) Get(k Key) *V { return t.flows[k] }

// Insert adds a flow and returns its state: a new zero V, or the state of a
// deleted flow for the caller to reset (so the buffers it holds are reused
// instead of reallocated per connection). ErrTableFull (wrapped with the key
// and capacity) when the table is at capacity.
func (t *Table[V]) Insert(k Key) (*V, error) {
	if v, ok := t.flows[k]; ok {
		return v, nil
	}
	if len(t.flows) >= t.max {
		return nil, fmt.Errorf("%w: %d flows, cannot add %v", ErrTableFull, t.max, k)
	}
	var v *V
	if n := len(t.free); n > 0 {
		v, t.free = t.free[n-1], t.free[:n-1]
	} else {
		v = new(V)
	}
	t.flows[k] = v
	return v, nil
}

// Delete removes a flow; its state may be handed out again by Insert, so
// the caller must not keep using it.
func (t *Table[V]) Delete(k Key) {
	if v, ok := t.flows[k]; ok {
		delete(t.flows, k)
		t.free = append(t.free, v)
	}
}

// Len is the number of flows in the table.
func (t *Table[V]) Len() int { return len(t.flows) }
