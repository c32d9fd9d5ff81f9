//go:build linux

package main

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// buildNicrt compiles the real nicrt binary into a temporary directory.
func buildNicrt(t *testing.T) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	bin := filepath.Join(t.TempDir(), "nicrt")
	out, err := exec.Command(goTool, "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// syncBuffer collects a process's stderr safely while it runs.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// proc is one service process.
type proc struct {
	name   string
	cmd    *exec.Cmd
	addr   string // where it listens
	stderr *syncBuffer
	done   chan error
}

// startProc runs `nicrt bookinfo serve args...` on a free loopback port and
// waits for its "listening on" line. The process is stopped (SIGTERM, then
// SIGKILL) when the test ends, whatever happened, and dies with the test
// binary if that is killed.
func startProc(t *testing.T, bin, name string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"bookinfo", "serve", "--listen", "127.0.0.1:0"}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.Env = append(os.Environ(), "HOSTNAME=") // reviews reports --podname, not the test machine's name
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &proc{name: name, cmd: cmd, stderr: &syncBuffer{}, done: make(chan error, 1)}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.stop(t) })
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		io.Copy(io.Discard, stdout) // Wait must follow the last read
		p.done <- cmd.Wait()
	}()
	select {
	case line, ok := <-lines:
		_, addr, found := strings.Cut(line, "listening on http://")
		if !ok || !found {
			t.Fatalf("%s: no listening line (got %q); stderr:\n%s", name, line, p.stderr)
		}
		p.addr = addr
	case <-time.After(10 * time.Second):
		t.Fatalf("%s did not start; stderr:\n%s", name, p.stderr)
	}
	return p
}

// stop ends the process gracefully and makes sure it is gone.
func (p *proc) stop(t *testing.T) {
	if p.cmd.ProcessState != nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		p.done <- err
	case <-time.After(5 * time.Second):
		t.Errorf("%s ignored SIGTERM; killing it", p.name)
		_ = p.cmd.Process.Kill()
		p.done <- <-p.done
	}
	if err := syscall.Kill(p.cmd.Process.Pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("%s (pid %d) still exists after stopping: %v", p.name, p.cmd.Process.Pid, err)
	}
}

// roundRobin is a TCP relay that sends each new connection to the next
// backend in turn: a connection-level balancer, which spreads productpage's
// calls over reviews versions only because productpage opens a new
// connection per call.
func roundRobin(t *testing.T, backends ...string) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", backends[i%len(backends)])
			if err != nil {
				in.Close()
				continue
			}
			wg.Add(2)
			go func() { defer wg.Done(); io.Copy(out, in); out.(*net.TCPConn).CloseWrite() }()
			go func() { defer wg.Done(); io.Copy(in, out); in.Close(); out.Close() }()
		}
	}()
	return ln.Addr().String()
}

// TestBookinfoProcesses runs every Bookinfo service as its own nicrt process
// on loopback, loads /productpage through a connection-level round robin over
// reviews v1, v2 and v3, checks each page, and stops everything.
func TestBookinfoProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("builds nicrt and starts seven processes")
	}
	bin := buildNicrt(t)
	ratings := startProc(t, bin, "ratings", "--service", "ratings")
	details := startProc(t, bin, "details", "--service", "details")
	var reviews []string
	for _, v := range []string{"v1", "v2", "v3"} {
		p := startProc(t, bin, "reviews-"+v, "--service", "reviews", "--version", v, "--ratings", ratings.addr, "--podname", "reviews-"+v)
		reviews = append(reviews, p.addr)
	}
	productpage := startProc(t, bin, "productpage", "--service", "productpage",
		"--details", details.addr, "--reviews", roundRobin(t, reviews...), "--ratings", ratings.addr)

	client := &http.Client{Timeout: 10 * time.Second}
	seen := map[string]bool{}
	for range 3 {
		resp, err := client.Get("http://" + productpage.addr + "/productpage")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		page := string(b)
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		for _, s := range []string{"<title>Simple Bookstore App</title>", "The Comedy of Errors", "Book Details", "PublisherA",
			"Book Reviews", "Reviewer1", "Reviewer2", "An extremely entertaining play by Shakespeare."} {
			if !strings.Contains(page, s) {
				t.Errorf("page lacks %q", s)
			}
		}
		var version string
		switch {
		case strings.Contains(page, "Reviews served by: reviews-v1") && !strings.Contains(page, `class="star`):
			version = "v1"
		case strings.Contains(page, "Reviews served by: reviews-v2") && strings.Count(page, `style="color: black"`) == 2 && strings.Count(page, `class="star `) == 10:
			version = "v2"
		case strings.Contains(page, "Reviews served by: reviews-v3") && strings.Count(page, `style="color: red"`) == 2 && strings.Count(page, `class="star `) == 10:
			version = "v3"
		default:
			t.Fatalf("page from an unexpected reviews version:\n%s", page)
		}
		seen[version] = true
	}
	if len(seen) != 3 {
		t.Errorf("three pages came from reviews versions %v, want v1, v2 and v3", seen)
	}

	// SIGINT stops a service gracefully: exit status 0 and a last word.
	_ = productpage.cmd.Process.Signal(os.Interrupt)
	select {
	case err := <-productpage.done:
		productpage.done <- err
		if err != nil || !strings.Contains(productpage.stderr.String(), "stopped") {
			t.Errorf("productpage after SIGINT: %v; stderr %q", err, productpage.stderr)
		}
	case <-time.After(5 * time.Second):
		t.Error("productpage ignored SIGINT")
	}
}
