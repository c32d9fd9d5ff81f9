// Package wasmbuild builds Proxy-Wasm guests from Go source with the stock
// toolchain (GOOS=wasip1 GOARCH=wasm -buildmode=c-shared), for tests.
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
	mu.Lock()
	r, ok := built[abs]
	if !ok {
		r = &result{}
		built[abs] = r
	}
	mu.Unlock()
	r.once.Do(func() { r.wasm, r.err = build(abs) })
	return r.wasm, r.err
}

func build(dir string) ([]byte, error) {
	out, err := os.MkdirTemp("", "nicrt-wasmbuild-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(out)
	dst := filepath.Join(out, "guest.wasm")
	cmd := exec.Command(goBinary(), "build", "-buildmode=c-shared", "-trimpath", "-o", dst, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("building wasm guest %s: %v\n%s", dir, err, stderr.String())
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
