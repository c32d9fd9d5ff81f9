//go:build linux

package launch

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The test binary doubles as the child process: with LAUNCH_TEST_CHILD set
// it runs one of these behaviours instead of the tests.
//
//	listen ADDR        listen on ADDR until SIGTERM, then exit 0
//	stubborn ADDR      listen on ADDR and ignore SIGTERM
//	fail               print a line and exit 3 at once
//	mute               never listen
//	supervise DIR ADDR run a Group with one "listen" child, print READY, and wait
func TestMain(m *testing.M) {
	if mode := os.Getenv("LAUNCH_TEST_CHILD"); mode != "" {
		child(mode, os.Args[len(os.Args)-2:])
		return
	}
	os.Exit(m.Run())
}

func child(mode string, args []string) {
	switch mode {
	case "listen", "stubborn":
		if mode == "stubborn" {
			signal.Ignore(syscall.SIGTERM) // before it listens, that is before it counts as started
		}
		ln, err := net.Listen("tcp", args[1])
		if err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
		fmt.Println("listening on", ln.Addr())
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
		if mode == "stubborn" {
			select {}
		}
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM)
		<-sig
		fmt.Println("stopping")
		os.Exit(0)
	case "fail":
		fmt.Println("cannot start: no configuration")
		os.Exit(3)
	case "mute":
		time.Sleep(time.Hour)
	case "supervise":
		g, err := Start(context.Background(), []Spec{withReady(self("svc", "listen", args[1]), args[1])}, Options{Dir: args[0]})
		if err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
		fmt.Println("READY", g.Pids()[0])
		select {}
	}
}

// self is a Spec running this test binary in a child mode.
func self(name, mode, addr string) Spec {
	return Spec{Name: name, Path: os.Args[0], Args: []string{"-test.run=^$", "x", addr}, Env: []string{"LAUNCH_TEST_CHILD=" + mode}}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func listening(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err == nil {
		c.Close()
	}
	return err == nil
}

// gone reports whether pid no longer runs (absent, or a zombie nobody reaped).
func gone(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && (s[i+2] == 'Z' || s[i+2] == 'X')
}

func waitGone(t *testing.T, pids ...int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for _, pid := range pids {
		for !gone(pid) {
			if time.Now().After(deadline) {
				t.Fatalf("process %d still runs", pid)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

func TestStartStop(t *testing.T) {
	dir := t.TempDir()
	a, b := freeAddr(t), freeAddr(t)
	g, err := Start(context.Background(), []Spec{
		withReady(self("alpha", "listen", a), a),
		withReady(self("beta", "listen", b), b),
	}, Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if !listening(a) || !listening(b) {
		t.Fatal("Start returned before both listen")
	}
	pids := g.Pids()
	if err := g.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	waitGone(t, pids...)
	if listening(a) || listening(b) {
		t.Error("still listening after Stop")
	}
	log, _ := os.ReadFile(filepath.Join(dir, "alpha.log"))
	if !strings.Contains(string(log), "stopping") {
		t.Errorf("alpha did not stop gracefully; log %q", log)
	}
	if err := g.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}

func withReady(s Spec, addr string) Spec { s.Ready = []string{addr}; return s }

func TestStartFailures(t *testing.T) {
	for _, tc := range []struct {
		name string
		spec func(addr string) Spec
		opts Options
		want []string
	}{
		{"exits at once", func(a string) Spec { return withReady(self("broken", "fail", a), a) }, Options{},
			[]string{"broken exit status 3", "cannot start: no configuration"}},
		{"never listens", func(a string) Spec { return withReady(self("quiet", "mute", a), a) }, Options{ReadyTimeout: 300 * time.Millisecond},
			[]string{"quiet did not listen on", "within 300ms", "(empty)"}},
		{"no such program", func(a string) Spec { return Spec{Name: "ghost", Path: "/nonexistent/prog", Ready: []string{a}} }, Options{},
			[]string{"start ghost (/nonexistent/prog)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := freeAddr(t)
			ok := freeAddr(t)
			tc.opts.Dir = t.TempDir()
			g, err := Start(context.Background(), []Spec{withReady(self("fine", "listen", ok), ok), tc.spec(addr)}, tc.opts)
			if err == nil {
				g.Stop()
				t.Fatal("Start succeeded")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			// The process that did start was stopped.
			deadline := time.Now().Add(5 * time.Second)
			for listening(ok) {
				if time.Now().After(deadline) {
					t.Fatal("the healthy process still runs after a failed Start")
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
}

func TestBadSpecs(t *testing.T) {
	for _, tc := range []struct {
		specs []Spec
		opts  Options
		want  string
	}{
		{[]Spec{{Name: "a", Path: "x"}}, Options{}, "launch: no log directory"},
		{[]Spec{{Name: "a/b", Path: "x"}}, Options{Dir: t.TempDir()}, `process name "a/b"`},
		{[]Spec{{Name: "a", Path: "x"}, {Name: "a", Path: "x"}}, Options{Dir: t.TempDir()}, `process name "a"`},
		{[]Spec{{Name: "a"}}, Options{Dir: t.TempDir()}, "a has no executable"},
	} {
		_, err := Start(context.Background(), tc.specs, tc.opts)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("error %v, want %q", err, tc.want)
		}
	}
}

func TestStubbornIsKilled(t *testing.T) {
	a := freeAddr(t)
	g, err := Start(context.Background(), []Spec{withReady(self("mule", "stubborn", a), a)},
		Options{Dir: t.TempDir(), StopGrace: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	err = g.Stop()
	if err == nil || !strings.Contains(err.Error(), "mule ignored SIGTERM for 200ms and was killed") {
		t.Errorf("Stop: %v", err)
	}
	waitGone(t, g.Pids()...)
}

func TestExited(t *testing.T) {
	a := freeAddr(t)
	g, err := Start(context.Background(), []Spec{withReady(self("svc", "listen", a), a)}, Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Stop()
	syscall.Kill(g.Pids()[0], syscall.SIGKILL)
	select {
	case e := <-g.Exited():
		if e.Name != "svc" || e.Err == nil || !strings.Contains(e.Error(), "signal: killed") {
			t.Errorf("exit %v", e)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no exit reported")
	}
	if err := g.Stop(); err == nil || !strings.Contains(err.Error(), "svc had already ended") {
		t.Errorf("Stop: %v", err)
	}
}

// TestSupervisorKilled kills a supervising process with SIGKILL: its child
// must die with it (the parent-death signal), leaving nothing behind.
func TestSupervisorKilled(t *testing.T) {
	a := freeAddr(t)
	cmd := exec.Command(os.Args[0], "-test.run=^$", t.TempDir(), a)
	cmd.Env = append(os.Environ(), "LAUNCH_TEST_CHILD=supervise")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	var line string
	buf := make([]byte, 256)
	n, _ := out.Read(buf)
	line = string(buf[:n])
	var child int
	if _, err := fmt.Sscanf(line, "READY %d", &child); err != nil {
		t.Fatalf("supervisor said %q", line)
	}
	if !listening(a) {
		t.Fatal("child not listening")
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	waitGone(t, child)
	// A Go process's leader thread can show as a zombie while its other
	// threads still exit and hold its files: give the port a moment.
	deadline := time.Now().Add(5 * time.Second)
	for listening(a) {
		if time.Now().After(deadline) {
			t.Fatal("child's port still open")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := syscall.Kill(child, 0); err != nil && !errors.Is(err, syscall.ESRCH) && !errors.Is(err, syscall.EPERM) {
		t.Logf("kill(0): %v", err)
	}
}
