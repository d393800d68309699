package frontendproto

import (
	"encoding/hex"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/imh-project/imh/i2p"
	"github.com/imh-project/imh/internal/golden"
	"github.com/imh-project/imh/internal/wire"
)

// TestGolden pins every message type byte for byte. The files are annotated
// one field a line by annotate, which walks a frame along the layout of
// PROTOCOL.md section 9 independently of the codec; a frame the walk cannot
// follow fails the test, even with -update.
func TestGolden(t *testing.T) {
	for _, tc := range goldenCases(t) {
		t.Run(tc.file, func(t *testing.T) {
			got, err := Marshal(tc.msg)
			if err != nil {
				t.Fatal(err)
			}
			text := annotate(t, got)
			path := "testdata/" + tc.file
			if golden.Updating() {
				if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want := readGolden(t, tc.file)
			if hex.EncodeToString(got) != hex.EncodeToString(want) {
				t.Fatalf("encoding changed (run with -update if intended)\n got %x\nwant %x", got, want)
			}
			file, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if string(file) != text {
				t.Fatalf("annotations of %s differ from the layout walk (run with -update)", path)
			}
			m, err := Unmarshal(MsgType(want[4]), want[HeaderLen:])
			if err != nil {
				t.Fatalf("decode golden: %v", err)
			}
			if !reflect.DeepEqual(m, tc.msg) {
				t.Fatalf("decode golden\n got %#v\nwant %#v", m, tc.msg)
			}
		})
	}
}

// readGolden reads an annotated hex file: "# ..." comments are ignored.
func readGolden(t testing.TB, name string) []byte {
	t.Helper()
	raw, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, line := range strings.Split(string(raw), "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		b.WriteString(strings.Join(strings.Fields(line), ""))
	}
	out, err := hex.DecodeString(b.String())
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return out
}

// walker follows a frame field by field and writes one annotated line per
// field (fields over 32 bytes continue on further lines).
type walker struct {
	t  testing.TB
	r  *wire.Reader
	sb strings.Builder
}

func (w *walker) field(n int, name string) []byte {
	b := w.r.Bytes(name, n)
	if w.r.Err() != nil {
		w.t.Fatalf("layout walk: %v", w.r.Err())
	}
	for i := 0; i < len(b) || i == 0; i += 32 {
		chunk := b[i:min(i+32, len(b))]
		if i == 0 {
			fmt.Fprintf(&w.sb, "%x # %s\n", chunk, name)
		} else {
			fmt.Fprintf(&w.sb, "%x\n", chunk)
		}
	}
	return b
}

func (w *walker) peek(n int) []byte {
	if w.r.Len() < n {
		w.t.Fatalf("layout walk: %d bytes left, need %d", w.r.Len(), n)
	}
	return w.r.Rest()[:n]
}

func (w *walker) u8(name string) uint8 { return w.field(1, name)[0] }
func (w *walker) u16(name string) uint16 {
	b := w.field(2, name)
	return uint16(b[0])<<8 | uint16(b[1])
}
func (w *walker) str(name string) {
	n := int(w.peek(1)[0])
	s := w.peek(1 + n)[1:]
	w.field(1+n, fmt.Sprintf("%s: String %q", name, s))
}
func (w *walker) blob(name string) {
	b := w.peek(2)
	n := int(b[0])<<8 | int(b[1])
	w.field(2, fmt.Sprintf("%s length u16 (%d)", name, n))
	w.field(n, name)
}

// annotate walks frame along the PROTOCOL.md section 9 layout.
func annotate(t testing.TB, frame []byte) string {
	t.Helper()
	w := &walker{t: t, r: wire.NewReader(frame)}
	if l := w.field(4, "body length u32"); int(l[0])<<24|int(l[1])<<16|int(l[2])<<8|int(l[3]) != len(frame)-HeaderLen {
		t.Fatalf("layout walk: length field %x, body is %d bytes", l, len(frame)-HeaderLen)
	}
	typ := MsgType(w.u8("type " + MsgType(w.peek(1)[0]).String()))
	switch typ {
	case TypeAssign:
		w.field(8, "term u64")
		w.str("leader")
		w.str("frontend")
		n := int(w.u16("assignment count u16"))
		for i := range n {
			w.str(fmt.Sprintf("[%d] name", i))
			_, dn, err := i2p.ParseDestination(w.r.Rest())
			if err != nil {
				t.Fatal(err)
			}
			w.field(dn, fmt.Sprintf("[%d] destination (%d bytes)", i, dn))
			w.str(fmt.Sprintf("[%d] router", i))
			w.str(fmt.Sprintf("[%d] service", i))
			w.field(1, fmt.Sprintf("[%d] policy u8 (0 spread, 1 failover)", i))
			w.field(1, fmt.Sprintf("[%d] flags u8 (bit 0 active, bit 1 draining)", i))
		}
	case TypeKeyRequest:
		w.str("name")
		w.field(2, "transient type u16")
		w.blob("transient key")
	case TypeKeyGrant:
		w.str("name")
		w.field(4, "expires u32 (s since epoch)")
		w.field(2, "transient type u16")
		w.blob("transient key")
		w.blob("offline signature")
		w.str("router")
		w.blob("grant")
	case TypeKeyRefused:
		w.str("name")
		w.str("reason")
	case TypeReport:
		w.str("frontend")
		w.str("router")
		n := int(w.u16("report count u16"))
		for i := range n {
			w.str(fmt.Sprintf("[%d] name", i))
			w.field(1, fmt.Sprintf("[%d] flags u8 (bit 0 attached, bit 1 backend up)", i))
			w.field(4, fmt.Sprintf("[%d] key expires u32", i))
			w.field(4, fmt.Sprintf("[%d] open u32", i))
			for _, f := range []string{"accepted", "refused", "bytes in", "bytes out", "errors"} {
				w.field(8, fmt.Sprintf("[%d] %s u64", i, f))
			}
			w.str(fmt.Sprintf("[%d] last error", i))
		}
	default:
		t.Fatalf("layout walk: type %d", typ)
	}
	if err := w.r.Finish(); err != nil {
		t.Fatalf("layout walk: %v", err)
	}
	return "# " + typ.String() + " frame (PROTOCOL.md section 9), one field a line\n" + w.sb.String()
}
