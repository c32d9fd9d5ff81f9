package runtime

import (
	"context"
	"sync"

	"github.com/tetratelabs/wazero"
)

// maxPinned bounds how many distinct modules stay compiled with no plugin
// using them.
const maxPinned = 16

// pins keeps the most recently loaded modules compiled in the process-wide
// engine. wazero reference-counts compiled code and drops it when the last
// CompiledModule closes, so without an extra reference every hot swap back to
// a filter used a minute ago (lb ↔ route) would recompile it, which takes
// the better part of a second for a Go filter.
var pins = struct {
	sync.Mutex
	order []string // least recent first
	m     map[string]wazero.CompiledModule
}{m: map[string]wazero.CompiledModule{}}

// pin takes an extra reference to the compiled wasm, keyed by its digest.
// Only hosts on the process-wide cache pin: a host with its own cache
// directory has its own engine, and reloads from disk are cheap.
func (h *Host) pin(ctx context.Context, digest string, wasm []byte) {
	if h.cfg.CacheDir != "" {
		return
	}
	pins.Lock()
	defer pins.Unlock()
	if _, ok := pins.m[digest]; ok {
		for i, d := range pins.order {
			if d == digest {
				pins.order = append(append(pins.order[:i:i], pins.order[i+1:]...), digest)
				break
			}
		}
		return
	}
	cm, err := h.rt.CompileModule(ctx, wasm) // an engine cache hit: decode only
	if err != nil {
		return
	}
	pins.m[digest] = cm
	pins.order = append(pins.order, digest)
	if len(pins.order) > maxPinned {
		old := pins.order[0]
		pins.order = pins.order[1:]
		pins.m[old].Close(ctx)
		delete(pins.m, old)
	}
}
