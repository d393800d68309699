package main

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/imh-project/imh/cluster/clustertest"
	"github.com/imh-project/imh/internal/status"
)

// fakeLive is a leader's live view that knows frontend f1 only.
type fakeLive struct{}

func (fakeLive) Router(string) (status.RouterLive, bool) {
	return status.RouterLive{State: status.RouterUp}, true
}

func (fakeLive) Frontend(name string) (status.FrontendLive, bool) {
	if name != "f1" {
		return status.FrontendLive{}, false
	}
	return status.FrontendLive{State: status.RouterUp, Router: "r1", Destinations: []status.FrontendDestLive{
		{Name: "web", Attached: true, BackendUp: true, KeyExpires: time.Unix(1_790_000_000, 0).UTC(), Open: 2, Accepted: 5, BytesIn: 100, BytesOut: 4096},
		{Name: "api", Attached: false, BackendUp: false, LastError: "connection refused"},
	}}, true
}

func (fakeLive) Destination(string) (status.DestinationLive, bool) {
	return status.DestinationLive{}, false
}

// oneAgentCLI starts a one-agent cluster and returns it and a runner of imh
// commands against its API that fails the test on a non-zero exit.
func oneAgentCLI(t *testing.T) (*clustertest.Harness, func(t *testing.T, args ...string) string) {
	t.Helper()
	h := clustertest.New(t, 1, clustertest.Options{})
	h.Leader(10 * time.Second)
	addr := h.Nodes[0].HTTPAddr
	return h, func(t *testing.T, args ...string) string {
		t.Helper()
		out, code := runRoot(t, append(args, "--http-addr", addr)...)
		if code != exitOK {
			t.Fatalf("imh %s: exit %d: %s", strings.Join(args, " "), code, out)
		}
		return out
	}
}

// TestStatusFrontends: imh status has a FRONTENDS section only when there
// are frontends, with a line per destination a frontend reported, and
// --json carries them (an empty list when there are none).
func TestStatusFrontends(t *testing.T) {
	h, run := oneAgentCLI(t)
	statusJSON := func(t *testing.T) status.Status {
		t.Helper()
		var st status.Status
		if err := json.Unmarshal([]byte(run(t, "status", "--json")), &st); err != nil {
			t.Fatal(err)
		}
		return st
	}
	// lines returns the FRONTENDS section, blanks squeezed, or nil.
	lines := func(out string) []string {
		var sec []string
		for _, para := range strings.Split(out, "\n\n") {
			if strings.HasPrefix(para, "FRONTEND") {
				for _, l := range strings.Split(strings.TrimSpace(para), "\n") {
					sec = append(sec, strings.Join(strings.Fields(l), " "))
				}
			}
		}
		return sec
	}

	run(t, "router", "add", "r1", "--addr", "127.0.0.1:7001")
	if out := run(t, "status"); lines(out) != nil || !strings.Contains(out, "DESTINATION") {
		t.Fatalf("status without frontends:\n%s", out)
	}
	if raw := run(t, "status", "--json"); !strings.Contains(raw, `"frontends": []`) && !strings.Contains(raw, `"frontends":[]`) {
		t.Fatalf("status --json without frontends has no empty list:\n%s", raw)
	}

	run(t, "frontend", "add", "f1", "--addr", "127.0.0.1:7101", "--router", "r1")
	run(t, "frontend", "add", "f2", "--addr", "127.0.0.1:7102", "--router", "r2")
	header := "FRONTEND ROUTER STATE DESTINATION ATTACHED OPEN BYTES IN BYTES OUT BACKEND UP"
	out := run(t, "status")
	if got, want := lines(out), []string{header, "f1 r1 unknown - - - - - -", "f2 r2 unknown - - - - - -"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("frontends without a live view: %q, want %q\n%s", got, want, out)
	}
	if i, j := strings.Index(out, "CAPABILITIES"), strings.Index(out, "FRONTEND"); i < 0 || j < i {
		t.Fatalf("FRONTENDS is not after ROUTERS:\n%s", out)
	}

	h.Nodes[0].Cluster().SetLiveView(fakeLive{})
	out = run(t, "status")
	want := []string{header,
		"f1 r1 up web yes 2 100 4096 yes",
		"f1 r1 up api no 0 0 0 no",
		"f2 r2 unknown - - - - - -",
	}
	if got := lines(out); !reflect.DeepEqual(got, want) {
		t.Fatalf("frontends with a live view: %q, want %q\n%s", got, want, out)
	}
	st := statusJSON(t)
	if len(st.Frontends) != 2 {
		t.Fatalf("status --json frontends: %+v", st.Frontends)
	}
	f1, _ := fakeLive{}.Frontend("f1")
	if f := st.Frontends[0]; f.Name != "f1" || f.Addr != "127.0.0.1:7101" || f.Router != "r1" || f.State != status.RouterUp || !reflect.DeepEqual(f.Destinations, f1.Destinations) {
		t.Fatalf("status --json f1: %+v", f)
	}
	if f := st.Frontends[1]; f.Name != "f2" || f.State != status.RouterUnknown || f.Destinations == nil || len(f.Destinations) != 0 {
		t.Fatalf("status --json f2: %+v", f)
	}
}
