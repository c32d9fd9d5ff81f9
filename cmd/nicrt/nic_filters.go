package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/nicrt/nicrt/nicsim/engine"
	"github.com/nicrt/nicrt/nicsim/wasmengine"
	"github.com/nicrt/nicrt/runtime"
)

func init() { nicEngines = loadNICEngines }

// loadNICEngines loads --filter modules into a NIC-position host, counting
// instructions (the model's cost input), with one VM per modeled engine.
// All engines share one wasmengine.Engine: the runtime pins each exchange to
// a VM, which is what holds its state.
func loadNICEngines(specs []filterSpec, n int) ([]engine.Engine, error) {
	_, slot, _, err := loadNICSlot(context.Background(), specs, n)
	if err != nil {
		return nil, err
	}
	return shareEngine(wasmengine.New(slot), n), nil
}

// newNICHost is the runtime host of the NIC's engines.
func newNICHost(ctx context.Context) (*runtime.Host, error) {
	return runtime.NewHost(ctx, runtime.HostConfig{
		Position: runtime.PositionNIC,
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
		CacheDir: cacheDir(),
	})
}

// loadNICSlot loads the filters into a new NIC host and returns the host,
// a slot holding their chain (which an admin API may swap), and whether a
// filter may pause messages (wasmengine.MayPause). On error nothing is left
// running.
func loadNICSlot(ctx context.Context, specs []filterSpec, pool int) (*runtime.Host, *runtime.Slot, bool, error) {
	h, err := newNICHost(ctx)
	if err != nil {
		return nil, nil, false, err
	}
	var plugins []*runtime.Plugin
	mayPause := false
	for i, s := range specs {
		wasm, err := readWasm(s.Path)
		if err == nil {
			var p *runtime.Plugin
			p, err = h.Load(ctx, wasm, runtime.PluginConfig{
				Name:              fmt.Sprintf("%s-%d", pluginName(s.Path), i),
				Configuration:     []byte(s.Config),
				PoolSize:          pool,
				CountInstructions: true,
			})
			plugins = append(plugins, p)
		}
		if err != nil {
			h.Close(ctx)
			flag := s.Flag
			if flag == "" {
				flag = "--filter"
			}
			return nil, nil, false, fmt.Errorf("%s %s: %w", flag, s.Path, err)
		}
		mayPause = mayPause || wasmengine.MayPause(h.Inspect(ctx, wasm))
	}
	return h, runtime.NewSlot(runtime.NewChain(plugins...)), mayPause, nil
}

// shareEngine fills n engine slots with one engine.
func shareEngine(e engine.Engine, n int) []engine.Engine {
	engines := make([]engine.Engine, n)
	for i := range engines {
		engines[i] = e
	}
	return engines
}

// liveFilters is the filter chain of a live NIC: the runtime host that
// loads its plugins, the slot holding the chain (an admin API swaps it while
// the NIC runs) and the engines the NIC drives over it.
type liveFilters struct {
	host     *runtime.Host
	slot     *runtime.Slot
	engine   *wasmengine.Engine
	engines  []engine.Engine // the one engine in every one of the model's engine slots
	mayPause bool            // a filter may pause a message (live.Options.PausingFilters)
}

// livePoolSize is the VMs per filter of a live NIC: the simulation runs
// engines one at a time on its goroutine, a second VM serves a paused
// exchange or a worker meanwhile.
const livePoolSize = 2

// newLiveFilters loads the filters (possibly none, for a chain an admin API
// fills later) for a live NIC with count engines. Close it once the NIC is
// closed.
func newLiveFilters(specs []filterSpec, count int) (*liveFilters, error) {
	h, slot, mayPause, err := loadNICSlot(context.Background(), specs, livePoolSize)
	if err != nil {
		return nil, err
	}
	e := wasmengine.New(slot)
	return &liveFilters{host: h, slot: slot, engine: e, engines: shareEngine(e, count), mayPause: mayPause}, nil
}

// close releases the engines, the plugins and the host.
func (f *liveFilters) close() {
	f.engine.Close()
	f.host.Close(context.Background())
}
