package i2pdnet

import (
	"archive/zip"
	"bytes"
	"fmt"
	"hash/crc32"
	"os"

	"github.com/imh-project/imh/i2p"
)

// RouterInfoHash returns the identity hash of a router.info: SHA-256 of its
// RouterIdentity, the KeysAndCert at its start (387 + certificate length
// bytes; I2P-WIRE 2.4, same layout as a Destination).
func RouterInfoHash(routerInfo []byte) (i2p.Hash, error) {
	id, _, err := i2p.ParseDestination(routerInfo)
	if err != nil {
		return i2p.Hash{}, fmt.Errorf("router identity: %w", err)
	}
	return id.Hash(), nil
}

// SeedEntryName is the name i2pd expects for a router.info in a reseed zip:
// routerInfo-<I2P base64 of the identity hash>.dat.
func SeedEntryName(h i2p.Hash) string { return "routerInfo-" + h.Base64() + ".dat" }

// WriteSeedZip writes a reseed zip holding every router.info as
// SeedEntryName(hash). Entries are stored uncompressed with sizes and CRC in
// the local headers (no data descriptors), the simplest form for i2pd's own
// zip reader.
func WriteSeedZip(path string, routerInfos [][]byte) error {
	b, err := seedZip(routerInfos)
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("seed zip: %w", err)
	}
	return nil
}

func seedZip(routerInfos [][]byte) ([]byte, error) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for i, ri := range routerInfos {
		h, err := RouterInfoHash(ri)
		if err != nil {
			return nil, fmt.Errorf("seed zip: router.info %d: %w", i, err)
		}
		w, err := zw.CreateRaw(&zip.FileHeader{
			Name:               SeedEntryName(h),
			Method:             zip.Store,
			CRC32:              crc32.ChecksumIEEE(ri),
			CompressedSize64:   uint64(len(ri)),
			UncompressedSize64: uint64(len(ri)),
		})
		if err != nil {
			return nil, fmt.Errorf("seed zip: %w", err)
		}
		if _, err := w.Write(ri); err != nil {
			return nil, fmt.Errorf("seed zip: %w", err)
		}
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("seed zip: %w", err)
	}
	return buf.Bytes(), nil
}
