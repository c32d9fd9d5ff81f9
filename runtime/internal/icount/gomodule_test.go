package icount

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/sys"
)

// goCommandSrc is a stock-Go wasip1 program: sorting, maps, hashing,
// formatting, goroutines and channels (Go's scheduler unwinds and rewinds
// the wasm stack through ordinary control flow), and an exit code.
const goCommandSrc = `package main

import (
	"crypto/sha256"
	"fmt"
	"os"
	"sort"
	"strings"
)

func main() {
	words := strings.Fields("the quick brown fox jumps over the lazy dog while the cat sleeps")
	sort.Strings(words)
	counts := map[string]int{}
	for _, w := range words {
		counts[w]++
	}
	sum := sha256.Sum256([]byte(strings.Join(words, ",")))
	fmt.Printf("%v %d %x\n", words, len(counts), sum[:8])
	ch := make(chan int)
	go func() {
		for i := 0; i < 100; i++ {
			ch <- i
		}
		close(ch)
	}()
	total := 0
	for v := range ch {
		total += v
	}
	fmt.Println("total", total)
	if len(os.Args) > 1 {
		os.Exit(3)
	}
}
`

// goReactorSrc is a stock-Go reactor (-buildmode=c-shared), the shape of
// nicrt's filters: _initialize, then calls to a //go:wasmexport function.
const goReactorSrc = `package main

import (
	"crypto/sha256"
	"sort"
)

//go:wasmexport work
func work(n int32) int32 {
	data := make([]int, n)
	for i := range data {
		data[i] = int(uint32(i) * 2654435761 % 1000)
	}
	sort.Ints(data)
	h := sha256.New()
	for _, v := range data {
		h.Write([]byte{byte(v), byte(v >> 8)})
	}
	s := h.Sum(nil)
	return int32(s[0]) | int32(s[1])<<8 | int32(s[2])<<16
}

func main() {}
`

var (
	goBuildMu    sync.Mutex
	goBuildCache = map[string][]byte{}
)

// goGuest builds (once per test binary) one of the Go guests above.
func goGuest(t testing.TB, src string, flags ...string) []byte {
	t.Helper()
	goBuildMu.Lock()
	defer goBuildMu.Unlock()
	key := src + string(rune(len(flags)))
	if b, ok := goBuildCache[key]; ok {
		return b
	}
	b := buildGoWasm(t, t.TempDir(), src, flags...)
	goBuildCache[key] = b
	return b
}

// runGoCommand runs a wasip1 command module and returns its stdout, exit
// code and, if instrumented, its instruction count.
func runGoCommand(t *testing.T, wasm []byte, args ...string) (string, uint32, uint64) {
	t.Helper()
	ctx := context.Background()
	r := newRuntime(t, nil)
	var out bytes.Buffer
	cfg := wazero.NewModuleConfig().WithStdout(&out).WithStderr(&out).WithArgs(append([]string{"guest"}, args...)...)
	m, err := r.InstantiateWithConfig(ctx, wasm, cfg)
	code := uint32(0)
	var exit *sys.ExitError
	switch {
	case errors.As(err, &exit):
		code = exit.ExitCode()
	case err != nil:
		t.Fatalf("run: %v", err)
	}
	var n uint64
	// The module is closed after proc_exit; its globals stay readable.
	if m != nil && m.ExportedGlobal(GlobalName) != nil {
		n = readCounter(t, m)
	} else if m == nil && len(args) == 0 {
		t.Fatal("module instance not returned")
	}
	return out.String(), code, n
}

func TestGoCommand(t *testing.T) {
	orig := goGuest(t, goCommandSrc)
	inst := mustInstrument(t, orig)
	for _, args := range [][]string{nil, {"exit"}} {
		wantOut, wantCode, _ := runGoCommand(t, orig, args...)
		gotOut, gotCode, n1 := runGoCommand(t, inst, args...)
		_, _, n2 := runGoCommand(t, inst, args...)
		if gotOut != wantOut || gotCode != wantCode {
			t.Errorf("args %v: instrumented printed %q exit %d, original %q exit %d",
				args, gotOut, gotCode, wantOut, wantCode)
		}
		if !bytes.Contains([]byte(wantOut), []byte("total 4950")) {
			t.Errorf("unexpected output %q", wantOut)
		}
		if args == nil {
			if n1 == 0 || n1 != n2 {
				t.Errorf("two runs counted %d and %d instructions, want equal and non-zero", n1, n2)
			}
			t.Logf("Go command (%d bytes): %d instructions", len(orig), n1)
		}
	}
}

// runGoReactor initializes a Go reactor and calls work(n) for each n,
// returning results and per-call counts (when instrumented).
func runGoReactor(t *testing.T, wasm []byte, ns []int32) (res []uint64, counts []uint64) {
	t.Helper()
	ctx := context.Background()
	r := newRuntime(t, nil)
	m, err := r.InstantiateWithConfig(ctx, wasm, wazero.NewModuleConfig().WithStartFunctions("_initialize"))
	if err != nil {
		t.Fatalf("instantiate: %v", err)
	}
	instrumented := m.ExportedGlobal(GlobalName) != nil
	work := m.ExportedFunction("work")
	for _, n := range ns {
		var before uint64
		if instrumented {
			before = readCounter(t, m)
		}
		out, err := work.Call(ctx, uint64(n))
		if err != nil {
			t.Fatalf("work(%d): %v", n, err)
		}
		res = append(res, out[0])
		if instrumented {
			counts = append(counts, readCounter(t, m)-before)
		}
	}
	return res, counts
}

func TestGoReactor(t *testing.T) {
	orig := goGuest(t, goReactorSrc, "-buildmode=c-shared")
	inst := mustInstrument(t, orig)
	ns := []int32{0, 10, 1000, 10, 5000, 1000}
	want, _ := runGoReactor(t, orig, ns)
	got, c1 := runGoReactor(t, inst, ns)
	_, c2 := runGoReactor(t, inst, ns)
	if !slices.Equal(got, want) {
		t.Errorf("instrumented results %v, original %v", got, want)
	}
	if !slices.Equal(c1, c2) {
		t.Errorf("two fresh instances counted %v and %v", c1, c2)
	}
	for i, n := range c1 {
		if n == 0 {
			t.Errorf("work(%d) counted nothing", ns[i])
		}
	}
	if c1[4] <= c1[2] {
		t.Errorf("work(5000) counted %d, not more than work(1000)'s %d", c1[4], c1[2])
	}
	t.Logf("Go reactor work(n) counts for n=%v: %v", ns, c1)
}
