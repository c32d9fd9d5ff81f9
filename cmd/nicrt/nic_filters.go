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
// a slot holding their chain, and whether a filter may pause messages
// (wasmengine.MayPause). On error nothing is left running.
func loadNICSlot(ctx context.Context, specs []filterSpec, pool int) (*runtime.Host, *runtime.Slot, bool, error) {
	h, err := newNICHost(ctx)
	if err != nil {
		return nil, nil, false, err
	}
	slot, mayPause, err := loadNICChain(ctx, h, specs, pool)
	if err != nil {
		h.Close(ctx)
		return nil, nil, false, err
	}
	return h, slot, mayPause, nil
}

// loadNICChain loads the filters into h, counting instructions (the model's
// cost input), and returns a slot holding their chain (which an admin API
// may swap) and whether a filter may pause messages. On error the plugins
// loaded so far stay with h, which the caller closes.
func loadNICChain(ctx context.Context, h *runtime.Host, specs []filterSpec, pool int) (*runtime.Slot, bool, error) {
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
			flag := s.Flag
			if flag == "" {
				flag = "--filter"
			}
			return nil, false, fmt.Errorf("%s %s: %w", flag, s.Path, err)
		}
		mayPause = mayPause || wasmengine.MayPause(h.Inspect(ctx, wasm))
	}
	return runtime.NewSlot(runtime.NewChain(plugins...)), mayPause, nil
}

// shareEngine fills n engine slots with one engine.
func shareEngine(e engine.Engine, n int) []engine.Engine {
	engines := make([]engine.Engine, n)
	for i := range engines {
		engines[i] = e
	}
	return engines
}

// liveFilters are the filter chains of a live NIC, in one runtime host: a
// chain per direction the NIC runs filters on (the exchanges that come in
// from the wire, those the host starts), each in a slot an admin API may
// swap while the NIC runs, with the engines the NIC drives over it.
type liveFilters struct {
	host     *runtime.Host
	chains   []liveChain
	mayPause bool // a filter may pause a message (live.Options.PausingFilters)
}

// liveChain is one of a live NIC's filter chains.
type liveChain struct {
	name    string
	slot    *runtime.Slot
	engine  *wasmengine.Engine
	engines []engine.Engine // the one engine in every one of the model's engine slots
}

// chainSpec names a chain and the filters it starts with.
type chainSpec struct {
	name  string
	specs []filterSpec
}

// The names of a live NIC's chains (in the admin API too): ingress runs on
// exchanges from the wire (an inbound sidecar's place), egress on those the
// host starts (an outbound sidecar's).
const (
	chainIngress = "ingress"
	chainEgress  = "egress"
)

// livePoolSize is the VMs per filter of a live NIC: the simulation runs
// engines one at a time on its goroutine, a second VM serves a paused
// exchange or a worker meanwhile.
const livePoolSize = 2

// newLiveFilters loads the chains' filters (a chain may start empty, for an
// admin API to fill) for a live NIC with count engines. Close it once the
// NIC is closed.
func newLiveFilters(count int, chains ...chainSpec) (*liveFilters, error) {
	ctx := context.Background()
	h, err := newNICHost(ctx)
	if err != nil {
		return nil, err
	}
	f := &liveFilters{host: h}
	for _, c := range chains {
		slot, mayPause, err := loadNICChain(ctx, h, c.specs, livePoolSize)
		if err != nil {
			h.Close(ctx)
			return nil, err
		}
		e := wasmengine.New(slot)
		f.chains = append(f.chains, liveChain{name: c.name, slot: slot, engine: e, engines: shareEngine(e, count)})
		f.mayPause = f.mayPause || mayPause
	}
	return f, nil
}

// engines returns the engines of the chain named name, nil if there is none.
func (f *liveFilters) engines(name string) []engine.Engine {
	if f == nil {
		return nil
	}
	for _, c := range f.chains {
		if c.name == name {
			return c.engines
		}
	}
	return nil
}

// close releases the engines, the plugins and the host.
func (f *liveFilters) close() {
	for _, c := range f.chains {
		c.engine.Close()
	}
	f.host.Close(context.Background())
}
