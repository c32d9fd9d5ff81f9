package proxywasm

import (
	"math/rand/v2"
	"testing"
)

// TestIDTable checks the context table against a Go map over random
// inserts, replacements, lookups and deletes, with IDs drawn from ranges
// that make probe runs collide and wrap around the end of the slots.
func TestIDTable(t *testing.T) {
	for _, tc := range []struct {
		name string
		ids  func(r *rand.Rand) uint32
	}{
		{"sequential-ish", func(r *rand.Rand) uint32 { return 1 + r.Uint32N(64) }},
		{"sparse", func(r *rand.Rand) uint32 { return r.Uint32() }},
		{"large and small", func(r *rand.Rand) uint32 {
			return []uint32{0, 1, 2, ^uint32(0), ^uint32(0) - 1}[r.IntN(5)] + r.Uint32N(8)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(1, 2))
			var tab idTable[int]
			ref := map[uint32]int{}
			for step := 0; step < 200000; step++ {
				id := tc.ids(r)
				switch r.IntN(3) {
				case 0:
					tab.put(id, step)
					ref[id] = step
				case 1:
					tab.del(id)
					delete(ref, id)
				}
				got := tab.get(id)
				want, ok := ref[id]
				if (got != nil) != ok || ok && *got != want {
					t.Fatalf("step %d: get(%d) = %v, want %d (present %v)", step, id, got, want, ok)
				}
				if tab.len() != len(ref) {
					t.Fatalf("step %d: len %d, want %d", step, tab.len(), len(ref))
				}
				if step%10000 == 0 {
					for k, v := range ref {
						if g := tab.get(k); g == nil || *g != v {
							t.Fatalf("step %d: lost %d", step, k)
						}
					}
				}
			}
		})
	}
}

// TestIDTableStreams is the host's pattern: plugin contexts first, then
// streams created and deleted in overlapping waves with growing IDs. The
// table must not grow past twice the live contexts, however many streams
// went through it.
func TestIDTableStreams(t *testing.T) {
	var tab idTable[uint32]
	tab.put(1, 1)
	next := uint32(2)
	var live []uint32
	for wave := 0; wave < 10000; wave++ {
		for i := 0; i < 5; i++ {
			tab.put(next, next)
			live = append(live, next)
			next++
		}
		for len(live) > 10 {
			tab.del(live[0])
			live = live[1:]
		}
	}
	for _, id := range append(live, 1) {
		if v := tab.get(id); v == nil || *v != id {
			t.Fatalf("context %d lost", id)
		}
	}
	if tab.get(2) != nil {
		t.Fatal("deleted context 2 still found")
	}
	if len(tab.slots) > 32 {
		t.Fatalf("%d slots for %d live contexts", len(tab.slots), tab.len())
	}
}
