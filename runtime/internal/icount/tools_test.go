package icount

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/nicrt/nicrt/internal/wasmbuild"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
)

// requireTool returns the path of an external program the test needs
// (NICRT_SKIP_MISSING_TOOLS=1 skips instead of failing when it is missing).
func requireTool(t testing.TB, name string) string {
	t.Helper()
	return wasmbuild.RequireTool(t, name)
}

// wat compiles WebAssembly text (wasmbuild.WAT).
func wat(t testing.TB, src string, flags ...string) []byte {
	t.Helper()
	return wasmbuild.WAT(t, src, flags...)
}

// goTool returns the go command of the toolchain running the tests.
func goTool(t testing.TB) string {
	t.Helper()
	if p := filepath.Join(runtime.GOROOT(), "bin", "go"); fileExists(p) {
		return p
	}
	return requireTool(t, "go")
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// buildGoWasm builds a stock-Go wasip1 program from one main.go source into
// dir, with extra go build flags (e.g. -buildmode=c-shared).
func buildGoWasm(t testing.TB, dir, src string, flags ...string) []byte {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module guest\n\ngo 1.26\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "guest.wasm")
	args := append([]string{"build", "-trimpath", "-o", out}, flags...)
	cmd := exec.Command(goTool(t), append(args, ".")...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "GOFLAGS=-mod=mod", "GOWORK=off")
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %v: %v\n%s", flags, err, msg)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// cfilterDir is the C guest's source directory.
var cfilterDir = filepath.Join("..", "..", "testdata", "cfilter")

// buildCFilter builds runtime/testdata/cfilter with its build.sh (once per
// test binary) and returns the module.
func buildCFilter(t testing.TB) []byte {
	t.Helper()
	return wasmbuild.C(t, cfilterDir)
}

// compilationCache lets the tests' runtimes compile each distinct module
// once (the Go guests take about a second each).
var compilationCache = wazero.NewCompilationCache()

// newRuntime returns a wazero runtime with WASI, closed with the test.
func newRuntime(t testing.TB, cfg wazero.RuntimeConfig) wazero.Runtime {
	t.Helper()
	ctx := context.Background()
	if cfg == nil {
		cfg = wazero.NewRuntimeConfig()
	}
	r := wazero.NewRuntimeWithConfig(ctx, cfg.WithCompilationCache(compilationCache))
	t.Cleanup(func() { r.Close(ctx) })
	wasi_snapshot_preview1.MustInstantiate(ctx, r)
	return r
}

// readCounter reads the instruction counter of an instrumented module instance.
func readCounter(t testing.TB, m api.Module) uint64 {
	t.Helper()
	g := m.ExportedGlobal(GlobalName)
	if g == nil {
		t.Fatalf("instrumented module does not export %s", GlobalName)
	}
	if _, ok := g.(api.MutableGlobal); !ok || g.Type() != api.ValueTypeI64 {
		t.Fatalf("%s is not a mutable i64 global", GlobalName)
	}
	return g.Get()
}

// mustInstrument instruments wasm or fails the test.
func mustInstrument(t testing.TB, wasm []byte) []byte {
	t.Helper()
	out, err := Instrument(wasm)
	if err != nil {
		t.Fatalf("Instrument: %v", err)
	}
	return out
}

// mustRewrite rewrites wasm with o or fails the test.
func mustRewrite(t testing.TB, wasm []byte, o Options) []byte {
	t.Helper()
	out, err := Rewrite(wasm, o)
	if err != nil {
		t.Fatalf("Rewrite(%+v): %v", o, err)
	}
	return out
}

// regionCounts counts the instructions of annotated WAT by region. The WAT is
// written flat, one instruction per line; every instruction line ends with a
// comment ";; @name" naming its region, and the structural markers end and
// else (which do not count) carry no tag. This is the test's oracle: expected
// counts come from the text the test wrote, not from the instrumenter.
func regionCounts(t testing.TB, src string) map[string]uint64 {
	t.Helper()
	counts := map[string]uint64{}
	for i, line := range strings.Split(src, "\n") {
		code, comment, _ := strings.Cut(line, ";;")
		code = strings.TrimSpace(code)
		if code == "" || code[0] == '(' || code[0] == ')' {
			continue // declarations, comments, blank lines
		}
		tag := ""
		if c := strings.TrimSpace(comment); strings.HasPrefix(c, "@") {
			tag = strings.Fields(c[1:])[0]
		}
		word := strings.Fields(code)[0]
		switch {
		case word == "end" || word == "else":
			if tag != "" {
				t.Fatalf("line %d: %q is a delimiter and must not be tagged", i+1, word)
			}
		case tag == "":
			t.Fatalf("line %d: instruction %q has no ;; @region tag", i+1, code)
		default:
			counts[tag]++
		}
	}
	return counts
}
