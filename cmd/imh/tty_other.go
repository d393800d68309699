//go:build !linux

package main

// stdinIsTerminal: off Linux imh never asks; commands that would ask need
// their --yes.
func stdinIsTerminal() bool { return false }
