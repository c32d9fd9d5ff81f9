package wasmcheck

// Limits on what a module may declare. Most are the implementation limits of
// the WebAssembly JavaScript API specification ("Implementation-defined
// limits"), which V8 — Envoy's default Wasm engine — and every browser
// engine enforce: a filter that loads in Envoy or in a browser fits them, so
// none of them refuses a real module. Toolchains know them too: Go's linker,
// for instance, caps its data segments at exactly MaxDataSegments.
//
// wazero enforces its own limits only after it has allocated what the module
// declares (2^27 functions, globals or tables; 2^32-1 locals per function,
// which it turns into a byte slice of that length), and wazero's decoder
// sizes some allocations by counts alone, so these limits are what bound the
// memory that compiling an accepted module can take: every count is also
// capped by the bytes that remain (each entry needs at least its minimal
// encoding), which keeps what wazero allocates proportional to the input,
// except for locals, which a function declares as run-length (count, type)
// pairs — hence MaxLocalsPerFunction and the module-wide locals allowance.
const (
	// MaxModuleSize is the largest module accepted, in bytes (1 GiB, the JS
	// API limit).
	MaxModuleSize = 1 << 30

	// MaxTypes is the number of function types a module may define, rec
	// group members included (JS API: 1,000,000).
	MaxTypes = 1_000_000

	// MaxParams is the number of parameters of one function type (JS API:
	// 1,000).
	MaxParams = 1_000

	// MaxResults is the number of results of one function type (JS API:
	// 1,000).
	MaxResults = 1_000

	// MaxImports is the number of imports of a module (JS API: 1,000,000
	// since 2024, 100,000 before; the larger value refuses nothing that
	// loads anywhere).
	MaxImports = 1_000_000

	// MaxFunctions is the number of functions a module defines, i.e. the
	// entries of its function and code sections (JS API: 1,000,000).
	MaxFunctions = 1_000_000

	// MaxTables is the number of tables a module defines or imports (JS
	// API: 100,000).
	MaxTables = 100_000

	// MaxTableSize is the largest initial size of a table and the most
	// entries one element segment may initialize (JS API: 10,000,000).
	// wazero allocates a table's initial size in every instance, 8 bytes
	// per entry, so this bounds that too (80 MB per instance).
	MaxTableSize = 10_000_000

	// MaxGlobals is the number of globals a module defines (JS API:
	// 1,000,000).
	MaxGlobals = 1_000_000

	// MaxExports is the number of exports of a module (JS API: 1,000,000,
	// raised from 100,000 like MaxImports).
	MaxExports = 1_000_000

	// MaxElementSegments is the number of element segments of a module
	// (wasmparser and the other engines that agreed on the JS API limits:
	// 100,000; toolchains emit one or a handful).
	MaxElementSegments = 100_000

	// MaxDataSegments is the number of data segments of a module, also the
	// largest value the data count section may state (JS API: 100,000; Go's
	// linker splits data into at most exactly this many segments).
	MaxDataSegments = 100_000

	// MaxTags is the number of exception tags a module defines or imports
	// (JS API: 1,000,000).
	MaxTags = 1_000_000

	// MaxFunctionBodySize is the largest code entry, locals declarations
	// included, in bytes (JS API: 7,654,321).
	MaxFunctionBodySize = 7_654_321

	// MaxLocalsPerFunction is the number of locals one function body may
	// declare (JS API: 50,000, parameters included; parameters are not
	// counted here, so this is slightly more lenient).
	MaxLocalsPerFunction = 50_000

	// MinLocalsAllowance is the number of locals all function bodies
	// together may declare, for modules whose code section is smaller than
	// this many bytes; larger modules may declare one local per byte of
	// code section. A compiler declares a local because code reads or
	// writes it, and each local.get, local.set or local.tee takes at least
	// two bytes, so real modules declare far fewer locals than they have
	// code bytes (a stock-Go filter: a few per hundred bytes). The
	// allowance keeps what wazero allocates for locals — one byte each,
	// plus the compiler's work on each — proportional to the module's
	// size: without it a body of six bytes declaring 50,000 locals, repeated,
	// would make a 3 MB module cost wazero 25 GB.
	MinLocalsAllowance = 1 << 16

	// MaxNameMapEntries is the number of entries of one name map in the
	// "name" custom section (function names, or the functions of the local
	// names): one per function, imported or defined, at most.
	MaxNameMapEntries = MaxImports + MaxFunctions

	// MaxLocalNames is the number of local names one function may have in
	// the "name" section: one per parameter and local at most.
	MaxLocalNames = MaxParams + MaxLocalsPerFunction
)
