// Package wasmbuild builds Proxy-Wasm guests for tests: from Go source with
// the stock toolchain (GOOS=wasip1 GOARCH=wasm -buildmode=c-shared), and
// from C with Debian's clang (a guest directory's build.sh).
//
// Tests build what they need rather than reading committed binaries, so a
// test always runs the module the current source produces. Builds go through
// the Go build cache, and a process-wide memo builds each package once per
// test binary.
package wasmbuild

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

var (
	mu    sync.Mutex
	built = map[string]*result{}
)

type result struct {
	once sync.Once
	wasm []byte
	err  error
}

// Go builds the Go package at pkgDir (a directory, absolute or relative to
// the calling test's working directory) into a wasm reactor and returns its
// bytes. It fails the test on a build error.
func Go(t testing.TB, pkgDir string) []byte {
	t.Helper()
	b, err := BuildGo(pkgDir)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// BuildGo is Go without a testing.TB, for benchmarks' setup and tools.
func BuildGo(pkgDir string) ([]byte, error) {
	abs, err := filepath.Abs(pkgDir)
	if err != nil {
		return nil, err
	}
	return memo(abs, func() ([]byte, error) {
		return buildTo("wasm guest "+abs, func(dst string) *exec.Cmd {
			cmd := exec.Command(goBinary(), "build", "-buildmode=c-shared", "-trimpath", "-o", dst, ".")
			cmd.Dir = abs
			cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
			return cmd
		})
	})
}

// memo returns what build made the first time key was asked for in this
// process.
func memo(key string, build func() ([]byte, error)) ([]byte, error) {
	mu.Lock()
	r, ok := built[key]
	if !ok {
		r = &result{}
		built[key] = r
	}
	mu.Unlock()
	r.once.Do(func() { r.wasm, r.err = build() })
	return r.wasm, r.err
}

// buildTo runs the command cmd(dst) makes, which writes a module to dst (a
// file in a fresh temporary directory), and returns the module.
func buildTo(what string, cmd func(dst string) *exec.Cmd) ([]byte, error) {
	dir, err := os.MkdirTemp("", "nicrt-wasmbuild-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	dst := filepath.Join(dir, "guest.wasm")
	c := cmd(dst)
	var out bytes.Buffer
	c.Stdout, c.Stderr = &out, &out
	if err := c.Run(); err != nil {
		return nil, fmt.Errorf("building %s: %v\n%s", what, err, out.String())
	}
	return os.ReadFile(dst)
}

// goBinary finds the go command on PATH, else beside the toolchain that
// built this binary.
func goBinary() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(runtime.GOROOT(), "bin", "go")
}

// SkipMissingToolsEnv, set to 1, turns a missing external tool (clang,
// wat2wasm) into a skipped test. Without it the test fails: CI installs the
// tools with .ci/install-deps, so a missing tool there is a broken setup,
// not a reason to pass.
const SkipMissingToolsEnv = "NICRT_SKIP_MISSING_TOOLS"

// RequireTool returns the path of an external program a test needs, or
// fails (skips, under SkipMissingToolsEnv=1) the test naming what to install.
func RequireTool(t testing.TB, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	msg := name + " not found in PATH: run .ci/install-deps (installs it from Debian)"
	if os.Getenv(SkipMissingToolsEnv) == "1" {
		t.Skipf("%s; skipped because %s=1", msg, SkipMissingToolsEnv)
	}
	t.Fatalf("%s, or set %s=1 to skip the tests that need it", msg, SkipMissingToolsEnv)
	return ""
}

// C builds a guest written in C with the build.sh script in dir (Debian's
// clang --target=wasm32-wasi, wasi-libc and wasm-ld; see
// runtime/testdata/cfilter) and returns the module's bytes, once per test
// binary.
func C(t testing.TB, dir string) []byte {
	t.Helper()
	RequireTool(t, "clang")
	RequireTool(t, "wasm-ld")
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	b, err := memo("c:"+abs, func() ([]byte, error) {
		return buildTo("C guest "+abs, func(dst string) *exec.Cmd {
			return exec.Command("sh", filepath.Join(abs, "build.sh"), dst)
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// WAT compiles WebAssembly text with wabt's wat2wasm and returns the module's
// bytes; flags enable proposals (e.g. --enable-tail-call). Hand-written WAT
// is how tests reach what no compiler emits on purpose: SIMD in a guest,
// traps at chosen places, every section kind.
func WAT(t testing.TB, src string, flags ...string) []byte {
	t.Helper()
	tool := RequireTool(t, "wat2wasm")
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
