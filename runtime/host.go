package runtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime"
	"sync"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
)

// Position names where a data plane runs filters; filters read it from the
// property "nicrt.position".
const (
	PositionSidecar = "sidecar"
	PositionNIC     = "nic"
)

// Defaults for HostConfig fields left zero.
const (
	// DefaultCallDeadline bounds one stream callback. Filters run for
	// microseconds; half a second only trips on a runaway guest, even on a
	// loaded two-core machine where a goroutine may wait to be scheduled.
	DefaultCallDeadline = 500 * time.Millisecond
	// DefaultStartDeadline bounds _initialize + proxy_on_vm_start +
	// proxy_on_configure: the Go runtime's start-up runs here.
	DefaultStartDeadline = 10 * time.Second
	// DefaultMemoryLimitPages is 128 MiB per VM: ample for a filter (a Go
	// guest starts around 2.5 MiB) yet small enough that a leaking guest
	// is stopped long before it hurts the host.
	DefaultMemoryLimitPages = 2048
	// DefaultHTTPCallTimeout applies when a guest passes timeout 0.
	DefaultHTTPCallTimeout = 5 * time.Second
)

// LogLevel is a Proxy-Wasm log level (proxy_log_level_t).
type LogLevel uint32

// Proxy-Wasm log levels.
const (
	LogTrace LogLevel = iota
	LogDebug
	LogInfo
	LogWarn
	LogError
	LogCritical
)

var logLevelNames = [...]string{"trace", "debug", "info", "warn", "error", "critical"}

// String returns the level's lowercase name.
func (l LogLevel) String() string {
	if int(l) < len(logLevelNames) {
		return logLevelNames[l]
	}
	return fmt.Sprintf("level(%d)", uint32(l))
}

// ParseLogLevel parses a level name as printed by String.
func ParseLogLevel(s string) (LogLevel, error) {
	for i, n := range logLevelNames {
		if n == s {
			return LogLevel(i), nil
		}
	}
	return 0, fmt.Errorf("unknown log level %q (want one of trace, debug, info, warn, error, critical)", s)
}

func (l LogLevel) slog() slog.Level {
	switch l {
	case LogTrace:
		return slog.LevelDebug - 4
	case LogDebug:
		return slog.LevelDebug
	case LogInfo:
		return slog.LevelInfo
	case LogWarn:
		return slog.LevelWarn
	case LogError:
		return slog.LevelError
	default:
		return slog.LevelError + 4
	}
}

// ForeignFunc is a host function a guest calls by name through
// proxy_call_foreign_function. It receives a copy of the arguments.
type ForeignFunc func(args []byte) ([]byte, error)

// HostConfig configures a Host. The zero value is usable.
type HostConfig struct {
	// Position is where the data plane runs filters: PositionSidecar or
	// PositionNIC. Filters read it as the property "nicrt.position".
	Position string
	// NodeID and NodeMetadata answer the properties node.id and
	// node.metadata.<key>, as Envoy's node identity does.
	NodeID       string
	NodeMetadata map[string]string
	// Logger receives host events and guest log lines; nil uses slog.Default().
	Logger *slog.Logger
	// LogLevel is the lowest guest log level passed on (and what
	// proxy_get_log_level reports). Default LogInfo.
	LogLevel LogLevel
	// CacheDir, when set, keeps compiled modules on disk across runs. Without
	// it a process-wide in-memory cache still compiles each module once.
	CacheDir string
	// Clusters resolves the upstream name of proxy_http_call to a host:port.
	// nil makes every HTTP call fail with BAD_ARGUMENT (unknown upstream).
	Clusters func(name string) (addr string, ok bool)
	// CallDeadline bounds each stream, tick and callout callback
	// (default DefaultCallDeadline); StartDeadline bounds VM start-up.
	CallDeadline  time.Duration
	StartDeadline time.Duration
	// MemoryLimitPages caps each VM's linear memory in 64 KiB pages
	// (default DefaultMemoryLimitPages).
	MemoryLimitPages uint32
	// ForeignFunctions are callable by guests via proxy_call_foreign_function.
	ForeignFunctions map[string]ForeignFunc
}

// Host runs Proxy-Wasm plugins. It is safe for concurrent use.
type Host struct {
	cfg HostConfig
	log *slog.Logger
	// rt runs modules rewritten with interruption checks (see
	// instrument.go): no per-call watcher, the watchdog sets a flag the
	// guest checks. rtCancel, created on first use, runs modules the
	// rewriter cannot handle, stopped the slower way: wazero's
	// WithCloseOnContextDone and a cancelled context.
	rt         wazero.Runtime
	rtCancel   wazero.Runtime
	rtCancelMu sync.Mutex
	cache      wazero.CompilationCache
	shared     sharedData
	queues     queueStore
	metrics    *Metrics
	client     *http.Client
	wd         *watchdog

	foreignMu sync.RWMutex
	foreign   map[string]ForeignFunc

	// imports lists every function the host provides, by module and name,
	// with its signature; used to check a guest before instantiating it.
	imports map[importKey]api.FunctionDefinition

	// noScratch disables the nicrt_scratch_v1 extension (tests use it to run
	// guests through the specification's allocation path too).
	noScratch bool

	pluginsMu sync.Mutex
	plugins   map[*Plugin]struct{} // loaded and not yet shut down
	closed    bool
	closeOnce sync.Once
}

type importKey struct{ module, name string }

var (
	memCacheOnce sync.Once
	memCache     wazero.CompilationCache
)

// processCache is shared by every Host in the process: compiling a Go
// filter takes the better part of a second, and tests and hot swaps load the
// same bytes again and again.
func processCache() wazero.CompilationCache {
	memCacheOnce.Do(func() { memCache = wazero.NewCompilationCache() })
	return memCache
}

// NewHost creates a Host.
func NewHost(ctx context.Context, cfg HostConfig) (*Host, error) {
	if cfg.Position == "" {
		cfg.Position = PositionSidecar
	}
	if cfg.Position != PositionSidecar && cfg.Position != PositionNIC {
		return nil, fmt.Errorf("runtime: position %q is neither %q nor %q", cfg.Position, PositionSidecar, PositionNIC)
	}
	if cfg.CallDeadline <= 0 {
		cfg.CallDeadline = DefaultCallDeadline
	}
	if cfg.StartDeadline <= 0 {
		cfg.StartDeadline = DefaultStartDeadline
	}
	if cfg.MemoryLimitPages == 0 {
		cfg.MemoryLimitPages = DefaultMemoryLimitPages
	}
	if cfg.MemoryLimitPages > 65536 {
		return nil, fmt.Errorf("runtime: memory limit %d pages exceeds the wasm32 maximum of 65536", cfg.MemoryLimitPages)
	}
	if cfg.LogLevel > LogCritical {
		return nil, fmt.Errorf("runtime: log level %d out of range", cfg.LogLevel)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	cache := processCache()
	if cfg.CacheDir != "" {
		c, err := wazero.NewCompilationCacheWithDir(cfg.CacheDir)
		if err != nil {
			return nil, fmt.Errorf("runtime: compilation cache %s: %w", cfg.CacheDir, err)
		}
		cache = c
	}
	h := &Host{
		cfg:     cfg,
		log:     log,
		cache:   cache,
		metrics: newMetrics(),
		foreign: make(map[string]ForeignFunc, len(cfg.ForeignFunctions)),
		client: &http.Client{Transport: &http.Transport{
			MaxIdleConnsPerHost: runtime.GOMAXPROCS(0) * 4,
			IdleConnTimeout:     30 * time.Second,
		}},
		imports: map[importKey]api.FunctionDefinition{},
		plugins: map[*Plugin]struct{}{},
	}
	for n, f := range cfg.ForeignFunctions {
		h.foreign[n] = f
	}
	h.shared.init()
	h.queues.init()
	rt, err := h.newRuntime(ctx, false)
	if err != nil {
		return nil, err
	}
	h.rt = rt
	for _, m := range []string{wasi_snapshot_preview1.ModuleName, envModule} {
		for _, d := range h.rt.Module(m).ExportedFunctionDefinitions() {
			h.imports[importKey{m, d.Name()}] = d
		}
	}
	h.wd = startWatchdog(cfg.CallDeadline)
	return h, nil
}

// Metrics returns the registry of metrics the guests define.
func (h *Host) Metrics() *Metrics { return h.metrics }

// Position returns where this host's data plane runs filters.
func (h *Host) Position() string { return h.cfg.Position }

// RegisterForeignFunction makes fn callable by guests under name, replacing
// any earlier function of that name.
func (h *Host) RegisterForeignFunction(name string, fn ForeignFunc) {
	h.foreignMu.Lock()
	h.foreign[name] = fn
	h.foreignMu.Unlock()
}

// Close stops every plugin (waiting for callbacks in progress) and releases
// the wazero runtime. Streams still open on its plugins fail from then on.
func (h *Host) Close(ctx context.Context) error {
	var err error
	h.closeOnce.Do(func() {
		h.pluginsMu.Lock()
		h.closed = true
		ps := make([]*Plugin, 0, len(h.plugins))
		for p := range h.plugins {
			ps = append(ps, p)
		}
		h.pluginsMu.Unlock()
		for _, p := range ps {
			p.shutdown()
		}
		h.wd.stop()
		h.client.CloseIdleConnections()
		err = h.rt.Close(ctx)
		h.rtCancelMu.Lock()
		if h.rtCancel != nil {
			h.rtCancel.Close(ctx)
		}
		h.rtCancelMu.Unlock()
	})
	return err
}

// newRuntime creates a wazero runtime with WASI and nicrt's env module.
// closeOnCtx selects wazero's own termination mechanism (see Host.rt).
func (h *Host) newRuntime(ctx context.Context, closeOnCtx bool) (wazero.Runtime, error) {
	cache := h.cache
	if closeOnCtx {
		// Code compiled with termination checks differs from the other
		// runtime's; keep it out of the shared cache.
		cache = wazero.NewCompilationCache()
	}
	rc := wazero.NewRuntimeConfig().
		WithCloseOnContextDone(closeOnCtx).
		WithMemoryLimitPages(h.cfg.MemoryLimitPages).
		WithCompilationCache(cache)
	rt := wazero.NewRuntimeWithConfig(ctx, rc)
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, rt); err != nil {
		rt.Close(ctx)
		return nil, fmt.Errorf("runtime: instantiate WASI: %w", err)
	}
	if err := instantiateEnv(ctx, rt); err != nil {
		rt.Close(ctx)
		return nil, err
	}
	return rt, nil
}

// cancelRuntime returns the runtime for modules without interruption
// checks, creating it on first use.
func (h *Host) cancelRuntime(ctx context.Context) (wazero.Runtime, error) {
	h.rtCancelMu.Lock()
	defer h.rtCancelMu.Unlock()
	if h.rtCancel == nil {
		rt, err := h.newRuntime(ctx, true)
		if err != nil {
			return nil, err
		}
		h.rtCancel = rt
	}
	return h.rtCancel, nil
}

// track registers a loaded plugin so Close can stop it; it fails once the
// host is closed.
func (h *Host) track(p *Plugin) bool {
	h.pluginsMu.Lock()
	defer h.pluginsMu.Unlock()
	if h.closed {
		return false
	}
	h.plugins[p] = struct{}{}
	return true
}

func (h *Host) untrack(p *Plugin) {
	h.pluginsMu.Lock()
	delete(h.plugins, p)
	h.pluginsMu.Unlock()
}

var errHostClosed = errors.New("runtime: host is closed")
