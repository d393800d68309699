//go:build !linux

package main

import "os/exec"

// demoSysProcAttr leaves the child in the demo's process group elsewhere.
func demoSysProcAttr(*exec.Cmd) {}
