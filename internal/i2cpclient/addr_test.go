package i2cpclient

import "testing"

func TestParseAddr(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"i2cp://127.0.0.1:7654", "127.0.0.1:7654", true},
		{"127.0.0.1:7654", "127.0.0.1:7654", true},
		{"localhost:1", "localhost:1", true},
		{"i2cps://127.0.0.1:7654", "i2cps://127.0.0.1:7654", true},
		{"[::1]:7654", "[::1]:7654", true},
		{"i2cp://127.0.0.1", "", false},
		{"127.0.0.1", "", false},
		{"i2cp://:7654", "", false},
		{"i2cps://127.0.0.1", "", false},
		{"i2cp://127.0.0.1:7654/x", "", false},
		{"http://127.0.0.1:7654", "", false},
	} {
		got, err := ParseAddr(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseAddr(%q) = %q, %v", tc.in, got, err)
		}
	}
}
