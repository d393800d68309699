package routerproto

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"reflect"
	"testing"
	"time"
)

// TestJavaStyleRefusal: Java routers refuse a CreateSession with a
// Disconnect instead of a SessionStatus; CreateSession returns the reason.
func TestJavaStyleRefusal(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		conn := NewConn(nc, time.Second)
		if conn.ReadProtocolByte() != nil {
			return
		}
		for {
			m, err := conn.ReadMessage()
			if err != nil {
				return
			}
			switch m.Type() {
			case TypeGetDate:
				_ = conn.WriteMessage(&SetDate{Date: uint64(time.Now().UnixMilli()), Version: "0.9.48"})
			case TypeCreateSession:
				_ = conn.CloseWith("Non-ElGamal encryption type in key certificate unsupported")
				return
			}
		}
	}()
	c := dialTest(t, ln.Addr().String(), nil)
	_, sc := newSessionConfig(t, nil)
	_, err = c.CreateSession(context.Background(), sc)
	var de *DisconnectError
	if !errors.As(err, &de) || de.Reason != "Non-ElGamal encryption type in key certificate unsupported" {
		t.Fatalf("err %v", err)
	}
}

// TestHandshakeTimeout: a connection that never sends GetDate is closed.
func TestHandshakeTimeout(t *testing.T) {
	_, addr := startServer(t, newTestHandler(t), func(c *ServerConfig) { c.HandshakeTimeout = 100 * time.Millisecond })
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	start := time.Now()
	if _, err := nc.Read(make([]byte, 1)); err == nil {
		t.Fatal("got data from a silent handshake")
	} else if errors.Is(err, os.ErrDeadlineExceeded) || time.Since(start) > 4*time.Second {
		t.Fatalf("server kept the silent connection open: %v", err)
	}
}

// TestClientDisconnectClosesCleanly: a client's Disconnect ends its
// connection without a server-side error.
func TestClientDisconnectClosesCleanly(t *testing.T) {
	h := newTestHandler(t)
	_, addr := startServer(t, h, nil)
	c := dialTest(t, addr, nil)
	if err := c.Send(&Disconnect{Reason: "bye"}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("server kept the connection after Disconnect")
	}
	select {
	case <-h.closed:
	case <-time.After(5 * time.Second):
		t.Fatal("ConnClosed not called")
	}
}

// TestReadMessageNoAlias: payloads read into the Conn's reused buffer stay
// intact after the next reads (the decoder must have copied them out).
func TestReadMessageNoAlias(t *testing.T) {
	var stream []byte
	msgs := []Message{
		&MessagePayload{SessionID: 1, MessageID: 1, Payload: bytes.Repeat([]byte{0xaa}, 4096)},
		&MessagePayload{SessionID: 1, MessageID: 2, Payload: bytes.Repeat([]byte{0xbb}, 4096)},
		&Disconnect{Reason: "bye"},
		&MessagePayload{SessionID: 1, MessageID: 3, Payload: bytes.Repeat([]byte{0xcc}, 100)},
	}
	for _, m := range msgs {
		f, err := Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		stream = append(stream, f...)
	}
	c := &Conn{br: bufio.NewReader(bytes.NewReader(stream))}
	var got []Message
	for range msgs {
		m, err := c.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, m)
	}
	for i, want := range msgs {
		if !reflect.DeepEqual(got[i], want) {
			t.Errorf("message %d changed after later reads: %+v", i, got[i])
		}
	}
}
