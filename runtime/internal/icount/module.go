package icount

import (
	"bytes"
	"errors"
	"fmt"
	"math"
)

// Section ids of the WebAssembly binary format.
const (
	secCustom    = 0
	secType      = 1
	secImport    = 2
	secFunction  = 3
	secTable     = 4
	secMemory    = 5
	secGlobal    = 6
	secExport    = 7
	secStart     = 8
	secElement   = 9
	secCode      = 10
	secData      = 11
	secDataCount = 12
	secTag       = 13
)

var sectionNames = [...]string{
	secCustom: "custom", secType: "type", secImport: "import", secFunction: "function",
	secTable: "table", secMemory: "memory", secGlobal: "global", secExport: "export",
	secStart: "start", secElement: "element", secCode: "code", secData: "data",
	secDataCount: "data count", secTag: "tag",
}

// sectionRank is the position a non-custom section must respect: the binary
// format fixes their order (the data count and tag sections were added later
// and sit out of numeric order). Zero marks an unknown id.
var sectionRank = [...]int{
	secType: 1, secImport: 2, secFunction: 3, secTable: 4, secMemory: 5, secTag: 6,
	secGlobal: 7, secExport: 8, secStart: 9, secElement: 10, secDataCount: 11,
	secCode: 12, secData: 13,
}

// section is where one section of the input lies.
type section struct {
	id      byte
	start   int // offset of the id byte
	payload int // offset of the first payload byte
	end     int // offset just past the payload
	// For vector sections (all but custom, start and data count): the
	// number of entries and the offset of the first one.
	count   uint32
	entries int
}

// codeEntry is where one function body of the code section lies.
type codeEntry struct {
	locals int // offset of the locals vector (start of the entry's content)
	body   int // offset of the first instruction
	end    int // offset just past the body's final end
}

// module is the part of a decoded module that instrumentation needs. Offsets
// are absolute in the input, so errors can name them and unchanged bytes can
// be copied through.
type module struct {
	wasm     []byte
	sections []section
	// index into sections of the memory, global, export and code
	// sections, or -1.
	memory, global, export, code int

	types           uint32 // entries in the type section
	importedFuncs   uint32
	importedGlobals uint32
	definedFuncs    uint32 // entries in the function section
	definedGlobals  uint32 // entries in the global section
	memories        uint32 // imported and defined memories
	memory64        bool   // memory 0 is a 64-bit memory (memory.grow takes an i64)
	bodies          []codeEntry
	// exported maps the names Rewrite adds (GlobalName,
	// InterruptGlobalName) that the module already exports to the offset
	// of that export's name.
	exported map[string]int
}

var (
	wasmMagic   = []byte{0x00, 'a', 's', 'm'}
	wasmVersion = []byte{0x01, 0x00, 0x00, 0x00}
)

// formatError reports malformed input at an absolute offset of the module.
func formatError(off int, format string, args ...any) error {
	return fmt.Errorf("icount: module offset 0x%x: "+format, append([]any{off}, args...)...)
}

// lebError names the number that could not be read and where.
func lebError(off int, what string, err error) error {
	return formatError(off, "%s: %v", what, err)
}

// parseModule frames every section, checks their order and reads the counts
// and entries Instrument needs. It never allocates in proportion to a count
// read from the input, only to bytes actually present.
func parseModule(wasm []byte) (*module, error) {
	if len(wasm) < 8 || !bytes.Equal(wasm[:4], wasmMagic) {
		return nil, errors.New("icount: not a WebAssembly binary module (missing \\0asm magic)")
	}
	if !bytes.Equal(wasm[4:8], wasmVersion) {
		return nil, fmt.Errorf("icount: unsupported binary format version % x (want 01 00 00 00: core modules only)", wasm[4:8])
	}
	m := &module{wasm: wasm, memory: -1, global: -1, export: -1, code: -1}
	lastRank := 0
	for p := 8; p < len(wasm); {
		s := section{id: wasm[p], start: p}
		if int(s.id) >= len(sectionNames) || (s.id != secCustom && sectionRank[s.id] == 0) {
			return nil, formatError(p, "unknown section id %d", s.id)
		}
		size, q, err := readU32(wasm, p+1)
		if err != nil {
			return nil, lebError(p+1, sectionNames[s.id]+" section size", err)
		}
		s.payload = q
		if uint64(size) > uint64(len(wasm)-q) {
			return nil, formatError(p, "%s section of %d bytes runs past the end of the module (%d bytes left)",
				sectionNames[s.id], size, len(wasm)-q)
		}
		s.end = q + int(size)
		if s.id != secCustom {
			r := sectionRank[s.id]
			if r <= lastRank {
				return nil, formatError(p, "%s section is duplicated or out of order", sectionNames[s.id])
			}
			lastRank = r
		}
		if s.id != secCustom && s.id != secStart && s.id != secDataCount {
			// A vector section: each entry takes at least one byte, so a
			// count beyond the payload is malformed. (Rejecting it here
			// keeps such input away from decoders that allocate by count.)
			if s.count, s.entries, err = readU32(wasm[:s.end], s.payload); err != nil {
				return nil, lebError(s.payload, sectionNames[s.id]+" section count", err)
			}
			if uint64(s.count) > uint64(s.end-s.entries) {
				return nil, formatError(s.payload, "%s section declares %d entries in %d bytes",
					sectionNames[s.id], s.count, s.end-s.entries)
			}
		}
		i := len(m.sections)
		m.sections = append(m.sections, s)
		switch s.id {
		case secCustom:
			if _, err := readName(wasm[:s.end], s.payload); err != nil {
				return nil, err
			}
		case secType:
			m.types = s.count
		case secImport:
			err = m.parseImports(s)
		case secFunction:
			m.definedFuncs = s.count
		case secMemory:
			m.memory = i
			if m.memories == 0 && s.count > 0 {
				m.memory64 = wasm[s.entries]&0x04 != 0 // the limits flags of the first entry
			}
			m.memories += s.count
		case secGlobal:
			m.global = i
			m.definedGlobals = s.count
		case secExport:
			m.export = i
			err = m.parseExports(s)
		case secCode:
			m.code = i
			err = m.parseCode(s)
		}
		if err != nil {
			return nil, err
		}
		p = s.end
	}
	if int(m.definedFuncs) != len(m.bodies) {
		return nil, fmt.Errorf("icount: the function section declares %d functions but the code section has %d bodies",
			m.definedFuncs, len(m.bodies))
	}
	return m, nil
}

// readName skips a length-prefixed name (import/export names, custom section
// names) and returns the position after it.
func readName(b []byte, p int) (int, error) {
	n, q, err := readU32(b, p)
	if err != nil {
		return q, lebError(p, "name length", err)
	}
	if uint64(n) > uint64(len(b)-q) {
		return q, formatError(p, "name of %d bytes runs past the end of its section", n)
	}
	return q + int(n), nil
}

// need checks that k more bytes are present at p.
func need(b []byte, p, k int, what string) error {
	if len(b)-p < k {
		return formatError(p, "truncated %s", what)
	}
	return nil
}

// skipLimits skips table or memory limits: a flag byte (bit 0: a maximum
// follows, bit 1: shared, bit 2: 64-bit), the minimum and the maximum.
func skipLimits(b []byte, p int) (int, error) {
	if err := need(b, p, 1, "limits"); err != nil {
		return p, err
	}
	flags := b[p]
	if flags&^0x07 != 0 {
		return p, formatError(p, "limits flags 0x%02x: %w", flags, ErrUnsupported)
	}
	p++
	width := 5
	if flags&0x04 != 0 {
		width = 10
	}
	count := 1 + int(flags&0x01)
	for i := 0; i < count; i++ {
		q, err := skipLEB(b, p, width)
		if err != nil {
			return q, lebError(p, "limit", err)
		}
		p = q
	}
	return p, nil
}

// parseImports counts imported functions and globals: they come first in
// their index spaces, so they fix the index of the counter global and the
// index that error messages give a function.
func (m *module) parseImports(s section) error {
	b, p := m.wasm[:s.end], s.entries
	var err error
	for i := uint32(0); i < s.count; i++ {
		entry := p
		if p, err = readName(b, p); err != nil {
			return err
		}
		if p, err = readName(b, p); err != nil {
			return err
		}
		if err = need(b, p, 1, "import kind"); err != nil {
			return err
		}
		kind := b[p]
		p++
		switch kind {
		case 0x00: // function: type index
			if p, err = skipLEB(b, p, 5); err != nil {
				return lebError(p, "imported function type", err)
			}
			m.importedFuncs++
		case 0x01: // table: reference type, limits
			if err = need(b, p, 1, "table type"); err != nil {
				return err
			}
			if p, err = skipLimits(b, p+1); err != nil {
				return err
			}
		case 0x02: // memory: limits
			if m.memories == 0 && p < len(b) {
				m.memory64 = b[p]&0x04 != 0
			}
			if p, err = skipLimits(b, p); err != nil {
				return err
			}
			m.memories++
		case 0x03: // global: value type, mutability
			if err = need(b, p, 2, "global type"); err != nil {
				return err
			}
			p += 2
			m.importedGlobals++
		case 0x04: // tag (exception handling): attribute, type index
			if err = need(b, p, 1, "tag type"); err != nil {
				return err
			}
			if p, err = skipLEB(b, p+1, 5); err != nil {
				return lebError(p, "tag type index", err)
			}
		default:
			return formatError(entry, "import %d has unknown kind 0x%02x", i, kind)
		}
	}
	if p != s.end {
		return formatError(p, "import section has %d bytes after its last entry", s.end-p)
	}
	return nil
}

// parseExports records which of the names Rewrite adds the module already
// exports, and where.
func (m *module) parseExports(s section) error {
	b, p := m.wasm[:s.end], s.entries
	var err error
	for i := uint32(0); i < s.count; i++ {
		nameStart := p
		if p, err = readName(b, p); err != nil {
			return err
		}
		if name := nameAt(b, nameStart); name == GlobalName || name == InterruptGlobalName {
			if m.exported == nil {
				m.exported = map[string]int{}
			}
			m.exported[name] = nameStart
		}
		if err = need(b, p, 1, "export kind"); err != nil {
			return err
		}
		if p, err = skipLEB(b, p+1, 5); err != nil {
			return lebError(p, "export index", err)
		}
	}
	if p != s.end {
		return formatError(p, "export section has %d bytes after its last entry", s.end-p)
	}
	return nil
}

// exportName returns the name readName has already checked at p.
func nameAt(b []byte, p int) string {
	n, q, _ := readU32(b, p)
	return string(b[q : q+int(n)])
}

// parseCode locates each function body, after its locals declaration.
func (m *module) parseCode(s section) error {
	b, p := m.wasm[:s.end], s.entries
	for i := uint32(0); i < s.count; i++ {
		size, q, err := readU32(b, p)
		if err != nil {
			return lebError(p, fmt.Sprintf("size of code entry %d", i), err)
		}
		if uint64(size) > uint64(len(b)-q) {
			return formatError(p, "code entry %d of %d bytes runs past the end of the code section", i, size)
		}
		e := codeEntry{locals: q, end: q + int(size)}
		body := b[:e.end]
		groups, r, err := readU32(body, q)
		if err != nil {
			return lebError(q, fmt.Sprintf("local count of code entry %d", i), err)
		}
		for g := uint32(0); g < groups; g++ {
			if r, err = skipLEB(body, r, 5); err != nil {
				return lebError(r, fmt.Sprintf("locals of code entry %d", i), err)
			}
			if err = need(body, r, 1, "local type"); err != nil {
				return err
			}
			r++
		}
		if r >= e.end {
			return formatError(r, "code entry %d has no body", i)
		}
		e.body = r
		m.bodies = append(m.bodies, e)
		p = e.end
	}
	if p != s.end {
		return formatError(p, "code section has %d bytes after its last entry", s.end-p)
	}
	return nil
}

// newGlobalsIndex is the index the first of k added globals gets: one past
// every imported and defined global, so no existing global.get/global.set
// changes meaning.
func (m *module) newGlobalsIndex(k int) (uint32, error) {
	idx := uint64(m.importedGlobals) + uint64(m.definedGlobals)
	if idx+uint64(k) > math.MaxUint32 {
		return 0, errors.New("icount: the module already has the maximum number of globals")
	}
	return uint32(idx), nil
}

// funcName returns the name the "name" custom section gives function idx, or
// "" when there is none. It is only used to make error messages readable, so
// any malformed name section simply yields "".
func (m *module) funcName(idx uint32) string {
	for _, s := range m.sections {
		if s.id != secCustom {
			continue
		}
		b := m.wasm[:s.end]
		p, err := readName(b, s.payload)
		if err != nil || nameAt(b, s.payload) != "name" {
			continue
		}
		for p < s.end {
			id := b[p]
			size, q, err := readU32(b, p+1)
			if err != nil || uint64(size) > uint64(s.end-q) {
				return ""
			}
			if id != 1 { // 1 = function names
				p = q + int(size)
				continue
			}
			sub := b[:q+int(size)]
			n, r, err := readU32(sub, q)
			if err != nil {
				return ""
			}
			for i := uint32(0); i < n; i++ {
				var fi uint32
				if fi, r, err = readU32(sub, r); err != nil {
					return ""
				}
				nameStart := r
				if r, err = readName(sub, r); err != nil {
					return ""
				}
				if fi == idx {
					return nameAt(sub, nameStart)
				}
			}
			return ""
		}
	}
	return ""
}
