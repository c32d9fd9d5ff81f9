package draw

import (
	"math"
	"testing"
)

func TestSeededIsReproducible(t *testing.T) {
	a, b := New(7), New(7)
	for i := 0; i < 100; i++ {
		if a.IntN(1000) != b.IntN(1000) {
			t.Fatal("same seed, different sequences")
		}
	}
}

// TestWeights: over N draws every share is within 1 percentage point of its
// weight (≥ 6σ for N = 50000).
func TestWeights(t *testing.T) {
	w, err := NewWeights([]uint32{90, 0, 10})
	if err != nil {
		t.Fatal(err)
	}
	s := New(1)
	const n = 50000
	var got [3]int
	for i := 0; i < n; i++ {
		got[w.Pick(s)]++
	}
	if got[1] != 0 {
		t.Errorf("zero weight picked %d times", got[1])
	}
	for i, want := range []float64{.9, 0, .1} {
		if obs := float64(got[i]) / n; math.Abs(obs-want) > .01 {
			t.Errorf("index %d: share %.4f, want %.2f", i, obs, want)
		}
	}
	if _, err := NewWeights([]uint32{0, 0}); err == nil {
		t.Error("zero total accepted")
	}
	if _, err := NewWeights([]uint32{1 << 31, 1 << 31}); err == nil {
		t.Error("overflowing total accepted")
	}
}

func TestPerMillion(t *testing.T) {
	s := New(3)
	for i := 0; i < 1000; i++ {
		if !s.PerMillion(Million) || s.PerMillion(0) {
			t.Fatal("PerMillion edge cases wrong")
		}
	}
	hits := 0
	const n = 100000
	for i := 0; i < n; i++ {
		if s.PerMillion(PercentToPerMillion(25)) {
			hits++
		}
	}
	if obs := float64(hits) / n; math.Abs(obs-.25) > .01 {
		t.Errorf("25%%: observed %.4f", obs)
	}
	if PercentToPerMillion(0.1) != 1000 || PercentToPerMillion(100) != Million {
		t.Error("PercentToPerMillion conversion")
	}
}

func TestPickDoesNotAllocate(t *testing.T) {
	w, _ := NewWeights([]uint32{50, 50})
	s := New(1)
	if n := testing.AllocsPerRun(100, func() { w.Pick(s); s.PerMillion(5) }); n != 0 {
		t.Errorf("allocates %v times", n)
	}
}

// TestUint32NUniform: each of 7 values gets 1/7 of 70000 draws within one
// percentage point (> 7σ), and a value near the 32-bit limit stays in range.
func TestUint32NUniform(t *testing.T) {
	s := New(9)
	var got [7]int
	const n = 70000
	for i := 0; i < n; i++ {
		got[s.IntN(7)]++
	}
	for v, c := range got {
		if math.Abs(float64(c)/n-1./7) > .01 {
			t.Errorf("value %d drawn %d times of %d", v, c, n)
		}
	}
	for i := 0; i < 1000; i++ {
		if x := s.Uint32N(3_000_000_000); x >= 3_000_000_000 {
			t.Fatalf("Uint32N out of range: %d", x)
		}
	}
	if New(0).Uint64() == New(0).Uint64() {
		t.Error("two unseeded sources drew the same first value")
	}
}
