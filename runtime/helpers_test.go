package runtime

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nicrt/nicrt/internal/wasmbuild"
)

// testGuest builds runtime/testdata/guests/testguest (once per test binary).
func testGuest(t testing.TB) []byte {
	t.Helper()
	return wasmbuild.Go(t, "testdata/guests/testguest")
}

// logSink collects log records so tests can check what guests logged.
type logSink struct {
	mu    sync.Mutex
	lines []string
}

func (l *logSink) Write(b []byte) (int, error) {
	l.mu.Lock()
	l.lines = append(l.lines, string(bytes.TrimSpace(b)))
	l.mu.Unlock()
	return len(b), nil
}

func (l *logSink) contains(s string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, x := range l.lines {
		if strings.Contains(x, s) {
			return true
		}
	}
	return false
}

func (l *logSink) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// newTestHost returns a host logging at trace level into a sink.
func newTestHost(t testing.TB, cfg HostConfig) (*Host, *logSink) {
	t.Helper()
	sink := &logSink{}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(sink, &slog.HandlerOptions{Level: slog.LevelDebug - 4}))
	}
	h, err := NewHost(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close(context.Background()) })
	return h, sink
}

func load(t testing.TB, h *Host, wasm []byte, cfg PluginConfig) *Plugin {
	t.Helper()
	if cfg.Name == "" {
		cfg.Name = "tg"
	}
	if cfg.PoolSize == 0 {
		cfg.PoolSize = 2
	}
	p, err := h.Load(context.Background(), wasm, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// request builds request headers with the given x-test case.
func request(test string, extra ...string) Fields {
	f := Fields{
		{":method", "GET"}, {":path", "/p?q=1"}, {":authority", "svc.test:9080"}, {":scheme", "http"},
		{"x-request-id", "rid-1"}, {"x-test", test},
	}
	for i := 0; i+1 < len(extra); i += 2 {
		f = append(f, Field{extra[i], extra[i+1]})
	}
	return f
}

// reportOf parses a local response body of key=value lines.
func reportOf(t testing.TB, s *Stream) map[string]string {
	t.Helper()
	lr := s.LocalResponse()
	if lr == nil {
		t.Fatal("no local response")
	}
	m := map[string]string{}
	for _, line := range strings.Split(strings.TrimRight(string(lr.Body), "\n"), "\n") {
		k, v, _ := strings.Cut(line, "=")
		m[k] = v
	}
	return m
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
