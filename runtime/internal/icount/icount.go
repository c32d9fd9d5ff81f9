package icount

import (
	"errors"
	"fmt"
)

// GlobalName is the name of the exported mutable i64 global that counts
// executed instructions. Hosts read it after each call into the module and
// take differences, since it accumulates from instantiation on.
const GlobalName = "nicrt_icount"

// ErrUnsupported is wrapped by the errors Instrument returns for modules that
// are well formed but use WebAssembly features this package does not
// instrument (SIMD, threads, exception handling, tail calls, ...), so callers
// can tell "valid but unsupported" from "malformed".
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

// Instrument returns a copy of the module in which GlobalName is an exported
// mutable i64 global holding the number of wasm instructions executed so far
// (it only ever increases; see the package documentation for what counts).
//
// The counter is appended after every existing global, so no index shifts;
// every section other than global, export and code is copied byte for byte,
// in place. Modules using SIMD, threads, exception handling, tail calls,
// typed references, GC or multi-memory are refused with an error wrapping
// ErrUnsupported; malformed modules with an error naming the byte offset.
// Instrument never modifies its argument and is safe for concurrent use.
func Instrument(wasm []byte) ([]byte, error) {
	m, err := parseModule(wasm)
	if err != nil {
		return nil, err
	}
	idx, err := m.counterIndex()
	if err != nil {
		return nil, err
	}
	in := &instrumenter{types: m.types, counter: appendU32(nil, idx)}

	out := make([]byte, 0, len(wasm)+len(wasm)/3+64)
	out = append(out, wasm[:8]...)
	needGlobal, needExport := m.global < 0, m.export < 0
	for _, s := range m.sections {
		if s.id != secCustom {
			// Sections the module lacks go where the binary format orders them.
			if needGlobal && sectionRank[s.id] > sectionRank[secGlobal] {
				out = appendSection(out, secGlobal, appendGlobal(appendU32(nil, 1)))
				needGlobal = false
			}
			if needExport && sectionRank[s.id] > sectionRank[secExport] {
				out = appendSection(out, secExport, appendExport(appendU32(nil, 1), idx))
				needExport = false
			}
		}
		switch s.id {
		case secGlobal:
			out = appendSection(out, secGlobal, appendGlobal(m.recount(s)))
		case secExport:
			out = appendSection(out, secExport, appendExport(m.recount(s), idx))
		case secCode:
			payload, err := m.instrumentCode(in)
			if err != nil {
				return nil, err
			}
			out = appendSection(out, secCode, payload)
		default:
			out = append(out, wasm[s.start:s.end]...)
		}
	}
	if needGlobal {
		out = appendSection(out, secGlobal, appendGlobal(appendU32(nil, 1)))
	}
	if needExport {
		out = appendSection(out, secExport, appendExport(appendU32(nil, 1), idx))
	}
	return out, nil
}

// recount returns the payload of vector section s with its count raised by
// one, ready for one more entry to be appended. parseModule checked that the
// count is at most the payload size, so it cannot overflow.
func (m *module) recount(s section) []byte {
	rest := m.wasm[s.entries:s.end]
	dst := make([]byte, 0, 5+len(rest)+len(GlobalName)+8)
	dst = appendU32(dst, s.count+1)
	return append(dst, rest...)
}

// appendGlobal appends the counter's definition: a mutable i64 starting at 0.
func appendGlobal(dst []byte) []byte {
	return append(dst, 0x7e, 0x01, opI64Const, 0x00, opEnd)
}

// appendExport appends the counter's export entry.
func appendExport(dst []byte, idx uint32) []byte {
	dst = appendU32(dst, uint32(len(GlobalName)))
	dst = append(dst, GlobalName...)
	dst = append(dst, 0x03) // global
	return appendU32(dst, idx)
}

// appendSection appends a section header and its payload.
func appendSection(dst []byte, id byte, payload []byte) []byte {
	dst = append(dst, id)
	dst = appendU32(dst, uint32(len(payload)))
	return append(dst, payload...)
}

// instrumentCode returns the new code section payload: each body with its
// counters, behind its locals declaration copied unchanged.
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
