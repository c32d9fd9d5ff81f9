//go:build !linux

package launch

import (
	"os"
	"os/exec"
	"syscall"
)

// sysProcAttr puts the child in its own process group. Only Linux has a
// parent-death signal: elsewhere a supervisor killed with SIGKILL leaves its
// processes running.
func sysProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

// signalGroup signals the process group led by pid.
func signalGroup(pid int, sig syscall.Signal) {
	if err := syscall.Kill(-pid, sig); err != nil {
		if p, err := os.FindProcess(pid); err == nil {
			_ = p.Signal(sig)
		}
	}
}

func startCmd(cmd *exec.Cmd) error { return cmd.Start() }
