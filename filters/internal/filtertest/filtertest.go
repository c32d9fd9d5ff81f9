// Package filtertest drives nicrt's filters natively under the SDK's
// proxytest host emulator, so each filter's tests read as "configure, send a
// request, look at what the host saw" without repeating emulator plumbing.
//
// The emulator is process-global: tests that use it must not run in
// parallel with each other.
package filtertest

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/proxytest"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"
)

// Start creates an emulator for vm with the plugin configuration cfg, starts
// the VM and the plugin, and fails the test unless both succeed. The
// emulator is released when the test ends; only one emulator can exist at a
// time, so a test that needs several runs each in its own subtest.
func Start(t testing.TB, vm types.VMContext, cfg string) proxytest.HostEmulator {
	t.Helper()
	opt := proxytest.NewEmulatorOption().WithVMContext(vm).WithPluginConfiguration([]byte(cfg))
	host, reset := proxytest.NewHostEmulator(opt)
	t.Cleanup(reset)
	if host.StartVM() != types.OnVMStartStatusOK {
		t.Fatalf("OnVMStart failed")
	}
	if host.StartPlugin() != types.OnPluginStartStatusOK {
		t.Fatalf("OnPluginStart failed for configuration %s\nerror logs: %q", cfg, host.GetErrorLogs())
	}
	return host
}

// StartFailing starts the plugin with cfg and returns the error log lines it
// wrote, failing the test if the plugin accepted cfg. The emulator is
// released before it returns.
func StartFailing(t testing.TB, vm types.VMContext, cfg string) []string {
	t.Helper()
	opt := proxytest.NewEmulatorOption().WithVMContext(vm).WithPluginConfiguration([]byte(cfg))
	host, reset := proxytest.NewHostEmulator(opt)
	defer reset()
	if host.StartVM() != types.OnVMStartStatusOK {
		t.Fatalf("OnVMStart failed")
	}
	if host.StartPlugin() != types.OnPluginStartStatusFailed {
		t.Fatalf("OnPluginStart accepted bad configuration %s", cfg)
	}
	return host.GetErrorLogs()
}

// Headers builds request headers for a GET of path on authority, followed
// by extra name/value pairs.
func Headers(authority, path string, kv ...string) [][2]string {
	h := [][2]string{{":authority", authority}, {":path", path}, {":method", "GET"}, {":scheme", "http"}}
	for i := 0; i+1 < len(kv); i += 2 {
		h = append(h, [2]string{kv[i], kv[i+1]})
	}
	return h
}

// Get returns a header's value from a header list (names are compared
// case-insensitively) and whether it is there.
func Get(headers [][2]string, name string) (string, bool) {
	for _, h := range headers {
		if strings.EqualFold(h[0], name) {
			return h[1], true
		}
	}
	return "", false
}

// Send runs one request's headers through the plugin and returns the new
// stream's context ID and the action the filter returned.
func Send(host proxytest.HostEmulator, headers [][2]string) (uint32, types.Action) {
	id := host.InitializeHttpContext()
	return id, host.CallOnRequestHeaders(id, headers, true)
}

// Route sends one request, completes its stream, and returns the value the
// filter left in header (ok false if it left none).
func Route(host proxytest.HostEmulator, header string, headers [][2]string) (string, bool) {
	id, _ := Send(host, headers)
	v, ok := Get(host.GetCurrentRequestHeaders(id), header)
	host.CompleteHttpContext(id)
	return v, ok
}

// Counter returns a counter metric's value, failing the test if the filter
// never defined it.
func Counter(t testing.TB, host proxytest.HostEmulator, name string) uint64 {
	t.Helper()
	v, err := host.GetCounterMetric(name)
	if err != nil {
		t.Fatalf("metric %s: %v", name, err)
	}
	return v
}

// Gauge returns a gauge metric's value as a signed number.
func Gauge(t testing.TB, host proxytest.HostEmulator, name string) int64 {
	t.Helper()
	v, err := host.GetGaugeMetric(name)
	if err != nil {
		t.Fatalf("metric %s: %v", name, err)
	}
	return int64(v)
}

// RepoRoot returns the repository's root directory (where go.mod is), so
// tests can read examples/ wherever go test runs them from.
func RepoRoot(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate filtertest source")
	}
	dir := filepath.Dir(file)
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above " + file)
		}
		dir = parent
	}
}

// ReadExample returns the contents of examples/<rel>.
func ReadExample(t testing.TB, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(RepoRoot(t), "examples", rel))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
