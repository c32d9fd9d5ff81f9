package wasmcheck

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/nicrt/nicrt/internal/wasmbuild"
)

// The tests check real modules built by real toolchains: a stock-Go
// Proxy-Wasm filter (nicrt's test guest, ~3 MB, built by internal/wasmbuild),
// the C guest built with clang, a C module with DWARF, and hand-written WAT
// compiled by wabt's wat2wasm. The tools come from .ci/install-deps.

// requireTool returns the path of an external program the test needs
// (NICRT_SKIP_MISSING_TOOLS=1 skips instead of failing when it is missing).
func requireTool(t testing.TB, name string) string {
	t.Helper()
	return wasmbuild.RequireTool(t, name)
}

// repoRoot is the root of the nicrt module, from this package's directory.
var repoRoot = filepath.Join("..", "..", "..")

// built caches the C modules clang built, once per test binary.
var built struct {
	sync.Mutex
	m map[string][]byte
}

// buildOnce builds a module with build (into a fresh directory) the first
// time key is asked for.
func buildOnce(t testing.TB, key string, build func(dir string) (string, error)) []byte {
	t.Helper()
	built.Lock()
	defer built.Unlock()
	if b, ok := built.m[key]; ok {
		return b
	}
	dir, err := os.MkdirTemp("", "wasmcheck")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	out, err := build(dir)
	if err != nil {
		t.Fatalf("building %s: %v", key, err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if built.m == nil {
		built.m = map[string][]byte{}
	}
	built.m[key] = b
	return b
}

// run runs a command, returning its output in the error if it fails.
func run(cmd *exec.Cmd) error {
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Run(); err != nil {
		return &runError{err, buf.String()}
	}
	return nil
}

type runError struct {
	err    error
	output string
}

func (e *runError) Error() string { return e.err.Error() + "\n" + e.output }

// goFilter builds nicrt's Go test guest, a Proxy-Wasm filter that calls
// every host function, as a stock-Go wasip1 reactor (-buildmode=c-shared).
func goFilter(t testing.TB) []byte {
	t.Helper()
	return wasmbuild.Go(t, filepath.Join(repoRoot, "runtime", "testdata", "guests", "testguest"))
}

// cFilter builds nicrt's C Proxy-Wasm guest with its build.sh (clang,
// wasi-libc, wasm-ld).
func cFilter(t testing.TB) []byte {
	t.Helper()
	return wasmbuild.C(t, filepath.Join(repoRoot, "runtime", "testdata", "cfilter"))
}

// cDebugSrc is a C module compiled with DWARF, so that the tests also feed
// wazero's DWARF reader (wazero parses .debug_* sections at compile time).
const cDebugSrc = `
static int table[64];
__attribute__((export_name("fill")))
int fill(int n) {
	int sum = 0;
	for (int i = 0; i < 64; i++) {
		table[i] = i * n;
		sum += table[i];
	}
	return sum;
}
`

// cDebug builds cDebugSrc with -g and no libc.
func cDebug(t testing.TB) []byte {
	t.Helper()
	requireTool(t, "clang")
	requireTool(t, "wasm-ld")
	return buildOnce(t, "c debug", func(dir string) (string, error) {
		src, out := filepath.Join(dir, "m.c"), filepath.Join(dir, "m.wasm")
		if err := os.WriteFile(src, []byte(cDebugSrc), 0o644); err != nil {
			return "", err
		}
		return out, run(exec.Command("clang", "--target=wasm32", "-O1", "-g", "-nostdlib",
			"-Wl,--no-entry", "-o", out, src))
	})
}

// wat compiles WebAssembly text (wasmbuild.WAT).
func wat(t testing.TB, src string, flags ...string) []byte {
	t.Helper()
	return wasmbuild.WAT(t, src, flags...)
}

// Hand-assembled binaries, for what no toolchain writes.

// uleb appends v as unsigned LEB128.
func uleb(dst []byte, v uint64) []byte {
	for v >= 0x80 {
		dst = append(dst, byte(v)|0x80)
		v >>= 7
	}
	return append(dst, byte(v))
}

// vec returns a LEB128 count followed by the entries.
func vec(n uint64, entries ...[]byte) []byte {
	b := uleb(nil, n)
	for _, e := range entries {
		b = append(b, e...)
	}
	return b
}

// cat concatenates byte strings.
func cat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

// sec returns a section: its id, its size and its content.
func sec(id byte, content ...[]byte) []byte {
	c := cat(content...)
	return cat([]byte{id}, uleb(nil, uint64(len(c))), c)
}

// str returns a length-prefixed name.
func str(s string) []byte { return cat(uleb(nil, uint64(len(s))), []byte(s)) }

// header is the preamble of a core module, 8 bytes.
var header = []byte("\x00asm\x01\x00\x00\x00")

// mod returns a module of the given sections.
func mod(sections ...[]byte) []byte { return cat(header, cat(sections...)) }
