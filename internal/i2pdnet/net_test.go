package i2pdnet

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestOptionsValidate(t *testing.T) {
	tests := []struct {
		opts Options
		ok   bool
	}{
		{Options{Routers: 5, Floodfills: 2}, true},
		{Options{Routers: 2, Floodfills: 2}, true},
		{Options{Routers: 1, Floodfills: 1}, false},
		{Options{Routers: 255, Floodfills: 1}, false},
		{Options{Routers: 5, Floodfills: 0}, false},
		{Options{Routers: 5, Floodfills: 6}, false},
		{Options{Routers: 5, Floodfills: 2, Tunnels: map[int]string{6: ""}}, false},
		{Options{Routers: 5, Floodfills: 2, Tunnels: map[int]string{5: "[x]"}}, true},
		{Options{Routers: 5, Floodfills: 2, Files: map[int]map[string][]byte{5: {"web.dat": nil}}}, true},
		{Options{Routers: 5, Floodfills: 2, Files: map[int]map[string][]byte{0: {"web.dat": nil}}}, false},
		{Options{Routers: 5, Floodfills: 2, Files: map[int]map[string][]byte{5: {"../web.dat": nil}}}, false},
		{Options{Routers: 5, Floodfills: 2, Files: map[int]map[string][]byte{5: {"i2pd.conf": nil}}}, false},
		{Options{Routers: 5, Floodfills: 2, NoTransit: []int{3, 4}}, true},
		{Options{Routers: 5, Floodfills: 2, NoTransit: []int{0}}, false},
		{Options{Routers: 5, Floodfills: 2, NoTransit: []int{6}}, false},
	}
	for i, tt := range tests {
		if err := tt.opts.Validate(); (err == nil) != tt.ok {
			t.Errorf("%d: %+v: err %v, want ok=%v", i, tt.opts, err, tt.ok)
		}
	}
	var o Options
	o.setDefaults()
	if o.Routers != 5 || o.Floodfills != 2 || o.BaseDir == "" || o.Log == nil {
		t.Errorf("defaults %+v", o)
	}
}

func TestCreatorPID(t *testing.T) {
	tests := []struct {
		name string
		pid  int
		ok   bool
	}{
		{"imh-123-0a1b2c3d", 123, true},
		{"imh-77", 77, true},
		{"imh-0-ab", 0, false},
		{"imh-x-ab", 0, false},
		{"imh-12-ab-cd", 0, false},
		{"other-12-ab", 0, false},
		{"imh-99999999999999999999-ab", 0, false},
	}
	for _, tt := range tests {
		pid, ok := creatorPID(tt.name)
		if pid != tt.pid || ok != tt.ok {
			t.Errorf("creatorPID(%q) = %d, %v; want %d, %v", tt.name, pid, ok, tt.pid, tt.ok)
		}
	}
	name, err := newNamespaceName()
	if err != nil {
		t.Fatal(err)
	}
	if pid, ok := creatorPID(name); !ok || pid != os.Getpid() {
		t.Errorf("own name %q: pid %d, %v", name, pid, ok)
	}
	other, _ := newNamespaceName()
	if other == name {
		t.Errorf("two names alike: %s", name)
	}
}

// The dialer refuses anything but this network's routers before any socket
// exists (no namespace is needed to test that).
func TestCheckTarget(t *testing.T) {
	n := &Net{ns: "imh-test"}
	for i := 1; i <= 3; i++ {
		n.routers = append(n.routers, Router{Index: i, Addr: netip.AddrFrom4([4]byte{198, 18, 0, byte(i)})})
	}
	tests := []struct {
		network, addr string
		ok            bool
	}{
		{"tcp", "198.18.0.1:7070", true},
		{"tcp4", "198.18.0.3:7654", true},
		{"tcp", "198.18.0.4:7070", false},
		{"tcp", "127.0.0.1:7070", false},
		{"tcp", "8.8.8.8:53", false},
		{"udp", "198.18.0.1:7070", false},
		{"tcp", "localhost:7070", false},
		{"tcp", "198.18.0.1", false},
	}
	for _, tt := range tests {
		err := n.checkTarget(tt.network, tt.addr)
		if (err == nil) != tt.ok {
			t.Errorf("%s %s: err %v, want ok=%v", tt.network, tt.addr, err, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrOutsideNetwork) {
			t.Errorf("%s %s: err %v is not ErrOutsideNetwork", tt.network, tt.addr, err)
		}
	}
}

func TestCheckListen(t *testing.T) {
	n := &Net{ns: "imh-test"}
	for i := 1; i <= 3; i++ {
		n.routers = append(n.routers, Router{Index: i, Addr: netip.AddrFrom4([4]byte{198, 18, 0, byte(i)})})
	}
	tests := []struct {
		network, addr string
		ok            bool
	}{
		{"tcp", "127.0.0.1:8081", true},
		{"tcp4", "127.0.0.1:0", true},
		{"tcp", "198.18.0.2:9000", true},
		{"tcp", "198.18.0.4:9000", false},
		{"tcp", "0.0.0.0:8081", false},
		{"tcp", ":8081", false},
		{"udp", "127.0.0.1:8081", false},
		{"tcp", "[::1]:8081", false},
	}
	for _, tt := range tests {
		err := n.checkListen(tt.network, tt.addr)
		if (err == nil) != tt.ok {
			t.Errorf("%s %s: err %v, want ok=%v", tt.network, tt.addr, err, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrOutsideNetwork) {
			t.Errorf("%s %s: err %v is not ErrOutsideNetwork", tt.network, tt.addr, err)
		}
	}
}

func TestRouterLookups(t *testing.T) {
	n := &Net{}
	for i := 1; i <= 2; i++ {
		r := Router{Index: i, Floodfill: i == 1}
		r.Hash[0] = byte(i * 40)
		n.routers = append(n.routers, r)
	}
	r2 := n.Router(2)
	if got, ok := n.RouterByAbbrev(r2.Hash.Base64()[:4]); !ok || got.Index != 2 {
		t.Errorf("by abbrev: %v %v", got, ok)
	}
	if got, ok := n.RouterByHash(r2.Hash); !ok || got.Index != 2 {
		t.Errorf("by hash: %v %v", got, ok)
	}
	if _, ok := n.RouterByAbbrev("zzzz"); ok {
		t.Error("unknown abbrev found")
	}
	if ff := n.Floodfills(); len(ff) != 1 || ff[0].Index != 1 {
		t.Errorf("floodfills %v", ff)
	}
	if r2.Name() != "r"+strconv.Itoa(2) {
		t.Errorf("name %q", r2.Name())
	}
	defer func() {
		if recover() == nil {
			t.Error("Router(3) did not panic")
		}
	}()
	n.Router(3)
}

// TestWriteRouterFilesNoTransit checks that a NoTransit router's i2pd.conf
// refuses transit tunnels and the others' accept them.
func TestWriteRouterFilesNoTransit(t *testing.T) {
	for _, noTransit := range []bool{false, true} {
		r := Router{Index: 3, Addr: netip.MustParseAddr("198.18.0.3"), NoTransit: noTransit, Dir: t.TempDir()}
		if err := writeRouterFiles(r, "/seed.zip", "", nil); err != nil {
			t.Fatal(err)
		}
		conf, err := os.ReadFile(filepath.Join(r.Dir, "i2pd.conf"))
		if err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf("\nnotransit = %v\n", noTransit)
		if !strings.Contains(string(conf), want) {
			t.Errorf("NoTransit %v: i2pd.conf lacks %q:\n%s", noTransit, want, conf)
		}
	}
}
