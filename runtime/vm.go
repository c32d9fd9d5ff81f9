package runtime

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nicrt/nicrt/runtime/internal/abi"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/sys"
)

// callback identifies a guest export the host calls.
type callback int

const (
	cbContextCreate callback = iota
	cbVMStart
	cbConfigure
	cbRequestHeaders
	cbRequestBody
	cbRequestTrailers
	cbResponseHeaders
	cbResponseBody
	cbResponseTrailers
	cbLog
	cbDone
	cbDelete
	cbTick
	cbQueueReady
	cbHTTPCallResponse
	numCallbacks
)

var callbackNames = [numCallbacks]string{
	"proxy_on_context_create", "proxy_on_vm_start", "proxy_on_configure",
	"proxy_on_request_headers", "proxy_on_request_body", "proxy_on_request_trailers",
	"proxy_on_response_headers", "proxy_on_response_body", "proxy_on_response_trailers",
	"proxy_on_log", "proxy_on_done", "proxy_on_delete", "proxy_on_tick",
	"proxy_on_queue_ready", "proxy_on_http_call_response",
}

func (c callback) String() string { return callbackNames[c] }

// vmKey finds the VM a host function runs for: each VM calls its guest with
// its own context, which wazero hands back to host functions unchanged.
type vmKey struct{}

// vmContext is the context a VM calls its guest with. Host functions find
// their VM with a type assertion on it, which costs less than the
// context.Value lookup they fall back to (for a context wazero wrapped).
type vmContext struct {
	context.Context
	v *vm
}

// Value answers vmKey with the VM, other keys as the parent does.
func (c *vmContext) Value(key any) any {
	if _, ok := key.(vmKey); ok {
		return c.v
	}
	return c.Context.Value(key)
}

// vm is one instance of a plugin's module with its root context. It runs one
// guest call at a time (mu), because a wazero module instance is not safe for
// concurrent calls.
type vm struct {
	p    *Plugin
	slot int
	mod  api.Module
	mem  api.Memory

	ctx    context.Context // carries vmKey; cancelled to stop the guest
	cancel context.CancelFunc

	mu     sync.Mutex
	fn     [numCallbacks]api.Function
	alloc  api.Function
	stack  [10]uint64 // callback arguments/results; guarded by mu
	astack [1]uint64  // re-entrant allocation calls
	icount api.Global // executed-instruction counter, when instrumented
	// interrupt is the flag the guest checks at function entries and loop
	// headers; nil for modules guarded by a cancelled context instead.
	interrupt api.MutableGlobal
	last      uint64 // instructions of the last call (guarded by mu)
	// scratch is a guest buffer for returned data (nicrt_scratch_v1), or 0.
	scratch, scratchSize uint32

	rootID uint32
	nextID uint32
	ctxs   map[uint32]*pctx // live stream contexts on this VM (guarded by mu)
	cur    *pctx            // effective context; nil = the root context
	// During proxy_on_http_call_response: the response being delivered.
	callResp *callResponse
	// during start-up: which configuration buffer proxy_get_buffer_bytes sees
	startBuf abi.BufferType
	// contexts that called proxy_done while inside a callback; finished
	// after the callback returns (never re-entering the guest from a host call)
	doneQueue []*pctx

	calls  atomic.Uint64 // odd while inside a guest call (watchdog)
	limit  atomic.Int64  // current call's deadline in ns (watchdog)
	dead   atomic.Bool
	reason error // why the VM died; set once before dead is stored
	// inService is set once the VM is in its plugin's pool; only such VMs
	// are replaced when they fail (a VM failing during start-up is the
	// start-up's error to report).
	inService atomic.Bool

	tickMu   sync.Mutex
	tickStop chan struct{}

	strs internCache // header names and values guests write (guarded by mu)
	// sharedBuf receives shared-data values on their way into the guest
	// (guarded by mu; reused, so reads do not allocate).
	sharedBuf []byte

	nextCall uint32 // HTTP callout tokens (guarded by mu)
	warned   map[string]bool
	startLog *startLog // non-nil while starting: guest lines kept for LoadError
	// properties set from the root context (guarded by mu)
	rootProps map[string][]byte
}

// errDeadline reports a callback stopped by the watchdog.
type errDeadline struct{ limit time.Duration }

func (e errDeadline) Error() string { return fmt.Sprintf("exceeded the %v callback deadline", e.limit) }

// errVMGone marks calls refused because the VM was discarded earlier.
var errVMGone = errors.New("VM was discarded after an earlier failure")

// kill stops the VM from another goroutine (the watchdog, which drops its
// own entry for the VM). The guest's current call returns an error (an
// unreachable trap at its next check, or a closed module), and the calling
// stream discards the VM through failed. The flag is only ever written
// here, never by the goroutine that calls the guest, and a VM it was set
// on is never used again.
func (v *vm) kill(reason error) {
	if v.dead.Load() {
		return
	}
	v.markDead(reason)
	if v.interrupt != nil {
		v.interrupt.Set(1)
		return
	}
	v.cancel()
}

// markDead records why the VM died; the first reason wins.
func (v *vm) markDead(reason error) {
	v.p.deathMu.Lock()
	if v.reason == nil {
		v.reason = reason
	}
	v.p.deathMu.Unlock()
	v.dead.Store(true)
}

func (v *vm) deathReason() error {
	v.p.deathMu.Lock()
	defer v.p.deathMu.Unlock()
	if v.reason == nil {
		return errVMGone
	}
	return v.reason
}

// call runs one callback; mu must be held. A missing export returns def
// (the specification makes every callback optional). Any error discards
// the VM: after a trap the guest's state cannot be trusted.
func (v *vm) call(cb callback, limit time.Duration, def uint64, args ...uint64) (uint64, error) {
	if v.dead.Load() {
		return 0, &CallError{Plugin: v.p.cfg.Name, Callback: cb.String(), Err: v.deathReason()}
	}
	f := v.fn[cb]
	if f == nil {
		v.last = 0
		return def, nil
	}
	copy(v.stack[:], args)
	var before uint64
	if v.icount != nil {
		before = v.icount.Get()
	}
	v.limit.Store(int64(limit))
	v.calls.Add(1)
	err := f.CallWithStack(v.ctx, v.stack[:])
	v.calls.Add(1)
	if v.icount != nil {
		v.last = v.icount.Get() - before
	}
	if err != nil {
		return 0, v.failed(cb, err)
	}
	if len(v.doneQueue) > 0 {
		// Other contexts finish here, and count their own calls.
		last := v.last
		if err := v.finishQueued(); err != nil {
			return 0, err
		}
		v.last = last
	}
	return v.stack[0], nil
}

// failed turns a guest error into a CallError, discards the VM and asks the
// plugin for a replacement.
func (v *vm) failed(cb callback, err error) error {
	reason := err
	var exit *sys.ExitError
	switch {
	case v.dead.Load() && v.deathReason() != errVMGone:
		// The watchdog stopped it: its verdict says more than the
		// resulting trap or cancellation.
		reason = v.deathReason()
	case errors.As(err, &exit):
		reason = fmt.Errorf("guest exited with code %d (it called proc_exit; see its stderr in the log)", exit.ExitCode())
	}
	var af allocFailure
	if errors.As(err, &af) {
		reason = af.err
	}
	// A guest that runs out of memory traps in its own way (a Go guest
	// prints "fatal error: out of memory" and hits unreachable); say that
	// the limit is the likely cause.
	if limit := uint64(v.p.host.cfg.MemoryLimitPages) << 16; v.mem != nil && uint64(v.mem.Size()) >= limit-limit/8 {
		reason = fmt.Errorf("%w (its memory had grown to %d MiB of its %d MiB limit)", reason, v.mem.Size()>>20, limit>>20)
	}
	v.p.host.wd.remove(v)
	v.markDead(reason)
	v.cancel()
	v.p.stats.failures.Add(1)
	v.p.host.log.Warn("wasm VM discarded", "plugin", v.p.cfg.Name, "vm", v.slot, "callback", cb.String(), "reason", reason)
	// Streams pinned here lose their contexts: fail them now so that paused
	// ones stop waiting.
	for _, c := range v.ctxs {
		c.vmFailed(reason)
	}
	clear(v.ctxs)
	v.stopTick()
	if v.inService.Load() {
		go v.p.replace(v)
	}
	return &CallError{Plugin: v.p.cfg.Name, Callback: cb.String(), Err: reason}
}

// CallError reports a guest callback that failed: a trap, a deadline, an
// exit, or a call into a VM that had already failed.
type CallError struct {
	Plugin   string
	Callback string
	Err      error
}

func (e *CallError) Error() string {
	return fmt.Sprintf("plugin %s: %s: %v", e.Plugin, e.Callback, e.Err)
}

func (e *CallError) Unwrap() error { return e.Err }

// allocFailure carries a failed re-entrant allocation out of a host
// function: wazero turns the panic into the outer call's error.
type allocFailure struct{ err error }

func (a allocFailure) Error() string { return a.err.Error() }

// allocate asks the guest for size bytes of its memory via
// proxy_on_memory_allocate (or malloc). Called from host functions only.
func (v *vm) allocate(size uint32) uint32 {
	v.astack[0] = uint64(size)
	if err := v.alloc.CallWithStack(v.ctx, v.astack[:]); err != nil {
		panic(allocFailure{fmt.Errorf("guest allocator failed for %d bytes: %w", size, err)})
	}
	p := uint32(v.astack[0])
	if p == 0 {
		panic(allocFailure{fmt.Errorf("guest allocator returned NULL for %d bytes", size)})
	}
	if uint64(p)+uint64(size) > uint64(v.mem.Size()) {
		panic(allocFailure{fmt.Errorf("guest allocator returned %#x for %d bytes, beyond memory size %d", p, size, v.mem.Size())})
	}
	return p
}

// read returns a view of guest memory (not a copy: valid until the guest
// runs again).
func (v *vm) read(ptr, size uint32) ([]byte, bool) {
	if size == 0 {
		return nil, true
	}
	return v.mem.Read(ptr, size)
}

// ScratchExport is nicrt's optional extension to the ABI: a guest exporting
// nicrt_scratch_v1(size) -> ptr lends the host a buffer of that size, asked
// for once at VM start. The host then writes data it returns (header values,
// maps, buffers...) into that buffer instead of calling back into the guest
// to allocate; the guest copies it out before its next host call. Why: a
// stock-Go guest pays a re-entrant export call for every value the host
// returns (BenchmarkHostCall: reading a header costs about 0.5 µs that way,
// 0.2 µs through the scratch buffer). Guests without the export, and every
// other host (Envoy), use proxy_on_memory_allocate as the specification says.
const ScratchExport = "nicrt_scratch_v1"

// scratchRequest is the buffer size the host asks a guest to lend.
const scratchRequest = 16 << 10

// guestBuffer returns size bytes of guest memory to return data in: the
// scratch buffer when it fits, else a fresh allocation by the guest. The
// view must be filled before the guest runs again.
func (v *vm) guestBuffer(size uint32) (uint32, []byte) {
	var p uint32
	if size <= v.scratchSize {
		p = v.scratch
	} else {
		p = v.allocate(size)
	}
	b, _ := v.mem.Read(p, size)
	return p, b
}

// outputs checks that both return slots are writable, so a bad pointer
// costs no allocation.
func (v *vm) outputs(retPtr, retSize uint32) bool {
	_, ok1 := v.mem.Read(retPtr, 4)
	_, ok2 := v.mem.Read(retSize, 4)
	return ok1 && ok2
}

// returnBytes copies b into guest memory and stores its address and length
// at retPtr and retSize, as every "return_*_data" output of the ABI works.
func (v *vm) returnBytes(b []byte, retPtr, retSize uint32) abi.Status {
	return returnData(v, b, retPtr, retSize)
}

// returnString is returnBytes for a string, without converting it.
func (v *vm) returnString(s string, retPtr, retSize uint32) abi.Status {
	return returnData(v, s, retPtr, retSize)
}

func returnData[D name](v *vm, d D, retPtr, retSize uint32) abi.Status {
	if !v.outputs(retPtr, retSize) {
		return abi.StatusInvalidMemoryAccess
	}
	var p uint32
	if len(d) > 0 {
		var dst []byte
		p, dst = v.guestBuffer(uint32(len(d)))
		copy(dst, d)
	}
	v.mem.WriteUint32Le(retPtr, p)
	v.mem.WriteUint32Le(retSize, uint32(len(d)))
	return abi.StatusOK
}

// returnFields serializes f straight into guest memory.
func (v *vm) returnFields(f Fields, retPtr, retSize uint32) abi.Status {
	if !v.outputs(retPtr, retSize) {
		return abi.StatusInvalidMemoryAccess
	}
	size := uint32(abi.EncodedSize(len(f), f.kvSize()))
	p, dst := v.guestBuffer(size)
	w := abi.NewMapWriter(dst, len(f))
	for i := range f {
		w.Add(f[i].Name, f[i].Value)
	}
	v.mem.WriteUint32Le(retPtr, p)
	v.mem.WriteUint32Le(retSize, size)
	return abi.StatusOK
}

// warnOnce logs a message the first time a VM does something nicrt does not
// support, so a filter in a hot loop does not flood the log.
func (v *vm) warnOnce(what, msg string) {
	if v.warned == nil {
		v.warned = map[string]bool{}
	}
	if v.warned[what] {
		return
	}
	v.warned[what] = true
	v.p.host.log.Warn(msg, "plugin", v.p.cfg.Name, "call", what)
}

// newContextID returns a context id unique within this VM.
func (v *vm) newContextID() uint32 {
	v.nextID++
	if v.nextID == 0 || v.nextID == v.rootID {
		v.nextID = v.rootID + 1
	}
	return v.nextID
}

// setTick starts, changes or stops (period 0) the root context's timer.
func (v *vm) setTick(period time.Duration) {
	v.tickMu.Lock()
	defer v.tickMu.Unlock()
	if v.tickStop != nil {
		close(v.tickStop)
		v.tickStop = nil
	}
	if period <= 0 || v.dead.Load() {
		return
	}
	stop := make(chan struct{})
	v.tickStop = stop
	go func() {
		t := time.NewTicker(period)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				v.mu.Lock()
				if v.dead.Load() {
					v.mu.Unlock()
					return
				}
				v.cur = nil
				_, _ = v.call(cbTick, v.p.host.cfg.CallDeadline, 0, uint64(v.rootID))
				v.mu.Unlock()
			}
		}
	}()
}

func (v *vm) stopTick() { v.setTick(0) }

// finishQueued runs log and delete for contexts that called proxy_done.
func (v *vm) finishQueued() error {
	q := v.doneQueue
	v.doneQueue = v.doneQueue[:0]
	for _, c := range q {
		if err := c.finish(); err != nil {
			return err
		}
	}
	return nil
}

// close shuts the VM down: the root context is told it is done and deleted,
// then the module closes.
func (v *vm) close(ctx context.Context) {
	v.stopTick()
	v.mu.Lock()
	if !v.dead.Load() {
		v.cur = nil
		if _, err := v.call(cbDone, v.p.host.cfg.CallDeadline, 1, uint64(v.rootID)); err == nil {
			_, _ = v.call(cbDelete, v.p.host.cfg.CallDeadline, 0, uint64(v.rootID))
		}
		v.markDead(errVMGone)
	}
	v.mu.Unlock()
	v.p.host.wd.remove(v)
	_ = v.mod.Close(ctx)
	v.cancel()
}

// errNoVM is returned while every VM of a plugin is being replaced.
var errNoVM = errors.New("no live VM: every VM of the plugin failed and is being restarted")
