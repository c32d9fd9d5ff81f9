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

// liveNICEngines loads the filters for a live NIC with count engines: one
// wasmengine over their chain fills every engine slot. It returns the
// engines, whether a filter may pause (live.Options.PausingFilters), and a
// function that releases them once the NIC is closed.
func liveNICEngines(specs []filterSpec, count int) ([]engine.Engine, bool, func(), error) {
	ctx := context.Background()
	h, slot, mayPause, err := loadNICSlot(ctx, specs, 2)
	if err != nil {
		return nil, false, nil, err
	}
	e := wasmengine.New(slot)
	release := func() {
		e.Close()
		h.Close(ctx)
	}
	return shareEngine(e, count), mayPause, release, nil
}
