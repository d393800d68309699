package main

import (
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/imh-project/imh/cluster"
	"github.com/imh-project/imh/i2p"
)

// TestDestPolicyFlag checks --policy on create, import and set against a
// fake agent: spread and failover reach the API as given, anything else is
// a usage error (exit 2) before any request is sent, and set sends only the
// flags given.
func TestDestPolicyFlag(t *testing.T) {
	var (
		mu   sync.Mutex
		reqs []cluster.DestinationRequest
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req cluster.DestinationRequest
		body, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(body, &req); err != nil {
			http.Error(w, `{"error":"bad body","code":"invalid"}`, http.StatusBadRequest)
			return
		}
		mu.Lock()
		reqs = append(reqs, req)
		mu.Unlock()
		info := cluster.DestinationInfo{Name: "web", B32: strings.Repeat("a", 52) + ".b32.i2p", Policy: "failover", Service: "echo"}
		if req.Policy != nil {
			info.Policy = *req.Policy
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(info)
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")

	keys, err := i2p.NewPrivateKeys(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := keys.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "k.dat")
	if err := os.WriteFile(keyFile, raw, 0o600); err != nil {
		t.Fatal(err)
	}

	for _, tt := range []struct {
		name       string
		args       []string
		code       int
		wantPolicy string // the policy field sent ("" = none)
		sent       bool   // whether a request reaches the agent
	}{
		{"create failover", []string{"dest", "create", "web", "--policy", "failover"}, exitOK, "failover", true},
		{"create spread", []string{"dest", "create", "web", "--policy", "spread"}, exitOK, "spread", true},
		{"create default", []string{"dest", "create", "web"}, exitOK, "spread", true},
		{"import failover", []string{"dest", "import", "web", keyFile, "--policy", "failover"}, exitOK, "failover", true},
		{"set failover", []string{"dest", "set", "web", "--policy", "failover"}, exitOK, "failover", true},
		{"set other flag only", []string{"dest", "set", "web", "--hops", "1"}, exitOK, "", true},
		{"create unknown", []string{"dest", "create", "web", "--policy", "random"}, exitUsage, "", false},
		{"set unknown", []string{"dest", "set", "web", "--policy", "Failover"}, exitUsage, "", false},
		{"import unknown", []string{"dest", "import", "web", keyFile, "--policy", "one"}, exitUsage, "", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			mu.Lock()
			reqs = nil
			mu.Unlock()
			out, code := runRoot(t, append(tt.args, "--http-addr", addr, "--json")...)
			if code != tt.code {
				t.Fatalf("exit %d, want %d: %s", code, tt.code, out)
			}
			mu.Lock()
			defer mu.Unlock()
			if !tt.sent {
				if len(reqs) != 0 {
					t.Fatalf("a refused flag still sent %d requests", len(reqs))
				}
				return
			}
			if len(reqs) != 1 {
				t.Fatalf("%d requests, want 1", len(reqs))
			}
			got := ""
			if reqs[0].Policy != nil {
				got = *reqs[0].Policy
			}
			if got != tt.wantPolicy {
				t.Fatalf("policy sent %q, want %q", got, tt.wantPolicy)
			}
			var info cluster.DestinationInfo
			if err := json.Unmarshal([]byte(out), &info); err != nil {
				t.Fatalf("--json output %q: %v", out, err)
			}
		})
	}
}
