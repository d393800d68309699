package fsm

import (
	"reflect"
	"testing"
)

func TestDiff(t *testing.T) {
	k1, k2 := testKeys(t, 1), testKeys(t, 2)
	base := func(t *testing.T) []Command {
		return []Command{
			&RouterPut{Name: "r1", Addr: "127.0.0.1:7001"},
			&RouterPut{Name: "r2", Addr: "127.0.0.1:7002"},
			&FrontendPut{Name: "f1", Addr: "127.0.0.1:7101", Router: "r1"},
			destPut(t, "web", k1),
			destPut(t, "mail", k2),
		}
	}
	none := NameDiff{Added: []string{}, Removed: []string{}, Changed: []string{}}
	tests := []struct {
		name string
		from []Command // applied after base
		to   []Command // applied after base
		want StateDiff
	}{
		{name: "same state", want: StateDiff{none, none, none}},
		{
			name: "router added, removed, moved",
			from: []Command{&RouterPut{Name: "r0", Addr: "127.0.0.1:7000"}},
			to: []Command{&RouterPut{Name: "r4", Addr: "127.0.0.1:7004"}, &RouterPut{Name: "r3", Addr: "127.0.0.1:7003"},
				&RouterRemove{Name: "r2"}, &RouterPut{Name: "r2", Addr: "127.0.0.1:7022"}},
			want: StateDiff{none, NameDiff{Added: []string{"r3", "r4"}, Removed: []string{"r0"}, Changed: []string{"r2"}}, none},
		},
		{
			name: "destination settings changed, one removed",
			to: []Command{&DestinationSet{Name: "web", Settings: Settings{Inbound: 2, Outbound: 2, Hops: 3, Policy: PolicySpread, Service: ServiceEcho}},
				&DestinationRemove{Name: "mail"}},
			want: StateDiff{NameDiff{Added: []string{}, Removed: []string{"mail"}, Changed: []string{"web"}}, none, none},
		},
		{
			name: "destination under the same name with other keys",
			from: []Command{&DestinationRemove{Name: "mail"}, destPut(t, "mail", testKeys(t, 3))},
			want: StateDiff{NameDiff{Added: []string{}, Removed: []string{}, Changed: []string{"mail"}}, none, none},
		},
		{
			name: "frontend moved to another router, one added",
			to: []Command{&FrontendRemove{Name: "f1"}, &FrontendPut{Name: "f1", Addr: "127.0.0.1:7101", Router: "r2"},
				&FrontendPut{Name: "f2", Addr: "127.0.0.1:7102", Router: "r1"}},
			want: StateDiff{none, none, NameDiff{Added: []string{"f2"}, Removed: []string{}, Changed: []string{"f1"}}},
		},
		{
			name: "tunnels and LeaseSets do not count",
			to: []Command{&TunnelRecorded{Tunnel: tunnel("r1", "web", Inbound, 11, 1790000600)},
				&LeaseSetPublished{Destination: "web", LeaseSet: signedLeaseSet(t, k1, 1790000000, 1), Published: 1790000000, Routers: []string{"r1"}}},
			want: StateDiff{none, none, none},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			from, to := New(), New()
			applyAll(t, from, append(base(t), tt.from...))
			applyAll(t, to, append(base(t), tt.to...))
			got := Diff(from, to)
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Diff:\n got %+v\nwant %+v", got, tt.want)
			}
			for _, d := range []NameDiff{got.Destinations, got.Routers, got.Frontends} {
				if d.Empty() != reflect.DeepEqual(d, none) {
					t.Errorf("Empty() = %v for %+v", d.Empty(), d)
				}
			}
		})
	}
}

// TestDiffEmptyState checks the lists are never nil, even for an empty
// State (the CLI encodes them as [] in JSON).
func TestDiffEmptyState(t *testing.T) {
	d := Diff(New(), New())
	for _, nd := range []NameDiff{d.Destinations, d.Routers, d.Frontends} {
		if nd.Added == nil || nd.Removed == nil || nd.Changed == nil || !nd.Empty() {
			t.Fatalf("Diff of empty states: %+v", nd)
		}
	}
}
