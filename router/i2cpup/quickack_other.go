//go:build !linux

package i2cpup

import "net"

// quickAck leaves nc as it is: TCP_QUICKACK is Linux's (see
// quickack_linux.go).
func quickAck(nc net.Conn) net.Conn { return nc }
