package i2cpup

import (
	"io"
	"net"
	"syscall"
	"testing"
)

// TestQuickAck: a connection through quickAck is in quick-ACK mode after
// every read of a request/response exchange (without it Linux switches an
// interactive connection to delayed ACKs), and reads still return the
// bytes sent.
func TestQuickAck(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		s, err := ln.Accept()
		if err != nil {
			return
		}
		defer s.Close()
		buf := make([]byte, 4)
		for {
			if _, err := io.ReadFull(s, buf); err != nil {
				return
			}
			if _, err := s.Write(buf); err != nil {
				return
			}
		}
	}()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c := quickAck(nc)
	defer c.Close()
	if _, ok := c.(*quickAckConn); !ok {
		t.Fatalf("quickAck(%T) = %T, want *quickAckConn", nc, c)
	}
	rc, err := nc.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	for i := range 20 {
		msg := []byte{byte(i), 1, 2, 3}
		if _, err := c.Write(msg); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, buf); err != nil || string(buf) != string(msg) {
			t.Fatalf("exchange %d: read %v, %v; want %v", i, buf, err, msg)
		}
		var v int
		var gerr error
		if err := rc.Control(func(fd uintptr) { v, gerr = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_QUICKACK) }); err != nil || gerr != nil {
			t.Fatalf("getsockopt: %v %v", err, gerr)
		}
		if v != 1 {
			t.Fatalf("exchange %d: TCP_QUICKACK = %d after a read, want 1", i, v)
		}
	}
	if q := quickAck(pipeConn{}); q != (pipeConn{}) {
		t.Errorf("quickAck of a non-TCP connection changed it: %T", q)
	}
}

// pipeConn is a net.Conn that is not TCP.
type pipeConn struct{ net.Conn }
