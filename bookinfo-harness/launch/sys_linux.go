package launch

import (
	"os/exec"
	"runtime"
	"syscall"
)

// sysProcAttr puts the child in its own process group and has the kernel
// kill it when the supervisor dies, whatever kills the supervisor.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// signalGroup signals the process group led by pid (errors mean it is gone).
func signalGroup(pid int, sig syscall.Signal) { _ = syscall.Kill(-pid, sig) }

// Linux sends the parent-death signal when the *thread* that forked the
// child exits, not the process. Go may end an OS thread when a goroutine
// locked to it returns, so every child is forked from one goroutine that
// locks its thread and never returns.
var spawns = make(chan spawnReq)

type spawnReq struct {
	cmd  *exec.Cmd
	done chan error
}

func init() {
	go func() {
		runtime.LockOSThread()
		for r := range spawns {
			r.done <- r.cmd.Start()
		}
	}()
}

func startCmd(cmd *exec.Cmd) error {
	done := make(chan error, 1)
	spawns <- spawnReq{cmd, done}
	return <-done
}
