package i2cpclient

import (
	"fmt"
	"net"
	"strings"
)

// TLSScheme names an imh router served with TLS (`imh router serve
// --cert-file`); the client then dials it with a certificate.
const TLSScheme = "i2cps://"

// ParseAddr reads a router address as the commands take it (--via, `imh
// i2cp probe`, --upstream): i2cp://HOST:PORT or a bare HOST:PORT, which it
// returns as HOST:PORT, or i2cps://HOST:PORT, which it returns with its
// scheme so that the dialer knows to use TLS.
func ParseAddr(s string) (string, error) {
	addr := strings.TrimPrefix(strings.TrimPrefix(s, "i2cp://"), TLSScheme)
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host == "" || port == "" || strings.Contains(addr, "/") {
		return "", fmt.Errorf("i2cp address %q: want i2cp://HOST:PORT, i2cps://HOST:PORT or HOST:PORT", s)
	}
	if strings.HasPrefix(s, TLSScheme) {
		return s, nil
	}
	return addr, nil
}
