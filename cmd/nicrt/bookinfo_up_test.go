//go:build linux

package main

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nicrt/nicrt/bookinfo-harness/load"
	"github.com/nicrt/nicrt/bookinfo-harness/topology"
)

// upProc is a running `nicrt bookinfo up`.
type upProc struct {
	cmd    *exec.Cmd
	entry  string
	pids   map[string]int
	ready  map[string][]string // each process's listening addresses, as printed
	logDir string
	stderr *syncBuffer
	done   chan error
}

// startUp runs `nicrt bookinfo up args...` and waits for its entry line.
// The test skips when the topology is not available in this build.
func startUp(t *testing.T, bin string, args ...string) *upProc {
	t.Helper()
	logDir := t.TempDir()
	cmd := exec.Command(bin, append([]string{"bookinfo", "up", "--log-dir", logDir, "--wasm-dir", wasmDirForTests(t)}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	u := &upProc{cmd: cmd, pids: map[string]int{}, ready: map[string][]string{}, logDir: logDir, stderr: &syncBuffer{}, done: make(chan error, 1)}
	cmd.Stderr = u.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Signal(os.Interrupt)
			select {
			case <-u.done:
			case <-time.After(20 * time.Second):
				cmd.Process.Kill()
			}
		}
	})
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		u.done <- cmd.Wait()
	}()
	timeout := time.After(90 * time.Second)
	for u.entry == "" {
		select {
		case line, ok := <-lines:
			if !ok {
				err := <-u.done
				u.done <- err
				if strings.Contains(u.stderr.String(), "does not have yet") {
					t.Skipf("%s", strings.TrimSpace(strings.SplitN(u.stderr.String(), "\n", 2)[0]))
				}
				t.Fatalf("bookinfo up %v exited (%v) before its entry line; stderr:\n%s", args, err, u.stderr)
			}
			if e, ok := strings.CutPrefix(line, "entry: "); ok {
				u.entry = e
			} else if f := strings.Fields(line); len(f) >= 3 && f[1] == "pid" {
				pid, _ := strconv.Atoi(f[2])
				u.pids[f[0]] = pid
				u.ready[f[0]] = f[3:]
			}
		case <-timeout:
			t.Fatalf("bookinfo up %v: no entry line; stderr:\n%s", args, u.stderr)
		}
	}
	go func() {
		for range lines {
		}
	}()
	return u
}

// wasmDirForTests is the repository's filters directory (built by `make
// filters`; the topologies that need filters say so when it is missing).
func wasmDirForTests(t *testing.T) string {
	dir, err := filepath.Abs("../../filters")
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

const sigint = syscall.SIGINT

// stop sends sig to `bookinfo up` and checks that it, and every process it
// started, is gone.
func (u *upProc) stop(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := u.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	var err error
	select {
	case err = <-u.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("bookinfo up ignored %v", sig)
	}
	if sig == syscall.SIGINT && err != nil {
		t.Errorf("bookinfo up after SIGINT: %v; stderr:\n%s", err, u.stderr)
	}
	if len(u.pids) == 0 {
		t.Fatal("bookinfo up listed no processes")
	}
	deadline := time.Now().Add(10 * time.Second)
	for name, pid := range u.pids {
		for !processGone(pid) {
			if time.Now().After(deadline) {
				t.Fatalf("%s (pid %d) outlived bookinfo up (%v)", name, pid, sig)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// processGone reports whether pid has ended (absent, or a zombie that its
// new parent has not reaped yet).
func processGone(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && (s[i+2] == 'Z' || s[i+2] == 'X')
}

// signIn logs user in at productpage and returns the session cookie header.
func signIn(t *testing.T, entry, user string) string {
	t.Helper()
	base := strings.TrimSuffix(entry, "/productpage")
	client := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.PostForm(base+"/login", url.Values{"username": {user}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var cookies []string
	for _, c := range resp.Cookies() {
		cookies = append(cookies, c.Name+"="+c.Value)
	}
	if len(cookies) == 0 {
		t.Fatalf("login answered %d without a session cookie", resp.StatusCode)
	}
	return strings.Join(cookies, "; ")
}

// getPage fetches the product page with the given headers.
func getPage(t *testing.T, entry string, hdr map[string]string) load.Page {
	t.Helper()
	req, _ := http.NewRequest("GET", entry, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	p := load.ClassifyPage(b)
	if p.Degraded {
		t.Fatalf("degraded page:\n%s", b)
	}
	return p
}

// TestHarness runs the harness's commands as real processes. They share one
// build of nicrt (building it is the slow part on a loaded machine).
func TestHarness(t *testing.T) {
	if testing.Short() {
		t.Skip("builds nicrt and starts whole deployments")
	}
	bin := buildNicrt(t)
	t.Run("headers-reach-ratings", func(t *testing.T) { testUpHeadersReachRatings(t, bin) })
	t.Run("up-killed-leaves-nothing", func(t *testing.T) { testUpKilledLeavesNothing(t, bin) })
	t.Run("shares", func(t *testing.T) { testShares(t, bin) })
	t.Run("nic-offload-load", func(t *testing.T) { testNICOffloadLoad(t, bin) })
	t.Run("serve-nic-usage", func(t *testing.T) { testServeNICUsage(t, bin) })
	t.Run("serve-nic", func(t *testing.T) { testServeNIC(t, bin) })
	t.Run("bench-short", func(t *testing.T) { testBenchShort(t, bin) })
	t.Run("bench-interrupted", func(t *testing.T) { testBenchInterrupted(t, bin) })
}

// testUpHeadersReachRatings: through every topology, a request's
// x-request-id and the signed-in user's end-user header arrive at ratings.
func testUpHeadersReachRatings(t *testing.T, bin string) {
	for _, topo := range topology.All {
		t.Run(topo, func(t *testing.T) {
			u := startUp(t, bin, "--topology", topo, "--log-requests")
			cookie := signIn(t, u.entry, "jason")
			var rnd [8]byte
			rand.Read(rnd[:])
			id := "nicrt-test-" + hex.EncodeToString(rnd[:])
			// A page whose reviews call ratings (v1 does not): try a few.
			found := false
			for i := 0; i < 6 && !found; i++ {
				p := getPage(t, u.entry, map[string]string{"x-request-id": id, "Cookie": cookie})
				found = p.Version == "v2" || p.Version == "v3"
			}
			if !found {
				t.Fatal("no page came from a reviews version that calls ratings")
			}
			want := fmt.Sprintf("x-request-id=%q end-user=%q", id, "jason")
			deadline := time.Now().Add(5 * time.Second)
			for {
				log, _ := os.ReadFile(filepath.Join(u.logDir, "ratings.log"))
				if strings.Contains(string(log), want) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("ratings did not log %s; its log:\n%s", want, log)
				}
				time.Sleep(20 * time.Millisecond)
			}
			u.stop(t, syscall.SIGINT)
		})
	}
}

// testUpKilledLeavesNothing: `bookinfo up` killed with SIGKILL takes every
// process it started with it. (SIGINT is checked after every topology of
// testUpHeadersReachRatings.)
func testUpKilledLeavesNothing(t *testing.T, bin string) {
	u := startUp(t, bin, "--topology", topology.Direct)
	getPage(t, u.entry, nil)
	u.stop(t, syscall.SIGKILL)
	// The processes are gone (or zombies whose last threads are exiting):
	// the entry stops answering within moments.
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := client.Get(u.entry)
		if err != nil {
			break
		}
		resp.Body.Close()
		if time.Now().After(deadline) {
			t.Fatal("the entry still answers after bookinfo up was killed")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
