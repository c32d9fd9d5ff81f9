package wasmcheck

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// The two modules that made wazero v1.12.0 kill or panic the process.
var (
	// crasherImports declares 2^32-1 imports in a 5-byte import section:
	// CompileModule allocates them all and dies of a fatal out-of-memory.
	crasherImports = []byte("\x00asm\x01\x00\x00\x00\x02\x05\xff\xff\xff\xff\x0f")
	// crasherCode has a code section of 48 bytes in a 14-byte module whose
	// only body declares more locals than it has bytes: CompileModule
	// computes a negative body size and panics in makeslice.
	crasherCode = []byte("\x00asm\x01\x00\x00\x00\x0a\x30\x30\x03\x01\x30\x63\x30")
	// crasherEmptyImports has an empty import section: wazero reads the
	// count from the next bytes, 2^32-ish, and dies the same way.
	crasherEmptyImports = []byte("\x00asm\x01\x00\x00\x00\x02\x00\xdf\xdf\xdf\xdf\x00\x03\xff00")
)

// allSectionsWAT uses every section wat2wasm writes, each kind of import
// and export, every element and data segment encoding it has syntax for,
// locals of every value type, bulk memory (hence a data count section) and,
// compiled with --debug-names, module, function and local names.
const allSectionsWAT = `(module $everything
  (type $binop (func (param i32 i32) (result i32)))
  (type $pair (func (result i32 i64)))
  (import "env" "add" (func $imported (type $binop)))
  (import "env" "table" (table $itab 2 funcref))
  (import "env" "memory" (memory 1 2))
  (import "env" "base" (global $base i32))
  (table $t 4 8 funcref)
  (table $ext 1 externref)
  (global $g (mut i32) (i32.const -1))
  (global $h i64 (i64.const 0x7fffffffffffffff))
  (global $f f32 (f32.const 1.5))
  (global $d f64 (f64.const -2.25))
  (global $copy i32 (global.get $base))
  (global $nullref externref (ref.null extern))
  (global $fref funcref (ref.func $first))
  (func $first (type $binop) (local i32 i64 f32 f64 v128 funcref externref) (local $named i32)
    local.get 0
    local.get 1
    call $imported)
  (func $second (type $pair) (i32.const 1) (i64.const 2))
  (func $start
    (memory.init $passive (i32.const 0) (i32.const 0) (i32.const 1))
    (data.drop $passive)
    (elem.drop $passive_elem))
  (start $start)
  (export "first" (func $first))
  (export "table" (table $t))
  (export "memory" (memory 0))
  (export "g" (global $g))
  (elem (i32.const 0) $first $second)
  (elem $passive_elem func $first)
  (elem (table $t) (i32.const 1) func $second)
  (elem declare func $start)
  (elem (i32.const 2) funcref (ref.func $first) (ref.null func))
  (elem funcref (ref.func $second))
  (elem (table $t) (i32.const 3) funcref (ref.null func))
  (elem declare funcref (ref.func $first))
  (data (i32.const 16) "hello")
  (data $passive "passive"))
`

// validModules are modules Check must accept; wazero must compile them too
// when compiles is set (the others use proposals nicrt's wazero does not
// enable, or are hand-assembled corner cases of the format).
func validModules(t testing.TB) []struct {
	name     string
	wasm     []byte
	compiles bool
} {
	funcType := []byte{0x60, 0, 0}
	oneFunc := cat(sec(idType, vec(1, funcType)), sec(idFunction, vec(1, []byte{0})))
	body := sec(idCode, vec(1, []byte{2, 0, 0x0b}))
	return []struct {
		name     string
		wasm     []byte
		compiles bool
	}{
		{"go filter (nicrt test guest)", goFilter(t), true},
		{"c filter", cFilter(t), true},
		{"c with dwarf", cDebug(t), true},
		{"wat all sections", wat(t, allSectionsWAT, "--debug-names"), true},
		{"wat empty", wat(t, "(module)"), true},
		{"header only", mod(), true},
		{"empty sections", mod(sec(idType, vec(0)), sec(idImport, vec(0)), sec(idFunction, vec(0)),
			sec(idTable, vec(0)), sec(idMemory, vec(0)), sec(idGlobal, vec(0)), sec(idExport, vec(0)),
			sec(idElement, vec(0)), sec(idDataCount, []byte{0}), sec(idCode, vec(0)), sec(idData, vec(0))), true},
		{"padded LEB128 numbers", mod(
			[]byte{idType, 0x86, 0x80, 0x80, 0x80, 0x00}, []byte{0x81, 0x80, 0x00}, funcType,
			sec(idFunction, []byte{0x81, 0x80, 0x80, 0x80, 0x00, 0x80, 0x00}),
			sec(idCode, vec(1, []byte{0x83, 0x80, 0x80, 0x80, 0x00, 0x80, 0x00, 0x0b}))), true},
		{"custom sections everywhere", mod(sec(idCustom, str("a"), []byte{1, 2, 3}), sec(idType, vec(1, funcType)),
			sec(idCustom, str(""), nil), sec(idFunction, vec(1, []byte{0})), sec(idCustom, str("é ✓ π")),
			body, sec(idCustom, str("z"), bytes.Repeat([]byte{0xff}, 100))), true},
		{"name section, unknown subsections skipped", mod(oneFunc, body, sec(idCustom, str("name"),
			sec(0, str("m")), sec(1, vec(1, []byte{0}, str("f"))), sec(2, vec(1, []byte{0}, vec(0))),
			sec(7, []byte{0xff, 0xff, 0xff}), sec(42, nil))), true},
		{"negative constants at full width", mod(sec(idGlobal, vec(2,
			[]byte{0x7f, 0, 0x41, 0xff, 0xff, 0xff, 0xff, 0x7f, 0x0b},
			[]byte{0x7e, 0, 0x42, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x7f, 0x0b}))), true},
		{"data segment with memory index", mod(sec(idMemory, vec(1, []byte{0, 1})),
			sec(idData, vec(1, []byte{2, 0, 0x41, 0, 0x0b}, str("abc")))), true},
		{"locals up to the limit", mod(oneFunc, sec(idCode, vec(1,
			cat(uleb(nil, 6), []byte{1}, uleb(nil, MaxLocalsPerFunction), []byte{0x7f, 0x0b})))), true},
		{"table with initializer", mod(sec(idTable, vec(1, []byte{0x40, 0, 0x70, 0, 1, 0xd0, 0x70, 0x0b}))), false},
		{"rec group and typed references", mod(sec(idType, vec(2, []byte{0x4e},
			vec(2, funcType, []byte{0x60, 1, 0x63, 0x00, 1, 0x64, 0x70}), funcType))), false},
		{"every element segment encoding", mod(sec(idType, vec(1, funcType)), sec(idFunction, vec(1, []byte{0})),
			sec(idTable, vec(1, []byte{0x70, 0, 1})), sec(idElement, vec(8,
				[]byte{0, 0x41, 0, 0x0b, 1, 0},
				[]byte{1, 0, 1, 0},
				[]byte{2, 0, 0x41, 0, 0x0b, 0, 1, 0},
				[]byte{3, 0, 1, 0},
				[]byte{4, 0x41, 0, 0x0b, 1, 0xd2, 0, 0x0b},
				[]byte{5, 0x70, 1, 0xd0, 0x70, 0x0b},
				[]byte{6, 0, 0x41, 0, 0x0b, 0x70, 1, 0xd2, 0, 0x0b},
				[]byte{7, 0x70, 1, 0xd2, 0, 0x0b})), body), true},
		{"tag section and tag import", mod(sec(idType, vec(1, funcType)),
			sec(idImport, vec(1, str("m"), str("t"), []byte{4, 0, 0})), sec(idTag, vec(1, []byte{0, 0}))), false},
	}
}

func TestValidModules(t *testing.T) {
	for _, tc := range validModules(t) {
		t.Run(tc.name, func(t *testing.T) {
			if err := Check(tc.wasm); err != nil {
				t.Fatalf("Check refused a valid module: %v", err)
			}
			o := compileInChild(t, tc.wasm)
			t.Logf("%d bytes; wazero: %v", len(tc.wasm), o)
			switch {
			case o.kind > rejected:
				t.Fatalf("wazero %v", o)
			case tc.compiles && o.kind != compiled:
				t.Fatalf("wazero does not compile it: %v", o)
			case o.alloc > allocBudget(len(tc.wasm)):
				t.Fatalf("compiling it allocated %d bytes, more than the budget of %d", o.alloc, allocBudget(len(tc.wasm)))
			}
		})
	}
}

// bad is a malformed module and the error Check must return for it.
type bad struct {
	name    string
	wasm    []byte
	section string // Error.Section
	offset  int    // Error.Offset
	reason  string // in Error.Reason
	limit   bool   // an ErrLimit error, not ErrMalformed
}

// max32 is 2^32-1 as LEB128, the largest count a module can declare.
var max32 = uleb(nil, 1<<32-1)

// Offsets in the cases below: the header takes bytes 0-7, so the first
// section's id is at 8, its (one-byte) size at 9 and its content from 10.
var badModules = []bad{
	// Header and framing.
	{"empty input", nil, "header", 0, "not a WebAssembly binary module", false},
	{"wrong magic", []byte("\x00asn\x01\x00\x00\x00"), "header", 0, "does not start with \\0asm", false},
	{"truncated version", []byte("\x00asm\x01\x00"), "header", 4, "truncated", false},
	{"component", []byte("\x00asm\x0d\x00\x01\x00"), "header", 4, "unsupported binary format version 0d 00 01 00", false},
	{"unknown section id", mod([]byte{14, 0}), "module", 8, "unknown section id 14", false},
	{"section past the end", mod([]byte{idType, 5, 0}), "type", 8, "section of 5 bytes runs past the end of the module (1 bytes remain)", false},
	{"section size truncated", mod([]byte{idType, 0x80}), "type", 9, "truncated section size", false},
	{"section size overlong", mod([]byte{idType, 0x80, 0x80, 0x80, 0x80, 0x80, 0}), "type", 9, "longer than 5 bytes", false},
	{"section size overflows", mod([]byte{idType, 0xff, 0xff, 0xff, 0xff, 0x7f}), "type", 9, "overflows 32 bits", false},
	{"sections out of order", mod(sec(idFunction, vec(0)), sec(idType, vec(0))), "type", 11, "out of order", false},
	{"section repeated", mod(sec(idType, vec(0)), sec(idType, vec(0))), "type", 11, "out of order or repeated", false},
	{"bytes after the content", mod(sec(idType, vec(0), []byte{0})), "type", 11, "1 bytes left over", false},

	// Type section.
	{"huge type count", mod(sec(idType, max32)), "type", 10, "declares 4294967295 types but only 0 bytes remain", false},
	{"huge parameter count", mod(sec(idType, vec(1, []byte{0x60}), max32)), "type", 12, "type 0: declares 4294967295 parameters", false},
	{"huge result count", mod(sec(idType, vec(1, []byte{0x60, 0}), max32)), "type", 13, "type 0: declares 4294967295 results", false},
	{"huge rec group", mod(sec(idType, vec(1, []byte{0x4e}), max32)), "type", 12, "declares 4294967295 rec group members", false},
	{"too many parameters", mod(sec(idType, vec(1, []byte{0x60}, uleb(nil, MaxParams+1), bytes.Repeat([]byte{0x7f}, MaxParams+1), []byte{0}))),
		"type", 13, "declares 1001 parameters, more than the limit of 1000", true},
	{"too many types with a rec group", mod(sec(idType, vec(2, []byte{0x60, 0, 0}, []byte{0x4e}, vec(MaxTypes, bytes.Repeat([]byte{0x60, 0, 0}, MaxTypes))))),
		"type", 18, "type 1: the module defines more than 1000000 types", true},
	{"not a function type", mod(sec(idType, vec(1, []byte{0x5f, 0, 0}))), "type", 11, "form 0x5f is not a function type", false},
	{"invalid value type", mod(sec(idType, vec(1, []byte{0x60, 1, 0x40, 0}))), "type", 13, "invalid parameter type 0x40", false},
	{"heap type overlong", mod(sec(idType, vec(1, []byte{0x60, 1, 0x63, 0x80, 0x80, 0x80, 0x80, 0x80, 0, 0}))), "type", 14, "heap type: LEB128 number longer than 5 bytes", false},
	{"heap type overflows", mod(sec(idType, vec(1, []byte{0x60, 1, 0x63, 0xff, 0xff, 0xff, 0xff, 0x1f, 0}))), "type", 14, "heap type: LEB128 number overflows 33 bits", false},
	{"truncated type vector", mod(sec(idType, vec(2, []byte{0x60, 0, 0}, []byte{0x60, 0}))), "type", 16, "type 1: truncated number of results", false},

	// Import section.
	{"crasher: 2^32-1 imports", crasherImports, "import", 10, "declares 4294967295 imports but only 0 bytes remain", false},
	{"crasher: empty import section", crasherEmptyImports, "import", 10, "truncated number of imports: the section ends at byte offset 10", false},
	{"import name past the end", mod(sec(idImport, vec(1, []byte{100, 'a', 0, 0}))), "import", 11, "import 0: module name of 100 bytes runs past", false},
	{"unknown import kind", mod(sec(idImport, vec(1, str("m"), str("f"), []byte{5, 0}))), "import", 15, "import 0: unknown import kind 0x05", false},
	{"imported table too large", mod(sec(idImport, vec(1, str("m"), str("t"), []byte{1, 0x70, 0}, uleb(nil, MaxTableSize+1)))),
		"import", 18, "table of 10000001 initial entries, more than the limit of 10000000", true},
	{"memory limits flags", mod(sec(idImport, vec(1, str("m"), str("m"), []byte{2, 8, 0}))), "import", 16, "limits flags 0x08", false},
	{"global mutability", mod(sec(idImport, vec(1, str("m"), str("g"), []byte{3, 0x7f, 2}))), "import", 17, "global mutability 0x02", false},

	// Function section.
	{"huge function count", mod(sec(idFunction, max32)), "function", 10, "declares 4294967295 functions", false},
	{"type index overlong", mod(sec(idFunction, vec(1, []byte{0x80, 0x80, 0x80, 0x80, 0x80}))), "function", 11, "function 0: type index: LEB128 number longer than 5 bytes", false},
	{"type index overflows", mod(sec(idFunction, vec(1, []byte{0xff, 0xff, 0xff, 0xff, 0x1f}))), "function", 11, "type index: LEB128 number overflows 32 bits", false},
	{"too many functions", mod(sec(idFunction, vec(MaxFunctions+1, bytes.Repeat([]byte{0}, MaxFunctions+1)))),
		"function", 12, "declares 1000001 functions, more than the limit of 1000000", true},
	{"function type out of range", mod(sec(idType, vec(1, []byte{0x60, 0, 0})), sec(idFunction, vec(1, []byte{1}))),
		"function", 17, "function 0: type index 1 is out of range: the module defines 1 types", false},
	{"imported function type out of range", mod(sec(idImport, vec(1, str("m"), str("f"), []byte{0, 0}))),
		"import", 16, "import 0: type index 0 is out of range: the module defines 0 types", false},
	{"crasher: call to a function of a type out of range", mod(sec(idType, vec(1, []byte{0x60, 0, 0})), sec(idFunction, vec(2, []byte{0, 5})),
		sec(idCode, vec(2, []byte{4, 0, 0x10, 1, 0x0b}, []byte{2, 0, 0x0b}))),
		"function", 18, "function 1: type index 5 is out of range", false},
	{"functions without code", mod(sec(idType, vec(1, []byte{0x60, 0, 0})), sec(idFunction, vec(1, []byte{0}))),
		"module", 18, "declares 1 functions but there is no code section", false},

	// Table, memory and tag sections.
	{"huge table count", mod(sec(idTable, max32)), "table", 10, "declares 4294967295 tables", false},
	{"table too large", mod(sec(idTable, vec(1, []byte{0x70, 0}, uleb(nil, MaxTableSize+1)))), "table", 13, "more than the limit of 10000000", true},
	{"too many tables with an import", mod(sec(idImport, vec(1, str("m"), str("t"), []byte{1, 0x70, 0, 0})), sec(idTable, vec(MaxTables, bytes.Repeat([]byte{0x70, 0, 0}, MaxTables)))),
		"table", 23, "the module has 100001 tables, more than the limit of 100000", true},
	{"table prefix", mod(sec(idTable, vec(1, []byte{0x40, 1, 0x70, 0, 0, 0x0b}))), "table", 12, "byte 0x01 after 0x40", false},
	{"table initializer not constant", mod(sec(idTable, vec(1, []byte{0x40, 0, 0x70, 0, 1, 0x20, 0, 0x0b}))),
		"table", 16, "instruction 0x20 is not allowed in a constant expression (in table initializer)", false},
	{"huge memory count", mod(sec(idMemory, max32)), "memory", 10, "declares 4294967295 memories", false},
	{"memory maximum truncated", mod(sec(idMemory, vec(1, []byte{1, 1}))), "memory", 13, "memory 0: truncated maximum", false},
	{"huge tag count", mod(sec(idTag, max32)), "tag", 10, "declares 4294967295 tags", false},
	{"tag attribute", mod(sec(idTag, vec(1, []byte{1, 0}))), "tag", 11, "tag attribute 0x01", false},

	// Global section and constant expressions.
	{"huge global count", mod(sec(idGlobal, max32)), "global", 10, "declares 4294967295 globals", false},
	{"initializer without end", mod(sec(idGlobal, vec(1, []byte{0x7f, 0, 0x41, 0}))), "global", 15, "global 0: truncated initializer", false},
	{"i32.const overflows", mod(sec(idGlobal, vec(1, []byte{0x7f, 0, 0x41, 0xff, 0xff, 0xff, 0xff, 0x4f, 0x0b}))), "global", 14, "i32.const: LEB128 number overflows 32 bits", false},
	{"i64.const overlong", mod(sec(idGlobal, vec(1, []byte{0x7e, 0, 0x42}, bytes.Repeat([]byte{0x80}, 10), []byte{0, 0x0b}))),
		"global", 14, "i64.const: LEB128 number longer than 10 bytes", false},
	{"f64.const truncated", mod(sec(idGlobal, vec(1, []byte{0x7c, 0, 0x44, 0, 0, 0}))), "global", 14, "f64.const of 8 bytes runs past the end of the section (3 bytes remain)", false},
	{"vector instruction", mod(sec(idGlobal, vec(1, []byte{0x7b, 0, 0xfd, 0x0d, 0x0b}))), "global", 13, "vector instruction 0xd is not constant", false},

	// Export and start sections.
	{"huge export count", mod(sec(idExport, max32)), "export", 10, "declares 4294967295 exports", false},
	{"unknown export kind", mod(sec(idExport, vec(1, str("e"), []byte{5, 0}))), "export", 13, "export 0: unknown export kind 0x05", false},
	{"export name past the end", mod(sec(idExport, vec(1, []byte{9, 'e', 0}))), "export", 11, "name of 9 bytes runs past", false},
	{"start truncated", mod(sec(idStart, []byte{0x80})), "start", 10, "truncated start function index", false},
	{"start with more", mod(sec(idStart, []byte{0, 0})), "start", 11, "1 bytes left over", false},

	// Element section.
	{"huge element segment count", mod(sec(idElement, max32)), "element", 10, "declares 4294967295 element segments", false},
	{"element flags", mod(sec(idElement, vec(1, []byte{8, 0, 0}))), "element", 11, "unknown element segment flags 8", false},
	{"huge function index vector", mod(sec(idElement, vec(1, []byte{1, 0}), max32)), "element", 13, "element segment 0: declares 4294967295 function indices", false},
	{"element kind", mod(sec(idElement, vec(1, []byte{1, 1, 0}))), "element", 12, "element kind 0x01", false},
	{"huge expression vector", mod(sec(idElement, vec(1, []byte{5, 0x70}), max32)), "element", 13, "declares 4294967295 initializer expressions", false},
	{"element reference type", mod(sec(idElement, vec(1, []byte{6, 0, 0x41, 0, 0x0b, 0x7f, 0}))), "element", 16, "invalid element type 0x7f", false},
	{"too many element entries", mod(sec(idElement, vec(1, []byte{1, 0}, vec(MaxTableSize+1, bytes.Repeat([]byte{0}, MaxTableSize+1))))),
		"element", 16, "declares 10000001 function indices, more than the limit of 10000000", true},

	// Code section.
	{"crasher: code section past the end", crasherCode, "code", 8, "section of 48 bytes runs past the end of the module (6 bytes remain)", false},
	{"huge body count", mod(sec(idCode, max32)), "code", 10, "declares 4294967295 function bodies", false},
	{"bodies without functions", mod(sec(idCode, vec(1, []byte{2, 0, 0x0b}))), "code", 10, "declares 1 function bodies but the function section declares 0 functions", false},
	{"body past the end", mod(oneFunction, sec(idCode, vec(1, []byte{10, 0, 0x0b}))), "code", 21, "code entry 0 (function 0): body of 10 bytes runs past the end of the section (2 bytes remain)", false},
	{"huge locals vector", mod(oneFunction, sec(idCode, vec(1, []byte{6}, max32, []byte{0x0b}))), "code", 22, "declares 4294967295 local declarations but only 1 bytes remain in the code entry", false},
	{"too many locals", mod(oneFunction, sec(idCode, vec(1, []byte{6, 1}, uleb(nil, MaxLocalsPerFunction+1), []byte{0x7f, 0x0b}))),
		"code", 23, "declares 50001 or more locals, more than the limit of 50000", true},
	{"too many locals in two groups", mod(oneFunction, sec(idCode, vec(1, []byte{10, 2}, uleb(nil, 30000), []byte{0x7f}, uleb(nil, 30000), []byte{0x7e, 0x0b}))),
		"code", 27, "declares 60000 or more locals", true},
	{"2^32 locals", mod(oneFunction, sec(idCode, vec(1, []byte{14, 2}, max32, []byte{0x7f}, max32, []byte{0x7e, 0x0b}))),
		"code", 23, "declares 4294967295 or more locals", true},
	{"locals beyond the module's allowance", mod(sec(idType, vec(1, []byte{0x60, 0, 0})), sec(idFunction, vec(2, []byte{0, 0})),
		sec(idCode, vec(2, cat([]byte{6, 1}, uleb(nil, 40000), []byte{0x7f, 0x0b}), cat([]byte{6, 1}, uleb(nil, 40000), []byte{0x7f, 0x0b})))),
		"code", 31, "code entry 1 (function 1): the bodies so far declare 80000 locals, more than the module's allowance of 65536", true},
	{"invalid local type", mod(oneFunction, sec(idCode, vec(1, []byte{4, 1, 1, 0x40, 0x0b}))), "code", 24, "invalid local type 0x40", false},
	{"locals fill the body", mod(oneFunction, sec(idCode, vec(1, []byte{3, 1, 1, 0x7f}))), "code", 25, "no instructions after the locals", false},
	{"body without end", mod(oneFunction, sec(idCode, vec(1, []byte{2, 0, 0x01}))), "code", 23, "body does not end with end (0x0b) but with 0x01", false},
	{"function index in errors", mod(sec(idType, vec(1, []byte{0x60, 0, 0})), sec(idImport, vec(1, str("m"), str("f"), []byte{0, 0})),
		sec(idFunction, vec(1, []byte{0})), sec(idCode, vec(1, []byte{2, 0, 0x01}))), "code", 32, "code entry 0 (function 1)", false},
	{"body too large", mod(oneFunction, sec(idCode, vec(1, uleb(nil, MaxFunctionBodySize+1), []byte{0}, bytes.Repeat([]byte{0x01}, MaxFunctionBodySize-1), []byte{0x0b}))),
		"code", 24, "body of 7654322 bytes, larger than the limit of 7654321", true},

	// Data and data count sections.
	{"huge data segment count", mod(sec(idData, max32)), "data", 10, "declares 4294967295 data segments", false},
	{"huge data length", mod(sec(idData, vec(1, []byte{1}), max32)), "data", 12, "data segment 0: data of 4294967295 bytes runs past the end of the section (0 bytes remain)", false},
	{"data past the end", mod(sec(idData, vec(1, []byte{1, 5, 'a'}))), "data", 12, "data of 5 bytes runs past", false},
	{"data flags", mod(sec(idData, vec(1, []byte{3, 0}))), "data", 11, "unknown data segment flags 3", false},
	{"data offset not constant", mod(sec(idData, vec(1, []byte{0, 0x20, 0, 0x0b, 0}))), "data", 12, "instruction 0x20 is not allowed", false},
	{"empty data count", mod(sec(idDataCount)), "data count", 10, "truncated data count", false},
	{"data count too large", mod(sec(idDataCount, uleb(nil, MaxDataSegments+1))), "data count", 10, "states 100001 data segments, more than the limit of 100000", true},

	// Custom and name sections.
	{"custom name past the end", mod(sec(idCustom, uleb(nil, 10), []byte("ab"))), "custom", 10, "section name of 10 bytes runs past", false},
	{"custom name length overflows", mod(sec(idCustom, []byte{0xff, 0xff, 0xff, 0xff, 0x7f})), "custom", 10, "section name length: LEB128 number overflows 32 bits", false},
	{"name subsection past the end", mod(sec(idCustom, str("name"), []byte{1, 10, 0})), `custom "name"`, 15, "subsection 1 of 10 bytes runs past the end of the section (1 bytes remain)", false},
	{"huge function name map", mod(sec(idCustom, str("name"), []byte{1, 5}, max32)), `custom "name"`, 17, "function names subsection: declares 4294967295 function names", false},
	{"huge local name map", mod(sec(idCustom, str("name"), []byte{2, 7, 1, 0}, max32)), `custom "name"`, 19, "local names subsection: function entry 0: declares 4294967295 local names", false},
	{"huge local name function count", mod(sec(idCustom, str("name"), []byte{2, 5}, max32)), `custom "name"`, 17, "local names subsection: declares 4294967295 functions", false},
	{"module name shorter than its subsection", mod(sec(idCustom, str("name"), []byte{0, 3, 1, 'm', 'x'})), `custom "name"`, 19, "1 bytes left over after the subsection's content", false},
	{"function name past the subsection", mod(sec(idCustom, str("name"), []byte{1, 3, 1, 0, 5}, []byte("abcde"))), `custom "name"`, 19, "name of 5 bytes runs past the end of the subsection (0 bytes remain)", false},
}

// wazeroIsLax says why wazero compiles a module despite the error Check
// found in it, when the error is one of the few places where Check follows
// the specification and wazero v1.12.0 is more lenient, or "". None of them
// lets wazero read lengths differently from Check in a module Check accepts.
func wazeroIsLax(e *Error) string {
	switch {
	case e.Section == `custom "name"`:
		return "wazero does not bound its reads of the name section by the subsections' sizes, and stops quietly at the end of the module"
	case e.Section == "data count" && strings.HasPrefix(e.Reason, "truncated"):
		return "wazero takes an empty data count section at the end of the module for a count of 0"
	case strings.Contains(e.Reason, "LEB128 number overflows 33 bits"),
		strings.Contains(e.Reason, "i32.const: LEB128 number overflows 32 bits"),
		strings.Contains(e.Reason, "i64.const: LEB128 number overflows 64 bits"):
		return "wazero checks only some of the unused bits of a signed number's last byte"
	case strings.Contains(e.Reason, "LEB128 number longer than 5 bytes") && strings.Contains(e.Reason, "heap type"):
		return "wazero ends a 33-bit number after 5 bytes even if the last one says more follow"
	}
	return ""
}

// oneFunction declares one function of type () -> (): bytes 8 to 17, so a
// code section after it starts at 18, its first body at 21.
var oneFunction = cat(sec(idType, vec(1, []byte{0x60, 0, 0})), sec(idFunction, vec(1, []byte{0})))

func TestMalformedModules(t *testing.T) {
	for _, tc := range badModules {
		t.Run(tc.name, func(t *testing.T) {
			err := Check(tc.wasm)
			if err == nil {
				t.Fatal("Check accepted it")
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v is a %T, not an *Error", err, err)
			}
			if e.Section != tc.section || e.Offset != tc.offset || !strings.Contains(e.Reason, tc.reason) {
				t.Errorf("got  %v\nwant section %s, offset %d, reason containing %q", err, tc.section, tc.offset, tc.reason)
			}
			if tc.limit != errors.Is(err, ErrLimit) || tc.limit == errors.Is(err, ErrMalformed) {
				t.Errorf("ErrLimit %v, ErrMalformed %v; want the limit %v", errors.Is(err, ErrLimit), errors.Is(err, ErrMalformed), tc.limit)
			}
			checkErrorShape(t, tc.wasm, err)
			if tc.limit {
				return // well formed: wazero may compile it (the big ones take seconds)
			}
			// What Check refuses as malformed, wazero must not compile.
			o := compileInChild(t, tc.wasm)
			t.Logf("%v\nwazero: %v", err, o)
			if o.kind == compiled && wazeroIsLax(e) == "" {
				t.Errorf("wazero compiles it: Check refuses a module nicrt could run")
			}
		})
	}
}

// checkErrorShape checks what every error of Check must be: an *Error
// naming a section and an offset within the module, formatted as documented.
func checkErrorShape(t *testing.T, wasm []byte, err error) {
	t.Helper()
	if err == nil {
		return
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v is a %T, not an *Error", err, err)
	}
	if e.Section == "" || e.Reason == "" || e.Offset < 0 || e.Offset > len(wasm) {
		t.Fatalf("error %#v: empty section or reason, or offset outside the %d-byte module", e, len(wasm))
	}
	if !strings.HasPrefix(err.Error(), "wasmcheck: ") || !strings.Contains(err.Error(), " at byte offset ") {
		t.Fatalf("error %q is not in the documented format", err)
	}
	if errors.Is(err, ErrLimit) == errors.Is(err, ErrMalformed) {
		t.Fatalf("error %v wraps both or neither of ErrLimit and ErrMalformed", err)
	}
}

func TestErrorFormat(t *testing.T) {
	err := Check(crasherImports)
	want := "wasmcheck: import section at byte offset 10 (0xa): declares 4294967295 imports but only 0 bytes remain in the section (each needs at least 4)"
	if err == nil || err.Error() != want {
		t.Fatalf("got  %v\nwant %s", err, want)
	}
	err = Check([]byte("\x00asm\x02\x00\x00\x00"))
	want = "wasmcheck: header at byte offset 4 (0x4): unsupported binary format version 02 00 00 00 (want 01 00 00 00: a core module)"
	if err == nil || err.Error() != want {
		t.Fatalf("got  %v\nwant %s", err, want)
	}
}

// TestCheckDoesNotAllocate: accepting a module allocates nothing.
func TestCheckDoesNotAllocate(t *testing.T) {
	wasm := goFilter(t)
	if n := testing.AllocsPerRun(5, func() {
		if err := Check(wasm); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Fatalf("Check allocated %.0f times per call", n)
	}
}

// TestTruncations: every strict prefix of real modules is refused (a module
// cannot end in the middle of a section), and so is every prefix cut inside
// the framing of one; Check never panics on any of them.
func TestTruncations(t *testing.T) {
	for _, wasm := range [][]byte{cFilter(t), wat(t, allSectionsWAT, "--debug-names")} {
		for n := 0; n < len(wasm); n++ {
			err := Check(wasm[:n])
			if n >= 8 && isSectionBoundary(wasm, n) {
				if err != nil {
					t.Fatalf("prefix of %d bytes ends at a section boundary but is refused: %v", n, err)
				}
				continue
			}
			if err == nil {
				t.Fatalf("prefix of %d bytes accepted", n)
			}
			checkErrorShape(t, wasm[:n], err)
		}
	}
}

// isSectionBoundary reports whether n is the end of a section of wasm that
// leaves a well-formed module: after every section except the last one of a
// function section whose code section is cut off.
func isSectionBoundary(wasm []byte, n int) bool {
	funcs, code := false, false
	for p := 8; p < len(wasm); {
		id := wasm[p]
		size, q := uint64(0), p+1
		for shift := 0; ; shift += 7 {
			size |= uint64(wasm[q]&0x7f) << shift
			q++
			if wasm[q-1] < 0x80 {
				break
			}
		}
		if id == idFunction && size > 1 {
			funcs = true
		}
		if id == idCode {
			code = true
		}
		p = q + int(size)
		if p == n {
			return !funcs || code
		}
		if p > n {
			return n == 8
		}
	}
	return n == 8
}
