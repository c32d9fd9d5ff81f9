package wasmcheck

import (
	"bytes"
	"math"
)

// Section ids of the binary format.
const (
	idCustom    = 0
	idType      = 1
	idImport    = 2
	idFunction  = 3
	idTable     = 4
	idMemory    = 5
	idGlobal    = 6
	idExport    = 7
	idStart     = 8
	idElement   = 9
	idCode      = 10
	idData      = 11
	idDataCount = 12
	idTag       = 13
)

var sectionNames = [...]string{
	idCustom: "custom", idType: "type", idImport: "import", idFunction: "function",
	idTable: "table", idMemory: "memory", idGlobal: "global", idExport: "export",
	idStart: "start", idElement: "element", idCode: "code", idData: "data",
	idDataCount: "data count", idTag: "tag",
}

// sectionOrder is where each non-custom section must come: the binary format
// fixes the order, in which the data count and tag sections, added later,
// sit out of numeric order.
var sectionOrder = [...]int{
	idType: 1, idImport: 2, idFunction: 3, idTable: 4, idMemory: 5, idTag: 6,
	idGlobal: 7, idExport: 8, idStart: 9, idElement: 10, idDataCount: 11,
	idCode: 12, idData: 13,
}

var (
	magic   = []byte("\x00asm")
	version = []byte{1, 0, 0, 0}
)

// noLimit is the max of a count that only the remaining bytes bound (wazero
// refuses too many memories, for instance, before allocating for them).
const noLimit = math.MaxUint32

// Check reports whether wasm is structurally safe to hand to wazero's
// decoder: every vector count and length fits in the bytes that remain
// (each element needs at least its minimal encoded size), sections are well
// formed, in order and in bounds, and totals stay under the stated limits
// (MaxTypes and the other Max constants, and the locals allowance, see
// MinLocalsAllowance). It returns nil or an *Error naming the section, the
// byte offset and what was wrong; the error wraps ErrMalformed or ErrLimit.
//
// Check reads sections 0 to 13: custom sections (and the "name" section's
// module, function and local names), type (rec groups included), import,
// function, table, memory, tag, global, export, start, element (all eight
// encodings), data count, code (the locals declarations of each body) and
// data (all three kinds of segment). It does not validate semantics (types,
// indices, instructions): wazero does that safely afterwards — except for
// functions' type indices, which wazero uses before checking them. Of constant
// expressions it decodes only the instructions wazero accepts in them; of
// function bodies, only the size and the locals.
//
// Check does not allocate unless it fails, takes time proportional to the
// number of entries (not bytes) and is safe for concurrent use.
func Check(wasm []byte) error {
	c := checker{b: wasm, end: len(wasm), region: "module", sec: "header"}
	return c.module()
}

func (c *checker) module() error {
	b := c.b
	if len(b) > MaxModuleSize {
		c.sec = "module"
		return c.limit(0, "module of %d bytes is larger than the limit of %d", len(b), MaxModuleSize)
	}
	if len(b) < 4 || !bytes.Equal(b[:4], magic) {
		return c.fail(0, "not a WebAssembly binary module (it does not start with \\0asm)")
	}
	if len(b) < 8 {
		return c.fail(4, "truncated: the version ends the header at byte offset 8 but the module has %d bytes", len(b))
	}
	if !bytes.Equal(b[4:8], version) {
		return c.fail(4, "unsupported binary format version % x (want 01 00 00 00: a core module)", b[4:8])
	}
	c.p = 8
	last := 0 // sectionOrder of the last non-custom section
	for c.p < len(b) {
		start := c.p
		id := b[c.p]
		c.sec, c.region, c.end = "module", "module", len(b)
		if int(id) >= len(sectionNames) {
			return c.fail(start, "unknown section id %d", id)
		}
		c.sec = sectionNames[id]
		c.p++
		size, err := c.u32("section size")
		if err != nil {
			return err
		}
		if left := len(b) - c.p; uint64(size) > uint64(left) {
			return c.fail(start, "section of %d bytes runs past the end of the module (%d bytes remain)", size, left)
		}
		c.end, c.region = c.p+int(size), "section"
		if id != idCustom {
			if sectionOrder[id] <= last {
				return c.fail(start, "section is out of order or repeated")
			}
			last = sectionOrder[id]
		}
		if err := c.section1(id); err != nil {
			return err
		}
		c.item, c.subsection = "", ""
		if c.p != c.end {
			return c.fail(c.p, "%d bytes left over after the section's content", c.end-c.p)
		}
	}
	if c.haveFuncs && c.funcs > 0 && !c.haveCode {
		c.sec = "module"
		return c.fail(len(b), "the function section declares %d functions but there is no code section", c.funcs)
	}
	return nil
}

// section1 reads the content of one section.
func (c *checker) section1(id byte) error {
	start := c.p
	var err error
	switch id {
	case idCustom:
		return c.custom()
	case idType:
		return c.types()
	case idImport:
		_, err = c.vector("imports", "import", 4, MaxImports, c.importEntry) // empty names, kind, index
	case idFunction:
		c.funcs, err = c.vector("functions", "function", 1, MaxFunctions, c.typeIndex)
		c.haveFuncs = true
	case idTable:
		var n uint64
		if n, err = c.vector("tables", "table", 3, MaxTables, c.tableType); err == nil {
			err = c.addTables(start, n)
		}
	case idMemory: // wazero refuses more than one before allocating for them
		_, err = c.vector("memories", "memory", 2, noLimit, c.memoryType)
	case idTag:
		var n uint64
		if n, err = c.vector("tags", "tag", 2, MaxTags, c.tagType); err == nil {
			err = c.addTags(start, n)
		}
	case idGlobal:
		_, err = c.vector("globals", "global", 3, MaxGlobals, c.global) // type, mutability, end
	case idExport:
		_, err = c.vector("exports", "export", 3, MaxExports, c.export) // empty name, kind, index
	case idStart:
		_, err = c.u32("start function index")
	case idElement:
		_, err = c.vector("element segments", "element segment", 3, MaxElementSegments, c.elementSegment)
	case idDataCount:
		var n uint32
		if n, err = c.u32("data count"); err == nil && n > MaxDataSegments {
			err = c.limit(start, "states %d data segments, more than the limit of %d", n, MaxDataSegments)
		}
	case idCode:
		err = c.code()
	case idData:
		_, err = c.vector("data segments", "data segment", 2, MaxDataSegments, c.dataSegment) // flags 1, no bytes
	}
	return err
}

// vector reads a vector: its length (see count), then each entry with
// entry. Unless item is "", errors name the entry by item and index.
func (c *checker) vector(what, item string, minSize int, max uint64, entry func() error) (uint64, error) {
	n, err := c.count(what, minSize, max)
	if err != nil {
		return 0, err
	}
	for i := uint64(0); i < n; i++ {
		if item != "" {
			c.item, c.index = item, i
		}
		if err := entry(); err != nil {
			return 0, err
		}
	}
	return n, nil
}

// typeIndex reads a function's type index (an entry of the function
// section, or a function import) and checks it against the types defined.
// This is the one index Check validates: wazero validates each body's calls
// before it checks the types of the functions called, and a call to a later
// function of a type out of range makes it panic.
func (c *checker) typeIndex() error {
	start := c.p
	t, err := c.u32("type index")
	if err == nil && uint64(t) >= c.ntypes {
		err = c.fail(start, "type index %d is out of range: the module defines %d types", t, c.ntypes)
	}
	return err
}

// types reads the type section: function types, alone or in rec groups.
func (c *checker) types() error {
	n, err := c.count("types", 2, MaxTypes) // a rec group takes 2 bytes, a function type 3
	if err != nil {
		return err
	}
	var total uint64 // types defined so far, rec group members included
	for i := uint64(0); i < n; i++ {
		c.item, c.index = "type", total
		if c.p < c.end && c.b[c.p] == 0x4e { // rec group
			c.p++
			start := c.p
			m, err := c.count("rec group members", 3, MaxTypes)
			if err != nil {
				return err
			}
			if total+m > MaxTypes {
				return c.limit(start, "the module defines more than %d types", MaxTypes)
			}
			for j := uint64(0); j < m; j++ {
				c.index = total
				if err := c.funcType(); err != nil {
					return err
				}
				total++
			}
			continue
		}
		if total >= MaxTypes {
			return c.limit(c.p, "the module defines more than %d types", MaxTypes)
		}
		if err := c.funcType(); err != nil {
			return err
		}
		total++
	}
	c.ntypes = total
	return nil
}

// funcType reads a function type: 0x60, parameter types, result types.
func (c *checker) funcType() error {
	start := c.p
	form, err := c.byte1("type form")
	if err != nil {
		return err
	}
	if form != 0x60 {
		return c.fail(start, "form 0x%02x is not a function type (0x60)", form)
	}
	n, err := c.count("parameters", 1, MaxParams)
	if err != nil {
		return err
	}
	for i := uint64(0); i < n; i++ {
		if err := c.valType("parameter type"); err != nil {
			return err
		}
	}
	if n, err = c.count("results", 1, MaxResults); err != nil {
		return err
	}
	for i := uint64(0); i < n; i++ {
		if err := c.valType("result type"); err != nil {
			return err
		}
	}
	return nil
}

// valType reads a value type: one byte, or 0x63/0x64 and a heap type.
func (c *checker) valType(what string) error {
	start := c.p
	t, err := c.byte1(what)
	if err != nil {
		return err
	}
	switch t {
	case 0x7f, 0x7e, 0x7d, 0x7c, 0x7b, // i32 i64 f32 f64 v128
		0x70, 0x6f, 0x69: // funcref externref exnref
		return nil
	case 0x63, 0x64: // (ref null ht), (ref ht)
		return c.signed(33, "heap type")
	}
	return c.fail(start, "invalid %s 0x%02x", what, t)
}

// refType reads a reference type: funcref, externref, exnref or (ref null? ht).
func (c *checker) refType(what string) error {
	start := c.p
	t, err := c.byte1(what)
	if err != nil {
		return err
	}
	switch t {
	case 0x70, 0x6f, 0x69:
		return nil
	case 0x63, 0x64:
		return c.signed(33, "heap type")
	}
	return c.fail(start, "invalid %s 0x%02x", what, t)
}

// limits reads table or memory limits: flags (bit 0: a maximum follows,
// bit 1: shared), the minimum and maybe the maximum. A table's minimum is
// what each instance allocates, so it is held to MaxTableSize.
func (c *checker) limits(table bool) error {
	start := c.p
	flags, err := c.byte1("limits flags")
	if err != nil {
		return err
	}
	if flags > 3 {
		return c.fail(start, "limits flags 0x%02x: only 0x00 to 0x03 are supported (no 64-bit tables or memories)", flags)
	}
	minStart := c.p
	min, err := c.u32("minimum")
	if err != nil {
		return err
	}
	if table && min > MaxTableSize {
		return c.limit(minStart, "table of %d initial entries, more than the limit of %d", min, MaxTableSize)
	}
	if flags&1 != 0 {
		if _, err := c.u32("maximum"); err != nil {
			return err
		}
	}
	return nil
}

// memoryType reads a memory's limits.
func (c *checker) memoryType() error { return c.limits(false) }

// tableType reads a table type, optionally prefixed by 0x40 0x00 and
// followed by an initializer expression.
func (c *checker) tableType() error {
	withInit := c.p < c.end && c.b[c.p] == 0x40
	if withInit {
		c.p++
		start := c.p
		reserved, err := c.byte1("table type")
		if err != nil {
			return err
		}
		if reserved != 0 {
			return c.fail(start, "byte 0x%02x after 0x40 in a table type, want 0x00", reserved)
		}
	}
	// The element type: wazero takes any byte but 0x63 and 0x64 for a
	// one-byte type and leaves it to validation (which lets an unused
	// table of a bogus type through), so Check does too.
	t, err := c.byte1("table element type")
	if err != nil {
		return err
	}
	if t == 0x63 || t == 0x64 {
		if err := c.signed(33, "heap type"); err != nil {
			return err
		}
	}
	if err := c.limits(true); err != nil {
		return err
	}
	if withInit {
		return c.constExpr("table initializer")
	}
	return nil
}

// tagType reads an exception tag: attribute 0 and a type index.
func (c *checker) tagType() error {
	start := c.p
	attr, err := c.byte1("tag attribute")
	if err != nil {
		return err
	}
	if attr != 0 {
		return c.fail(start, "tag attribute 0x%02x, want 0x00", attr)
	}
	_, err = c.u32("tag type index")
	return err
}

// addTables counts n more tables, declared at off.
func (c *checker) addTables(off int, n uint64) error {
	if c.tables += n; c.tables > MaxTables {
		return c.limit(off, "the module has %d tables, more than the limit of %d", c.tables, MaxTables)
	}
	return nil
}

// addTags counts n more tags, declared at off.
func (c *checker) addTags(off int, n uint64) error {
	if c.tags += n; c.tags > MaxTags {
		return c.limit(off, "the module has %d tags, more than the limit of %d", c.tags, MaxTags)
	}
	return nil
}

// importEntry reads an import: module and field names, kind, description.
func (c *checker) importEntry() error {
	if _, err := c.name("module name"); err != nil {
		return err
	}
	if _, err := c.name("field name"); err != nil {
		return err
	}
	start := c.p
	kind, err := c.byte1("import kind")
	if err != nil {
		return err
	}
	switch kind {
	case 0x00: // function
		c.importedFuncs++
		return c.typeIndex()
	case 0x01:
		if err := c.addTables(start, 1); err != nil {
			return err
		}
		return c.tableType()
	case 0x02:
		return c.memoryType()
	case 0x03:
		return c.globalType()
	case 0x04:
		if err := c.addTags(start, 1); err != nil {
			return err
		}
		return c.tagType()
	}
	return c.fail(start, "unknown import kind 0x%02x", kind)
}

// globalType reads a value type and a mutability flag.
func (c *checker) globalType() error {
	if err := c.valType("global type"); err != nil {
		return err
	}
	start := c.p
	mut, err := c.byte1("global mutability")
	if err != nil {
		return err
	}
	if mut > 1 {
		return c.fail(start, "global mutability 0x%02x, want 0x00 or 0x01", mut)
	}
	return nil
}

// global reads a global: its type and initializer.
func (c *checker) global() error {
	if err := c.globalType(); err != nil {
		return err
	}
	return c.constExpr("initializer")
}

// export reads an export: name, kind, index.
func (c *checker) export() error {
	if _, err := c.name("name"); err != nil {
		return err
	}
	start := c.p
	kind, err := c.byte1("export kind")
	if err != nil {
		return err
	}
	if kind > 4 {
		return c.fail(start, "unknown export kind 0x%02x", kind)
	}
	_, err = c.u32("index")
	return err
}

// constExpr skips a constant expression up to its end, decoding the
// instructions wazero accepts in one (numeric constants, global.get,
// ref.null, ref.func, v128.const and the extended-const arithmetic).
func (c *checker) constExpr(what string) error {
	for {
		start := c.p
		op, err := c.byte1(what)
		if err != nil {
			return err
		}
		switch op {
		case 0x0b: // end
			return nil
		case 0x41: // i32.const
			err = c.signed(32, "i32.const")
		case 0x42: // i64.const
			err = c.signed(64, "i64.const")
		case 0x43: // f32.const
			err = c.skip(4, "f32.const")
		case 0x44: // f64.const
			err = c.skip(8, "f64.const")
		case 0x23, 0xd2: // global.get, ref.func
			_, err = c.u32("index")
		case 0xd0: // ref.null
			err = c.signed(33, "heap type")
		case 0x6a, 0x6b, 0x6c, 0x7c, 0x7d, 0x7e: // i32/i64 add, sub, mul
		case 0xfd: // v128.const
			var sub uint32
			if sub, err = c.u32("vector opcode"); err == nil {
				if sub != 12 {
					return c.fail(start, "vector instruction 0x%x is not constant (in %s)", sub, what)
				}
				err = c.skip(16, "v128.const")
			}
		default:
			return c.fail(start, "instruction 0x%02x is not allowed in a constant expression (in %s)", op, what)
		}
		if err != nil {
			return err
		}
	}
}

// elementSegment reads an element segment of function indices or of
// initializer expressions, active, passive or declarative (flags 0 to 7).
func (c *checker) elementSegment() error {
	start := c.p
	flags, err := c.u32("segment flags")
	if err != nil {
		return err
	}
	if flags > 7 {
		return c.fail(start, "unknown element segment flags %d", flags)
	}
	if flags&3 == 2 { // active with a table index
		if _, err := c.u32("table index"); err != nil {
			return err
		}
	}
	if flags&1 == 0 { // active: an offset
		if err := c.constExpr("offset expression"); err != nil {
			return err
		}
	}
	if flags&4 == 0 { // function indices
		if flags&3 != 0 { // element kind, except in the original encoding
			kindStart := c.p
			kind, err := c.byte1("element kind")
			if err != nil {
				return err
			}
			if kind != 0 {
				return c.fail(kindStart, "element kind 0x%02x, want 0x00 (funcref)", kind)
			}
		}
		_, err := c.vector("function indices", "", 1, MaxTableSize, c.functionIndex)
		return err
	}
	if flags&3 != 0 { // reference type, except with flags 4
		if err := c.refType("element type"); err != nil {
			return err
		}
	}
	_, err = c.vector("initializer expressions", "", 1, MaxTableSize, c.initExpr)
	return err
}

func (c *checker) functionIndex() error {
	_, err := c.u32("function index")
	return err
}

func (c *checker) initExpr() error { return c.constExpr("initializer expression") }

// code reads the code section: each body's size and locals declarations.
func (c *checker) code() error {
	countStart := c.p
	c.haveCode = true
	c.allowance = max(MinLocalsAllowance, uint64(c.end-c.p))
	n, err := c.vector("function bodies", "code entry", 3, MaxFunctions, c.body) // size, no locals, end
	if err == nil && n != c.funcs {
		c.item = ""
		err = c.fail(countStart, "declares %d function bodies but the function section declares %d functions", n, c.funcs)
	}
	return err
}

// body reads a code entry: its size, its locals and its last byte.
func (c *checker) body() error {
	sizeStart := c.p
	size, err := c.u32("body size")
	if err != nil {
		return err
	}
	if left := c.end - c.p; uint64(size) > uint64(left) {
		return c.fail(sizeStart, "body of %d bytes runs past the end of the section (%d bytes remain)", size, left)
	}
	if size > MaxFunctionBodySize {
		return c.limit(sizeStart, "body of %d bytes, larger than the limit of %d", size, MaxFunctionBodySize)
	}
	sectionEnd := c.end
	c.end, c.region = c.p+int(size), "code entry"
	if err := c.localDecls(); err != nil {
		return err
	}
	if c.p == c.end {
		return c.fail(c.p, "no instructions after the locals (a body ends with end, 0x0b)")
	}
	if last := c.end - 1; c.b[last] != 0x0b {
		return c.fail(last, "body does not end with end (0x0b) but with 0x%02x", c.b[last])
	}
	c.p, c.end, c.region = c.end, sectionEnd, "section"
	return nil
}

// localDecls reads the (count, type) pairs that declare a body's locals,
// holding their sum to MaxLocalsPerFunction and the module's total to its
// allowance.
func (c *checker) localDecls() error {
	n, err := c.count("local declarations", 2, noLimit)
	if err != nil {
		return err
	}
	var sum uint64
	for i := uint64(0); i < n; i++ {
		start := c.p
		k, err := c.u32("local count")
		if err != nil {
			return err
		}
		if sum += uint64(k); sum > MaxLocalsPerFunction {
			return c.limit(start, "declares %d or more locals, more than the limit of %d", sum, MaxLocalsPerFunction)
		}
		if c.locals+sum > c.allowance {
			return c.limit(start, "the bodies so far declare %d locals, more than the module's allowance of %d "+
				"(one per byte of the code section, at least %d)", c.locals+sum, c.allowance, MinLocalsAllowance)
		}
		if err := c.valType("local type"); err != nil {
			return err
		}
	}
	c.locals += sum
	return nil
}

// dataSegment reads a data segment: active (flags 0, or 2 with a memory
// index) with an offset, or passive (flags 1), then its bytes.
func (c *checker) dataSegment() error {
	start := c.p
	flags, err := c.u32("segment flags")
	if err != nil {
		return err
	}
	switch flags {
	case 2:
		if _, err := c.u32("memory index"); err != nil {
			return err
		}
		fallthrough
	case 0:
		if err := c.constExpr("offset expression"); err != nil {
			return err
		}
	case 1:
	default:
		return c.fail(start, "unknown data segment flags %d", flags)
	}
	_, err = c.name("data")
	return err
}
