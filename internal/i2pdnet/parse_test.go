package i2pdnet

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imh-project/imh/i2p"
)

func readTestdata(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The testdata pages are real i2pd 2.45.1 console pages of a network built
// by this package (r5 ran an HTTP server tunnel, so the floodfill r1
// stored its LeaseSet2).
func TestParseLeaseSets(t *testing.T) {
	tests := []struct {
		file string
		want []LeaseSetInfo
	}{
		{"leasesets-empty-2.45.1.html", nil},
		{"leasesets-2.45.1.html", []LeaseSetInfo{{
			B32:       "6xwdsqwxoibuwtwrqvz3n2oyt3wi4gtizni3pvnqe3npfwetkydq.b32.i2p",
			StoreType: 3,
			Expires:   time.Date(2026, 11, 26, 13, 49, 29, 0, time.UTC),
			Leases:    1,
			Gateways:  []i2p.Hash{mustHash64(t, "whNLdaRtjrcNUh~ehHfgDYWrOw2mwGGV4GJl~sHW6KM=")},
			Tunnels:   []uint32{3109879791},
			LeaseEnds: []time.Time{time.Date(2026, 11, 26, 13, 49, 29, 0, time.UTC)},
		}}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			got, err := ParseLeaseSets(readTestdata(t, tt.file), time.UTC)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d leasesets, want %d: %+v", len(got), len(tt.want), got)
			}
			for i, w := range tt.want {
				g := got[i]
				h, _ := i2p.ParseB32(w.B32)
				if g.B32 != w.B32 || g.Hash != h || g.StoreType != w.StoreType || !g.Expires.Equal(w.Expires) ||
					g.Leases != w.Leases || g.Expired || g.Invalid {
					t.Errorf("leaseset %d = %+v, want %+v", i, g, w)
				}
				if len(g.Gateways) != len(w.Gateways) || g.Gateways[0] != w.Gateways[0] || g.Tunnels[0] != w.Tunnels[0] || !g.LeaseEnds[0].Equal(w.LeaseEnds[0]) {
					t.Errorf("leaseset %d leases = %v %v %v, want %v %v %v", i, g.Gateways, g.Tunnels, g.LeaseEnds, w.Gateways, w.Tunnels, w.LeaseEnds)
				}
			}
		})
	}
}

func TestParseLeaseSetsErrors(t *testing.T) {
	page := readTestdata(t, "leasesets-2.45.1.html")
	tests := map[string]string{
		"not a leasesets page": readTestdata(t, "tunnels-2.45.1.html"),
		"no b32":               strings.Replace(page, "6xwdsqwxoibuwtwrqvz3n2oyt3wi4gtizni3pvnqe3npfwetkydq<", "x<", 1),
		"no store type":        strings.Replace(page, "Store type:", "Kind:", 1),
		"gateway not a hash":   strings.Replace(page, "whNLdaRtjrcNUh~ehHfgDYWrOw2mwGGV4GJl~sHW6KM=", "whNL", 1),
		"lease count mismatch": strings.Replace(page, "Non Expired Leases: 1", "Non Expired Leases: 2", 1),
		"tunnel id overflow":   strings.Replace(page, "3109879791", "99999999999", 1),
		"bad expiry":           strings.Replace(page, "<b>Expires:</b> 26/11/2026", "<b>Expires:</b> 46/11/2026", 1),
	}
	for name, p := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := ParseLeaseSets(p, time.UTC); err == nil {
				t.Fatal("no error")
			}
		})
	}
}

func mustHash64(t *testing.T, s string) i2p.Hash {
	t.Helper()
	h, err := parseHashBase64(s)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestParseTunnels(t *testing.T) {
	empty, err := ParseTunnels(readTestdata(t, "tunnels-empty-2.45.1.html"))
	if err != nil || len(empty) != 0 {
		t.Fatalf("empty page: %v, %v", empty, err)
	}
	got, err := ParseTunnels(readTestdata(t, "tunnels-2.45.1.html"))
	if err != nil {
		t.Fatal(err)
	}
	// Spot checks against the page (r4: 6 inbound, 7 outbound).
	want := map[uint32]TunnelInfo{
		1103985783: {Inbound: true, ID: 1103985783, State: "established"},
		1929393282: {Inbound: true, ID: 1929393282, Hops: []string{"Ie4W", "ttdv", "HzzM"}, State: "established"},
		485173490:  {Inbound: true, ID: 485173490, Hops: []string{"fj4-"}, State: "established", Exploratory: true},
		2261655226: {ID: 2261655226, State: "established"},
		196720186:  {ID: 196720186, Hops: []string{"fj4-", "HzzM", "whNL"}, State: "established"},
		1307024244: {ID: 1307024244, Hops: []string{"HzzM"}, State: "established", Exploratory: true},
	}
	var in, out int
	for _, g := range got {
		if g.Inbound {
			in++
		} else {
			out++
		}
		w, ok := want[g.ID]
		if !ok {
			continue
		}
		delete(want, g.ID)
		if g.Inbound != w.Inbound || g.State != w.State || g.Exploratory != w.Exploratory || strings.Join(g.Hops, ",") != strings.Join(w.Hops, ",") {
			t.Errorf("tunnel %d = %+v, want %+v", g.ID, g, w)
		}
	}
	if in != 6 || out != 7 {
		t.Errorf("%d inbound, %d outbound, want 6, 7", in, out)
	}
	if len(want) != 0 {
		t.Errorf("tunnels not found: %v", want)
	}
}

func TestParseTunnelsErrors(t *testing.T) {
	page := readTestdata(t, "tunnels-2.45.1.html")
	for name, p := range map[string]string{
		"no lists":   readTestdata(t, "leasesets-2.45.1.html"),
		"bad token":  strings.Replace(page, "Ie4W &#8658;", "I e4W &#8658;", 1),
		"no id":      strings.Replace(page, "1103985783:me", "", 1),
		"id too big": strings.Replace(page, "1103985783:me", "99999999999:me", 1),
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := ParseTunnels(p); err == nil {
				t.Fatal("no error")
			}
		})
	}
}

func TestParseTransports(t *testing.T) {
	got, err := ParseTransports(readTestdata(t, "transports-2.45.1.html"))
	if err != nil {
		t.Fatal(err)
	}
	var peers []string
	for _, s := range got {
		if s.Transport != "NTCP2" || !strings.HasPrefix(s.Remote, "198.18.0.") || s.Sent == 0 || s.Received == 0 {
			t.Errorf("session %+v", s)
		}
		peers = append(peers, s.Peer)
	}
	if strings.Join(peers, ",") != "HzzM,Ie4W,fj4-,ttdv" {
		t.Errorf("peers %v", peers)
	}
	if _, err := ParseTransports(readTestdata(t, "tunnels-2.45.1.html")); err == nil {
		t.Error("tunnels page parsed as transports")
	}
}

// FuzzParsers checks that no input makes a parser panic.
func FuzzParsers(f *testing.F) {
	for _, name := range []string{"leasesets-2.45.1.html", "tunnels-2.45.1.html", "transports-2.45.1.html"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	f.Fuzz(func(t *testing.T, page string) {
		_, _ = ParseLeaseSets(page, time.UTC)
		_, _ = ParseTunnels(page)
		_, _ = ParseTransports(page)
	})
}
