//go:build linux

package main

import (
	"bufio"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// sidecarProc is `nicrt sidecar` running as its own process.
type sidecarProc struct {
	cmd       *exec.Cmd
	listeners map[string]string // name → host:port
	admin     string
	stderr    *syncBuffer
	done      chan error
}

// startSidecarProc runs the sidecar and waits for the lines announcing its
// listeners and admin API. It is stopped (SIGTERM, then SIGKILL) at the end
// of the test and dies with the test binary.
func startSidecarProc(t *testing.T, bin, config string, nListeners int, env ...string) *sidecarProc {
	t.Helper()
	cmd := exec.Command(bin, "sidecar", "--config", config)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.Env = append(os.Environ(), env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &sidecarProc{cmd: cmd, listeners: map[string]string{}, stderr: &syncBuffer{}, done: make(chan error, 1)}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("sidecar stderr:\n%s", p.stderr.String())
		}
	})
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	timeout := time.After(60 * time.Second)
	for len(p.listeners) < nListeners || p.admin == "" {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("sidecar exited before it was ready:\n%s", p.stderr.String())
			}
			// "nicrt sidecar: listener NAME (DIR) on http://ADDR"
			// "nicrt sidecar: admin API on http://ADDR"
			addr := l[strings.LastIndex(l, "http://")+len("http://"):]
			if f := strings.Fields(l); len(f) > 3 && f[2] == "listener" {
				p.listeners[f[3]] = addr
			} else if strings.Contains(l, "admin API") {
				p.admin = addr
			}
		case <-timeout:
			t.Fatalf("sidecar not ready after 60s:\n%s", p.stderr.String())
		}
	}
	go io.Copy(io.Discard, stdoutRest(lines))
	return p
}

// stdoutRest drains the remaining stdout lines (the access log).
func stdoutRest(lines chan string) io.Reader {
	pr, pw := io.Pipe()
	go func() {
		for l := range lines {
			pw.Write([]byte(l + "\n"))
		}
		pw.Close()
	}()
	return pr
}

// runBin runs the binary to completion and returns its exit code and output.
func runBin(t *testing.T, bin string, env []string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, out.String(), errb.String()
}

func httpGet(t *testing.T, url string) (int, http.Header) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, resp.Header
}

func TestSidecarProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("builds nicrt and runs it as a process")
	}
	bin := buildNicrt(t)
	dir := t.TempDir()
	stampFile := writeGuest(t, "../../sidecar/testdata/guests/stamp")
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("x-app-saw-stamp", r.Header.Get("x-stamp"))
		io.WriteString(w, "app\n")
	}))
	defer app.Close()
	cfgFile := filepath.Join(dir, "sidecar.yaml")
	os.WriteFile(cfgFile, []byte(`
admin: {address: "127.0.0.1:0", token_file: token}
access_log: "-"
listeners:
  - name: inbound
    address: 127.0.0.1:0
    cluster: app
    filters:
      - {name: stamp, wasm: `+stampFile+`, configuration: "stamp=one"}
  - name: outbound
    direction: outbound
    address: 127.0.0.1:0
    routes: [{hosts: [app], cluster: app}]
clusters:
  - {name: app, endpoints: ["`+app.Listener.Addr().String()+`"]}
`), 0o644)
	os.WriteFile(filepath.Join(dir, "token"), []byte("tok-123\n"), 0o600)

	// Checks before running.
	code, out, stderr := runBin(t, bin, nil, "sidecar", "--config", cfgFile, "--check")
	if code != 0 || !strings.Contains(out, "configuration is valid") {
		t.Fatalf("--check: %d %s %s", code, out, stderr)
	}
	code, out, _ = runBin(t, bin, nil, "sidecar", "--config", cfgFile, "--print-envoy")
	if code != 0 || !strings.Contains(out, "envoy.filters.http.wasm") || !strings.Contains(out, stampFile) {
		t.Fatalf("--print-envoy: %d\n%s", code, out)
	}
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("listeners:\n  - name: in\n    adress: 127.0.0.1:0\n"), 0o644)
	code, _, stderr = runBin(t, bin, nil, "sidecar", "--config", bad)
	if code != 1 || !strings.Contains(stderr, `listeners[0]: unknown field "adress" (did you mean "address"?)`) {
		t.Fatalf("unknown field: exit %d, %s", code, stderr)
	}

	p := startSidecarProc(t, bin, cfgFile, 2)
	in := "http://" + p.listeners["inbound"] + "/"
	if code, h := httpGet(t, in); code != 200 || h.Get("x-stamp-resp") != "one" || h.Get("x-app-saw-stamp") != "one" {
		t.Fatalf("through the sidecar process: %d %v", code, h)
	}
	req, _ := http.NewRequest("GET", "http://"+p.listeners["outbound"]+"/", nil)
	req.Host = "app:9080"
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("outbound by host: %v %v", err, resp)
	} else {
		resp.Body.Close()
	}

	adminArgs := []string{"--admin", p.admin}
	tok := []string{"NICRT_ADMIN_TOKEN=tok-123"}
	// The token is required.
	code, _, stderr = runBin(t, bin, nil, append([]string{"ls"}, adminArgs...)...)
	if code != 1 || !strings.Contains(stderr, "requires a token") {
		t.Fatalf("ls without token: %d %s", code, stderr)
	}
	code, out, stderr = runBin(t, bin, tok, append([]string{"load", stampFile, "--config", "stamp=two", "--chain", "inbound"}, adminArgs...)...)
	if code != 0 || !strings.Contains(out, "loaded stamp into chain inbound") || !strings.Contains(out, "replaced stamp") || !strings.Contains(out, "compile") {
		t.Fatalf("load: %d\n%s\n%s", code, out, stderr)
	}
	if _, h := httpGet(t, in); h.Get("x-stamp-resp") != "two" {
		t.Fatalf("after load: %v", h)
	}
	// A failing load exits 1 with the guest's words, and changes nothing.
	code, _, stderr = runBin(t, bin, tok, append([]string{"load", stampFile, "--config", "nonsense"}, adminArgs...)...)
	if code != 1 || !strings.Contains(stderr, `unknown configuration key "nonsense"`) {
		t.Fatalf("failed load: %d %s", code, stderr)
	}
	if _, h := httpGet(t, in); h.Get("x-stamp-resp") != "two" {
		t.Fatalf("a failed load changed the filter: %v", h)
	}
	code, out, _ = runBin(t, bin, tok, append([]string{"ls"}, adminArgs...)...)
	if code != 0 || !strings.Contains(out, "inbound") || !strings.Contains(out, "stamp=two") || !strings.Contains(out, "(no filters)") {
		t.Fatalf("ls: %d\n%s", code, out)
	}
	code, out, _ = runBin(t, bin, tok, append([]string{"unload", "stamp"}, adminArgs...)...)
	if code != 0 || !strings.Contains(out, "removed stamp from chain inbound") {
		t.Fatalf("unload: %d %s", code, out)
	}
	if _, h := httpGet(t, in); h.Get("x-stamp-resp") != "" {
		t.Fatalf("after unload the filter still runs: %v", h)
	}
	code, _, stderr = runBin(t, bin, tok, append([]string{"unload", "stamp"}, adminArgs...)...)
	if code != 1 || !strings.Contains(stderr, `none has a filter named "stamp"`) {
		t.Fatalf("unload twice: %d %s", code, stderr)
	}

	// SIGTERM drains and exits cleanly.
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		p.done <- err // for the cleanup
		if err != nil || !strings.Contains(p.stderr.String(), "nicrt sidecar: stopped") {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, p.stderr.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("sidecar did not stop on SIGTERM")
	}
}
