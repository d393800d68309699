package i2pdnet

import (
	"archive/zip"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// testdata/router.info was written by i2pd 2.45.1; the expected hash is
// the one i2pd itself logged for it ("NetDb: RouterInfo added: ...").
const routerInfoHash = "GAiFnZBCBYScnHaqScI10DQNGtsMUSoJW6oOVEsOngg="

func TestRouterInfoHash(t *testing.T) {
	ri, err := os.ReadFile(filepath.Join("testdata", "router.info"))
	if err != nil {
		t.Fatal(err)
	}
	h, err := RouterInfoHash(ri)
	if err != nil {
		t.Fatal(err)
	}
	if h.Base64() != routerInfoHash {
		t.Fatalf("hash %s, want %s", h.Base64(), routerInfoHash)
	}
	for _, bad := range [][]byte{nil, ri[:386], ri[:390]} {
		if _, err := RouterInfoHash(bad); err == nil {
			t.Errorf("%d bytes: no error", len(bad))
		}
	}
}

func TestSeedZip(t *testing.T) {
	ri, err := os.ReadFile(filepath.Join("testdata", "router.info"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "seed.zip")
	if err := WriteSeedZip(path, [][]byte{ri}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	if len(zr.File) != 1 {
		t.Fatalf("%d entries", len(zr.File))
	}
	f := zr.File[0]
	if want := "routerInfo-" + routerInfoHash + ".dat"; f.Name != want {
		t.Errorf("entry %q, want %q", f.Name, want)
	}
	if f.Method != zip.Store || f.Flags&0x8 != 0 {
		t.Errorf("method %d flags %#x: want stored, no data descriptor", f.Method, f.Flags)
	}
	rc, err := f.Open()
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(got, ri) {
		t.Fatalf("entry content differs (err %v)", err)
	}
	if err := WriteSeedZip(path, [][]byte{ri[:100]}); err == nil {
		t.Error("truncated router.info accepted")
	}
}
