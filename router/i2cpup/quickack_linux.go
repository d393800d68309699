package i2cpup

import (
	"net"
	"syscall"
)

// quickAck makes a TCP connection to an upstream router acknowledge every
// segment at once (TCP_QUICKACK, set again after each read: Linux clears
// it). i2pd 2.45.1 writes to its I2CP clients with Nagle's algorithm on,
// so a small message written while an earlier one is unacknowledged waits
// for our ACK, which Linux delays by up to 40 ms: measured on the private
// i2pd network, a new stream's SYN reached imh 40-45 ms late in most
// fetches (BenchmarkStreamVsI2pd: setup median 44 ms with delayed ACKs,
// 10 ms without; i2pd's own server tunnel 5-6 ms). Other connections are
// returned unchanged.
func quickAck(nc net.Conn) net.Conn {
	tc, ok := nc.(*net.TCPConn)
	if !ok {
		return nc
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return nc
	}
	c := &quickAckConn{TCPConn: tc, rc: rc}
	c.set()
	return c
}

type quickAckConn struct {
	*net.TCPConn
	rc syscall.RawConn
}

func (c *quickAckConn) Read(p []byte) (int, error) {
	n, err := c.TCPConn.Read(p)
	c.set()
	return n, err
}

func (c *quickAckConn) set() {
	_ = c.rc.Control(func(fd uintptr) {
		_ = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_QUICKACK, 1)
	})
}
