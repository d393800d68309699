package main

import (
	"os/exec"
	"syscall"
)

// demoSysProcAttr puts a demo child in its own process group (Ctrl-C
// reaches only the demo, which stops the children in order) and has the
// kernel stop it if the demo dies without cleaning up.
func demoSysProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}
