package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/nicrt/nicrt/admin"
	"github.com/nicrt/nicrt/nicsim/live"
	"github.com/nicrt/nicrt/nicsim/wasmengine"
	"github.com/nicrt/nicrt/runtime"
)

// The live NIC's admin API: the same API the sidecar serves (package
// admin), so `nicrt load FILE.wasm --admin ADDR` swaps the filter on the
// NIC's engines while it runs, as on the lab's run-time pluggable Wasm
// SmartNIC. Its chains are the live NIC's: "ingress" for the exchanges
// that come in from the wire, "egress" (bookinfo serve --nic) for those the
// host starts.

// nicAdmin is a live NIC's running admin API.
type nicAdmin struct {
	srv      *http.Server
	ln       net.Listener
	done     chan error
	draining atomic.Bool
}

// nicAdminDump is what GET /config_dump shows of the NIC itself.
type nicAdminDump struct {
	Model     any                 `json:"model"`
	Listen    string              `json:"listen,omitempty"`
	Upstream  string              `json:"upstream,omitempty"`
	Clusters  map[string][]string `json:"clusters,omitempty"`
	Tolerance string              `json:"tolerance"`
}

// startNICAdmin serves the admin API of NIC n, whose engines run the chains
// of f, on addr (loopback unless token is set). A module loaded through it
// is instrumented to count instructions, as the NIC's cost model needs,
// and one that may pause a message switches the NIC to pausable engines
// before it is installed.
func startNICAdmin(addr, token string, n *live.NIC, f *liveFilters, dump nicAdminDump, log *slog.Logger) (*nicAdmin, error) {
	a := &nicAdmin{done: make(chan error, 1)}
	var chains []admin.Chain
	for _, c := range f.chains {
		chains = append(chains, admin.Chain{Name: c.name, Slot: c.slot})
	}
	srv, err := admin.New(admin.Config{
		Kind:   "nic",
		Host:   f.host,
		Chains: chains,
		Token:  token,
		Logger: log,
		Stats:  n.WritePrometheus,
		ConfigDump: func() any {
			d := dump
			d.Model = n.Model()
			return d
		},
		Ready: func() bool { return !a.draining.Load() },
		Load: func(ctx context.Context, _ string, wasm []byte, cfg runtime.PluginConfig) (*runtime.Plugin, error) {
			cfg.CountInstructions = true
			if cfg.PoolSize == 0 {
				cfg.PoolSize = livePoolSize
			}
			p, err := f.host.Load(ctx, wasm, cfg)
			if err != nil {
				return nil, err
			}
			if wasmengine.MayPause(f.host.Inspect(ctx, wasm)) {
				n.AllowPauses()
			}
			return p, nil
		},
	})
	if err != nil {
		return nil, err
	}
	ln, err := admin.Listen(addr, token)
	if err != nil {
		return nil, fmt.Errorf("--admin: %w", err)
	}
	a.ln = ln
	a.srv = &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	go func() {
		err := a.srv.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		a.done <- err
	}()
	return a, nil
}

// Addr is the address the admin API listens on.
func (a *nicAdmin) Addr() net.Addr { return a.ln.Addr() }

// drain makes /ready answer 503: the NIC stops taking connections.
func (a *nicAdmin) drain() { a.draining.Store(true) }

// stop shuts the admin API down, letting a load in progress finish.
func (a *nicAdmin) stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := a.srv.Shutdown(ctx)
	if serr := <-a.done; err == nil {
		err = serr
	}
	return err
}
