package runtime

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/nicrt/nicrt/runtime/internal/wasmcheck"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// Report is what nicrt found in a module: its ABI version, what it exports
// and imports, what is missing or unknown, and whether nicrt can run it.
type Report struct {
	Size       int      `json:"size"`
	SHA256     string   `json:"sha256"`
	ABIVersion string   `json:"abi_version"` // "0.2.1", "0.2.0", or "" when unmarked
	Exports    []string `json:"exports"`     // exported functions, sorted
	Callbacks  []string `json:"callbacks"`   // exported proxy_on_* callbacks
	Imports    []Import `json:"imports"`
	Missing    []string `json:"missing,omitempty"` // required exports that are absent
	Unknown    []Import `json:"unknown,omitempty"` // imports nicrt does not provide as declared
	Problems   []string `json:"problems,omitempty"`
	Runnable   bool     `json:"runnable"`
}

// Import is one function a module imports.
type Import struct {
	Module    string `json:"module"`
	Name      string `json:"name"`
	Signature string `json:"signature"`
	// Provided is false when nicrt has no such function, or has it with a
	// different signature (Problem says which).
	Provided bool   `json:"provided"`
	Problem  string `json:"problem,omitempty"`
}

// Inspect analyzes a module without running it.
func (h *Host) Inspect(ctx context.Context, wasm []byte) *Report {
	r, cm, _ := h.analyze(ctx, h.rt, wasm)
	if cm != nil {
		cm.Close(ctx)
	}
	return r
}

var wasmMagic = []byte{0, 'a', 's', 'm'}

// analyze compiles wasm (through the cache) and checks it against what the
// host provides and the ABI requires. err is only set when there is no
// compiled module to return; r.Runnable says whether the module is usable.
func (h *Host) analyze(ctx context.Context, rt wazero.Runtime, wasm []byte) (*Report, wazero.CompiledModule, error) {
	sum := sha256.Sum256(wasm)
	r := &Report{Size: len(wasm), SHA256: hex.EncodeToString(sum[:])}
	if err := checkModule(wasm); err != nil {
		r.Problems = append(r.Problems, err.Error())
		return r, nil, err
	}
	cm, err := compile(ctx, rt, wasm)
	if err != nil {
		r.Problems = append(r.Problems, "invalid module: "+err.Error())
		return r, nil, fmt.Errorf("invalid module: %w", err)
	}
	if rt == h.rt {
		h.pin(ctx, r.SHA256, wasm)
	}
	exports := cm.ExportedFunctions()
	for name := range exports {
		r.Exports = append(r.Exports, name)
		if strings.HasPrefix(name, "proxy_on_") {
			r.Callbacks = append(r.Callbacks, name)
		}
	}
	sort.Strings(r.Exports)
	sort.Strings(r.Callbacks)
	switch {
	case exports["proxy_abi_version_0_2_1"] != nil:
		r.ABIVersion = "0.2.1"
	case exports["proxy_abi_version_0_2_0"] != nil:
		r.ABIVersion = "0.2.0"
	case exports["proxy_abi_version_0_1_0"] != nil:
		r.ABIVersion = "0.1.0"
		r.Problems = append(r.Problems, "module targets Proxy-Wasm ABI 0.1.0; nicrt implements 0.2.0 and 0.2.1")
	default:
		r.Missing = append(r.Missing, "proxy_abi_version_0_2_1 (or _0_2_0)")
	}
	if _, ok := cm.ExportedMemories()["memory"]; !ok {
		r.Missing = append(r.Missing, "memory")
	}
	if exports["proxy_on_memory_allocate"] == nil && exports["malloc"] == nil {
		r.Missing = append(r.Missing, "proxy_on_memory_allocate (or malloc)")
	}
	if exports["proxy_on_context_create"] == nil {
		r.Missing = append(r.Missing, "proxy_on_context_create")
	}
	if exports["_initialize"] == nil && exports["_start"] != nil {
		r.Problems = append(r.Problems, "module exports _start but not _initialize: it is a command, not a reactor (build Go filters with -buildmode=c-shared)")
	}
	for _, m := range r.Missing {
		r.Problems = append(r.Problems, "missing export "+m)
	}
	for _, def := range cm.ImportedFunctions() {
		mod, name, _ := def.Import()
		imp := Import{Module: mod, Name: name, Signature: signature(def)}
		have, ok := h.imports[importKey{mod, name}]
		switch {
		case !ok:
			imp.Problem = "not provided by nicrt"
		case signature(have) != imp.Signature:
			imp.Problem = "nicrt provides it as " + signature(have)
		default:
			imp.Provided = true
		}
		r.Imports = append(r.Imports, imp)
		if !imp.Provided {
			r.Unknown = append(r.Unknown, imp)
		}
	}
	if len(r.Unknown) > 0 {
		names := make([]string, len(r.Unknown))
		for i, u := range r.Unknown {
			names[i] = fmt.Sprintf("%s.%s%s (%s)", u.Module, u.Name, u.Signature, u.Problem)
		}
		r.Problems = append(r.Problems, "imports nicrt does not provide: "+strings.Join(names, ", "))
	}
	r.Runnable = len(r.Problems) == 0
	return r, cm, nil
}

func signature(d api.FunctionDefinition) string {
	var b strings.Builder
	b.WriteByte('(')
	for i, t := range d.ParamTypes() {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(api.ValueTypeName(t))
	}
	b.WriteString(")->(")
	for i, t := range d.ResultTypes() {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(api.ValueTypeName(t))
	}
	b.WriteByte(')')
	return b.String()
}

// checkModule refuses what is not a module, and a module whose declared
// counts do not fit its bytes: wazero trusts those counts and can abort the
// whole process on a few malformed bytes (runtime/internal/wasmcheck).
func checkModule(wasm []byte) error {
	if len(wasm) < 8 || !bytes.Equal(wasm[:4], wasmMagic) {
		return errors.New("not a WebAssembly module (the file does not start with \\0asm)")
	}
	if err := wasmcheck.Check(wasm); err != nil {
		return fmt.Errorf("invalid module: %w", err)
	}
	return nil
}

// compile is wazero's CompileModule, with a panic inside wazero's decoder
// (seen on malformed input) turned into an error.
func compile(ctx context.Context, rt wazero.Runtime, wasm []byte) (cm wazero.CompiledModule, err error) {
	defer func() {
		if r := recover(); r != nil {
			cm, err = nil, fmt.Errorf("wazero failed on this module: %v", r)
		}
	}()
	return rt.CompileModule(ctx, wasm)
}
