package pki

import (
	"bytes"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestIsLoopback(t *testing.T) {
	tests := []struct {
		hostport string
		want     bool
	}{
		{"127.0.0.1:7000", true},
		{"127.0.0.2:7000", true},
		{"[::1]:7000", true},
		{"localhost:7000", true},
		{"0.0.0.0:7000", false},
		{":7000", false},
		{"[::]:7000", false},
		{"10.0.0.1:7000", false},
		{"example.org:7000", false},
		{"127.0.0.1", false}, // no port: not a bind address
		{"", false},
	}
	for _, tt := range tests {
		if got := IsLoopback(tt.hostport); got != tt.want {
			t.Errorf("IsLoopback(%q) = %v, want %v", tt.hostport, got, tt.want)
		}
	}
}

func TestCheckPlaintext(t *testing.T) {
	tests := []struct {
		name     string
		insecure bool
		binds    []string
		wantErr  string // "" for allowed
		wantLog  string
	}{
		{"loopback", false, []string{"127.0.0.1:1", "[::1]:2", ""}, "", "plaintext on loopback only"},
		{"wildcard refused", false, []string{"127.0.0.1:1", "0.0.0.0:2"}, "(0.0.0.0:2)", ""},
		{"insecure allows", true, []string{"0.0.0.0:2"}, "", "INSECURE"},
		{"insecure on loopback still warns loudly", true, []string{"127.0.0.1:1"}, "", "INSECURE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			logger := slog.New(slog.NewTextHandler(&buf, nil))
			err := CheckPlaintext(tt.insecure, logger, tt.binds...)
			if tt.wantErr != "" {
				if !errors.Is(err, ErrPlaintext) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("CheckPlaintext: %v, want ErrPlaintext naming %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("CheckPlaintext: %v", err)
			}
			if !strings.Contains(buf.String(), tt.wantLog) {
				t.Errorf("log %q, want a warning containing %q", buf.String(), tt.wantLog)
			}
		})
	}
}

func TestLoadFor(t *testing.T) {
	caDir := newCA(t)
	out := t.TempDir()
	if _, err := IssueCert(caDir, out, LeafRequest{Role: RoleRouter, Name: "r1"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	files := Files{CA: filepath.Join(caDir, CAFile), Cert: filepath.Join(out, "r1.pem"), Key: filepath.Join(out, "r1-key.pem")}
	tests := []struct {
		name    string
		files   Files
		want    Role
		wantNil bool
		wantErr string
	}{
		{"no files: plaintext", Files{}, RoleRouter, true, ""},
		{"the right role", files, RoleRouter, false, ""},
		{"any role", files, "", false, ""},
		{"another role", files, RoleAgent, false, "is a router certificate (router/r1), want agent"},
		{"a partial set", Files{Cert: files.Cert}, RoleRouter, false, "ca"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := LoadFor(tt.files, tt.want, nil)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("LoadFor: %v, want an error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("LoadFor: %v", err)
			}
			if (s == nil) != tt.wantNil {
				t.Fatalf("LoadFor = %v, want nil %v", s, tt.wantNil)
			}
		})
	}
}

// TestLoadDaemon: with files, LoadFor's checks; without, the plaintext
// rule on the binds.
func TestLoadDaemon(t *testing.T) {
	caDir := newCA(t)
	out := t.TempDir()
	if _, err := IssueCert(caDir, out, LeafRequest{Role: RoleRouter, Name: "r1"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	files := Files{CA: filepath.Join(caDir, CAFile), Cert: filepath.Join(out, "r1.pem"), Key: filepath.Join(out, "r1-key.pem")}
	logger := slog.New(slog.DiscardHandler)
	tests := []struct {
		name     string
		files    Files
		role     Role
		insecure bool
		binds    []string
		wantTLS  bool
		wantErr  string // "" for none
	}{
		{"files", files, RoleRouter, false, []string{"0.0.0.0:1"}, true, ""},
		{"files of another role", files, RoleAgent, false, []string{"127.0.0.1:1"}, false, "want agent"},
		{"plaintext on loopback", Files{}, RoleRouter, false, []string{"127.0.0.1:1", "[::1]:2"}, false, ""},
		{"plaintext beyond loopback", Files{}, RoleRouter, false, []string{"127.0.0.1:1", "0.0.0.0:2"}, false, ErrPlaintext.Error()},
		{"plaintext beyond loopback, insecure", Files{}, RoleRouter, true, []string{"0.0.0.0:2"}, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := LoadDaemon(tt.files, tt.role, tt.insecure, logger, tt.binds...)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("LoadDaemon: %v, want an error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || (s != nil) != tt.wantTLS {
				t.Fatalf("LoadDaemon = %v, %v; want TLS %v", s, err, tt.wantTLS)
			}
		})
	}
}

// Follow on a nil Store (plaintext) is a no-op, so daemons call it
// unconditionally.
func TestFollowNilStore(t *testing.T) {
	var s *Store
	s.Follow(t.Context(), time.Millisecond)
}
