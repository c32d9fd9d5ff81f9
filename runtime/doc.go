// Package runtime is nicrt's Proxy-Wasm ABI v0.2.1 host, built on wazero.
//
// It is the one place the ABI lives: both data planes (the sidecar proxy and
// the simulated SmartNIC) drive filters through the same small API and never
// touch header maps, contexts or actions themselves.
//
// A Host owns one wazero runtime with the "env" and WASI host modules and the
// state Proxy-Wasm shares across VMs (shared data, queues, metrics). Host.Load
// compiles a module once (with a compilation cache), checks that nicrt can run
// it, and starts a pool of VMs, each with its own root context. A Chain is an
// immutable list of such plugins; a Slot holds a data plane's current chain and
// swaps it atomically, draining the old plugins. Each request is a Stream
// pinned to one VM per plugin for its whole life:
//
//	s := slot.NewStream(runtime.StreamInfo{...})
//	defer s.Close()
//	switch s.RequestHeaders(ctx, &reqHeaders, endOfStream) {
//	case runtime.Continue: // forward; the routing header may name a cluster
//	case runtime.Respond:  // send s.LocalResponse() instead
//	case runtime.Reset:    // drop the stream
//	}
//
// Why a pool: a wazero module instance runs one call at a time, so a VM is
// locked for each callback; several VMs let several requests run their
// filters in parallel, exactly like Envoy's per-worker VMs.
//
// Safety: a guest that traps, exceeds its memory limit or runs past the
// per-callback deadline is discarded and replaced in the background; the
// streams it served fail closed (a 500 local response) or, with FailOpen,
// continue unfiltered. Bad pointers from a guest yield INVALID_MEMORY_ACCESS,
// never a host panic. Nothing a guest does can stop the data plane.
package runtime
