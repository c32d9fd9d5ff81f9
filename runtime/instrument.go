package runtime

import (
	"math/rand/v2"

	"github.com/nicrt/nicrt/runtime/internal/icount"
)

// icountGlobal is the exported global an instrumented module counts
// executed instructions in.
const icountGlobal = icount.GlobalName

// instrument rewrites a module to count the wasm instructions it executes
// (see runtime/internal/icount for what counts).
func instrument(wasm []byte) ([]byte, error) { return icount.Instrument(wasm) }

// deterministicRand is the random source of instruction-counted VMs. With
// real randomness a Go guest seeds its map hashing differently on every
// start and executes a different number of instructions for the same
// request; the NIC model needs the same count on every machine and run, so
// counted plugins trade unpredictable randomness for reproducible cost.
type deterministicRand struct{ c *rand.ChaCha8 }

func newDeterministicRand() deterministicRand {
	return deterministicRand{rand.NewChaCha8([32]byte{'n', 'i', 'c', 'r', 't'})}
}

func (d deterministicRand) Read(b []byte) (int, error) { return d.c.Read(b) }
