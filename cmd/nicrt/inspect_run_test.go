package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nicrt/nicrt/internal/wasmbuild"
)

// writeCGuest builds the C guest (runtime/testdata/cfilter, clang) into a file.
func writeCGuest(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "cfilter.wasm")
	if err := os.WriteFile(p, wasmbuild.C(t, "../../runtime/testdata/cfilter"), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func writeGuest(t *testing.T, pkg string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), filepath.Base(pkg)+".wasm")
	if err := os.WriteFile(p, wasmbuild.Go(t, pkg), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func nicrt(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := runMainTo(args, &out, &errb)
	return out.String(), errb.String(), code
}

// runMainTo runs a command with its standard output captured.
func runMainTo(args []string, stdout, stderr *bytes.Buffer) int {
	old := os.Stdout
	r, w, _ := os.Pipe()
	os.Stdout = w
	done := make(chan struct{})
	go func() { stdout.ReadFrom(r); close(done) }()
	code := runMain(args, w, stderr)
	w.Close()
	<-done
	os.Stdout = old
	return code
}

func TestInspectCommand(t *testing.T) {
	t.Setenv("NICRT_CACHE_DIR", t.TempDir()) // compiled once, shared by the calls below
	good := writeGuest(t, "../../runtime/testdata/guests/testguest")
	bad := writeGuest(t, "../../runtime/testdata/guests/badimport")
	cguest := writeCGuest(t)
	notWasm := filepath.Join(t.TempDir(), "x.wasm")
	os.WriteFile(notWasm, []byte("hello"), 0o644)
	cases := []struct {
		args []string
		code int
		want []string
	}{
		{[]string{"inspect", good}, 0, []string{"abi         0.2.1", "proxy_on_request_headers", "verdict     runnable"}},
		{[]string{"inspect", good, "--config", "reject=1"}, 1, []string{"did not start", `configuration field \"reject\" is not supported`}},
		{[]string{"inspect", good, "--json"}, 0, []string{`"abi_version": "0.2.1"`, `"runnable": true`}},
		{[]string{"inspect", cguest}, 0, []string{"abi         0.2.1", "proxy_on_request_headers", "proxy_send_local_response", "verdict     runnable"}},
		{[]string{"inspect", bad}, 1, []string{"MISSING: not provided by nicrt", "proxy_teleport", "verdict     nicrt cannot run this module"}},
		{[]string{"inspect", notWasm}, 1, []string{"not a WebAssembly module"}},
		{[]string{"inspect"}, 2, nil},
	}
	for _, c := range cases {
		out, errOut, code := nicrt(t, c.args...)
		if code != c.code {
			t.Errorf("%v: exit %d, want %d\n%s%s", c.args, code, c.code, out, errOut)
		}
		for _, w := range c.want {
			if !strings.Contains(out, w) && !strings.Contains(out, strings.ReplaceAll(w, `\"`, `"`)) {
				t.Errorf("%v: output lacks %q:\n%s", c.args, w, out)
			}
		}
	}
}

func TestRunCommand(t *testing.T) {
	t.Setenv("NICRT_CACHE_DIR", t.TempDir())
	guest := writeGuest(t, "../../runtime/testdata/guests/testguest")
	cguest := writeCGuest(t) // the C guest (clang, wasi-libc) runs the cases named "c guest..."
	cases := []struct {
		name string
		args []string
		want []string
	}{
		{"headers", []string{"-H", "x-test: headers", "-H", "x-in: hi", "-H-resp", "x-resp-removed: 1"}, []string{
			"upstream receives:", "x-replaced: new:hi", "x-added: a", "client receives:", "x-resp-replaced: r",
			"proxy_on_request_headers", "proxy_on_response_headers", "proxy_on_done", "proxy_on_log", "proxy_on_delete", "route: no cluster chosen"}},
		{"local", []string{"-H", "x-test: local"}, []string{"local response from filter testguest", "HTTP/1.1 418", `"teapot"`}},
		{"body", []string{"-H", "x-test: body", "--method", "POST", "--body", "abc", "--response-body", "xyz"}, []string{
			`body (3 bytes): "ABC"`, `body (13 bytes): "head+xyz+tail"`}},
		{"log", []string{"-H", "x-test: log", "--log-level", "warn"}, []string{"guest log:", "[warn] tg-warn", "[error] tg-stderr-line"}},
		{"trap", []string{"-H", "x-test: panic"}, []string{"the filter FAILED", "unreachable", "HTTP/1.1 500", "wasm_fail_stream"}},
		{"counted", []string{"-H", "x-test: local", "--count-instructions"}, []string{"instructions"}},
		{"route header", []string{"-H", "x-test: none", "-H", "x-nicrt-cluster: reviews-v2"}, []string{`route: cluster "reviews-v2"`}},
		{"c guest", []string{"--config", "from-cli", "--path", "/hello"}, []string{
			"upstream receives:", "x-c-filter: from-cli", "client receives:", "x-c-filter-path: /hello",
			"guest log:", "c filter: done /hello", "proxy_on_request_headers", "proxy_on_done", "proxy_on_log", "proxy_on_delete"}},
		{"c guest deny", []string{"--path", "/c-deny"}, []string{"local response from filter cfilter", "HTTP/1.1 403", "denied by the c filter"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wasm := guest
			if strings.HasPrefix(c.name, "c guest") {
				wasm = cguest
			}
			out, errOut, code := nicrt(t, append([]string{"run", wasm}, c.args...)...)
			if code != 0 {
				t.Fatalf("exit %d\n%s%s", code, out, errOut)
			}
			for _, w := range c.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			if c.name == "log" && strings.Contains(out, "tg-info") {
				t.Errorf("--log-level warn let an info line through:\n%s", out)
			}
		})
	}
	// Errors name what was wrong.
	for _, bad := range [][]string{
		{"run", guest, "-H", "no-colon"},
		{"run", guest, "--log-level", "loud"},
		{"run", guest, "--config", "reject=1"},
		{"run", "/nonexistent.wasm"},
	} {
		out, errOut, code := nicrt(t, bad...)
		if code == 0 || errOut == "" {
			t.Errorf("%v: exit %d, stderr %q, stdout %q", bad, code, errOut, out)
		}
	}
}
