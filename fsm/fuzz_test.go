package fsm

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// FuzzDecode checks that Decode never panics and that whatever it accepts
// re-encodes to the same bytes, and that Apply of anything never panics.
func FuzzDecode(f *testing.F) {
	for _, c := range sampleLogV3(f) {
		b, err := Encode(c)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte{0x81, 1, 2})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := Decode(b)
		if err != nil {
			return
		}
		again, err := Encode(c)
		if err != nil {
			t.Fatalf("decoded %s but cannot encode: %v", c.Type(), err)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("%s: round trip differs:\n%x\n%x", c.Type(), b, again)
		}
		_ = New().Apply(1, b)
	})
}

// FuzzRestore checks that Restore never panics on any input.
func FuzzRestore(f *testing.F) {
	s := New()
	applyAll(f, s, sampleLog(f))
	f.Add(s.Snapshot())
	for _, name := range []string{"golden-v1.snap", "golden-v3.snap"} {
		if b, err := os.ReadFile(filepath.Join("testdata", name)); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		_ = New().Restore(b)
	})
}
