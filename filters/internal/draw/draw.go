// Package draw makes the random decisions of nicrt's filters: weighted
// picks among destinations and "in p percent of requests" faults.
//
// Each plugin context owns one Source. Unseeded, it starts from the Go
// runtime's random state (which, in a wasip1 module, comes from the host's
// WASI random_get), so separate VMs draw independently. Seeded, it is a PCG
// generator that repeats the same sequence on every run, for reproducible
// experiments and exact tests; every VM of a pool then draws the same
// sequence, which is why seeding is opt-in.
package draw

import (
	"fmt"
	"math/rand/v2"
)

// Million is the denominator of per-million probabilities, as in Envoy's
// FractionalPercent that Istio's percentages become.
const Million = 1_000_000

// Source draws random numbers for one plugin context. Not safe for
// concurrent use; a proxy-wasm VM runs one callback at a time.
type Source struct{ r *rand.Rand }

// New returns a Source; seed 0 means "seed from the runtime's randomness".
func New(seed uint64) *Source {
	if seed == 0 {
		return &Source{r: rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))}
	}
	return &Source{r: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

// IntN returns a uniform integer in [0, n); n must be positive.
func (s *Source) IntN(n int) int { return s.r.IntN(n) }

// Uint32N returns a uniform integer in [0, n); n must be positive.
func (s *Source) Uint32N(n uint32) uint32 { return s.r.Uint32N(n) }

// PerMillion returns true with probability p/1,000,000 (always for p ≥ 1,000,000).
func (s *Source) PerMillion(p uint32) bool {
	if p >= Million {
		return true
	}
	if p == 0 {
		return false
	}
	return s.r.Uint32N(Million) < p
}

// PercentToPerMillion converts a percentage in [0, 100] to parts per million
// the way Istio translates it for Envoy (value × 10000, truncated).
func PercentToPerMillion(percent float64) uint32 {
	return uint32(percent * 10000)
}

// Weights picks an index with probability proportional to its weight.
type Weights struct {
	cum []uint32 // cumulative sums; cum[len-1] is the total
}

// NewWeights builds a picker; zero weights are allowed (never picked) but
// the total must be positive and fit in 32 bits.
func NewWeights(w []uint32) (Weights, error) {
	cum := make([]uint32, len(w))
	var total uint64
	for i, x := range w {
		total += uint64(x)
		if total > 1<<32-1 {
			return Weights{}, fmt.Errorf("weights sum to more than %d", uint32(1<<32-1))
		}
		cum[i] = uint32(total)
	}
	if total == 0 {
		return Weights{}, fmt.Errorf("weights sum to 0")
	}
	return Weights{cum: cum}, nil
}

// Total is the sum of the weights.
func (w Weights) Total() uint32 { return w.cum[len(w.cum)-1] }

// Pick draws an index. A single weight is picked without drawing.
func (w Weights) Pick(s *Source) int {
	if len(w.cum) == 1 {
		return 0
	}
	x := s.r.Uint32N(w.Total())
	for i, c := range w.cum {
		if x < c {
			return i
		}
	}
	return len(w.cum) - 1 // unreachable: x < total = cum[last]
}
