package supervise

import (
	"os/exec"
	"syscall"
)

// setSysProcAttr puts a child in its own process group (Ctrl-C reaches only
// the parent, which stops the children in order) and, with dieWithParent,
// has the kernel stop it if the parent dies without cleaning up.
func setSysProcAttr(cmd *exec.Cmd, dieWithParent bool) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if dieWithParent {
		cmd.SysProcAttr.Pdeathsig = syscall.SIGTERM
	}
}
