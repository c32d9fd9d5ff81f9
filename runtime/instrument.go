package runtime

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"

	"github.com/nicrt/nicrt/runtime/internal/icount"
	"github.com/tetratelabs/wazero"
)

// icountGlobal is the exported global an instrumented module counts
// executed instructions in.
const icountGlobal = icount.GlobalName

// prepared is a module ready to compile: rewritten with interruption checks
// (and instruction counting when asked), or, when the rewriter refuses it,
// the original bytes for the runtime that stops guests with a cancelled
// context.
type prepared struct {
	wasm          []byte
	rt            wazero.Runtime
	interruptible bool
}

// prepare rewrites wasm for h.rt. Why a rewrite at all: wazero's own way of
// stopping a runaway guest (WithCloseOnContextDone) starts a goroutine on
// every call into the guest, which was two thirds of a request's filter
// cost. Instead, like wasmtime's epoch interruption, every function entry
// and loop header checks a flag the watchdog sets, and every few thousand
// checks the guest steps out into Go so the Go scheduler and garbage
// collector are never blocked by a spinning guest (runtime/internal/icount).
func (h *Host) prepare(ctx context.Context, wasm []byte, count bool) (prepared, error) {
	out, err := icount.Rewrite(wasm, icount.Options{Count: count, Interrupt: true})
	if err == nil {
		return prepared{wasm: out, rt: h.rt, interruptible: true}, nil
	}
	if count {
		return prepared{}, fmt.Errorf("instruction counting: %w", err)
	}
	if !errors.Is(err, icount.ErrUnsupported) {
		// Malformed for the rewriter: let wazero's compiler say what is
		// wrong (it is run through the same runtime either way).
		return prepared{wasm: wasm, rt: h.rt}, nil
	}
	rt, rerr := h.cancelRuntime(ctx)
	if rerr != nil {
		return prepared{}, rerr
	}
	h.log.Debug("module uses features the interruption rewrite does not handle; guarding it with wazero's context watcher instead", "reason", err)
	return prepared{wasm: wasm, rt: rt}, nil
}

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
