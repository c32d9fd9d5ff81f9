// Package wasmrun runs nicrt's filters the way the data planes do: built to
// .wasm by the stock Go toolchain (GOOS=wasip1, as `make filters` does) and
// loaded into nicrt's runtime, with a pool of VMs. The filters' tests use it
// to check that what passes under the SDK's proxytest emulator also holds
// in the real host, where each VM has its own memory and only the host's
// shared data joins them.
package wasmrun

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nicrt/nicrt/filters/internal/filtertest"
	"github.com/nicrt/nicrt/internal/wasmbuild"
	"github.com/nicrt/nicrt/runtime"
)

// Build compiles filters/<name> to wasm (once per test binary) and returns it.
func Build(t testing.TB, name string) []byte {
	t.Helper()
	return wasmbuild.Go(t, filepath.Join(filtertest.RepoRoot(t), "filters", name))
}

// Logs collects the host's log output, guest log lines included.
type Logs struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write implements io.Writer for slog.
func (l *Logs) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(b)
}

// String returns everything logged so far.
func (l *Logs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// NewHost starts a runtime host that logs at warn level and above into the
// returned Logs; it is closed when the test ends.
func NewHost(t testing.TB) (*runtime.Host, *Logs) {
	t.Helper()
	logs := &Logs{}
	h, err := runtime.NewHost(context.Background(), runtime.HostConfig{
		Logger:   slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn})),
		LogLevel: runtime.LogWarn,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close(context.Background()) })
	return h, logs
}

// Load loads filters/<name> with configuration cfg and a pool of pool VMs,
// failing the test if the runtime refuses it.
func Load(t testing.TB, h *runtime.Host, name, cfg string, pool int) *runtime.Plugin {
	t.Helper()
	p, err := h.Load(context.Background(), Build(t, name), runtime.PluginConfig{
		Name: name, Configuration: []byte(cfg), PoolSize: pool,
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// LoadFailing loads filters/<name> with a configuration it must refuse and
// returns the runtime's error (whose text includes the guest's log).
func LoadFailing(t testing.TB, h *runtime.Host, name, cfg string) error {
	t.Helper()
	p, err := h.Load(context.Background(), Build(t, name), runtime.PluginConfig{
		Name: name, Configuration: []byte(cfg), PoolSize: 1,
	})
	if err == nil {
		p.Close()
		t.Fatalf("filter %s accepted bad configuration %s", name, cfg)
	}
	return err
}

// Request builds request headers for a GET of path on authority, followed
// by extra name/value pairs.
func Request(authority, path string, kv ...string) runtime.Fields {
	f := runtime.Fields{{Name: ":method", Value: "GET"}, {Name: ":path", Value: path}, {Name: ":authority", Value: authority}, {Name: ":scheme", Value: "http"}}
	for i := 0; i+1 < len(kv); i += 2 {
		f = append(f, runtime.Field{Name: strings.ToLower(kv[i]), Value: kv[i+1]})
	}
	return f
}

// Context returns a context that ends with the test or after a minute, to
// bound a paused stream that a bug would never resume.
func Context(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// Do runs one complete request through the chain (request headers, and for
// a forwarded request a 200 response) and returns the verdict on the
// request headers, the headers as the filters left them, and the local
// response if one was sent.
func Do(ctx context.Context, c *runtime.Chain, req runtime.Fields) (runtime.Verdict, runtime.Fields, *runtime.LocalResponse) {
	s := c.NewStream(runtime.StreamInfo{})
	defer s.Close()
	v := s.RequestHeaders(ctx, &req, true)
	if v == runtime.Continue {
		resp := runtime.Fields{{Name: ":status", Value: "200"}}
		s.ResponseHeaders(ctx, &resp, true)
	}
	return v, req, s.LocalResponse()
}

// Metric returns a counter or gauge the filters defined, failing the test if
// there is none by that name.
func Metric(t testing.TB, h *runtime.Host, name string) int64 {
	t.Helper()
	v, ok := h.Metrics().Value(name)
	if !ok {
		t.Fatalf("no metric %s", name)
	}
	return v
}
