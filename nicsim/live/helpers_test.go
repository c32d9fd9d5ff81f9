package live

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nicrt/nicrt/internal/wasmbuild"
	"github.com/nicrt/nicrt/nicsim/engine"
	"github.com/nicrt/nicrt/nicsim/model"
	"github.com/nicrt/nicrt/nicsim/wasmengine"
	"github.com/nicrt/nicrt/runtime"
)

// testModel loads a preset or a model file, failing the test on error.
func testModel(t testing.TB, name string) model.Config {
	t.Helper()
	c, err := model.Load(name)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// newNIC starts a NIC that the test closes at its end.
func newNIC(t testing.TB, opt Options) *NIC {
	t.Helper()
	if opt.Model.Name == "" {
		opt.Model = model.Default()
	}
	n, err := New(opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// filter is one Proxy-Wasm module for the NIC's engines, built from source.
type filter struct {
	dir, config string
}

var (
	testguest  = "../../runtime/testdata/guests/testguest"
	routeguest = "testdata/routeguest"
)

// wasmEngines loads filters into a NIC-position host counting instructions
// and returns count engines sharing one wasmengine, with the host and slot
// (hot swap). pool is each plugin's VM count.
func wasmEngines(t testing.TB, count, pool int, fs ...filter) ([]engine.Engine, *runtime.Host, *runtime.Slot) {
	t.Helper()
	ctx := context.Background()
	h, err := runtime.NewHost(ctx, runtime.HostConfig{Position: runtime.PositionNIC, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close(ctx) })
	var ps []*runtime.Plugin
	for i, f := range fs {
		p, err := h.Load(ctx, wasmbuild.Go(t, f.dir), runtime.PluginConfig{
			Name: fmt.Sprintf("f%d", i), Configuration: []byte(f.config), PoolSize: pool, CountInstructions: true,
		})
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}
	slot := runtime.NewSlot(runtime.NewChain(ps...))
	e := wasmengine.New(slot)
	es := make([]engine.Engine, count)
	for i := range es {
		es[i] = e
	}
	return es, h, slot
}

// serve runs an HTTP server on ln until the test ends.
func serve(t testing.TB, ln net.Listener, h http.Handler) {
	t.Helper()
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(ln)
	}()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		<-done
	})
}

func listen(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// exchange sends raw request bytes on a fresh connection and reads
// responses until the server closes or want responses arrived; it returns
// them parsed, with their bodies read.
func exchange(t testing.TB, addr, raw string, want int) []*http.Response {
	t.Helper()
	c, err := net.Dial("tcp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	var out []*http.Response
	for len(out) < want {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			t.Fatalf("response %d: %v", len(out)+1, err)
		}
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("response %d body: %v", len(out)+1, err)
		}
		resp.Body = io.NopCloser(strings.NewReader(string(b)))
		out = append(out, resp)
	}
	return out
}

func body(r *http.Response) string {
	b, _ := io.ReadAll(r.Body)
	return string(b)
}

// waitQuiet waits until the NIC has no open connection (bounded).
func waitQuiet(t testing.TB, n *NIC) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for n.open.Load() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections still open through the NIC", n.open.Load())
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// startRelay runs n.Relay in front of upstream on a fresh loopback listener
// until the test ends, and returns the address clients dial.
func startRelay(t testing.TB, n *NIC, upstream string) string {
	t.Helper()
	ln := listen(t)
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Relay(ctx, ln, upstream, time.Second) }()
	t.Cleanup(func() { stop(); <-done })
	return ln.Addr().String()
}
