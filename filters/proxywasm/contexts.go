package proxywasm

// idTable maps the host's context IDs to the filter's contexts in a wasip1
// build. Every callback looks its context up, and every stream inserts and
// deletes one, so this is on the per-request path. It is a hash table of
// its own rather than a Go map: in a wasip1 module a Go map hashes in
// software, and the five map operations of one stream cost about 4,000
// wasm instructions, more than everything else the glue does for a
// passthrough stream. Here an operation is a multiplication and a probe or
// two.
//
// Open addressing with linear probing and backward-shift deletion (no
// tombstones, so a long-lived VM that has seen millions of streams probes
// as fast as a fresh one). Hosts number contexts sequentially; Fibonacci
// hashing spreads such keys evenly. The table grows at half full and never
// shrinks, like a Go map. The zero value is an empty table.
type idTable[V any] struct {
	slots []idSlot[V] // len is a power of two, or 0
	shift uint32      // 32 - log2(len(slots))
	n     int
}

type idSlot[V any] struct {
	used bool
	id   uint32
	v    V
}

const minIDSlots = 16

func (t *idTable[V]) home(id uint32) uint32 { return (id * 0x9E3779B1) >> t.shift }

// get returns the value stored for id, or nil. The pointer is valid until
// the next put or del.
func (t *idTable[V]) get(id uint32) *V {
	if t.n == 0 {
		return nil
	}
	mask := uint32(len(t.slots) - 1)
	for i := t.home(id); ; i = (i + 1) & mask {
		s := &t.slots[i]
		if !s.used {
			return nil
		}
		if s.id == id {
			return &s.v
		}
	}
}

// put stores v for id, replacing any value stored before.
func (t *idTable[V]) put(id uint32, v V) {
	if 2*(t.n+1) > len(t.slots) {
		t.grow()
	}
	mask := uint32(len(t.slots) - 1)
	for i := t.home(id); ; i = (i + 1) & mask {
		s := &t.slots[i]
		if !s.used {
			*s = idSlot[V]{used: true, id: id, v: v}
			t.n++
			return
		}
		if s.id == id {
			s.v = v
			return
		}
	}
}

// del removes id's value, if any, moving later entries of its probe run
// back so that no lookup ever needs a tombstone.
func (t *idTable[V]) del(id uint32) {
	if t.n == 0 {
		return
	}
	mask := uint32(len(t.slots) - 1)
	i := t.home(id)
	for {
		s := &t.slots[i]
		if !s.used {
			return
		}
		if s.id == id {
			break
		}
		i = (i + 1) & mask
	}
	// Slot i is a hole. A later entry of the run may fill it unless its
	// home lies cyclically in (i, j], where the lookup would not pass i.
	for j := (i + 1) & mask; t.slots[j].used; j = (j + 1) & mask {
		h := t.home(t.slots[j].id)
		if (j-h)&mask >= (j-i)&mask {
			t.slots[i] = t.slots[j]
			i = j
		}
	}
	t.slots[i] = idSlot[V]{}
	t.n--
}

// len returns the number of entries.
func (t *idTable[V]) len() int { return t.n }

func (t *idTable[V]) grow() {
	old := t.slots
	size := max(2*len(old), minIDSlots)
	t.slots = make([]idSlot[V], size)
	t.shift = 32
	for s := size; s > 1; s >>= 1 {
		t.shift--
	}
	t.n = 0
	for i := range old {
		if old[i].used {
			t.put(old[i].id, old[i].v)
		}
	}
}
