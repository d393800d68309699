package streaming

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/imh-project/imh/i2p"
)

// link is an in-process network between Muxes: seeded loss, duplicates
// and reordering (random delay), and an observer of every packet sent.
type link struct {
	mu        sync.Mutex
	rng       *rand.Rand
	loss, dup float64
	minDelay  time.Duration
	jitter    time.Duration
	sync      bool // deliver in the sender's goroutine, no delay (benchmarks)
	down      bool // drop everything
	muxes     map[i2p.Hash]*Mux
	inflight  map[uint32]map[uint32]bool // sender stream id -> unacked seqs seen on the wire
	drop      func(p *Packet) bool       // drops chosen packets, if set
	maxFlight int
}

func newLink(seed uint64, loss, dup float64) *link {
	return &link{rng: rand.New(rand.NewPCG(seed, seed^0x5eed)), loss: loss, dup: dup,
		minDelay: 10 * time.Millisecond, jitter: 20 * time.Millisecond,
		muxes: make(map[i2p.Hash]*Mux), inflight: make(map[uint32]map[uint32]bool)}
}

type endpoint struct {
	l    *link
	from *i2p.Destination
}

func (e endpoint) SendPacket(ctx context.Context, to *i2p.Destination, srcPort, dstPort uint16, pkt []byte) error {
	l := e.l
	l.mu.Lock()
	l.observe(pkt)
	target := l.muxes[to.Hash()]
	copies := 1
	if l.down || l.rng.Float64() < l.loss || l.dropChosen(pkt) {
		copies = 0
	} else if l.rng.Float64() < l.dup {
		copies = 2
	}
	delays := make([]time.Duration, copies)
	for i := range delays {
		delays[i] = l.minDelay + time.Duration(l.rng.Int64N(int64(l.jitter)+1))
	}
	l.mu.Unlock()
	if target == nil {
		return errors.New("no route")
	}
	for _, d := range delays {
		b := bytes.Clone(pkt)
		if l.sync {
			target.HandlePacket(srcPort, dstPort, b)
			continue
		}
		go func() {
			time.Sleep(d)
			target.HandlePacket(srcPort, dstPort, b)
		}()
	}
	return nil
}

// observe tracks, per sending stream, the sequence numbers on the wire
// that the other side has not acknowledged yet: never more than a window.
func (l *link) observe(b []byte) {
	p, err := ParsePacket(b)
	if err != nil || p.Flags.Has(FlagEcho) {
		return
	}
	if p.Seq > 0 && !p.Flags.Has(FlagReset) {
		s := l.inflight[p.RecvStreamID]
		if s == nil {
			s = make(map[uint32]bool)
			l.inflight[p.RecvStreamID] = s
		}
		s[p.Seq] = true
		l.maxFlight = max(l.maxFlight, len(s))
	}
	if p.Flags.Has(FlagNoAck) {
		return
	}
	for seq := range l.inflight[p.SendStreamID] {
		if seq <= p.AckThrough && !containsSeq(p.NACKs, seq) {
			delete(l.inflight[p.SendStreamID], seq)
		}
	}
}

func (l *link) dropChosen(b []byte) bool {
	if l.drop == nil {
		return false
	}
	p, err := ParsePacket(b)
	return err == nil && l.drop(p)
}

func (l *link) maxInFlight() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.maxFlight
}

func (l *link) add(t testing.TB, seed byte, lim Limits) *Mux {
	t.Helper()
	id, err := NewIdentity(testKeys(t, seed))
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewMux(Config{Identity: id, Transport: endpoint{l, id.Destination()}, Limits: lim,
		Resolve: func(ctx context.Context, b32 string) (*i2p.Destination, error) {
			h, err := i2p.ParseB32(b32)
			if err != nil {
				return nil, err
			}
			l.mu.Lock()
			defer l.mu.Unlock()
			if m := l.muxes[h]; m != nil {
				return m.identity().Destination(), nil
			}
			return nil, errors.New("unknown")
		}})
	if err != nil {
		t.Fatal(err)
	}
	l.mu.Lock()
	l.muxes[id.Destination().Hash()] = m
	l.mu.Unlock()
	t.Cleanup(func() {
		m.Close()
		if !l.sync {
			time.Sleep(time.Minute) // let the packets on the simulated wire land
		}
	})
	return m
}

func testData(seed uint64, n int) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{byte(seed)})
	r.Read(b)
	return b
}

// exchange writes out and reads everything the peer sends until EOF,
// returning the hash of what it read.
func exchange(c net.Conn, out []byte) ([32]byte, error) {
	errc := make(chan error, 1)
	go func() {
		_, err := c.Write(out)
		if err == nil {
			err = c.(*Conn).CloseWrite()
		}
		errc <- err
	}()
	h := sha256.New()
	_, rerr := io.Copy(h, c)
	werr := <-errc
	var sum [32]byte
	h.Sum(sum[:0])
	return sum, errors.Join(rerr, werr)
}

func TestLossyTransferBothWays(t *testing.T) {
	const size = 16 << 20
	synctest.Test(t, func(t *testing.T) {
		l := newLink(1, 0.05, 0.01)
		a, b := l.add(t, 1, Limits{}), l.add(t, 2, Limits{})
		ln, err := b.Listen(80)
		if err != nil {
			t.Fatal(err)
		}
		toA, toB := testData(1, size), testData(2, size)
		var gotByB [32]byte
		var errB error
		done := make(chan struct{})
		go func() {
			defer close(done)
			c, err := ln.Accept()
			if err != nil {
				errB = err
				return
			}
			gotByB, errB = exchange(c, toA)
			c.Close()
		}()
		start := time.Now()
		c, err := a.DialDestination(t.Context(), b.identity().Destination(), 80)
		if err != nil {
			t.Fatal(err)
		}
		gotByA, err := exchange(c, toB)
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
		<-done
		if errB != nil {
			t.Fatal(errB)
		}
		if gotByA != sha256.Sum256(toA) || gotByB != sha256.Sum256(toB) {
			t.Fatal("data differs")
		}
		sa, sb := a.Stats(), b.Stats()
		resends, pkts := sa.Resends+sb.Resends, sa.PacketsOut+sb.PacketsOut
		t.Logf("simulated %v; packets %d, resends %d (%.1f%%), max in flight %d",
			time.Since(start), pkts, resends, 100*float64(resends)/float64(pkts), l.maxInFlight())
		if float64(resends) > 0.2*float64(pkts) {
			t.Errorf("resends %d of %d packets", resends, pkts)
		}
		if n := l.maxInFlight(); n > DefaultLimits().MaxWindow {
			t.Errorf("%d packets in flight, window %d", n, DefaultLimits().MaxWindow)
		}
	})
}

// TestReorderingWithoutLoss: a link that loses nothing but reorders
// (each packet 10-30 ms). The receiver acks as i2pd does: every packet
// that arrives out of order gets an ack at once (here: one per wake-up of
// the stream), NACKing every hole below it. Overtaken packets are not
// lost: at most 2 % of the data packets may be resent (it was 10 % when a
// packet NACKed twice was resent once out for one SRTT).
func TestReorderingWithoutLoss(t *testing.T) {
	const size = 2 << 20
	for seed := uint64(1); seed <= 3; seed++ {
		synctest.Test(t, func(t *testing.T) {
			l := newLink(seed, 0, 0)
			a, b := l.add(t, 1, Limits{}), l.add(t, 2, Limits{})
			ln, err := b.Listen(80)
			if err != nil {
				t.Fatal(err)
			}
			data := testData(seed, size)
			go func() {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				c.Write(data)
				c.Close()
			}()
			start := time.Now()
			c, err := a.DialDestination(t.Context(), b.identity().Destination(), 80)
			if err != nil {
				t.Fatal(err)
			}
			h := sha256.New()
			if _, err := io.Copy(h, c); err != nil {
				t.Fatal(err)
			}
			c.Close()
			if [32]byte(h.Sum(nil)) != sha256.Sum256(data) {
				t.Fatal("data differs")
			}
			packets := size / DefaultLimits().MaxPacketSize
			s := b.Stats()
			t.Logf("seed %d: %d MiB in %v (simulated), %d resends for %d data packets", seed, size>>20, time.Since(start), s.Resends, packets)
			if s.Resends > uint64(packets)/50 {
				t.Errorf("seed %d: %d resends of %d data packets on a link that loses nothing", seed, s.Resends, packets)
			}
		})
	}
}

func TestHalfClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newLink(2, 0, 0)
		a, b := l.add(t, 1, Limits{}), l.add(t, 2, Limits{})
		ln, _ := b.Listen(0)
		go func() {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			got, err := io.ReadAll(c)
			if err != nil || string(got) != "hello" {
				t.Errorf("server read %q, %v", got, err)
			}
			c.Write([]byte("world"))
			c.Close()
		}()
		c, err := a.Dial(t.Context(), b.identity().Destination().B32()+":7")
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte("hello"))
		c.(*Conn).CloseWrite()
		if _, err := c.Write([]byte("x")); !errors.Is(err, ErrClosed) {
			t.Errorf("write after CloseWrite: %v", err)
		}
		got, err := io.ReadAll(c)
		if err != nil || string(got) != "world" {
			t.Fatalf("client read %q, %v", got, err)
		}
		if ra := c.RemoteAddr(); ra.Network() != "i2p" || ra.String() != b.identity().Destination().B32()+":7" {
			t.Errorf("remote addr %v", ra)
		}
		c.Close()
	})
}

func TestRefusedWithoutListener(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newLink(3, 0, 0)
		a, b := l.add(t, 1, Limits{}), l.add(t, 2, Limits{})
		c, err := a.DialDestination(t.Context(), b.identity().Destination(), 80)
		if err == nil {
			_, err = c.Read(make([]byte, 1))
		}
		if !errors.Is(err, ErrRefused) {
			t.Fatalf("err = %v, want ErrRefused", err)
		}
		if s := b.Stats(); s.Refused != 1 || s.OpenStreams != 0 {
			t.Errorf("stats %+v", s)
		}
	})
}

func TestResetOnMuxClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newLink(4, 0, 0)
		a, b := l.add(t, 1, Limits{}), l.add(t, 2, Limits{})
		ln, _ := b.Listen(0)
		c, err := a.DialDestination(t.Context(), b.identity().Destination(), 1)
		if err != nil {
			t.Fatal(err)
		}
		sc, _ := ln.Accept()
		sc.Write([]byte("data"))
		buf := make([]byte, 4)
		if _, err := io.ReadFull(c, buf); err != nil {
			t.Fatal(err)
		}
		b.Close()
		if _, err := c.Read(buf); !errors.Is(err, ErrReset) {
			t.Fatalf("read after peer reset: %v", err)
		}
	})
}

func TestDeadlines(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newLink(5, 0, 0)
		a, b := l.add(t, 1, Limits{}), l.add(t, 2, Limits{})
		ln, _ := b.Listen(0)
		c, err := a.DialDestination(t.Context(), b.identity().Destination(), 1)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ln.Accept(); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		c.SetReadDeadline(start.Add(time.Second))
		if _, err := c.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("read: %v", err)
		}
		if d := time.Since(start); d != time.Second {
			t.Errorf("read deadline after %v", d)
		}
		// Nobody reads at b: the buffers fill and Write must give up.
		c.SetWriteDeadline(time.Now().Add(5 * time.Second))
		n, err := c.Write(make([]byte, 4<<20))
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("write: %d, %v", n, err)
		}
		if max := DefaultLimits().MaxSendBuffer + DefaultLimits().MaxRecvBuffer; n > max {
			t.Errorf("wrote %d bytes with nobody reading, buffers %d", n, max)
		}
		c.SetDeadline(time.Time{})
	})
}

func TestLimitsRefuse(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newLink(6, 0, 0)
		a, b := l.add(t, 1, Limits{}), l.add(t, 2, Limits{MaxStreamsPerPeer: 2})
		ln, _ := b.Listen(0)
		for i := range 2 {
			if _, err := a.DialDestination(t.Context(), b.identity().Destination(), 1); err != nil {
				t.Fatalf("dial %d: %v", i, err)
			}
		}
		c, err := a.DialDestination(t.Context(), b.identity().Destination(), 1)
		if err == nil {
			_, err = c.Read(make([]byte, 1))
		}
		if !errors.Is(err, ErrRefused) {
			t.Fatalf("third stream: %v", err)
		}
		if s := b.Stats(); s.Refused != 1 || s.Accepted != 2 {
			t.Errorf("stats %+v", s)
		}
		ln.Close()
	})
}

func TestPeerGoneTimesOut(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newLink(7, 0, 0)
		a, b := l.add(t, 1, Limits{}), l.add(t, 2, Limits{})
		ln, _ := b.Listen(0)
		c, err := a.DialDestination(t.Context(), b.identity().Destination(), 1)
		if err != nil {
			t.Fatal(err)
		}
		ln.Accept()
		l.mu.Lock()
		l.down = true
		l.mu.Unlock()
		c.Write([]byte("lost"))
		if _, err := c.Read(make([]byte, 1)); !errors.Is(err, ErrTimeout) {
			t.Fatalf("read: %v", err)
		}
	})
}

func TestDialTimesOut(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newLink(8, 0, 0)
		a, b := l.add(t, 1, Limits{}), l.add(t, 2, Limits{})
		l.down = true
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		if _, err := a.DialDestination(ctx, b.identity().Destination(), 1); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("dial: %v", err)
		}
		if _, err := a.DialDestination(t.Context(), b.identity().Destination(), 1); !errors.Is(err, ErrTimeout) {
			t.Fatalf("dial: %v", err)
		}
	})
}

func TestCloseStopsGoroutines(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		before := packageGoroutines()
		l := newLink(9, 0.05, 0)
		a, b := l.add(t, 1, Limits{}), l.add(t, 2, Limits{})
		ln, _ := b.Listen(0)
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go io.Copy(c, c)
			}
		}()
		for range 5 {
			c, err := a.DialDestination(t.Context(), b.identity().Destination(), 1)
			if err != nil {
				t.Fatal(err)
			}
			c.Write(make([]byte, 10000))
			go io.Copy(io.Discard, c)
		}
		if n := packageGoroutines(); n <= before {
			t.Fatalf("%d goroutines of this package with 5 streams open, %d before: the count sees nothing", n, before)
		}
		a.Close()
		b.Close()
		time.Sleep(time.Minute) // packets still on the simulated wire
		synctest.Wait()
		if n := packageGoroutines(); n > before {
			t.Fatalf("%d goroutines of this package after Close, %d before:\n%s", n, before, goroutineDump())
		}
	})
}

// packageGoroutines counts the goroutines, other than the caller, running
// code of this package. runtime.NumGoroutine would count the whole test
// binary's, and a goroutine of another test still winding down (go test
// -shuffle runs them in any order) made the count flaky.
func packageGoroutines() int {
	stacks := strings.Split(goroutineDump(), "\n\n")
	n := 0
	for _, s := range stacks[1:] { // the first is the caller's
		if strings.Contains(s, "/imh/streaming.") {
			n++
		}
	}
	return n
}

func goroutineDump() string {
	buf := make([]byte, 1<<20)
	return string(buf[:runtime.Stack(buf, true)])
}

func TestEcho(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newLink(10, 0, 0)
		a, b := l.add(t, 1, Limits{}), l.add(t, 2, Limits{})
		var pong []byte
		l.mu.Lock()
		l.muxes[a.identity().Destination().Hash()] = nil
		l.mu.Unlock()
		ping := &Packet{SendStreamID: 42, Flags: FlagEcho | FlagFrom | FlagNoAck, From: a.identity().Destination(), Payload: []byte("ping")}
		raw, err := a.identity().SignPacket(ping)
		if err != nil {
			t.Fatal(err)
		}
		tap := &tapTransport{}
		b.tr = tap
		b.HandlePacket(1, 2, raw)
		synctest.Wait()
		tap.mu.Lock()
		if len(tap.pkts) == 1 {
			pong = tap.pkts[0]
		}
		tap.mu.Unlock()
		p, err := ParsePacket(pong)
		if err != nil || p.SendStreamID != 0 || p.RecvStreamID != 42 || !p.Flags.Has(FlagEcho) || string(p.Payload) != "ping" {
			t.Fatalf("pong %+v, %v", p, err)
		}
	})
}

type tapTransport struct {
	mu   sync.Mutex
	pkts [][]byte
}

func (t *tapTransport) SendPacket(_ context.Context, _ *i2p.Destination, _, _ uint16, b []byte) error {
	t.mu.Lock()
	t.pkts = append(t.pkts, b)
	t.mu.Unlock()
	return nil
}

func BenchmarkThroughput(b *testing.B) {
	l := newLink(11, 0, 0)
	l.sync = true
	x, y := l.add(b, 1, Limits{}), l.add(b, 2, Limits{})
	ln, _ := y.Listen(0)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			io.Copy(io.Discard, c)
		}
	}()
	c, err := x.DialDestination(context.Background(), y.identity().Destination(), 1)
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 64<<10)
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		if _, err := c.Write(buf); err != nil {
			b.Fatal(err)
		}
	}
}

// TestSlowReaderChokes fills the receiver's buffer (it chokes the sender),
// then reads everything: the stream resumes and nothing is lost or counted
// as a failed resend.
func TestSlowReaderChokes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newLink(12, 0.02, 0)
		lim := Limits{MaxRecvBuffer: 64 << 10, MaxSendBuffer: 64 << 10, MaxWindow: 16, InitialWindow: 4}
		a, b := l.add(t, 1, lim), l.add(t, 2, lim)
		ln, _ := b.Listen(0)
		data := testData(3, 2<<20)
		go func() {
			c, err := a.DialDestination(t.Context(), b.identity().Destination(), 1)
			if err != nil {
				t.Error(err)
				return
			}
			c.Write(data)
			c.Close()
		}()
		c, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Minute) // nobody reads: the sender must not give up
		got, err := io.ReadAll(c)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("read %d of %d bytes: %v", len(got), len(data), err)
		}
		if n := l.maxInFlight(); n > 16 {
			t.Errorf("%d packets in flight, window 16", n)
		}
	})
}

func TestOfflineIdentityStream(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newLink(13, 0, 0)
		b := l.add(t, 2, Limits{})
		id := testOfflineIdentity(t, 5, uint32(time.Now().Add(time.Hour).Unix()))
		a, err := NewMux(Config{Identity: id, Transport: endpoint{l, id.Destination()}})
		if err != nil {
			t.Fatal(err)
		}
		l.mu.Lock()
		l.muxes[id.Destination().Hash()] = a
		l.mu.Unlock()
		t.Cleanup(func() { a.Close(); time.Sleep(time.Minute) })
		ln, _ := b.Listen(0)
		go func() {
			c, err := ln.Accept()
			if err == nil {
				io.Copy(c, c)
				c.Close()
			}
		}()
		c, err := a.DialDestination(t.Context(), b.identity().Destination(), 1)
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte("offline"))
		c.(*Conn).CloseWrite()
		got, err := io.ReadAll(c)
		if err != nil || string(got) != "offline" {
			t.Fatalf("echo %q, %v", got, err)
		}
	})
}

func TestSYNRateLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newLink(14, 0, 0)
		a, b := l.add(t, 1, Limits{}), l.add(t, 2, Limits{SYNRate: 0.001, SYNBurst: 1})
		b.Listen(0)
		if _, err := a.DialDestination(t.Context(), b.identity().Destination(), 1); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		if _, err := a.DialDestination(ctx, b.identity().Destination(), 1); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("second dial: %v", err)
		}
		if s := b.Stats(); s.Refused == 0 || s.Accepted != 1 {
			t.Errorf("stats %+v", s)
		}
	})
}

// TestLostSYNReply: the dialer resends its SYN, the listener finds the
// stream the first copy created and answers again.
func TestLostSYNReply(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newLink(15, 0, 0)
		dropped := 0
		l.drop = func(p *Packet) bool {
			if p.Flags.Has(FlagSYN) && p.SendStreamID != 0 && dropped == 0 {
				dropped++
				return true
			}
			return false
		}
		a, b := l.add(t, 1, Limits{}), l.add(t, 2, Limits{})
		ln, _ := b.Listen(0)
		start := time.Now()
		c, err := a.DialDestination(t.Context(), b.identity().Destination(), 1)
		if err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d < DefaultLimits().InitialRTO {
			t.Errorf("dial took %v: the reply was not lost?", d)
		}
		c.Write([]byte("x"))
		sc, _ := ln.Accept()
		buf := make([]byte, 1)
		if _, err := io.ReadFull(sc, buf); err != nil {
			t.Fatal(err)
		}
		if s := b.Stats(); s.Accepted != 1 || s.OpenStreams != 1 {
			t.Errorf("stats %+v", s)
		}
	})
}

// TestResentJavaSYN: Java I2P sets no NO_ACK on its SYN (ackThrough 0);
// a resent one must not count as an ack of our SYN reply, which is sent again.
func TestResentJavaSYN(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newLink(16, 0, 0)
		b := l.add(t, 2, Limits{})
		tap := &tapTransport{}
		b.tr = tap
		b.Listen(0)
		peer, err := NewIdentity(testKeys(t, 9))
		if err != nil {
			t.Fatal(err)
		}
		syn := &Packet{RecvStreamID: 99, Flags: FlagSYN | FlagFrom | FlagMaxPacketSize, From: peer.Destination(), MaxSize: 1730}
		raw, err := peer.SignPacket(syn)
		if err != nil {
			t.Fatal(err)
		}
		replies := func() int {
			synctest.Wait()
			tap.mu.Lock()
			defer tap.mu.Unlock()
			n := 0
			for _, b := range tap.pkts {
				if p, err := ParsePacket(b); err == nil && p.Flags.Has(FlagSYN) && p.SendStreamID == 99 {
					n++
				}
			}
			return n
		}
		b.HandlePacket(1, 2, raw)
		if n := replies(); n != 1 {
			t.Fatalf("%d SYN replies to the first SYN", n)
		}
		b.HandlePacket(1, 2, raw)
		if n := replies(); n != 2 {
			t.Fatalf("%d SYN replies after the resent SYN", n)
		}
		if s := b.Stats(); s.Accepted != 1 {
			t.Errorf("stats %+v", s)
		}
	})
}

// stuckTransport never returns before its context ends.
type stuckTransport struct{}

func (stuckTransport) SendPacket(ctx context.Context, _ *i2p.Destination, _, _ uint16, _ []byte) error {
	<-ctx.Done()
	return ctx.Err()
}

func TestCloseWithStuckTransport(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		id, err := NewIdentity(testKeys(t, 1))
		if err != nil {
			t.Fatal(err)
		}
		m, err := NewMux(Config{Identity: id, Transport: stuckTransport{}})
		if err != nil {
			t.Fatal(err)
		}
		dialErr := make(chan error, 1)
		go func() {
			_, err := m.DialDestination(context.Background(), testKeys(t, 2).Destination(), 1)
			dialErr <- err
		}()
		synctest.Wait()
		start := time.Now()
		m.Close()
		if d := time.Since(start); d > 2*closeGrace {
			t.Errorf("Close took %v", d)
		}
		if err := <-dialErr; !errors.Is(err, ErrClosed) {
			t.Errorf("dial: %v", err)
		}
	})
}

// TestSetIdentityRotates: after a frontend's transient key is rotated, new
// streams sign with the new key and a stream opened before keeps the key
// its peer learned from its SYN, so its CLOSE still verifies there.
func TestSetIdentityRotates(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newLink(17, 0, 0)
		b := l.add(t, 2, Limits{})
		exp := uint32(time.Now().Add(time.Hour).Unix())
		keys := testKeys(t, 6)
		newID := func(seed byte) *Identity { return offlineIdentityOf(t, keys, seed, exp) }
		first, second := newID(1), newID(2)
		a, err := NewMux(Config{Identity: first, Transport: endpoint{l, first.Destination()}})
		if err != nil {
			t.Fatal(err)
		}
		l.mu.Lock()
		l.muxes[first.Destination().Hash()] = a
		var synKeys [][]byte
		l.drop = func(p *Packet) bool {
			if p.Flags.Has(FlagSYN) && p.Offline != nil && p.From.Equal(first.Destination()) {
				synKeys = append(synKeys, p.Offline.TransientKey)
			}
			return false
		}
		l.mu.Unlock()
		t.Cleanup(func() { a.Close(); time.Sleep(time.Minute) })
		if err := a.SetIdentity(testOfflineIdentity(t, 9, exp)); err == nil {
			t.Fatal("identity of another destination accepted")
		}
		ln, _ := b.Listen(0)
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go func() { io.Copy(c, c); c.Close() }()
			}
		}()
		echo := func(c net.Conn, msg string) {
			t.Helper()
			c.Write([]byte(msg))
			c.(*Conn).CloseWrite()
			got, err := io.ReadAll(c)
			if err != nil || string(got) != msg {
				t.Fatalf("echo %q, %v", got, err)
			}
		}
		old, err := a.DialDestination(t.Context(), b.identity().Destination(), 1)
		if err != nil {
			t.Fatal(err)
		}
		if err := a.SetIdentity(second); err != nil {
			t.Fatal(err)
		}
		fresh, err := a.DialDestination(t.Context(), b.identity().Destination(), 1)
		if err != nil {
			t.Fatal(err)
		}
		echo(old, "signed by the first key")
		echo(fresh, "signed by the second key")
		l.mu.Lock()
		defer l.mu.Unlock()
		want := [][]byte{first.offline.TransientKey, second.offline.TransientKey}
		if len(synKeys) != 2 || !bytes.Equal(synKeys[0], want[0]) || !bytes.Equal(synKeys[1], want[1]) {
			t.Fatalf("SYNs carried transient keys %x, want %x", synKeys, want)
		}
	})
}
