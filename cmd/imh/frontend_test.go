package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/imh-project/imh/cluster"
	"github.com/imh-project/imh/cluster/clustertest"
)

// TestFrontendCLI drives imh frontend and dest --frontends against a
// one-agent in-process cluster: the exit codes of docs/cli.md (2 for bad
// usage or a value the agent calls invalid, 1 for not found and
// conflicts), the table, and --json.
func TestFrontendCLI(t *testing.T) {
	h := clustertest.New(t, 1, clustertest.Options{})
	h.Leader(10 * time.Second)
	addr := h.Nodes[0].HTTPAddr
	run := func(t *testing.T, wantCode int, args ...string) string {
		t.Helper()
		out, code := runRoot(t, append(args, "--http-addr", addr)...)
		if code != wantCode {
			t.Fatalf("imh %s: exit %d, want %d: %s", strings.Join(args, " "), code, wantCode, out)
		}
		return out
	}

	if out := run(t, exitOK, "frontend", "add", "f1", "--addr", "127.0.0.1:7101", "--router", "r1"); !strings.Contains(out, "frontend f1 added (127.0.0.1:7101, beside router r1)") {
		t.Fatalf("add: %q", out)
	}
	var fi cluster.FrontendInfo
	if err := json.Unmarshal([]byte(run(t, exitOK, "frontend", "add", "f2", "--addr", "127.0.0.1:7102", "--router", "r2", "--json")), &fi); err != nil || fi.Router != "r2" {
		t.Fatalf("add --json: %+v %v", fi, err)
	}
	for _, tt := range []struct {
		args []string
		code int
	}{
		{[]string{"frontend", "add", "f3", "--router", "r3"}, exitUsage},                                // no --addr
		{[]string{"frontend", "add", "f3", "--addr", "127.0.0.1:1"}, exitUsage},                         // no --router
		{[]string{"frontend", "add", "--addr", "127.0.0.1:1", "--router", "r3"}, exitUsage},             // no name
		{[]string{"frontend", "add", "bad name", "--addr", "127.0.0.1:1", "--router", "r3"}, exitUsage}, // invalid: 400
		{[]string{"frontend", "add", "f3", "--addr", "nowhere", "--router", "r3"}, exitUsage},
		{[]string{"frontend", "add", "f1", "--addr", "127.0.0.1:9", "--router", "r1"}, exitFailed}, // name taken: 409
		{[]string{"frontend", "add", "f3", "--addr", "127.0.0.1:1", "--router", "r1"}, exitFailed}, // r1 has f1: 409
		{[]string{"frontend", "remove", "nope"}, exitFailed},                                       // 404
		{[]string{"frontend", "remove"}, exitUsage},
		{[]string{"frontend", "list", "extra"}, exitUsage},
	} {
		run(t, tt.code, tt.args...)
	}

	out := run(t, exitOK, "frontend", "list")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || strings.Join(strings.Fields(lines[0]), " ") != "NAME ADDR ROUTER" ||
		strings.Join(strings.Fields(lines[1]), " ") != "f1 127.0.0.1:7101 r1" {
		t.Fatalf("list:\n%s", out)
	}
	if out := run(t, exitOK, "frontend", "remove", "f2"); out != "frontend f2 removed\n" {
		t.Fatalf("remove: %q", out)
	}
	var list cluster.FrontendList
	if err := json.Unmarshal([]byte(run(t, exitOK, "frontend", "list", "--json")), &list); err != nil ||
		len(list.Frontends) != 1 || list.Frontends[0] != (cluster.FrontendInfo{Name: "f1", Addr: "127.0.0.1:7101", Router: "r1"}) {
		t.Fatalf("list --json: %+v %v", list, err)
	}

	// The per-destination switch: off by default, on|off only.
	var info cluster.DestinationInfo
	if err := json.Unmarshal([]byte(run(t, exitOK, "dest", "create", "web", "--json")), &info); err != nil || info.Frontends {
		t.Fatalf("create: %+v %v", info, err)
	}
	if err := json.Unmarshal([]byte(run(t, exitOK, "dest", "create", "api", "--frontends", "on", "--json")), &info); err != nil || !info.Frontends {
		t.Fatalf("create --frontends on: %+v %v", info, err)
	}
	if out := run(t, exitOK, "dest", "set", "web", "--frontends", "on"); !strings.Contains(out, "frontends on") {
		t.Fatalf("set --frontends on: %q", out)
	}
	if out := run(t, exitOK, "dest", "show", "web"); !strings.Contains(strings.Join(strings.Fields(out), " "), "frontends: on") {
		t.Fatalf("show:\n%s", out)
	}
	if err := json.Unmarshal([]byte(run(t, exitOK, "dest", "set", "api", "--frontends", "off", "--json")), &info); err != nil || info.Frontends {
		t.Fatalf("set --frontends off: %+v %v", info, err)
	}
	run(t, exitUsage, "dest", "set", "web", "--frontends", "yes")
	run(t, exitUsage, "dest", "create", "x", "--frontends", "true")
	run(t, exitUsage, "dest", "set", "web") // nothing to change
	run(t, exitFailed, "dest", "remove", "nope")
	if out := run(t, exitOK, "dest", "remove", "api"); out != "destination api removed\n" {
		t.Fatalf("dest remove: %q", out)
	}
}
