package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/imh-project/imh/cluster"
	"github.com/imh-project/imh/cluster/client"
)

// TestCallAgentExitCodes: the client's errors keep docs/cli.md's exit codes
// and messages: invalid input and an HTTPS agent spoken to in HTTP are
// usage errors (2); no leader, not found, refusals, garbage and an
// unreachable agent are failures (1).
func TestCallAgentExitCodes(t *testing.T) {
	answers := map[string]struct {
		code int
		body string
	}{
		"/noleader": {503, `{"error":"cluster: no leader","code":"no_leader"}`},
		"/invalid":  {400, `{"error":"fsm: invalid value: name","code":"invalid"}`},
		"/missing":  {404, `{"error":"fsm: not found: destination x","code":"not_found"}`},
		"/forbid":   {403, `{"error":"role router may not","code":"forbidden"}`},
		"/https":    {400, "Client sent an HTTP request to an HTTPS server.\n"},
		"/garbage":  {500, `<html>oops</html>`},
		"/ok":       {200, `{"name":"r1","addr":"127.0.0.1:1"}`},
		"/badjson":  {200, `{"name":`},
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a := answers[r.URL.Path[len("/v1/destinations/"):]]
		w.WriteHeader(a.code)
		w.Write([]byte(a.body))
	}))
	defer srv.Close()
	live := strings.TrimPrefix(srv.URL, "http://")
	for _, tt := range []struct {
		name, addr string
		exit       int
		want       string
	}{
		{"noleader", live, exitFailed, "no leader: the cluster cannot take writes now"},
		{"invalid", live, exitUsage, "invalid value"},
		{"missing", live, exitFailed, "not found"},
		{"forbid", live, exitFailed, "refused by the agent (403): role router may not"},
		{"https", live, exitUsage, "the agent serves HTTPS: give --ca-file"},
		{"garbage", live, exitFailed, "500"},
		{"badjson", live, exitFailed, "malformed answer"},
		{"ok", live, exitOK, ""},
		{"ok", "127.0.0.1:1", exitFailed, "unreachable (is imh agent running? see --http-addr)"},
		{"ok", "127.0.0.1", exitUsage, "want H:P"},
	} {
		o := &apiOptions{httpAddr: tt.addr}
		d, err := callAgent(o, func(c *client.Client) (cluster.DestinationInfo, error) {
			return c.Destination(context.Background(), "/"+tt.name)
		})
		if got := exitCode(err); got != tt.exit || (err != nil && !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("%s at %s: exit %d err %v; want exit %d with %q", tt.name, tt.addr, got, err, tt.exit, tt.want)
		}
		if tt.exit == exitOK && d.Name != "r1" {
			t.Errorf("%s: decoded %+v", tt.name, d)
		}
	}
}

// TestAgentAddr: --http-addr (IMH_HTTP_ADDR) takes H:P or a URL whose scheme
// matches the TLS files; anything else is a usage error, never
// "http://http//...".
func TestAgentAddr(t *testing.T) {
	for _, tt := range []struct {
		in   string
		tls  bool
		want string // "" = usage error
	}{
		{"127.0.0.1:7702", false, "127.0.0.1:7702"},
		{"http://127.0.0.1:7721", false, "127.0.0.1:7721"},
		{"http://127.0.0.1:7721/", false, "127.0.0.1:7721"},
		{"https://[::1]:7721", true, "[::1]:7721"},
		{"127.0.0.1:7721", true, "127.0.0.1:7721"},
		{"https://127.0.0.1:7721", false, ""},
		{"http://127.0.0.1:7721", true, ""},
		{"ftp://127.0.0.1:7721", false, ""},
		{"http://127.0.0.1:7721/v1", false, ""},
		{"127.0.0.1", false, ""},
	} {
		got, err := agentAddr(tt.in, tt.tls)
		if got != tt.want || (tt.want == "") != (exitCode(err) == 2) {
			t.Errorf("agentAddr(%q, tls %v) = %q, %v; want %q", tt.in, tt.tls, got, err, tt.want)
		}
	}
}
