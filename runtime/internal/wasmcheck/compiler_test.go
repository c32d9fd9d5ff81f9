package wasmcheck

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime/debug"
	"runtime/metrics"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
)

// wazero cannot be asked in-process whether it survives a module: a fatal
// out-of-memory error kills the process, recover() or not. So the tests hand
// modules to a compile server, a child process running this same test
// binary (TestMain sees compileServerEnv), which compiles each module with
// wazero.NewRuntime's CompileModule under a hard address-space cap and
// reports the outcome and the bytes it allocated. If the child dies or
// hangs, the module in flight did it; a new child serves the next module.

// compileServerEnv, set to 1, makes the test binary a compile server.
const compileServerEnv = "WASMCHECK_COMPILE_SERVER"

const (
	// childMemLimit is the child's GOMEMLIMIT: it collects early, so that
	// its address space stays close to what it really uses.
	childMemLimit = "512MiB"
)

// addressSpaceHeadroom is how much the child's virtual memory may grow
// while compiling a module of n bytes. The child caps it (RLIMIT_AS) before
// each compilation, so that an allocation sized by a count the input cannot
// back fails at once instead of being overcommitted and left untouched (Go
// does not touch fresh memory). TestWorstCases measured at most ~85 bytes
// of peak resident memory per input byte.
func addressSpaceHeadroom(n int) uint64 { return 128<<20 + 256*uint64(n) }

// allocBudget is what compiling an accepted module of n bytes may allocate
// in all, garbage included. wazero's cost is linear in the input once Check
// has run, but with a large factor: TestWorstCases measured up to ~190 bytes
// per input byte for a module of empty function types, and ~1,600 for types
// of 1,000 parameters (wazero builds each type's key string by repeated
// concatenation, quadratic in its parameters: garbage, not live memory). An
// allocation sized by a count the input cannot back — what Check exists to
// stop — is of gigabytes for a few bytes and exceeds it by far.
func allocBudget(n int) uint64 { return 64<<20 + 2048*uint64(n) }

// compileTimeout is how long the child may take for a module of n bytes:
// the 3 MB Go filter compiles in about 2 s on the 2-core CI machine. Small
// modules get less than the 10 s the fuzzing engine allows one input before
// it kills the worker as deadlocked, so that a slow child (wazero growing a
// map of 2^30 entries until the address-space cap stops it) is reported as
// what it is.
func compileTimeout(n int) time.Duration {
	return 8*time.Second + time.Duration(n>>20)*20*time.Second
}

func TestMain(m *testing.M) {
	if os.Getenv(compileServerEnv) == "1" {
		os.Exit(serveCompiles(os.Stdin, os.Stdout))
	}
	code := m.Run()
	server.stop()
	os.Exit(code)
}

// Outcomes of compiling a module in the child.
type outcomeKind byte

const (
	compiled outcomeKind = iota // CompileModule succeeded
	rejected                    // CompileModule returned an error
	panicked                    // CompileModule panicked (recovered)
	crashed                     // the child died (fatal error, signal)
	timedOut                    // the child did not answer in time
)

var outcomeNames = [...]string{"compiled", "rejected", "panicked", "crashed", "timed out"}

// outcome is what happened to one module in the child.
type outcome struct {
	kind  outcomeKind
	msg   string // wazero's error, the panic, or how the child died
	alloc uint64 // bytes allocated while compiling, garbage included
	peak  uint64 // growth of the child's peak resident set while compiling
	took  time.Duration
}

func (o outcome) String() string {
	s := fmt.Sprintf("%s after %v, %d bytes allocated, peak RSS +%d bytes",
		outcomeNames[o.kind], o.took.Round(time.Millisecond), o.alloc, o.peak)
	if o.msg != "" {
		s += ": " + o.msg
	}
	return s
}

// answerSize is the fixed part of the child's answer: the outcome kind, the
// bytes allocated, the peak RSS growth, the nanoseconds taken and the length
// of the message that follows.
const answerSize = 1 + 8 + 8 + 8 + 4

// serveCompiles is the child's loop: each request is a little-endian uint32
// length and the module; each answer answerSize bytes and the message.
func serveCompiles(in io.Reader, out io.Writer) int {
	ctx := context.Background()
	r := wazero.NewRuntime(ctx)
	br, bw := bufio.NewReader(in), bufio.NewWriter(out)
	allocs := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	for {
		var hdr [4]byte
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			return 0 // the parent is done
		}
		wasm := make([]byte, binary.LittleEndian.Uint32(hdr[:]))
		if _, err := io.ReadFull(br, wasm); err != nil {
			return 0
		}
		if err := capAddressSpace(addressSpaceHeadroom(len(wasm))); err != nil {
			fmt.Fprintln(os.Stderr, "compile server:", err)
			return 2
		}
		resetPeakRSS()
		rss := residentSet("VmRSS:")
		metrics.Read(allocs)
		before, start := allocs[0].Value.Uint64(), time.Now()
		kind, msg := compileOnce(ctx, r, wasm)
		took := time.Since(start)
		metrics.Read(allocs)
		peak := max(residentSet("VmHWM:"), rss) - rss
		if kind == panicked { // wazero's state after a panic is unknown
			r.Close(ctx)
			r = wazero.NewRuntime(ctx)
		}
		var ans [answerSize]byte
		ans[0] = byte(kind)
		binary.LittleEndian.PutUint64(ans[1:], allocs[0].Value.Uint64()-before)
		binary.LittleEndian.PutUint64(ans[9:], peak)
		binary.LittleEndian.PutUint64(ans[17:], uint64(took))
		binary.LittleEndian.PutUint32(ans[25:], uint32(len(msg)))
		bw.Write(ans[:])
		bw.WriteString(msg)
		if err := bw.Flush(); err != nil {
			return 0
		}
	}
}

// capAddressSpace lets this process's virtual memory grow by at most
// headroom from now on (within the hard limit).
func capAddressSpace(headroom uint64) error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_AS, &lim); err != nil {
		return err
	}
	lim.Cur = min(residentSet("VmSize:")+headroom, lim.Max)
	return syscall.Setrlimit(syscall.RLIMIT_AS, &lim)
}

// resetPeakRSS resets the kernel's record of this process's peak resident
// set (VmHWM), so that it measures one compilation.
func resetPeakRSS() { os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

// residentSet reads a size field of /proc/self/status ("VmRSS:", "VmHWM:")
// in bytes, or 0.
func residentSet(field string) uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	s := string(b)
	i := strings.Index(s, field)
	if i < 0 {
		return 0
	}
	var kb uint64
	fmt.Sscan(s[i+len(field):], &kb)
	return kb << 10
}

// compileOnce compiles wasm, turning a panic into an outcome.
func compileOnce(ctx context.Context, r wazero.Runtime, wasm []byte) (kind outcomeKind, msg string) {
	defer func() {
		if p := recover(); p != nil {
			kind, msg = panicked, fmt.Sprintf("%v\n%s", p, debug.Stack())
		}
	}()
	cm, err := r.CompileModule(ctx, wasm)
	if err != nil {
		return rejected, err.Error()
	}
	cm.Close(ctx)
	return compiled, ""
}

// server is this process's compile server, started on first use.
var server compileServer

type compileServer struct {
	mu     sync.Mutex
	cmd    *exec.Cmd
	in     io.WriteCloser
	out    *bufio.Reader
	stderr *headBuffer
}

// compileInChild compiles wasm in the compile server.
func compileInChild(t testing.TB, wasm []byte) outcome {
	t.Helper()
	return server.compile(t, wasm)
}

func (s *compileServer) start() error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), compileServerEnv+"=1", "GOMEMLIMIT="+childMemLimit, "GOMAXPROCS=1")
	s.stderr = &headBuffer{max: 4 << 10}
	cmd.Stderr = s.stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	s.cmd, s.in, s.out = cmd, in, bufio.NewReader(out)
	return nil
}

func (s *compileServer) compile(t testing.TB, wasm []byte) outcome {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		if err := s.start(); err != nil {
			t.Fatalf("starting the compile server: %v", err)
		}
	}
	type reply struct {
		o   outcome
		err error
	}
	ch := make(chan reply, 1)
	go func() {
		o, err := s.roundTrip(wasm)
		ch <- reply{o, err}
	}()
	start := time.Now()
	timer := time.NewTimer(compileTimeout(len(wasm)))
	defer timer.Stop()
	select {
	case r := <-ch:
		if r.err == nil {
			return r.o
		}
		return outcome{kind: crashed, msg: s.reap(), took: time.Since(start)}
	case <-timer.C:
		s.cmd.Process.Kill()
		<-ch // the round trip fails once the pipes close
		return outcome{kind: timedOut, msg: s.reap(), took: time.Since(start)}
	}
}

// roundTrip sends one module and reads the answer.
func (s *compileServer) roundTrip(wasm []byte) (outcome, error) {
	var hdr [4]byte
	binary.LittleEndian.PutUint32(hdr[:], uint32(len(wasm)))
	if _, err := s.in.Write(hdr[:]); err != nil {
		return outcome{}, err
	}
	if _, err := s.in.Write(wasm); err != nil {
		return outcome{}, err
	}
	var ans [answerSize]byte
	if _, err := io.ReadFull(s.out, ans[:]); err != nil {
		return outcome{}, err
	}
	msg := make([]byte, binary.LittleEndian.Uint32(ans[25:]))
	if _, err := io.ReadFull(s.out, msg); err != nil {
		return outcome{}, err
	}
	return outcome{
		kind:  outcomeKind(ans[0]),
		alloc: binary.LittleEndian.Uint64(ans[1:]),
		peak:  binary.LittleEndian.Uint64(ans[9:]),
		took:  time.Duration(binary.LittleEndian.Uint64(ans[17:])),
		msg:   string(msg),
	}, nil
}

// reap waits for a dead (or killed) child and says how it ended, with the
// start of what it wrote to stderr (the fatal error's first lines).
func (s *compileServer) reap() string {
	s.in.Close()
	err := s.cmd.Wait()
	stderr := s.stderr.String()
	if i := strings.Index(stderr, "\ngoroutine "); i >= 0 {
		stderr = stderr[:i] // the fatal error, without the stacks
	}
	s.cmd = nil
	return fmt.Sprintf("child exited (%v): %s", err, strings.TrimSpace(stderr))
}

// stop ends the child, if any: it exits when its stdin closes.
func (s *compileServer) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	s.in.Close()
	done := make(chan struct{})
	go func() { s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		s.cmd.Process.Kill()
		<-done
	}
	s.cmd = nil
}

// headBuffer keeps the first max bytes written to it.
type headBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (h *headBuffer) Write(p []byte) (int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if room := h.max - len(h.b); room > 0 {
		h.b = append(h.b, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

func (h *headBuffer) String() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return string(h.b)
}
