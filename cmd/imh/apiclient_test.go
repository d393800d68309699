package main

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestAPICallErrorMapping(t *testing.T) {
	answers := map[string]struct {
		code int
		body string
	}{
		"/noleader": {503, `{"error":"cluster: no leader","code":"no_leader"}`},
		"/invalid":  {400, `{"error":"fsm: invalid value: name","code":"invalid"}`},
		"/missing":  {404, `{"error":"fsm: not found: destination x","code":"not_found"}`},
		"/garbage":  {500, `<html>oops</html>`},
		"/ok":       {200, `{"name":"r1","addr":"127.0.0.1:1"}`},
		"/badjson":  {200, `{"name":`},
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a := answers[r.URL.Path]
		w.WriteHeader(a.code)
		w.Write([]byte(a.body))
	}))
	defer srv.Close()
	o := &apiOptions{httpAddr: strings.TrimPrefix(srv.URL, "http://")}
	dead := &apiOptions{httpAddr: "127.0.0.1:1"}
	for _, tt := range []struct {
		path string
		o    *apiOptions
		exit int
		want string
	}{
		{"/noleader", o, exitFailed, "no leader"},
		{"/invalid", o, exitUsage, "invalid value"},
		{"/missing", o, exitFailed, "not found"},
		{"/garbage", o, exitFailed, "500"},
		{"/badjson", o, exitFailed, "malformed answer"},
		{"/ok", o, exitOK, ""},
		{"/ok", dead, exitFailed, "unreachable"},
	} {
		var out map[string]string
		err := apiCall(context.Background(), tt.o, "GET", tt.path, nil, &out)
		if got := exitCode(err); got != tt.exit || (err != nil && !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("%s: exit %d err %v; want exit %d with %q", tt.path, got, err, tt.exit, tt.want)
		}
		if tt.exit == exitOK && out["name"] != "r1" {
			t.Errorf("%s: decoded %v", tt.path, out)
		}
	}
	var ae *apiError
	if err := apiCall(context.Background(), o, "GET", "/missing", nil, nil); !errors.As(err, &ae) || ae.status != 404 {
		t.Fatalf("404 not an apiError: %v", err)
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
