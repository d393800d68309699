package fsm

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/imh-project/imh/internal/golden"
)

func TestApplyCommands(t *testing.T) {
	k1, k2 := testKeys(t, 1), testKeys(t, 2)
	base := []Command{
		&RouterPut{Name: "r1", Addr: "127.0.0.1:7001"},
		destPut(t, "web", k1),
	}
	sameDestOtherName := destPut(t, "web2", k1)
	badSettings := destPut(t, "bad", k2)
	badSettings.Settings.Inbound = 0
	ls100 := signedLeaseSet(t, k1, 100, 1)
	fronts := append(slices.Clone(base), &FrontendPut{Name: "f1", Addr: "127.0.0.1:7101", Router: "r1"})
	withFrontends := DefaultSettings()
	withFrontends.Frontends = true
	tests := []struct {
		name    string
		setup   []Command
		cmd     Command
		wantErr error
		check   func(t *testing.T, s *State)
	}{
		{name: "router put", cmd: &RouterPut{Name: "r1", Addr: "127.0.0.1:7001"}, check: func(t *testing.T, s *State) {
			if r, ok := s.Router("r1"); !ok || r.Addr != "127.0.0.1:7001" {
				t.Fatalf("router = %+v, %v", r, ok)
			}
		}},
		{name: "router put again is a no-op", setup: base, cmd: &RouterPut{Name: "r1", Addr: "127.0.0.1:7001"}},
		{name: "router put other addr", setup: base, cmd: &RouterPut{Name: "r1", Addr: "127.0.0.1:9"}, wantErr: ErrExists},
		{name: "router at another router's address", setup: base, cmd: &RouterPut{Name: "r1b", Addr: "127.0.0.1:7001"}, wantErr: ErrAddrInUse},
		{name: "router at another router's address, spelt otherwise", setup: base, cmd: &RouterPut{Name: "r1b", Addr: "[::ffff:127.0.0.1]:07001"}, wantErr: ErrAddrInUse},
		{name: "router at another port of the same host", setup: base, cmd: &RouterPut{Name: "r1b", Addr: "127.0.0.1:7002"}},
		{name: "router bad name", cmd: &RouterPut{Name: "-x", Addr: "127.0.0.1:1"}, wantErr: ErrInvalid},
		{name: "router bad addr", cmd: &RouterPut{Name: "r", Addr: "nowhere"}, wantErr: ErrInvalid},
		{name: "router bad port", cmd: &RouterPut{Name: "r", Addr: "h:70000"}, wantErr: ErrInvalid},
		{name: "router remove", setup: append(base, &TunnelRecorded{Tunnel: tunnel("r1", "web", Inbound, 1, 10)}),
			cmd: &RouterRemove{Name: "r1"}, check: func(t *testing.T, s *State) {
				if len(s.Routers()) != 0 || len(s.Tunnels("")) != 0 {
					t.Fatalf("routers %v tunnels %v", s.Routers(), s.Tunnels(""))
				}
			}},
		{name: "router remove unknown", cmd: &RouterRemove{Name: "r9"}, wantErr: ErrNotFound},
		{name: "destination put", cmd: destPut(t, "web", k1), check: func(t *testing.T, s *State) {
			d, ok := s.Destination("web")
			if !ok || d.Hash() != k1.Destination().Hash() || d.Settings != DefaultSettings() {
				t.Fatalf("destination = %v, %v", d, ok)
			}
		}},
		{name: "destination put same again", setup: base, cmd: destPut(t, "web", k1)},
		{name: "destination put name taken", setup: base, cmd: destPut(t, "web", k2), wantErr: ErrExists},
		{name: "destination put hosted twice", setup: base, cmd: sameDestOtherName, wantErr: ErrExists},
		{name: "destination put bad settings", cmd: badSettings, wantErr: ErrInvalid},
		{name: "destination put garbage destination", cmd: &DestinationPut{Name: "x", Destination: []byte{1, 2}, SealedKeys: []byte{1}, SealedLeaseSetKey: []byte{1}, LeaseSetPublicKey: make([]byte, 32), Settings: DefaultSettings()}, wantErr: ErrInvalid},
		{name: "destination set", setup: base, cmd: &DestinationSet{Name: "web", Settings: Settings{Inbound: 4, Outbound: 4, Hops: 1, Policy: PolicySpread, Service: ServiceEcho}},
			check: func(t *testing.T, s *State) {
				if d, _ := s.Destination("web"); d.Settings.Inbound != 4 || d.Settings.Service != ServiceEcho {
					t.Fatalf("settings %+v", d.Settings)
				}
			}},
		{name: "destination set unknown", cmd: &DestinationSet{Name: "web", Settings: DefaultSettings()}, wantErr: ErrNotFound},
		{name: "destination remove keeps mark", setup: append(base, &LeaseSetPublished{Destination: "web", LeaseSet: ls100, Published: 100, Routers: []string{"r1"}}),
			cmd: &DestinationRemove{Name: "web"}, check: func(t *testing.T, s *State) {
				if _, ok := s.Destination("web"); ok {
					t.Fatal("still there")
				}
				if m := s.PublishedMark(k1.Destination().Hash()); m != 100 {
					t.Fatalf("mark %d", m)
				}
			}},
		{name: "destination remove unknown", cmd: &DestinationRemove{Name: "web"}, wantErr: ErrNotFound},
		{name: "tunnel recorded", setup: base, cmd: &TunnelRecorded{Tunnel: tunnel("r1", "web", Inbound, 7, 99)}, check: func(t *testing.T, s *State) {
			if ts := s.Tunnels("web"); len(ts) != 1 || ts[0].ID != 7 || len(ts[0].Hops) != 2 {
				t.Fatalf("tunnels %+v", ts)
			}
		}},
		{name: "tunnel unknown router", setup: base, cmd: &TunnelRecorded{Tunnel: tunnel("r9", "web", Inbound, 7, 99)}, wantErr: ErrNotFound},
		{name: "tunnel unknown destination", setup: base, cmd: &TunnelRecorded{Tunnel: tunnel("r1", "nope", Inbound, 7, 99)}, wantErr: ErrNotFound},
		{name: "tunnel bad direction", setup: base, cmd: &TunnelRecorded{Tunnel: tunnel("r1", "web", 9, 7, 99)}, wantErr: ErrInvalid},
		{name: "tunnel expired", setup: append(base, &TunnelRecorded{Tunnel: tunnel("r1", "web", Inbound, 7, 99)}),
			cmd: &TunnelExpired{Key: TunnelKey{Router: "r1", Destination: "web", Direction: Inbound, ID: 7}},
			check: func(t *testing.T, s *State) {
				if n := len(s.Tunnels("")); n != 0 {
					t.Fatalf("%d tunnels", n)
				}
			}},
		{name: "tunnel expired unknown is a no-op", cmd: &TunnelExpired{Key: TunnelKey{Router: "r1", Destination: "web", Direction: Inbound, ID: 7}}},
		{name: "tunnels pruned", setup: append(base, &TunnelRecorded{Tunnel: tunnel("r1", "web", Inbound, 7, 99)}, &TunnelRecorded{Tunnel: tunnel("r1", "web", Inbound, 8, 200)}),
			cmd: &TunnelsPruned{Before: 100}, check: func(t *testing.T, s *State) {
				if ts := s.Tunnels(""); len(ts) != 1 || ts[0].ID != 8 {
					t.Fatalf("tunnels %+v", ts)
				}
			}},
		{name: "leaseset published", setup: base, cmd: &LeaseSetPublished{Destination: "web", LeaseSet: ls100, Published: 100, Routers: []string{"r1"}},
			check: func(t *testing.T, s *State) {
				d, _ := s.Destination("web")
				if d.LeaseSet == nil || d.LeaseSet.Published != 100 || !bytes.Equal(d.LeaseSet.Bytes, ls100) || s.PublishedMark(d.Hash()) != 100 {
					t.Fatalf("leaseset %+v", d.LeaseSet)
				}
			}},
		{name: "leaseset not after mark", setup: append(base, &LeaseSetPublished{Destination: "web", LeaseSet: ls100, Published: 100, Routers: []string{"r1"}}),
			cmd: &LeaseSetPublished{Destination: "web", LeaseSet: ls100, Published: 100, Routers: []string{"r1"}}, wantErr: ErrStalePublish},
		{name: "leaseset older than mark", setup: append(base, &LeaseSetPublished{Destination: "web", LeaseSet: ls100, Published: 100, Routers: []string{"r1"}}),
			cmd: &LeaseSetPublished{Destination: "web", LeaseSet: signedLeaseSet(t, k1, 99, 1), Published: 99, Routers: []string{"r1"}}, wantErr: ErrStalePublish},
		{name: "leaseset of other destination", setup: base, cmd: &LeaseSetPublished{Destination: "web", LeaseSet: signedLeaseSet(t, k2, 100, 1), Published: 100, Routers: []string{"r1"}}, wantErr: ErrInvalid},
		{name: "leaseset published mismatch", setup: base, cmd: &LeaseSetPublished{Destination: "web", LeaseSet: ls100, Published: 101, Routers: []string{"r1"}}, wantErr: ErrInvalid},
		{name: "leaseset router count mismatch", setup: base, cmd: &LeaseSetPublished{Destination: "web", LeaseSet: ls100, Published: 100, Routers: []string{"r1", "r1"}}, wantErr: ErrInvalid},
		{name: "leaseset bad signature", setup: base, cmd: &LeaseSetPublished{Destination: "web", LeaseSet: flipLast(ls100), Published: 100, Routers: []string{"r1"}}, wantErr: ErrInvalid},
		{name: "leaseset unknown destination", cmd: &LeaseSetPublished{Destination: "web", LeaseSet: ls100, Published: 100, Routers: []string{"r1"}}, wantErr: ErrNotFound},
		{name: "frontend put", setup: base, cmd: &FrontendPut{Name: "f1", Addr: "127.0.0.1:7101", Router: "r1"}, check: func(t *testing.T, s *State) {
			want := Frontend{Name: "f1", Addr: "127.0.0.1:7101", Router: "r1"}
			f, ok := s.Frontend("f1")
			byRouter, rok := s.RouterFrontend("r1")
			if !ok || f != want || !rok || byRouter != want || len(s.Frontends()) != 1 {
				t.Fatalf("frontend %+v %v, of r1 %+v %v", f, ok, byRouter, rok)
			}
		}},
		{name: "frontend put before its router", cmd: &FrontendPut{Name: "f1", Addr: "h:1", Router: "later"}},
		{name: "frontend put again is a no-op", setup: fronts, cmd: &FrontendPut{Name: "f1", Addr: "127.0.0.1:7101", Router: "r1"}},
		{name: "frontend put other addr", setup: fronts, cmd: &FrontendPut{Name: "f1", Addr: "127.0.0.1:9", Router: "r1"}, wantErr: ErrExists},
		{name: "frontend put other router", setup: fronts, cmd: &FrontendPut{Name: "f1", Addr: "127.0.0.1:7101", Router: "r2"}, wantErr: ErrExists},
		{name: "frontend put router taken", setup: fronts, cmd: &FrontendPut{Name: "f2", Addr: "127.0.0.1:7102", Router: "r1"}, wantErr: ErrExists},
		{name: "frontend bad name", cmd: &FrontendPut{Name: ".f", Addr: "h:1", Router: "r1"}, wantErr: ErrInvalid},
		{name: "frontend bad router name", cmd: &FrontendPut{Name: "f", Addr: "h:1", Router: ""}, wantErr: ErrInvalid},
		{name: "frontend bad addr", cmd: &FrontendPut{Name: "f", Addr: "h", Router: "r1"}, wantErr: ErrInvalid},
		{name: "frontend bad port", cmd: &FrontendPut{Name: "f", Addr: "h:0", Router: "r1"}, wantErr: ErrInvalid},
		{name: "frontend remove", setup: fronts, cmd: &FrontendRemove{Name: "f1"}, check: func(t *testing.T, s *State) {
			if _, ok := s.Frontend("f1"); ok || len(s.Frontends()) != 0 {
				t.Fatalf("frontends %v", s.Frontends())
			}
			if _, ok := s.RouterFrontend("r1"); ok {
				t.Fatal("r1 still has a frontend")
			}
		}},
		{name: "frontend remove frees the router", setup: append(fronts, &FrontendRemove{Name: "f1"}), cmd: &FrontendPut{Name: "f2", Addr: "h:2", Router: "r1"}},
		{name: "frontend remove unknown", cmd: &FrontendRemove{Name: "f1"}, wantErr: ErrNotFound},
		{name: "router remove keeps its frontend", setup: fronts, cmd: &RouterRemove{Name: "r1"}, check: func(t *testing.T, s *State) {
			if f, ok := s.RouterFrontend("r1"); !ok || f.Name != "f1" {
				t.Fatalf("frontend of removed r1: %+v %v", f, ok)
			}
		}},
		{name: "destination set frontends", setup: base, cmd: &DestinationSet{Name: "web", Settings: withFrontends}, check: func(t *testing.T, s *State) {
			if d, _ := s.Destination("web"); !d.Settings.Frontends || d.Settings != withFrontends {
				t.Fatalf("settings %+v", d.Settings)
			}
		}},
		{name: "ignorable unknown command", cmd: &UnknownCommand{T: IgnorableFlag | 0x11, Version: 1, Payload: []byte{1, 2, 3}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New()
			applyAll(t, s, tt.setup)
			before := s.Snapshot()
			b, err := Encode(tt.cmd)
			if err != nil {
				t.Fatalf("encode: %v", err)
			}
			err = s.Apply(uint64(len(tt.setup)+1), b)
			if !errors.Is(err, tt.wantErr) || (err != nil) != (tt.wantErr != nil) {
				t.Fatalf("apply: err = %v, want %v", err, tt.wantErr)
			}
			if err != nil && !bytes.Equal(before, s.Snapshot()) {
				t.Fatal("a failed command changed the state")
			}
			if tt.check != nil {
				tt.check(t, s)
			}
		})
	}
}

func flipLast(b []byte) []byte {
	c := bytes.Clone(b)
	c[len(c)-1] ^= 1
	return c
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	for _, c := range sampleLog(t) {
		b, err := Encode(c)
		if err != nil {
			t.Fatal(err)
		}
		d, err := Decode(b)
		if err != nil {
			t.Fatalf("%s: %v", c.Type(), err)
		}
		b2, err := Encode(d)
		if err != nil || !bytes.Equal(b, b2) {
			t.Fatalf("%s: re-encoded differently (%v)", c.Type(), err)
		}
		if _, err := Decode(append(b, 0)); !errors.Is(err, ErrMalformed) {
			t.Fatalf("%s with a trailing byte: %v", c.Type(), err)
		}
	}
}

func TestUndecodableEntries(t *testing.T) {
	s := New()
	applyAll(t, s, sampleLog(t)[:5])
	before := s.Snapshot()
	put, _ := Encode(&RouterPut{Name: "r9", Addr: "127.0.0.1:9"})
	for _, tt := range []struct {
		name  string
		entry []byte
		want  error
	}{
		{"empty", nil, ErrMalformed},
		{"type only", []byte{1}, ErrMalformed},
		{"unknown type", []byte{0x33, 1}, ErrUnknownCommand},
		{"future version", append([]byte{put[0], 9}, put[2:]...), ErrVersion},
		{"truncated", put[:len(put)-1], ErrMalformed},
		{"trailing", append(bytes.Clone(put), 7), ErrMalformed},
		{"hostile length", []byte{byte(CmdDestinationPut), 1, 1, 'x', 0xff, 0xff}, ErrMalformed},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := s.Apply(100, tt.entry); !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if !bytes.Equal(before, s.Snapshot()) {
				t.Fatal("state changed")
			}
		})
	}
}

// TestDeterminism applies the same log to two states, one of them through a
// snapshot halfway, and expects byte-identical snapshots.
func TestDeterminism(t *testing.T) {
	log := sampleLog(t)
	a, b := New(), New()
	applyAll(t, a, log)
	for i := range 20 { // map iteration order must not leak into the bytes
		_ = i
		applyAll(t, b, log[:7])
		mid := New()
		if err := mid.Restore(b.Snapshot()); err != nil {
			t.Fatal(err)
		}
		for j, c := range log[7:] {
			enc, _ := Encode(c)
			if err := mid.Apply(uint64(8+j), enc); err != nil {
				t.Fatal(err)
			}
		}
		if !bytes.Equal(a.Snapshot(), mid.Snapshot()) {
			t.Fatal("same log, different state bytes")
		}
		b = New()
	}
}

func TestSnapshotRoundTrip(t *testing.T) {
	s := New()
	applyAll(t, s, sampleLog(t))
	snap := s.Snapshot()
	r := New()
	if err := r.Restore(snap); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(snap, r.Snapshot()) {
		t.Fatal("restore did not reproduce the state")
	}
	if r.Index() != uint64(len(sampleLog(t))) {
		t.Fatalf("index %d", r.Index())
	}
	d, ok := r.Destination("web")
	if !ok || d.LeaseSet == nil || len(d.LeaseSet.Routers) != 2 || len(r.Tunnels("web")) != 2 || len(r.Routers()) != 2 || !d.Settings.Frontends {
		t.Fatalf("restored state: %v %+v tunnels %d routers %d", ok, d, len(r.Tunnels("web")), len(r.Routers()))
	}
	wantFronts := []Frontend{{Name: "f1", Addr: "127.0.0.1:7101", Router: "r1"}, {Name: "f3", Addr: "127.0.0.1:7103", Router: "r3"}}
	if got := r.Frontends(); !slices.Equal(got, wantFronts) {
		t.Fatalf("restored frontends %+v, want %+v", got, wantFronts)
	}
	for i := range snap {
		bad := bytes.Clone(snap)
		bad[i] ^= 0x10
		if err := r.Restore(bad); !errors.Is(err, ErrBadSnapshot) && !errors.Is(err, ErrSnapshotVersion) {
			t.Fatalf("byte %d flipped: err = %v", i, err)
		}
	}
	if !bytes.Equal(snap, r.Snapshot()) {
		t.Fatal("a failed restore changed the state")
	}
}

func TestGoldenSnapshot(t *testing.T) {
	s := New()
	applyAll(t, s, sampleLog(t))
	path := filepath.Join("testdata", "golden.snap")
	if golden.Updating() {
		if err := os.WriteFile(path, s.Snapshot(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	golden, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(golden, s.Snapshot()) {
		t.Fatal("snapshot bytes differ from testdata/golden.snap: a format change needs a new snapshot version")
	}
	r := New()
	if err := r.Restore(golden); err != nil {
		t.Fatalf("restore golden: %v", err)
	}
}

// TestGoldenSnapshotV1 restores a snapshot written before frontends
// existed: it holds none, and everything else comes back as the same log
// applied today.
func TestGoldenSnapshotV1(t *testing.T) {
	golden, err := os.ReadFile(filepath.Join("testdata", "golden-v1.snap"))
	if err != nil {
		t.Fatal(err)
	}
	r := New()
	if err := r.Restore(golden); err != nil {
		t.Fatalf("restore version 1: %v", err)
	}
	want := New()
	applyAll(t, want, sampleLogV1(t))
	if !bytes.Equal(r.Snapshot(), want.Snapshot()) {
		t.Fatal("version 1 snapshot restored to a different state than its log gives")
	}
	if len(r.Frontends()) != 0 {
		t.Fatalf("frontends from a version 1 snapshot: %v", r.Frontends())
	}
	for _, d := range r.Destinations() {
		if d.Settings.Frontends {
			t.Fatalf("%s: frontends on from a version 1 snapshot", d.Name)
		}
	}
}

// TestSettingsEncoding pins the settings bytes: encodings from before
// Frontends existed decode unchanged, and Frontends is bit 7 of the
// service byte.
func TestSettingsEncoding(t *testing.T) {
	tcp := Settings{Inbound: 2, Outbound: 1, Hops: 1, Policy: PolicyFailover, Service: ServiceTCP, ServiceAddr: "h:1"}
	for _, tc := range []struct {
		name string
		s    Settings
		enc  []byte
	}{
		{"default", DefaultSettings(), []byte{3, 2, 3, 1, 1}},
		{"echo", Settings{Inbound: 16, Outbound: 16, Hops: 8, Policy: PolicyFailover, Service: ServiceEcho}, []byte{16, 16, 8, 2, 2}},
		{"tcp", tcp, []byte{2, 1, 1, 2, 3, 3, 'h', ':', '1'}},
		{"default with frontends", Settings{Inbound: 3, Outbound: 2, Hops: 3, Policy: PolicySpread, Service: ServiceNone, Frontends: true}, []byte{3, 2, 3, 1, 0x81}},
		{"tcp with frontends", Settings{Inbound: 2, Outbound: 1, Hops: 1, Policy: PolicyFailover, Service: ServiceTCP, ServiceAddr: "h:1", Frontends: true}, []byte{2, 1, 1, 2, 0x83, 3, 'h', ':', '1'}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			enc, err := Encode(&DestinationSet{Name: "w", Settings: tc.s})
			if err != nil {
				t.Fatal(err)
			}
			want := append([]byte{byte(CmdDestinationSet), 1, 1, 'w'}, tc.enc...)
			if !bytes.Equal(enc, want) {
				t.Fatalf("encoded %x, want %x", enc, want)
			}
			c, err := Decode(want)
			if err != nil {
				t.Fatal(err)
			}
			if got := c.(*DestinationSet).Settings; got != tc.s {
				t.Fatalf("decoded %+v, want %+v", got, tc.s)
			}
			if err := tc.s.Validate(); err != nil {
				t.Fatal(err)
			}
		})
	}
	bad := DefaultSettings()
	bad.Service = Service(frontendsFlag | byte(ServiceEcho))
	if _, err := Encode(&DestinationSet{Name: "w", Settings: bad}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("a service with the flag bit encoded: %v", err)
	}
}

func TestParseSettingsNames(t *testing.T) {
	for _, s := range []string{"spread", "failover"} {
		p, err := ParsePolicy(s)
		if err != nil || p.String() != s {
			t.Fatalf("%s: %v %v", s, p, err)
		}
	}
	for _, tc := range []struct {
		spec string
		svc  Service
		addr string
	}{
		{"none", ServiceNone, ""},
		{"echo", ServiceEcho, ""},
		{"tcp://127.0.0.1:8080", ServiceTCP, "127.0.0.1:8080"},
		{"tcp://web.internal:80", ServiceTCP, "web.internal:80"},
		{"tcp://[::1]:443", ServiceTCP, "[::1]:443"},
	} {
		v, addr, err := ParseService(tc.spec)
		if err != nil || v != tc.svc || addr != tc.addr {
			t.Fatalf("%s: %v %q %v", tc.spec, v, addr, err)
		}
		st := DefaultSettings()
		st.Service, st.ServiceAddr = v, addr
		if st.ServiceSpec() != tc.spec || st.Validate() != nil {
			t.Fatalf("%s: spec %q, validate %v", tc.spec, st.ServiceSpec(), st.Validate())
		}
	}
	if _, err := ParsePolicy("x"); !errors.Is(err, ErrInvalid) {
		t.Fatal(err)
	}
	for _, bad := range []string{"x", "tcp://", "tcp://host", "tcp://:80", "tcp://h:0", "tcp://h:70000", "tcp://h:http", "TCP://h:1"} {
		if _, _, err := ParseService(bad); !errors.Is(err, ErrInvalid) {
			t.Fatalf("%q: %v", bad, err)
		}
	}
	if err := (Settings{Inbound: 1, Outbound: 1, Policy: PolicySpread, Service: ServiceEcho, ServiceAddr: "h:1"}).Validate(); !errors.Is(err, ErrInvalid) {
		t.Fatalf("echo with an address: %v", err)
	}
}

// A TCP service's address survives the log and snapshots; settings without
// one encode as before it existed (the golden snapshot still restores).
func TestSettingsTCPRoundTrip(t *testing.T) {
	st := Settings{Inbound: 2, Outbound: 1, Hops: 1, Policy: PolicyFailover, Service: ServiceTCP, ServiceAddr: "127.0.0.1:8080"}
	enc, err := Encode(&DestinationSet{Name: "web", Settings: st})
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(enc)
	if err != nil {
		t.Fatal(err)
	}
	if ds := got.(*DestinationSet); ds.Settings != st {
		t.Fatalf("decoded %+v, want %+v", ds.Settings, st)
	}
	plain := st
	plain.Service, plain.ServiceAddr = ServiceEcho, ""
	a, _ := Encode(&DestinationSet{Name: "web", Settings: plain})
	if len(enc)-len(a) != 1+len(st.ServiceAddr) {
		t.Fatalf("tcp settings add %d bytes, want the address string only", len(enc)-len(a))
	}
}

// TestStateHash: replicas that applied the same log agree on index and hash
// (one applied it entry by entry, one restored a snapshot in the middle);
// the hash ignores the index (a failed entry moves neither) and changes with
// any change of the state.
func TestStateHash(t *testing.T) {
	log := sampleLog(t)
	a, b := New(), New()
	applyAll(t, a, log)
	applyAll(t, b, log[:7])
	mid := New()
	if err := mid.Restore(b.Snapshot()); err != nil {
		t.Fatal(err)
	}
	for j, c := range log[7:] {
		enc, _ := Encode(c)
		if err := mid.Apply(uint64(8+j), enc); err != nil {
			t.Fatal(err)
		}
	}
	ia, ha := a.StateHash()
	im, hm := mid.StateHash()
	if ia != im || ha != hm || ia != uint64(len(log)) || len(ha) != 64 {
		t.Fatalf("same log: %d/%s vs %d/%s", ia, ha, im, hm)
	}
	// A failed entry (router r9 does not exist) leaves both alone.
	enc, _ := Encode(&RouterRemove{Name: "r9"})
	if err := a.Apply(uint64(len(log)+1), enc); err == nil {
		t.Fatal("removing a missing router succeeded")
	}
	if i, h := a.StateHash(); i != ia || h != ha {
		t.Fatalf("a failed entry changed the hash: %d/%s", i, h)
	}
	enc, _ = Encode(&RouterPut{Name: "r9", Addr: "127.0.0.1:7009"})
	if err := a.Apply(uint64(len(log)+2), enc); err != nil {
		t.Fatal(err)
	}
	if i, h := a.StateHash(); i != uint64(len(log)+2) || h == ha {
		t.Fatalf("a new router left the hash at %s (index %d)", h, i)
	}
	if _, h := New().StateHash(); h == ha {
		t.Fatal("empty state hashes like a full one")
	}
}

// TestLongNamesNotEchoed: errors about a name over the limit quote only its
// beginning.
func TestLongNamesNotEchoed(t *testing.T) {
	long := strings.Repeat("x", 250) // the most a name field holds
	s := New()
	for _, c := range []Command{&RouterPut{Name: long, Addr: "127.0.0.1:1"}, &RouterRemove{Name: long}, &DestinationRemove{Name: long}, &FrontendRemove{Name: long}} {
		b, err := Encode(c)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Apply(1, b); err == nil || len(err.Error()) > 200 {
			t.Errorf("%s: error of %d bytes: %.300v", c.Type(), len(fmt.Sprint(err)), err)
		}
	}
}

// TestFreezeIsolated: what Persist writes is the state at Freeze, whatever
// is applied after it, and equals Snapshot taken at that moment.
func TestFreezeIsolated(t *testing.T) {
	s := New()
	applyAll(t, s, sampleLog(t))
	want := s.Snapshot()
	f := s.Freeze()
	later := []Command{
		&RouterPut{Name: "late", Addr: "127.0.0.1:9999"},
		&TunnelRecorded{Tunnel: tunnel("r1", "web", Outbound, 99, 1790009999)},
		&DestinationSet{Name: "web", Settings: Settings{Inbound: 1, Outbound: 1, Hops: 1, Policy: PolicyFailover}},
		&RouterRemove{Name: "r1"},
	}
	for i, c := range later {
		_ = s.ApplyCommand(f.Index()+uint64(i)+1, c) // refusals are fine: only the change matters
	}
	if bytes.Equal(s.Snapshot(), want) {
		t.Fatal("later commands changed nothing; the test proves nothing")
	}
	if got := f.Marshal(); !bytes.Equal(got, want) {
		t.Fatal("Frozen.Marshal changed after later applies")
	}
	if !bytes.Equal(f.Marshal(), f.Marshal()) {
		t.Fatal("Frozen.Marshal not deterministic")
	}
}

// TestChanges: applies that change the state and restores move the count;
// refused commands and reads do not.
func TestChanges(t *testing.T) {
	s := New()
	tests := []struct {
		name string
		do   func() error
		move bool
	}{
		{"router put", func() error { return s.ApplyCommand(1, &RouterPut{Name: "r1", Addr: "127.0.0.1:1"}) }, true},
		{"refused", func() error { _ = s.ApplyCommand(2, &RouterRemove{Name: "none"}); return nil }, false},
		{"read", func() error { _ = s.Routers(); _ = s.Freeze(); return nil }, false},
		{"restore", func() error { return s.Restore(New().Snapshot()) }, true},
	}
	for _, tt := range tests {
		before := s.Changes()
		if err := tt.do(); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if moved := s.Changes() != before; moved != tt.move {
			t.Errorf("%s: moved %v, want %v", tt.name, moved, tt.move)
		}
	}
}
