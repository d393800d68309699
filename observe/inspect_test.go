package observe_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/imh-project/imh/i2p"
	"github.com/imh-project/imh/internal/golden"
	"github.com/imh-project/imh/observe"
	"github.com/imh-project/imh/observe/observetest"
)

func TestInspect(t *testing.T) {
	k, x, err := observetest.Keys(7)
	if err != nil {
		t.Fatal(err)
	}
	t0 := observetest.Start
	end := uint32(t0.Add(10 * time.Minute).Unix())
	signed := func(t *testing.T, n int) *i2p.LeaseSet2 {
		t.Helper()
		leases := make([]i2p.Lease2, n)
		for i := range leases {
			leases[i] = i2p.Lease2{Gateway: i2p.Hash{byte(i + 1)}, TunnelID: uint32(100 + i), End: end}
		}
		s, err := observetest.SignedStore(k, x, t0, uint32(t0.Unix()), leases)
		if err != nil {
			t.Fatal(err)
		}
		ls, err := s.Parse()
		if err != nil {
			t.Fatal(err)
		}
		return ls
	}
	tampered := signed(t, 2)
	tampered.Leases[0].TunnelID++

	tests := []struct {
		name      string
		ls        *i2p.LeaseSet2
		now       time.Time
		leases    int
		valid     bool
		status    i2p.TimeStatus
		wantLease string // the JSON of leases[0], or "" for none
	}{
		{"fresh", signed(t, 2), t0.Add(time.Minute), 2, true, i2p.TimeOK,
			`{"gateway":"0100000000000000000000000000000000000000000000000000000000000000","tunnel":100,"end":` + jsonInt(end) + `}`},
		{"expired still verifies", signed(t, 1), t0.Add(time.Hour), 1, true, i2p.TimeExpired, ""},
		{"tampered", tampered, t0.Add(time.Minute), 2, false, i2p.TimeOK, ""},
		// SignedStore gives a LeaseSet without leases no lifetime
		{"no leases: an empty list", signed(t, 0), t0.Add(time.Minute), 0, true, i2p.TimeExpired, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := observe.Inspect(tt.ls, tt.now)
			if v.B32 != k.Destination().B32() || len(v.Leases) != tt.leases || v.SignatureValid != tt.valid || v.TimeStatus != tt.status {
				t.Fatalf("Inspect = b32 %s, %d leases, valid %v, %s; want %s, %d, %v, %s",
					v.B32, len(v.Leases), v.SignatureValid, v.TimeStatus, k.Destination().B32(), tt.leases, tt.valid, tt.status)
			}
			if (v.VerifyErr == nil) != tt.valid {
				t.Errorf("VerifyErr %v with SignatureValid %v", v.VerifyErr, v.SignatureValid)
			}
			if v.LeaseSet != tt.ls {
				t.Error("LeaseSet is not the one inspected")
			}
			b, err := json.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			var m map[string]json.RawMessage
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatal(err)
			}
			for _, key := range []string{"b32", "sig_type", "published", "expires", "flags", "enc_key_types", "leases", "signature_valid", "offline", "time_status"} {
				if _, ok := m[key]; !ok {
					t.Errorf("JSON lacks %q: %s", key, b)
				}
			}
			if len(m) != 10 {
				t.Errorf("JSON has %d keys, want the 10 of docs/cli.md: %s", len(m), b)
			}
			if string(m["offline"]) != "null" {
				t.Errorf("offline = %s, want null", m["offline"])
			}
			if tt.leases == 0 && string(m["leases"]) != "[]" {
				t.Errorf("leases = %s, want []", m["leases"])
			}
			if tt.wantLease != "" {
				var ls []json.RawMessage
				if err := json.Unmarshal(m["leases"], &ls); err != nil {
					t.Fatal(err)
				}
				if string(ls[0]) != tt.wantLease {
					t.Errorf("leases[0] = %s, want %s", ls[0], tt.wantLease)
				}
			}
		})
	}
}

func jsonInt(v uint32) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestInspectionFields pins the human form of `imh leaseset inspect`
// (docs/cli.md): a LeaseSet of two leases whose signature fails.
func TestInspectionFields(t *testing.T) {
	k, x, err := observetest.Keys(7)
	if err != nil {
		t.Fatal(err)
	}
	t0 := observetest.Start
	end := uint32(t0.Add(10 * time.Minute).Unix())
	leases := []i2p.Lease2{{Gateway: i2p.Hash{1}, TunnelID: 100, End: end}, {Gateway: i2p.Hash{2}, TunnelID: 101, End: end}}
	s, err := observetest.SignedStore(k, x, t0, uint32(t0.Unix()), leases)
	if err != nil {
		t.Fatal(err)
	}
	ls, err := s.Parse()
	if err != nil {
		t.Fatal(err)
	}
	ls.Leases[0].TunnelID++
	var b strings.Builder
	for _, f := range observe.Inspect(ls, t0.Add(time.Minute)).Fields() {
		fmt.Fprintf(&b, "%s: %s\n", f[0], f[1])
	}
	golden.Equal(t, "testdata/inspect-fields.txt", []byte(b.String()))
}
