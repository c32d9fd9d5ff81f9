// Package draw makes the random decisions of nicrt's filters: weighted
// picks among destinations and "in p percent of requests" faults.
//
// Each plugin context owns one Source: a SplitMix64 generator, chosen
// because it costs a handful of wasm instructions per draw (math/rand's
// Rand goes through an interface and costs hundreds in a wasip1 build, on
// every request). Unseeded, it starts from the Go runtime's random state
// (which, in a wasip1 module, comes from the host's WASI random_get), so
// separate VMs draw independently. Seeded, it repeats the same sequence on
// every run, for reproducible experiments and exact tests; every VM of a
// pool then draws the same sequence, which is why seeding is opt-in. It is
// not a cryptographic generator, and need not be: it only spreads load.
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
type Source struct{ state uint64 }

// New returns a Source; seed 0 means "seed from the runtime's randomness".
func New(seed uint64) *Source {
	if seed == 0 {
		seed = rand.Uint64()
	}
	return &Source{state: seed}
}

// Uint64 returns 64 uniformly random bits (SplitMix64).
func (s *Source) Uint64() uint64 {
	s.state += 0x9e3779b97f4a7c15
	z := s.state
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// Uint32N returns a uniform integer in [0, n); n must be positive. It uses
// Lemire's multiply-and-shift with rejection, so there is no modulo bias.
func (s *Source) Uint32N(n uint32) uint32 {
	m := uint64(uint32(s.Uint64()>>32)) * uint64(n)
	if low := uint32(m); low < n {
		threshold := -n % n
		for low < threshold {
			m = uint64(uint32(s.Uint64()>>32)) * uint64(n)
			low = uint32(m)
		}
	}
	return uint32(m >> 32)
}

// IntN returns a uniform integer in [0, n); n must be positive and fit in 32 bits.
func (s *Source) IntN(n int) int { return int(s.Uint32N(uint32(n))) }

// PerMillion returns true with probability p/1,000,000 (always for p ≥ 1,000,000).
func (s *Source) PerMillion(p uint32) bool {
	if p >= Million {
		return true
	}
	if p == 0 {
		return false
	}
	return s.Uint32N(Million) < p
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
	x := s.Uint32N(w.Total())
	for i, c := range w.cum {
		if x < c {
			return i
		}
	}
	return len(w.cum) - 1 // unreachable: x < total = cum[last]
}
