// Package launch runs a set of cooperating OS processes — a deployment of
// Bookinfo's services and sidecars, one process each, like containers — and
// makes sure none outlives it.
//
// Each process gets its own process group, so a terminal's Ctrl-C reaches
// only the supervisor, which then stops the processes in order; and, on
// Linux, a parent-death signal, so the processes are killed by the kernel
// even when the supervisor itself is killed with SIGKILL.
package launch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Spec is one process to run.
type Spec struct {
	// Name identifies the process in messages and names its log file
	// (<Dir>/<Name>.log). Unique within a Start call.
	Name string
	// Path is the executable; "" means Options.Bin.
	Path string
	// Args are the arguments after the executable's name.
	Args []string
	// Env is added to the supervisor's environment (NAME=VALUE).
	Env []string
	// Ready lists host:port addresses the process listens on; it counts as
	// started once each of them accepts a TCP connection.
	Ready []string
}

// Options control Start.
type Options struct {
	// Bin is the executable of specs without a Path.
	Bin string
	// Dir receives one log file per process (standard output and error).
	// Required; it is created if missing.
	Dir string
	// ReadyTimeout bounds the wait for every process to listen; 0 means 60 s
	// (sidecars compile their wasm filters before they listen).
	ReadyTimeout time.Duration
	// StopGrace is how long Stop waits after SIGTERM before it sends
	// SIGKILL; 0 means 15 s.
	StopGrace time.Duration
}

// Group is a set of running processes.
type Group struct {
	opts  Options
	procs []*proc
	// exited receives the first process that ended while the group was
	// running (nil if Stop came first).
	exited   chan *Exit
	stopOnce sync.Once
	stopping chan struct{}
	stopErr  error
}

// Exit reports a process that ended on its own.
type Exit struct {
	Name string
	Err  error  // nil for exit status 0
	Log  string // the end of its log
}

// Error says which process ended, how, and the end of its log.
func (e *Exit) Error() string {
	status := "exited"
	if e.Err != nil {
		status = e.Err.Error()
	}
	return fmt.Sprintf("%s %s; end of its log:\n%s", e.Name, status, indent(e.Log))
}

type proc struct {
	spec    Spec
	cmd     *exec.Cmd
	logPath string
	logFile *os.File
	done    chan struct{} // closed when Wait returned
	err     error         // Wait's result, valid after done
}

// Start runs every spec and waits until each listens on its Ready addresses.
// If any process fails to start, exits, or is not ready in time, Start
// stops the others and returns an error naming it, with the end of its log.
// ctx ending during Start aborts it the same way; once Start has returned,
// ctx no longer matters: call Stop.
func Start(ctx context.Context, specs []Spec, o Options) (*Group, error) {
	if o.Dir == "" {
		return nil, errors.New("launch: no log directory")
	}
	if o.ReadyTimeout <= 0 {
		o.ReadyTimeout = 60 * time.Second
	}
	if o.StopGrace <= 0 {
		o.StopGrace = 15 * time.Second
	}
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("launch: %w", err)
	}
	seen := map[string]bool{}
	for _, s := range specs {
		if s.Name == "" || strings.ContainsAny(s.Name, `/\`) || seen[s.Name] {
			return nil, fmt.Errorf("launch: process name %q is empty, has a slash or is used twice", s.Name)
		}
		seen[s.Name] = true
		if s.Path == "" && o.Bin == "" {
			return nil, fmt.Errorf("launch: %s has no executable and Options.Bin is empty", s.Name)
		}
	}
	g := &Group{opts: o, exited: make(chan *Exit, 1), stopping: make(chan struct{})}
	for _, s := range specs {
		p, err := g.spawn(s)
		if err != nil {
			g.Stop()
			return nil, err
		}
		g.procs = append(g.procs, p)
	}
	if err := g.waitReady(ctx); err != nil {
		g.Stop()
		return nil, err
	}
	return g, nil
}

func (g *Group) spawn(s Spec) (*proc, error) {
	path := s.Path
	if path == "" {
		path = g.opts.Bin
	}
	logPath := filepath.Join(g.opts.Dir, s.Name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("launch: %s: %w", s.Name, err)
	}
	cmd := exec.Command(path, s.Args...)
	cmd.Env = append(os.Environ(), s.Env...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = sysProcAttr()
	if err := startCmd(cmd); err != nil {
		f.Close()
		return nil, fmt.Errorf("launch: start %s (%s): %w", s.Name, path, err)
	}
	p := &proc{spec: s, cmd: cmd, logPath: logPath, logFile: f, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
		select {
		case <-g.stopping:
		default:
			select {
			case g.exited <- &Exit{Name: s.Name, Err: p.err, Log: tail(logPath)}:
			default: // an earlier exit is already reported
			}
		}
	}()
	return p, nil
}

// waitReady polls every Ready address until it accepts a connection.
func (g *Group) waitReady(ctx context.Context) error {
	deadline := time.Now().Add(g.opts.ReadyTimeout)
	for _, p := range g.procs {
		for _, addr := range p.spec.Ready {
			for {
				c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
				if err == nil {
					c.Close()
					break
				}
				select {
				case e := <-g.exited:
					return fmt.Errorf("launch: %w", e)
				case <-ctx.Done():
					return fmt.Errorf("launch: interrupted while waiting for %s to listen on %s", p.spec.Name, addr)
				case <-time.After(20 * time.Millisecond):
				}
				if time.Now().After(deadline) {
					return fmt.Errorf("launch: %s did not listen on %s within %v; end of its log:\n%s",
						p.spec.Name, addr, g.opts.ReadyTimeout, indent(tail(p.logPath)))
				}
			}
		}
	}
	return nil
}

// Exited delivers the first process that ends on its own while the group
// runs: a deployment with a dead member is broken.
func (g *Group) Exited() <-chan *Exit { return g.exited }

// Pids lists the processes' ids, in start order.
func (g *Group) Pids() []int {
	pids := make([]int, len(g.procs))
	for i, p := range g.procs {
		pids[i] = p.cmd.Process.Pid
	}
	return pids
}

// Logs maps each process name to its log file.
func (g *Group) Logs() map[string]string {
	m := map[string]string{}
	for _, p := range g.procs {
		m[p.spec.Name] = p.logPath
	}
	return m
}

// Stop ends every process: SIGTERM to each process group, last started
// first, then SIGKILL to any group still alive after the grace period. It
// returns an error naming the processes that had to be killed or that had
// already failed; calling it again returns the same result.
func (g *Group) Stop() error {
	g.stopOnce.Do(func() {
		close(g.stopping)
		var errs []error
		for i := len(g.procs) - 1; i >= 0; i-- {
			p := g.procs[i]
			select {
			case <-p.done:
				if p.err != nil {
					errs = append(errs, fmt.Errorf("%s had already ended: %v", p.spec.Name, p.err))
				}
				continue
			default:
			}
			signalGroup(p.cmd.Process.Pid, syscall.SIGTERM)
		}
		deadline := time.After(g.opts.StopGrace)
		for _, p := range g.procs {
			select {
			case <-p.done:
			case <-deadline:
				deadline = closedTime // the grace is over for everyone
				signalGroup(p.cmd.Process.Pid, syscall.SIGKILL)
				<-p.done
				errs = append(errs, fmt.Errorf("%s ignored SIGTERM for %v and was killed", p.spec.Name, g.opts.StopGrace))
			}
			// Anything the process started in its group goes with it.
			signalGroup(p.cmd.Process.Pid, syscall.SIGKILL)
		}
		if len(errs) > 0 {
			g.stopErr = fmt.Errorf("launch: %w", errors.Join(errs...))
		}
	})
	return g.stopErr
}

var closedTime = func() <-chan time.Time {
	c := make(chan time.Time)
	close(c)
	return c
}()

// tail returns the last lines of a log file.
func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	b = bytes.TrimRight(b, "\n")
	if len(b) == 0 {
		return "(empty)"
	}
	lines := bytes.Split(b, []byte("\n"))
	if len(lines) > 20 {
		lines = lines[len(lines)-20:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

func indent(s string) string { return "  | " + strings.ReplaceAll(s, "\n", "\n  | ") }
