//go:build !linux

package supervise

import "os/exec"

// setSysProcAttr leaves the child in the parent's process group elsewhere.
func setSysProcAttr(*exec.Cmd, bool) {}
