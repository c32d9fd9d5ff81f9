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
	ctx := context.Background()
	h, err := runtime.NewHost(ctx, runtime.HostConfig{
		Position: runtime.PositionNIC,
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
		CacheDir: cacheDir(),
	})
	if err != nil {
		return nil, err
	}
	var plugins []*runtime.Plugin
	for i, s := range specs {
		wasm, err := readWasm(s.Path)
		if err != nil {
			return nil, err
		}
		p, err := h.Load(ctx, wasm, runtime.PluginConfig{
			Name:              fmt.Sprintf("%s-%d", pluginName(s.Path), i),
			Configuration:     []byte(s.Config),
			PoolSize:          n,
			CountInstructions: true,
		})
		if err != nil {
			return nil, fmt.Errorf("--filter %s: %w", s.Path, err)
		}
		plugins = append(plugins, p)
	}
	e := wasmengine.New(runtime.NewSlot(runtime.NewChain(plugins...)))
	engines := make([]engine.Engine, n)
	for i := range engines {
		engines[i] = e
	}
	return engines, nil
}
