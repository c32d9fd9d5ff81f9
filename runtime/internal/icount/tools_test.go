package icount

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
)

// skipMissingToolsEnv, when set to 1, turns a missing external tool (wat2wasm,
// clang) into a skipped test. Without it the test fails: CI installs the tools
// with .ci/install-deps, so a missing tool there is a broken setup, not a
// reason to pass.
const skipMissingToolsEnv = "NICRT_SKIP_MISSING_TOOLS"

// requireTool returns the path of an external program the test needs.
func requireTool(t testing.TB, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	msg := name + " not found in PATH: run .ci/install-deps (installs it from Debian)"
	if os.Getenv(skipMissingToolsEnv) == "1" {
		t.Skipf("%s; skipped because %s=1", msg, skipMissingToolsEnv)
	}
	t.Fatalf("%s, or set %s=1 to skip tests that need it", msg, skipMissingToolsEnv)
	return ""
}

// wat compiles WebAssembly text with wabt's wat2wasm (extra flags enable
// proposals, e.g. --enable-tail-call).
func wat(t testing.TB, src string, flags ...string) []byte {
	t.Helper()
	tool := requireTool(t, "wat2wasm")
	dir := t.TempDir()
	in, out := filepath.Join(dir, "m.wat"), filepath.Join(dir, "m.wasm")
	if err := os.WriteFile(in, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	args := append(append([]string{}, flags...), in, "-o", out)
	if msg, err := exec.Command(tool, args...).CombinedOutput(); err != nil {
		t.Fatalf("wat2wasm: %v\n%s\n--- source ---\n%s", err, msg, src)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
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

var (
	cfilterOnce sync.Once
	cfilterWasm []byte
	cfilterErr  string
)

// buildCFilter builds runtime/testdata/cfilter with its build.sh into a
// temporary directory (once per test binary) and returns the module.
func buildCFilter(t testing.TB) []byte {
	t.Helper()
	requireTool(t, "clang")
	requireTool(t, "wasm-ld")
	cfilterOnce.Do(func() {
		dir, err := os.MkdirTemp("", "cfilter")
		if err != nil {
			cfilterErr = err.Error()
			return
		}
		defer os.RemoveAll(dir)
		out := filepath.Join(dir, "filter.wasm")
		cmd := exec.Command("sh", filepath.Join(cfilterDir, "build.sh"), out)
		var buf bytes.Buffer
		cmd.Stdout, cmd.Stderr = &buf, &buf
		if err := cmd.Run(); err != nil {
			cfilterErr = "build.sh: " + err.Error() + "\n" + buf.String()
			return
		}
		if cfilterWasm, err = os.ReadFile(out); err != nil {
			cfilterErr = err.Error()
		}
	})
	if cfilterErr != "" {
		t.Fatal(cfilterErr)
	}
	return cfilterWasm
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
