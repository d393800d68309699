package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// File names inside a CA directory.
const (
	CAFile    = "ca.pem"
	CAKeyFile = "ca-key.pem"
)

// CreateCA writes a new cluster CA (ECDSA P-256, valid CAValidity) to
// dir/ca.pem and dir/ca-key.pem (0600). It refuses if either exists.
func CreateCA(dir string, now time.Time) error {
	certPath, keyPath := filepath.Join(dir, CAFile), filepath.Join(dir, CAKeyFile)
	if err := refuseExisting(certPath, keyPath); err != nil {
		return err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("pki: generate CA key: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "imh cluster CA " + serial.Text(16)[:8], Organization: []string{"imh"}},
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              now.Add(CAValidity),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return fmt.Errorf("pki: create CA certificate: %w", err)
	}
	return writePair(certPath, keyPath, der, key)
}

// LeafRequest describes a certificate to issue.
type LeafRequest struct {
	Role     Role
	Name     string
	IPs      []net.IP // added to 127.0.0.1 and ::1
	DNSNames []string // added to localhost
	Validity time.Duration
}

// IssueCert signs a leaf certificate with the CA in caDir and writes
// outDir/NAME.pem and outDir/NAME-key.pem (0600). It refuses if either
// exists. The certificate is valid for client and server authentication:
// agents are both.
func IssueCert(caDir, outDir string, req LeafRequest, now time.Time) (certPath string, err error) {
	if _, err := ParseRole(string(req.Role)); err != nil {
		return "", err
	}
	if err := ValidName(req.Name); err != nil {
		return "", err
	}
	if req.Validity == 0 {
		req.Validity = DefaultLeafValidity
	}
	if req.Validity < time.Hour || req.Validity > MaxLeafValidity {
		return "", fmt.Errorf("pki: validity %v: want 1h to %v", req.Validity, MaxLeafValidity)
	}
	certPath, keyPath := filepath.Join(outDir, req.Name+".pem"), filepath.Join(outDir, req.Name+"-key.pem")
	if err := refuseExisting(certPath, keyPath); err != nil {
		return "", err
	}
	ca, caKey, err := loadCA(caDir)
	if err != nil {
		return "", err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", fmt.Errorf("pki: generate key: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return "", err
	}
	notAfter := now.Add(req.Validity)
	if notAfter.After(ca.NotAfter) {
		notAfter = ca.NotAfter
	}
	id := Identity{Role: req.Role, Name: req.Name}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: req.Name, OrganizationalUnit: []string{string(req.Role)}, Organization: []string{"imh"}},
		NotBefore:    now.Add(-clockSkew),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		URIs:         []*url.URL{id.uri()},
		IPAddresses:  append([]net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}, req.IPs...),
		DNSNames:     append([]string{"localhost"}, slices.DeleteFunc(slices.Clone(req.DNSNames), func(s string) bool { return s == "localhost" })...),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return "", fmt.Errorf("pki: sign certificate for %s: %w", id, err)
	}
	return certPath, writePair(certPath, keyPath, der, key)
}

func newSerial() (*big.Int, error) {
	s, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("pki: serial: %w", err)
	}
	return s.Add(s, big.NewInt(1)), nil
}

func refuseExisting(paths ...string) error {
	for _, p := range paths {
		_, err := os.Lstat(p)
		if err == nil {
			return fmt.Errorf("%w: %s (move it away first; nothing is overwritten)", ErrExists, p)
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("pki: %s: %w", p, err)
		}
	}
	return nil
}

// writePair writes the key first (0600, O_EXCL), then the certificate; if
// the certificate cannot be written the key is removed again.
func writePair(certPath, keyPath string, der []byte, key *ecdsa.PrivateKey) error {
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("pki: encode key: %w", err)
	}
	defer clear(pkcs8)
	if err := writeExcl(keyPath, 0o600, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8})); err != nil {
		return err
	}
	if err := writeExcl(certPath, 0o644, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})); err != nil {
		_ = os.Remove(keyPath)
		return err
	}
	return nil
}

func writeExcl(path string, mode os.FileMode, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%w: %s", ErrExists, path)
		}
		return fmt.Errorf("pki: write %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		_ = f.Close()
		_ = os.Remove(path)
		return fmt.Errorf("pki: write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		_ = os.Remove(path)
		return fmt.Errorf("pki: write %s: %w", path, err)
	}
	return nil
}

// loadCA reads the CA certificate and key of dir.
func loadCA(dir string) (*x509.Certificate, any, error) {
	certPEM, err := os.ReadFile(filepath.Join(dir, CAFile))
	if err != nil {
		return nil, nil, fmt.Errorf("pki: load CA: %w", err)
	}
	certs, err := parseCerts(certPEM)
	if err != nil || len(certs) == 0 {
		return nil, nil, fmt.Errorf("pki: load CA %s: no certificate (%v)", filepath.Join(dir, CAFile), err)
	}
	keyPEM, err := os.ReadFile(filepath.Join(dir, CAKeyFile))
	if err != nil {
		return nil, nil, fmt.Errorf("pki: load CA key: %w", err)
	}
	key, err := parseKey(keyPEM)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: load CA key %s: %w", filepath.Join(dir, CAKeyFile), err)
	}
	return certs[0], key, nil
}

func parseCerts(b []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			return out, nil
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
}

func parseKey(b []byte) (any, error) {
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		return nil, errors.New("no PKCS#8 PRIVATE KEY block")
	}
	return x509.ParsePKCS8PrivateKey(blk.Bytes)
}
