package runtime

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nicrt/nicrt/runtime/internal/abi"
	"github.com/nicrt/nicrt/runtime/internal/icount"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// PluginConfig describes one filter to load, as Envoy's wasm filter
// configuration does (name, root_id, vm_config.vm_id, configuration).
type PluginConfig struct {
	// Name identifies the plugin in a chain, in stats and in logs. Required;
	// letters, digits, '-', '_' and '.' only.
	Name string
	// RootID selects the root context in guests that host several
	// (property plugin_root_id).
	RootID string
	// VMID scopes shared data and shared queues: plugins with the same VMID
	// see the same keys, as in Envoy.
	VMID string
	// Configuration is the plugin configuration (proxy_on_configure);
	// VMConfiguration is the VM configuration (proxy_on_vm_start).
	Configuration   []byte
	VMConfiguration []byte
	// FailOpen lets requests pass unfiltered when the plugin fails instead
	// of answering 500.
	FailOpen bool
	// PoolSize is the number of VMs (default GOMAXPROCS).
	PoolSize int
	// CountInstructions instruments the module so every callback reports
	// the wasm instructions it executed (the NIC model's cost input). Such
	// VMs get a deterministic random source (see deterministicRand).
	CountInstructions bool
}

func (c *PluginConfig) validate() error {
	if c.Name == "" {
		return fmt.Errorf("plugin name is empty")
	}
	for _, r := range c.Name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return fmt.Errorf("plugin name %q: only letters, digits, '-', '_' and '.' are allowed", c.Name)
		}
	}
	if c.PoolSize < 0 {
		return fmt.Errorf("plugin %s: pool size %d is negative", c.Name, c.PoolSize)
	}
	if c.PoolSize > 256 {
		return fmt.Errorf("plugin %s: pool size %d exceeds 256", c.Name, c.PoolSize)
	}
	return nil
}

// Plugin is a loaded filter: a compiled module and a pool of started VMs.
// It is immutable once loaded; Slot retires it when a chain no longer uses it
// and it closes when its last stream ends.
type Plugin struct {
	host *Host
	cfg  PluginConfig
	rt   wazero.Runtime // h.rt, or h.rtCancel for modules not rewritten
	// interruptible: the module checks icount.InterruptGlobalName, which
	// the watchdog sets to stop it.
	interruptible bool
	compiled      wazero.CompiledModule
	info          PluginInfo

	vms  []atomic.Pointer[vm]
	next atomic.Uint32 // round-robin VM choice

	// refs counts the chain's hold (1 while installed) plus live streams;
	// at zero the plugin closes.
	refs    atomic.Int64
	closed  atomic.Bool
	closeMu sync.Mutex
	deathMu sync.Mutex // guards vm.reason

	replacing sync.WaitGroup
	stats     pluginCounters
	shared    *sharedSpace // the shared-data namespace of cfg.VMID
	// started is closed and replaced each time a replacement VM is stored,
	// waking streams that found no live VM.
	startedMu sync.Mutex
	started   chan struct{}
}

// PluginInfo is what a data plane reports about a loaded plugin.
type PluginInfo struct {
	Name        string        `json:"name"`
	RootID      string        `json:"root_id,omitempty"`
	VMID        string        `json:"vm_id,omitempty"`
	SHA256      string        `json:"sha256"`
	Size        int           `json:"size"`
	ABIVersion  string        `json:"abi_version"`
	FailOpen    bool          `json:"fail_open"`
	PoolSize    int           `json:"pool_size"`
	Config      string        `json:"configuration,omitempty"`
	LoadedAt    time.Time     `json:"loaded_at"`
	CompileTime time.Duration `json:"compile_ns"`
	StartTime   time.Duration `json:"start_ns"`
}

type pluginCounters struct {
	streams    atomic.Uint64
	failures   atomic.Uint64 // VMs discarded
	failClosed atomic.Uint64
	failOpen   atomic.Uint64
	restarts   atomic.Uint64
	local      atomic.Uint64
}

// PluginStats are a plugin's counters since it was loaded.
type PluginStats struct {
	Streams     uint64 `json:"streams"`
	VMFailures  uint64 `json:"vm_failures"`
	FailClosed  uint64 `json:"fail_closed"`
	FailOpen    uint64 `json:"fail_open"`
	VMRestarts  uint64 `json:"vm_restarts"`
	LocalReply  uint64 `json:"local_responses"`
	LiveVMs     int    `json:"live_vms"`
	LiveStreams int64  `json:"live_streams"`
}

// Name returns the plugin's name.
func (p *Plugin) Name() string { return p.cfg.Name }

// Config returns the configuration the plugin was loaded with.
func (p *Plugin) Config() PluginConfig { return p.cfg }

// Info describes the loaded plugin.
func (p *Plugin) Info() PluginInfo { return p.info }

// Stats returns the plugin's counters.
func (p *Plugin) Stats() PluginStats {
	s := PluginStats{
		Streams:    p.stats.streams.Load(),
		VMFailures: p.stats.failures.Load(),
		FailClosed: p.stats.failClosed.Load(),
		FailOpen:   p.stats.failOpen.Load(),
		VMRestarts: p.stats.restarts.Load(),
		LocalReply: p.stats.local.Load(),
	}
	for i := range p.vms {
		if v := p.vms[i].Load(); v != nil && !v.dead.Load() {
			s.LiveVMs++
		}
	}
	s.LiveStreams = max(p.refs.Load()-1, 0)
	if p.closed.Load() {
		s.LiveStreams = 0
	}
	return s
}

// LoadError reports a module or configuration nicrt cannot run. Nothing was
// changed when it is returned.
type LoadError struct {
	Plugin string
	Stage  string // "config", "module", "compile", "start"
	Err    error
	// GuestLog holds what the guest logged while starting, which usually
	// says why it rejected its configuration.
	GuestLog []string
}

func (e *LoadError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "load %s: %s: %v", e.Plugin, e.Stage, e.Err)
	if len(e.GuestLog) > 0 {
		b.WriteString("\nguest log:")
		for _, l := range e.GuestLog {
			b.WriteString("\n  ")
			b.WriteString(l)
		}
	}
	return b.String()
}

func (e *LoadError) Unwrap() error { return e.Err }

// Load compiles wasm, checks it against the host's ABI and starts cfg.PoolSize
// VMs, each through _initialize, proxy_on_context_create, proxy_on_vm_start
// and proxy_on_configure. On any failure it returns a *LoadError and leaves
// nothing running.
func (h *Host) Load(ctx context.Context, wasm []byte, cfg PluginConfig) (*Plugin, error) {
	if err := cfg.validate(); err != nil {
		return nil, &LoadError{Plugin: cfg.Name, Stage: "config", Err: err}
	}
	if cfg.PoolSize == 0 {
		cfg.PoolSize = runtime.GOMAXPROCS(0)
	}
	sum := sha256.Sum256(wasm)
	original := len(wasm)
	t0 := time.Now()
	// The rewriter and the compiler both decode the module: bound what it
	// declares before either sees it (see analyze).
	if err := checkModule(wasm); err != nil {
		return nil, &LoadError{Plugin: cfg.Name, Stage: "compile", Err: err}
	}
	prep, err := h.prepare(ctx, wasm, cfg.CountInstructions)
	if err != nil {
		return nil, &LoadError{Plugin: cfg.Name, Stage: "module", Err: err}
	}
	rep, compiled, err := h.analyze(ctx, prep.rt, prep.wasm)
	if err != nil {
		return nil, &LoadError{Plugin: cfg.Name, Stage: "compile", Err: err}
	}
	if !rep.Runnable {
		compiled.Close(ctx)
		return nil, &LoadError{Plugin: cfg.Name, Stage: "module", Err: fmt.Errorf("%s", strings.Join(rep.Problems, "; "))}
	}
	compileTime := time.Since(t0)
	p := &Plugin{
		host:          h,
		cfg:           cfg,
		rt:            prep.rt,
		interruptible: prep.interruptible,
		compiled:      compiled,
		vms:           make([]atomic.Pointer[vm], cfg.PoolSize),
		shared:        h.shared.space(cfg.VMID),
		info: PluginInfo{
			Name: cfg.Name, RootID: cfg.RootID, VMID: cfg.VMID,
			SHA256: hex.EncodeToString(sum[:]), Size: original, ABIVersion: rep.ABIVersion,
			FailOpen: cfg.FailOpen, PoolSize: cfg.PoolSize, Config: string(cfg.Configuration),
			LoadedAt: time.Now(), CompileTime: compileTime,
		},
	}
	p.refs.Store(1)
	p.started = make(chan struct{})
	t1 := time.Now()
	// Start the pool concurrently: each VM runs the guest's runtime start-up.
	errs := make([]error, cfg.PoolSize)
	logs := make([][]string, cfg.PoolSize)
	var wg sync.WaitGroup
	for i := range p.vms {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			v, lines, err := p.startVM(ctx, i)
			if err != nil {
				errs[i], logs[i] = err, lines
				return
			}
			v.inService.Store(true)
			p.vms[i].Store(v)
		}(i)
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			p.closeVMs(ctx)
			compiled.Close(ctx)
			return nil, &LoadError{Plugin: cfg.Name, Stage: "start", Err: err, GuestLog: logs[i]}
		}
	}
	p.info.StartTime = time.Since(t1)
	if !h.track(p) {
		p.closeVMs(ctx)
		compiled.Close(ctx)
		return nil, &LoadError{Plugin: cfg.Name, Stage: "start", Err: errHostClosed}
	}
	return p, nil
}

// startVM instantiates one VM and runs the guest's start-up callbacks. It
// returns the guest's log lines when start-up fails.
func (p *Plugin) startVM(ctx context.Context, slot int) (*vm, []string, error) {
	h := p.host
	capture := &startLog{}
	vctx, cancel := context.WithCancel(context.Background())
	v := &vm{p: p, slot: slot, cancel: cancel, rootID: 1, nextID: 1, ctxs: map[uint32]*pctx{}}
	v.ctx = &vmContext{vctx, v}
	v.startLog = capture
	stdout := &guestWriter{v: v, level: LogInfo}
	stderr := &guestWriter{v: v, level: LogError}
	mc := wazero.NewModuleConfig().
		WithName(""). // anonymous: many instances of one module coexist
		WithStartFunctions().
		WithSysWalltime().WithSysNanotime().WithSysNanosleep().
		WithRandSource(cryptoRand{}).
		WithStdout(stdout).WithStderr(stderr)
	if p.cfg.CountInstructions {
		mc = mc.WithRandSource(newDeterministicRand())
	}
	h.wd.add(v)
	fail := func(err error) (*vm, []string, error) {
		h.wd.remove(v)
		v.markDead(err)
		if v.mod != nil {
			_ = v.mod.Close(ctx)
		}
		cancel()
		return nil, capture.lines(), err
	}
	// Instantiation and start-up run under the start deadline; v.calls is
	// odd for the whole sequence so the watchdog measures it as one call.
	v.limit.Store(int64(h.cfg.StartDeadline))
	v.calls.Add(1)
	mod, err := p.rt.InstantiateModule(v.ctx, p.compiled, mc)
	if err != nil {
		v.calls.Add(1)
		return fail(fmt.Errorf("instantiate: %w", v.explain(err)))
	}
	v.mod, v.mem = mod, mod.Memory()
	for cb := callback(0); cb < numCallbacks; cb++ {
		v.fn[cb] = mod.ExportedFunction(cb.String())
	}
	if v.alloc = mod.ExportedFunction("proxy_on_memory_allocate"); v.alloc == nil {
		v.alloc = mod.ExportedFunction("malloc")
	}
	if p.cfg.CountInstructions {
		v.icount = mod.ExportedGlobal(icountGlobal)
	}
	if p.interruptible {
		g, ok := mod.ExportedGlobal(icount.InterruptGlobalName).(api.MutableGlobal)
		if !ok {
			v.calls.Add(1)
			return fail(fmt.Errorf("the rewritten module lacks a mutable %s global", icount.InterruptGlobalName))
		}
		v.interrupt = g
	}
	// Reactor start-up per the specification: _initialize then main(0, 0)
	// if exported; otherwise _start.
	if f := mod.ExportedFunction("_initialize"); f != nil {
		if _, err := f.Call(v.ctx); err != nil {
			v.calls.Add(1)
			return fail(fmt.Errorf("_initialize: %w", v.explain(err)))
		}
		if m := mod.ExportedFunction("main"); m != nil && len(m.Definition().ParamTypes()) == 2 {
			if _, err := m.Call(v.ctx, 0, 0); err != nil {
				v.calls.Add(1)
				return fail(fmt.Errorf("main: %w", v.explain(err)))
			}
		}
	} else if f := mod.ExportedFunction("_start"); f != nil {
		if _, err := f.Call(v.ctx); err != nil {
			v.calls.Add(1)
			return fail(fmt.Errorf("_start: %w (a Go filter must be built with -buildmode=c-shared)", v.explain(err)))
		}
	}
	if f := mod.ExportedFunction(ScratchExport); f != nil && !h.noScratch {
		res, err := f.Call(v.ctx, scratchRequest)
		if err != nil {
			v.calls.Add(1)
			return fail(fmt.Errorf("%s: %w", ScratchExport, v.explain(err)))
		}
		if p := uint32(res[0]); p != 0 && uint64(p)+scratchRequest <= uint64(v.mem.Size()) {
			v.scratch, v.scratchSize = p, scratchRequest
		}
	}
	v.calls.Add(1)
	v.mu.Lock()
	defer v.mu.Unlock()
	sd := h.cfg.StartDeadline
	if _, err := v.call(cbContextCreate, sd, 0, uint64(v.rootID), 0); err != nil {
		return fail(err)
	}
	v.startBuf = abi.BufferVMConfiguration
	ok, err := v.call(cbVMStart, sd, 1, uint64(v.rootID), uint64(len(p.cfg.VMConfiguration)))
	if err != nil {
		return fail(err)
	}
	if uint32(ok) == 0 {
		return fail(fmt.Errorf("proxy_on_vm_start returned false: the guest rejected its VM configuration"))
	}
	v.startBuf = abi.BufferPluginConfiguration
	ok, err = v.call(cbConfigure, sd, 1, uint64(v.rootID), uint64(len(p.cfg.Configuration)))
	if err != nil {
		return fail(err)
	}
	if uint32(ok) == 0 {
		return fail(fmt.Errorf("proxy_on_configure returned false: the guest rejected its configuration"))
	}
	v.startBuf = abi.BufferPluginConfiguration
	v.startLog = nil
	return v, nil, nil
}

// explain unwraps wazero errors from start-up into something a user can act on.
func (v *vm) explain(err error) error {
	if r := v.deathReason(); r != errVMGone {
		return r
	}
	return err
}

// replace starts a new VM in the slot of a failed one, unless the plugin is
// shutting down. Start-up failures back off and retry: a guest that crashes
// on every start keeps the plugin failing (closed or open) but never spins.
func (p *Plugin) replace(old *vm) {
	p.closeMu.Lock()
	if p.closed.Load() {
		p.closeMu.Unlock()
		return
	}
	p.replacing.Add(1)
	p.closeMu.Unlock()
	defer p.replacing.Done()
	_ = old.mod.Close(context.Background())
	backoff := 50 * time.Millisecond
	for attempt := 0; ; attempt++ {
		if p.closed.Load() {
			return
		}
		v, _, err := p.startVM(context.Background(), old.slot)
		if err == nil {
			v.inService.Store(true)
			if !p.vms[old.slot].CompareAndSwap(old, v) || p.closed.Load() {
				v.close(context.Background())
				return
			}
			p.stats.restarts.Add(1)
			p.startedMu.Lock()
			close(p.started)
			p.started = make(chan struct{})
			p.startedMu.Unlock()
			return
		}
		p.host.log.Warn("wasm VM restart failed", "plugin", p.cfg.Name, "vm", old.slot, "attempt", attempt+1, "err", err)
		time.Sleep(backoff)
		backoff = min(backoff*2, 5*time.Second)
	}
}

// pickOrWait returns a live VM; when every VM is being replaced it waits
// for one (bounded by the start deadline), so a crash costs the next request
// latency rather than an error.
func (p *Plugin) pickOrWait() *vm {
	if v := p.pick(); v != nil {
		return v
	}
	deadline := time.NewTimer(p.host.cfg.StartDeadline)
	defer deadline.Stop()
	for {
		p.startedMu.Lock()
		ch := p.started
		p.startedMu.Unlock()
		if v := p.pick(); v != nil || p.closed.Load() {
			return v
		}
		select {
		case <-ch:
		case <-deadline.C:
			return p.pick()
		}
	}
}

// pick returns a live VM, round-robin, or nil when none is alive.
func (p *Plugin) pick() *vm {
	n := uint32(len(p.vms))
	start := p.next.Add(1)
	for i := uint32(0); i < n; i++ {
		if v := p.vms[(start+i)%n].Load(); v != nil && !v.dead.Load() {
			return v
		}
	}
	return nil
}

// acquire takes a reference for a new stream; it fails once the plugin has
// been retired and drained.
func (p *Plugin) acquire() bool {
	for {
		r := p.refs.Load()
		if r <= 0 {
			return false
		}
		if p.refs.CompareAndSwap(r, r+1) {
			return true
		}
	}
}

func (p *Plugin) release() {
	if p.refs.Add(-1) == 0 {
		go p.shutdown()
	}
}

// Close retires the plugin: it takes no new streams, and its VMs close once
// the streams already running on it finish. Slot calls this for the plugins
// a swap removes; call it directly only for plugins never installed.
func (p *Plugin) Close() { p.release() }

// shutdown stops the plugin for good; it is idempotent (the last stream's
// release and Host.Close may both call it).
func (p *Plugin) shutdown() {
	p.closeMu.Lock()
	if p.closed.Load() {
		p.closeMu.Unlock()
		return
	}
	p.closed.Store(true)
	p.closeMu.Unlock()
	p.replacing.Wait()
	ctx := context.Background()
	p.closeVMs(ctx)
	p.compiled.Close(ctx)
	p.host.untrack(p)
}

func (p *Plugin) closeVMs(ctx context.Context) {
	for i := range p.vms {
		if v := p.vms[i].Swap(nil); v != nil {
			v.close(ctx)
		}
	}
}

// Closed reports whether the plugin has shut down.
func (p *Plugin) Closed() bool { return p.closed.Load() }

// startLog keeps the guest's log lines during start-up for LoadError.
type startLog struct {
	mu sync.Mutex
	l  []string
}

func (s *startLog) add(line string) {
	s.mu.Lock()
	if len(s.l) < 50 {
		s.l = append(s.l, line)
	}
	s.mu.Unlock()
}

func (s *startLog) lines() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.l...)
}

// guestWriter turns a guest's stdout/stderr into log lines.
type guestWriter struct {
	v     *vm
	level LogLevel
	buf   []byte
}

func (w *guestWriter) Write(b []byte) (int, error) {
	w.buf = append(w.buf, b...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.v.guestLog(w.level, string(w.buf[:i]))
		w.buf = w.buf[i+1:]
	}
	if len(w.buf) > 4096 { // a guest writing without newlines
		w.v.guestLog(w.level, string(w.buf))
		w.buf = w.buf[:0]
	}
	return len(b), nil
}

var _ io.Writer = (*guestWriter)(nil)
