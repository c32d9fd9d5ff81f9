package sidecar

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nicrt/nicrt/admin"
	"github.com/nicrt/nicrt/runtime"
)

// Options tune a Sidecar beyond its Config.
type Options struct {
	// Logger receives start-up, admin and error events (never one line per
	// request: that is the access log's job). nil uses slog.Default().
	Logger *slog.Logger
}

// Sidecar is one running proxy: its listeners, clusters, filter chains and
// admin API.
type Sidecar struct {
	cfg         *Config
	log         *slog.Logger
	host        *runtime.Host
	listeners   []*listener
	clusters    map[string]*cluster
	clusterList []*cluster
	pool        *pool
	admin       *admin.Server
	adminLn     net.Listener
	access      *accessLog
	started     time.Time
	draining    atomic.Bool
	connWG      sync.WaitGroup
	stop        chan struct{}
	closeOnce   sync.Once
	bgWG        sync.WaitGroup
}

// New builds a sidecar from cfg: it starts the filter runtime, loads every
// filter (compiling and starting its VMs), and opens every listener and the
// admin listener, so configuration and address errors surface before
// anything is served. Call Start to serve and Shutdown to stop.
func New(ctx context.Context, cfg *Config, opt Options) (*Sidecar, error) {
	log := opt.Logger
	if log == nil {
		log = slog.Default()
	}
	s := &Sidecar{cfg: cfg, log: log, clusters: map[string]*cluster{}, started: time.Now(), stop: make(chan struct{})}
	t := &cfg.Timeouts
	s.pool = &pool{
		dialer:      net.Dialer{Timeout: t.Connect.D(), KeepAlive: 30 * time.Second},
		idleTimeout: t.UpstreamIdle.D(),
		probeAfter:  probeAfter,
	}
	for _, cc := range cfg.Clusters {
		c := newCluster(cc, s.pool)
		s.clusters[c.name] = c
		s.clusterList = append(s.clusterList, c)
	}
	host, err := s.newHost(ctx)
	if err != nil {
		return nil, err
	}
	s.host = host
	fail := func(err error) (*Sidecar, error) {
		s.closeAll()
		return nil, err
	}
	for i := range cfg.Listeners {
		l, err := s.newListener(ctx, &cfg.Listeners[i], i)
		if err != nil {
			return fail(err)
		}
		s.listeners = append(s.listeners, l)
	}
	if cfg.AccessLog != "" {
		a, err := openAccessLog(cfg.path(cfg.AccessLog))
		if err != nil {
			return fail(fmt.Errorf("access_log: %w", err))
		}
		s.access = a
	}
	if !cfg.Admin.Disabled {
		chains := make([]admin.Chain, len(s.listeners))
		for i, l := range s.listeners {
			chains[i] = admin.Chain{Name: l.cfg.Name, Slot: l.slot}
		}
		srv, err := admin.New(admin.Config{
			Kind: "sidecar", Host: host, Chains: chains, Token: cfg.Admin.Token, Logger: log,
			Stats:      s.writeStats,
			ConfigDump: func() any { return s.cfg.Redacted() },
			Ready:      func() bool { return !s.draining.Load() },
		})
		if err != nil {
			return fail(err)
		}
		ln, err := admin.Listen(cfg.Admin.Address, cfg.Admin.Token)
		if err != nil {
			return fail(fmt.Errorf("admin.address: %w", err))
		}
		s.admin, s.adminLn = srv, ln
	}
	return s, nil
}

// Check loads every filter of cfg (compiling the modules and starting their
// VMs, so a configuration a filter rejects is caught) without listening.
func Check(ctx context.Context, cfg *Config, opt Options) error {
	s := &Sidecar{cfg: cfg, log: opt.Logger, clusters: map[string]*cluster{}}
	if s.log == nil {
		s.log = slog.Default()
	}
	host, err := s.newHost(ctx)
	if err != nil {
		return err
	}
	defer host.Close(context.Background())
	s.host = host
	for i := range cfg.Listeners {
		for j := range cfg.Listeners[i].Filters {
			fc := &cfg.Listeners[i].Filters[j]
			p, err := s.loadFilter(ctx, fc)
			if err != nil {
				return fmt.Errorf("listeners[%d].filters[%d] (%s): %w", i, j, fc.Name, err)
			}
			p.Close()
		}
	}
	return nil
}

// probeAfter: pooled connections idle at least this long are checked for
// an upstream close before reuse (one non-blocking peek); younger ones are
// trusted, and an idempotent request that meets a just-closed one is
// retried on a fresh connection.
const probeAfter = 500 * time.Millisecond

// newHost starts the filter runtime the configuration describes.
func (s *Sidecar) newHost(ctx context.Context) (*runtime.Host, error) {
	cfg := s.cfg
	lvl := runtime.LogInfo
	if cfg.Wasm.LogLevel != "" {
		lvl, _ = runtime.ParseLogLevel(cfg.Wasm.LogLevel)
	}
	host, err := runtime.NewHost(ctx, runtime.HostConfig{
		Position:         runtime.PositionSidecar,
		NodeID:           cfg.NodeID,
		NodeMetadata:     cfg.NodeMetadata,
		Logger:           s.log,
		LogLevel:         lvl,
		CacheDir:         cfg.path(cfg.Wasm.CacheDir),
		Clusters:         s.resolveCluster,
		CallDeadline:     cfg.Wasm.CallDeadline.D(),
		MemoryLimitPages: uint32(cfg.Wasm.MemoryLimitMB) * 16,
	})
	if err != nil {
		return nil, fmt.Errorf("starting the wasm runtime: %w", err)
	}
	return host, nil
}

// loadFilter reads and loads one configured filter.
func (s *Sidecar) loadFilter(ctx context.Context, fc *FilterConfig) (*runtime.Plugin, error) {
	wasm, err := os.ReadFile(s.cfg.path(fc.Wasm))
	if err != nil {
		return nil, err
	}
	return s.host.Load(ctx, wasm, runtime.PluginConfig{
		Name: fc.Name, RootID: fc.RootID, VMID: fc.VMID,
		Configuration: fc.Configuration.Data, FailOpen: fc.FailOpen, PoolSize: fc.PoolSize,
	})
}

// resolveCluster answers proxy_http_call's cluster lookups.
func (s *Sidecar) resolveCluster(name string) (string, bool) {
	c, ok := s.clusters[name]
	if !ok {
		return "", false
	}
	return c.pick().addr, true
}

// Start serves every listener and the admin API in the background.
func (s *Sidecar) Start() {
	for _, l := range s.listeners {
		s.bgWG.Add(1)
		go func() {
			defer s.bgWG.Done()
			l.serve()
		}()
	}
	if s.admin != nil {
		s.bgWG.Add(1)
		go func() {
			defer s.bgWG.Done()
			if err := s.admin.Serve(s.adminLn); err != nil {
				s.log.Error("admin API stopped", "err", err)
			}
		}()
	}
	s.bgWG.Add(1)
	go func() {
		defer s.bgWG.Done()
		s.janitor()
	}()
}

// janitor closes pooled upstream connections idle past their timeout and
// flushes the access log.
func (s *Sidecar) janitor() {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-tick.C:
			for _, c := range s.clusterList {
				for _, e := range c.eps {
					e.reap(false)
				}
			}
			if s.access != nil {
				s.access.flush()
			}
		}
	}
}

// ListenerAddr returns the bound address of the named listener (useful
// with port 0), or nil.
func (s *Sidecar) ListenerAddr(name string) net.Addr {
	for _, l := range s.listeners {
		if l.cfg.Name == name {
			return l.ln.Addr()
		}
	}
	return nil
}

// AdminAddr returns the admin API's bound address, or nil when disabled.
func (s *Sidecar) AdminAddr() net.Addr {
	if s.adminLn == nil {
		return nil
	}
	return s.adminLn.Addr()
}

// Host returns the sidecar's filter runtime.
func (s *Sidecar) Host() *runtime.Host { return s.host }

// Slot returns the filter chain of the named listener, or nil.
func (s *Sidecar) Slot(listener string) *runtime.Slot {
	for _, l := range s.listeners {
		if l.cfg.Name == listener {
			return l.slot
		}
	}
	return nil
}

// WriteStats writes the sidecar's own stats in the Prometheus text format
// (the admin API adds the filters' metrics).
func (s *Sidecar) WriteStats(w io.Writer) error { return s.writeStats(w) }

// Shutdown stops accepting, marks the sidecar not ready, closes idle
// connections, waits for requests in flight (until ctx ends or the
// configured drain timeout), then closes everything.
func (s *Sidecar) Shutdown(ctx context.Context) error {
	s.draining.Store(true)
	for _, l := range s.listeners {
		l.ln.Close()
		l.closeIdle()
	}
	done := make(chan struct{})
	go func() {
		s.connWG.Wait()
		close(done)
	}()
	drain := time.NewTimer(s.cfg.Timeouts.Drain.D())
	defer drain.Stop()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = ctx.Err()
	case <-drain.C:
		err = errors.New("drain timeout: closing connections with requests in flight")
	}
	s.closeAll()
	return err
}

// Close stops everything at once.
func (s *Sidecar) Close() error {
	s.draining.Store(true)
	s.closeAll()
	return nil
}

func (s *Sidecar) closeAll() {
	s.closeOnce.Do(func() {
		close(s.stop)
		for _, l := range s.listeners {
			if l.ln != nil {
				l.ln.Close()
			}
			l.closeAll()
		}
		if s.admin != nil {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			_ = s.admin.Shutdown(ctx)
			cancel()
		}
		if s.adminLn != nil {
			s.adminLn.Close()
		}
		s.connWG.Wait()
		s.bgWG.Wait()
		for _, c := range s.clusterList {
			for _, e := range c.eps {
				e.reap(true)
			}
		}
		for _, l := range s.listeners {
			l.slot.Close()
		}
		if s.access != nil {
			s.access.close()
		}
		if s.host != nil {
			_ = s.host.Close(context.Background())
		}
	})
}
