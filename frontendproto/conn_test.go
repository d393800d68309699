package frontendproto

import (
	"context"
	"errors"
	"io"
	"net"
	"reflect"
	"sync"
	"testing"
	"time"
)

// pipe returns both ends of a net.Pipe as Conns, closed at the end of the
// test.
func pipe(t *testing.T) (*Conn, *Conn) {
	t.Helper()
	a, b := net.Pipe()
	ca, cb := NewConn(a), NewConn(b)
	t.Cleanup(func() { ca.Close(); cb.Close() })
	return ca, cb
}

// handshakeBoth runs both handshakes at once, as a leader and a frontend do.
func handshakeBoth(t *testing.T, a, b *Conn) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- b.Handshake(ctx) }()
	if err := a.Handshake(ctx); err != nil {
		t.Fatalf("handshake a: %v", err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("handshake b: %v", err)
	}
}

func TestConnExchange(t *testing.T) {
	leader, frontend := pipe(t)
	handshakeBoth(t, leader, frontend)
	cases := goldenCases(t)
	go func() {
		for _, tc := range cases {
			if err := leader.Send(tc.msg); err != nil {
				t.Errorf("send %s: %v", tc.file, err)
				return
			}
		}
	}()
	for _, tc := range cases {
		m, err := frontend.Recv()
		if err != nil {
			t.Fatalf("recv %s: %v", tc.file, err)
		}
		if !reflect.DeepEqual(m, tc.msg) {
			t.Fatalf("recv %s\n got %#v\nwant %#v", tc.file, m, tc.msg)
		}
	}
}

// peer plays the other end by hand: writes what it is given and reads
// our preamble, then reports what it read.
func peer(t *testing.T, nc net.Conn, send []byte) <-chan []byte {
	got := make(chan []byte, 1)
	go func() {
		if _, err := nc.Write(send); err != nil {
			got <- nil
			return
		}
		b := make([]byte, PreambleLen)
		if _, err := io.ReadFull(nc, b); err != nil {
			got <- nil
			return
		}
		got <- b
	}()
	return got
}

func TestHandshakeRefuses(t *testing.T) {
	tests := []struct {
		name string
		send []byte
		want error
	}{
		{"bad magic", []byte("IMHX\x01"), ErrBadPreamble},
		{"http", []byte("GET /"), ErrBadPreamble},
		{"router protocol byte", []byte{0x2a, 0, 0, 0, 7}, ErrBadPreamble},
		{"version 2", []byte("IMHF\x02"), ErrVersion},
		{"version 0", []byte("IMHF\x00"), ErrVersion},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := net.Pipe()
			defer b.Close()
			c := NewConn(a)
			defer c.Close()
			got := peer(t, b, tt.send)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := c.Handshake(ctx); !errors.Is(err, tt.want) {
				t.Fatalf("Handshake = %v, want %v", err, tt.want)
			}
			// The peer gets our preamble or nothing (we stop writing when
			// the peer is wrong); closing unblocks it either way.
			c.Close()
			if b := <-got; b != nil && string(b) != "IMHF\x01" {
				t.Fatalf("we sent preamble %q", b)
			}
		})
	}
}

func TestHandshakeOK(t *testing.T) {
	a, b := net.Pipe()
	defer b.Close()
	c := NewConn(a)
	defer c.Close()
	got := peer(t, b, []byte("IMHF\x01"))
	if err := c.Handshake(context.Background()); err != nil {
		t.Fatal(err)
	}
	if b := <-got; string(b) != "IMHF\x01" {
		t.Fatalf("we sent preamble %q", b)
	}
}

// TestHandshakeDeadline: a peer that says nothing (and reads nothing) is
// given up on at ctx's deadline.
func TestHandshakeDeadline(t *testing.T) {
	c, _ := pipe(t)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := c.Handshake(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Handshake = %v, want DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Handshake took %v", d)
	}
}

// TestHandshakeCancel: cancelling ctx interrupts a handshake blocked on a
// peer that read our preamble but never sends its own.
func TestHandshakeCancel(t *testing.T) {
	a, b := net.Pipe()
	defer b.Close()
	c := NewConn(a)
	defer c.Close()
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		buf := make([]byte, PreambleLen)
		_, _ = io.ReadFull(b, buf)
		cancel()
	}()
	if err := c.Handshake(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Handshake = %v, want Canceled", err)
	}
	if err := c.Handshake(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Handshake with a done ctx = %v, want Canceled", err)
	}
}

// TestConcurrentSend: Sends from many goroutines arrive as whole frames.
func TestConcurrentSend(t *testing.T) {
	a, b := pipe(t)
	handshakeBoth(t, a, b)
	const senders, each = 8, 50
	var wg sync.WaitGroup
	for s := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				m := &Report{Frontend: "fe", Router: string(rune('a' + s)), Dests: []DestReport{{Name: "web", Open: uint32(i)}}}
				if err := a.Send(m); err != nil {
					t.Errorf("send: %v", err)
					return
				}
			}
		}()
	}
	next := make(map[string]uint32)
	for range senders * each {
		m, err := b.Recv()
		if err != nil {
			t.Fatal(err)
		}
		r := m.(*Report)
		if r.Dests[0].Open != next[r.Router] {
			t.Fatalf("sender %s: report %d, want %d", r.Router, r.Dests[0].Open, next[r.Router])
		}
		next[r.Router]++
	}
	wg.Wait()
}

// TestRecvBufferReuse: a message stays as it was while later frames are
// read into the same buffer.
func TestRecvBufferReuse(t *testing.T) {
	a, b := pipe(t)
	handshakeBoth(t, a, b)
	cases := goldenCases(t)
	go func() {
		for _, tc := range cases {
			_ = a.Send(tc.msg)
		}
		for _, tc := range cases {
			_ = a.Send(tc.msg)
		}
	}()
	var got []Message
	for range 2 * len(cases) {
		m, err := b.Recv()
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, m)
	}
	for i, m := range got {
		if want := cases[i%len(cases)].msg; !reflect.DeepEqual(m, want) {
			t.Fatalf("message %d changed\n got %#v\nwant %#v", i, m, want)
		}
	}
}

// TestRecvTooLarge: an oversized length fails at once, before any body
// byte is read (the peer sends none).
func TestRecvTooLarge(t *testing.T) {
	a, b := net.Pipe()
	defer b.Close()
	c := NewConn(a)
	defer c.Close()
	go func() { _, _ = b.Write([]byte{0x00, 0x10, 0x00, 0x01, byte(TypeReport)}) }()
	if _, err := c.Recv(); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Recv = %v, want ErrTooLarge", err)
	}
}

// TestRecvSkipsBadFrames: an unknown type or a malformed body is consumed
// whole; the next frame reads fine.
func TestRecvSkipsBadFrames(t *testing.T) {
	a, b := net.Pipe()
	defer b.Close()
	c := NewConn(a)
	defer c.Close()
	good := &KeyRefused{Name: "web", Reason: "no"}
	frame, err := Marshal(good)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		_, _ = b.Write([]byte{0, 0, 0, 2, 99, 0xaa, 0xbb})                // unknown type 99
		_, _ = b.Write([]byte{0, 0, 0, 3, byte(TypeKeyRefused), 5, 1, 2}) // string past its end
		_, _ = b.Write(frame)
	}()
	if _, err := c.Recv(); !errors.Is(err, ErrUnknownType) {
		t.Fatalf("Recv = %v, want ErrUnknownType", err)
	}
	if _, err := c.Recv(); !errors.Is(err, ErrMalformed) {
		t.Fatalf("Recv = %v, want ErrMalformed", err)
	}
	m, err := c.Recv()
	if err != nil || !reflect.DeepEqual(m, good) {
		t.Fatalf("Recv = %#v, %v", m, err)
	}
}

func TestClose(t *testing.T) {
	a, b := pipe(t)
	handshakeBoth(t, a, b)
	recvErr := make(chan error, 1)
	go func() { _, err := b.Recv(); recvErr <- err }()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("second Close = %v", err)
	}
	if err := <-recvErr; err == nil {
		t.Fatal("Recv on a closed Conn returned no error")
	}
	if err := a.Send(&KeyRefused{}); err == nil {
		t.Fatal("Send to a closed peer returned no error")
	}
	if err := b.Send(&KeyRefused{}); err == nil {
		t.Fatal("Send on a closed Conn returned no error")
	}
}

// A peer that stops reading fails Send after the write timeout instead of
// blocking the sender for good.
func TestSendWriteTimeout(t *testing.T) {
	a, b := pipe(t)
	handshakeBoth(t, a, b)
	a.SetWriteTimeout(50 * time.Millisecond)
	done := make(chan error, 1)
	go func() { done <- a.Send(&KeyRefused{Name: "web", Reason: "nobody reads this"}) }()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("Send to a peer that never reads succeeded")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Send blocked past its write timeout")
	}
}
