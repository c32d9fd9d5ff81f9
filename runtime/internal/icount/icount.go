package icount

import (
	"errors"
	"fmt"
)

// GlobalName is the name of the exported mutable i64 global that counts
// executed instructions. Hosts read it after each call into the module and
// take differences, since it accumulates from instantiation on.
const GlobalName = "nicrt_icount"

// ErrUnsupported is wrapped by the errors Instrument and Rewrite return for
// modules that are well formed but use WebAssembly features this package
// does not rewrite (SIMD, threads, exception handling, tail calls, ...), so
// callers can tell "valid but unsupported" from "malformed" and fall back to
// another mechanism.
var ErrUnsupported = errors.New("not supported by icount")

// funcError locates a problem in a function body for the reader: the
// function's index (in the function index space, imports first), its name
// when the name section has one, and the offset of the offending
// instruction both in the module file and in the body.
type funcError struct {
	index     uint32
	name      string
	moduleOff int
	bodyOff   int
	err       *bodyError
}

func (e *funcError) Error() string {
	name := ""
	if e.name != "" {
		name = fmt.Sprintf(" (%q)", e.name)
	}
	msg := fmt.Sprintf("icount: function %d%s at module offset 0x%x (body offset 0x%x): %s",
		e.index, name, e.moduleOff, e.bodyOff, e.err.msg)
	if e.err.err != nil {
		msg += ": " + e.err.err.Error()
	}
	return msg
}

func (e *funcError) Unwrap() error { return e.err }

// InterruptGlobalName is the name of the exported mutable i32 global an
// interruptible module checks at every function entry and loop header. A
// host stops a runaway call by setting it to a non-zero value from another
// goroutine: the guest then traps (unreachable) at its next check. It starts
// at 0; the guest only reads it.
const InterruptGlobalName = "nicrt_interrupt"

// YieldInterval is how many checks an interruptible module passes between
// two exits to the host (a memory.grow of 0 pages). Go cannot preempt a
// goroutine running wazero's compiled code, and a stop-the-world of Go's
// garbage collector waits for every goroutine, the host's watchdog included;
// without these exits a spinning guest would freeze its whole process at the
// next collection, before anyone could set the flag. See the package
// documentation.
const YieldInterval = 4096

// Options selects the rewrites Rewrite applies, so a host pays one decoding
// pass for all of them and counting never sees the interrupt checks.
type Options struct {
	// Count adds the instruction counter GlobalName (what Instrument does).
	Count bool
	// Interrupt adds the flag InterruptGlobalName, checked at the start of
	// every function body and every loop body, where a countdown also makes
	// the guest exit to the host every YieldInterval checks.
	Interrupt bool
}

// Instrument returns a copy of the module in which GlobalName is an exported
// mutable i64 global holding the number of wasm instructions executed so far
// (it only ever increases; see the package documentation for what counts).
// It is Rewrite(wasm, Options{Count: true}).
//
// The counter is appended after every existing global, so no index shifts;
// every section other than global, export and code is copied byte for byte,
// in place. Modules using SIMD, threads, exception handling, tail calls,
// typed references, GC or multi-memory are refused with an error wrapping
// ErrUnsupported; malformed modules with an error naming the byte offset.
// Instrument never modifies its argument and is safe for concurrent use.
func Instrument(wasm []byte) ([]byte, error) {
	return Rewrite(wasm, Options{Count: true})
}

// Rewrite returns a copy of the module with the rewrites o selects applied
// in one pass: the instruction counter (Count) and the interrupt checks
// (Interrupt). With both, the checks are not counted: counts are exactly
// those of Count alone.
//
// New globals are appended after every existing global: the counter, then
// the interrupt flag (both exported), then the flag's private countdown, so
// no existing index shifts. A module without a memory gets an empty one
// (0 pages, maximum 0) for the countdown's exits to the host. The rules of
// Instrument apply: unsupported features are refused with an error wrapping
// ErrUnsupported, malformed modules with an error naming the byte offset,
// and so are a module that already exports a name Rewrite would add and an
// empty o. Rewrite never modifies its argument and is safe for concurrent
// use.
func Rewrite(wasm []byte, o Options) ([]byte, error) {
	if !o.Count && !o.Interrupt {
		return nil, errors.New("icount: Rewrite called with no rewrite selected (Options is empty)")
	}
	m, err := parseModule(wasm)
	if err != nil {
		return nil, err
	}
	var added []newGlobal
	if o.Count {
		added = append(added, newGlobal{name: GlobalName, def: []byte{0x7e, 0x01, opI64Const, 0x00, opEnd}})
	}
	if o.Interrupt {
		added = append(added,
			newGlobal{name: InterruptGlobalName, def: []byte{0x7f, 0x01, opI32Const, 0x00, opEnd}},
			newGlobal{def: append(appendS64([]byte{0x7f, 0x01, opI32Const}, YieldInterval), opEnd), unexported: true})
	}
	first, err := m.newGlobalsIndex(len(added))
	if err != nil {
		return nil, err
	}
	exports := 0
	for i := range added {
		g := &added[i]
		g.index = first + uint32(i)
		if g.unexported {
			continue
		}
		exports++
		if off, ok := m.exported[g.name]; ok {
			return nil, formatError(off, "module already exports %q (rewritten twice?)", g.name)
		}
	}
	in := &instrumenter{types: m.types}
	if o.Count {
		in.counter = appendU32(nil, added[0].index)
	}
	if o.Interrupt {
		flag := added[len(added)-2].index
		in.check = interruptCheck(flag, flag+1, m.memory64)
	}
	newGlobals := func(dst []byte) []byte { return appendGlobals(dst, added) }
	newExports := func(dst []byte) []byte { return appendExports(dst, added) }

	out := make([]byte, 0, len(wasm)+len(wasm)/3+64)
	out = append(out, wasm[:8]...)
	// Sections the module lacks are inserted where the binary format orders
	// them; a memory only when the interrupt checks need one.
	missing := []struct {
		id      byte
		payload func() []byte
		need    bool
	}{
		{secMemory, func() []byte { return []byte{1, 0x01, 0, 0} }, o.Interrupt && m.memories == 0},
		{secGlobal, func() []byte { return newGlobals(appendU32(nil, uint32(len(added)))) }, m.global < 0},
		{secExport, func() []byte { return newExports(appendU32(nil, uint32(exports))) }, m.export < 0},
	}
	insertMissing := func(beforeRank int) {
		for i := range missing {
			if ms := &missing[i]; ms.need && sectionRank[ms.id] < beforeRank {
				out = appendSection(out, ms.id, ms.payload())
				ms.need = false
			}
		}
	}
	for _, s := range m.sections {
		if s.id != secCustom {
			insertMissing(sectionRank[s.id])
		}
		switch {
		case s.id == secMemory && missing[0].need:
			// An empty memory section: replaced by the one with our memory.
			out = appendSection(out, secMemory, missing[0].payload())
			missing[0].need = false
		case s.id == secGlobal:
			out = appendSection(out, secGlobal, newGlobals(m.recount(s, len(added))))
		case s.id == secExport:
			out = appendSection(out, secExport, newExports(m.recount(s, exports)))
		case s.id == secCode:
			payload, err := m.instrumentCode(in)
			if err != nil {
				return nil, err
			}
			out = appendSection(out, secCode, payload)
		default:
			out = append(out, wasm[s.start:s.end]...)
		}
	}
	insertMissing(len(sectionNames) + 1)
	return out, nil
}

// newGlobal is one global Rewrite adds: its export name, its encoded
// definition (type, mutability, initializer) and the index it gets.
type newGlobal struct {
	name       string
	def        []byte
	index      uint32
	unexported bool
}

// recount returns the payload of vector section s with its count raised by
// k, ready for k more entries to be appended. parseModule checked that the
// count is at most the payload size, so it cannot overflow.
func (m *module) recount(s section, k int) []byte {
	rest := m.wasm[s.entries:s.end]
	dst := make([]byte, 0, 5+len(rest)+k*(len(InterruptGlobalName)+8))
	dst = appendU32(dst, s.count+uint32(k))
	return append(dst, rest...)
}

// appendGlobals appends the definitions of the added globals.
func appendGlobals(dst []byte, gs []newGlobal) []byte {
	for _, g := range gs {
		dst = append(dst, g.def...)
	}
	return dst
}

// appendExports appends an export entry for each added exported global.
func appendExports(dst []byte, gs []newGlobal) []byte {
	for _, g := range gs {
		if g.unexported {
			continue
		}
		dst = appendU32(dst, uint32(len(g.name)))
		dst = append(dst, g.name...)
		dst = append(dst, 0x03) // global
		dst = appendU32(dst, g.index)
	}
	return dst
}

// appendSection appends a section header and its payload.
func appendSection(dst []byte, id byte, payload []byte) []byte {
	dst = append(dst, id)
	dst = appendU32(dst, uint32(len(payload)))
	return append(dst, payload...)
}

// instrumentCode returns the new code section payload: each body with its
// counters and checks, behind its locals declaration copied unchanged.
func (m *module) instrumentCode(in *instrumenter) ([]byte, error) {
	s := m.sections[m.code]
	payload := make([]byte, 0, (s.end-s.payload)*4/3+16)
	payload = appendU32(payload, uint32(len(m.bodies)))
	var body []byte
	for i, e := range m.bodies {
		if err := in.scan(m.wasm[e.body:e.end]); err != nil {
			var be *bodyError
			if !errors.As(err, &be) {
				return nil, err
			}
			fi := m.importedFuncs + uint32(i)
			return nil, &funcError{index: fi, name: m.funcName(fi),
				moduleOff: e.body + be.off, bodyOff: be.off, err: be}
		}
		body = in.emit(body[:0], m.wasm[e.body:e.end])
		payload = appendU32(payload, uint32(e.body-e.locals+len(body)))
		payload = append(payload, m.wasm[e.locals:e.body]...)
		payload = append(payload, body...)
	}
	return payload, nil
}
