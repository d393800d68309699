package main

import (
	"os"

	"golang.org/x/sys/unix"
)

// stdinIsTerminal reports whether an operator can be asked: stdin is a
// terminal (not /dev/null, a pipe or a file).
func stdinIsTerminal() bool {
	_, err := unix.IoctlGetTermios(int(os.Stdin.Fd()), unix.TCGETS)
	return err == nil
}
