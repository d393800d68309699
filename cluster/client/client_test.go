package client

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/imh-project/imh/cluster"
	"github.com/imh-project/imh/internal/status"
)

// serve answers every request with code and body.
func serve(t *testing.T, code int, body string) *Client {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(code)
		io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return newClient(t, Config{Addr: strings.TrimPrefix(srv.URL, "http://")})
}

func newClient(t *testing.T, cfg Config) *Client {
	t.Helper()
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New(%+v): %v", cfg, err)
	}
	return c
}

// TestErrorKinds: each answer of the agent maps to exactly the sentinel a
// caller tests, and the message is the agent's.
func TestErrorKinds(t *testing.T) {
	kinds := []error{ErrNoLeader, ErrNotFound, ErrExists, ErrInvalid, ErrRefused, ErrUnauthenticated, ErrForbidden, ErrNeedsTLS, ErrMalformed}
	for _, tt := range []struct {
		name string
		code int
		body string
		want []error // nil: success
		msg  string
	}{
		{"ok", 200, `{"name":"d","b32":"x.b32.i2p"}`, nil, ""},
		{"no leader", 503, `{"error":"cluster: no leader","code":"no_leader"}`, []error{ErrNoLeader}, "no leader: the cluster cannot take writes now (is a majority of agents up?): cluster: no leader"},
		{"not found", 404, `{"error":"fsm: not found: destination d","code":"not_found"}`, []error{ErrNotFound}, "fsm: not found: destination d"},
		{"not found, no body", 404, `404 page not found`, []error{ErrNotFound}, "agent answered 404: 404 page not found"},
		{"exists", 409, `{"error":"fsm: exists","code":"exists"}`, []error{ErrExists}, "fsm: exists"},
		{"refused", 409, `{"error":"cluster: refused: a2 lacks the key","code":"refused"}`, []error{ErrRefused}, "cluster: refused: a2 lacks the key"},
		{"invalid", 400, `{"error":"fsm: invalid value: name","code":"invalid"}`, []error{ErrInvalid}, "fsm: invalid value: name"},
		{"unauthenticated", 401, `{"error":"no certificate","code":"unauthenticated"}`, []error{ErrUnauthenticated}, "refused by the agent (401): no certificate"},
		{"forbidden", 403, `{"error":"role router","code":"forbidden"}`, []error{ErrForbidden}, "refused by the agent (403): role router"},
		{"internal, not JSON", 500, "<html>oops</html>", nil, "agent answered 500: <html>oops</html>"},
		{"https", 400, "Client sent an HTTP request to an HTTPS server.\n", []error{ErrNeedsTLS, ErrInvalid}, "Client sent an HTTP request to an HTTPS server."},
		{"bad JSON", 200, `{"name":`, []error{ErrMalformed}, "malformed answer"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := serve(t, tt.code, tt.body)
			d, err := c.Destination(t.Context(), "d")
			if tt.msg == "" {
				if err != nil || d.Name != "d" || d.B32 != "x.b32.i2p" {
					t.Fatalf("got %+v, %v", d, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("err %v; want it to say %q", err, tt.msg)
			}
			for _, k := range kinds {
				want := false
				for _, w := range tt.want {
					want = want || w == k
				}
				if errors.Is(err, k) != want {
					t.Errorf("errors.Is(%v, %v) = %v", err, k, !want)
				}
			}
		})
	}
}

// TestCalls: each typed call sends its method, path and body and decodes
// the answer.
func TestCalls(t *testing.T) {
	type seen struct{ method, path, body string }
	var got seen
	answer := ""
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got = seen{r.Method, r.URL.EscapedPath(), string(b)}
		io.WriteString(w, answer)
	}))
	defer srv.Close()
	c := newClient(t, Config{Addr: strings.TrimPrefix(srv.URL, "http://")})
	ctx := t.Context()
	for _, tt := range []struct {
		name   string
		answer string
		call   func() (any, error)
		want   seen
		check  func(v any) bool
	}{
		{"status", `{"leader":"a1"}`, func() (any, error) { return c.Status(ctx) }, seen{"GET", "/v1/status", ""},
			func(v any) bool { return v.(*status.Status).Leader == "a1" }},
		{"peers", `{"peers":[{"name":"a1","voter":true}]}`, func() (any, error) { return c.Peers(ctx) }, seen{"GET", "/v1/peers", ""},
			func(v any) bool { p := v.([]cluster.PeerInfo); return len(p) == 1 && p[0].Voter }},
		{"join", `{"node":"a4"}`, func() (any, error) { return c.Join(ctx, "h:1") }, seen{"POST", "/v1/join", `{"addr":"h:1"}`},
			func(v any) bool { return v.(cluster.JoinResult).Node == "a4" }},
		{"promote", `{"promoted":"a4","voters":4}`, func() (any, error) { return c.Promote(ctx, "a4") }, seen{"POST", "/v1/promote", `{"name":"a4"}`},
			func(v any) bool { return v.(cluster.PromoteResult).Voters == 4 }},
		{"remove peer", `{"removed":"a/b"}`, func() (any, error) { return c.RemovePeer(ctx, "a/b") }, seen{"DELETE", "/v1/peers/a%2Fb", ""},
			func(v any) bool { return v.(cluster.RemoveResult).Removed == "a/b" }},
		{"transfer", `{"leader":"a2"}`, func() (any, error) { return c.TransferLeader(ctx, "") }, seen{"POST", "/v1/transfer-leader", `{}`},
			func(v any) bool { return v.(cluster.TransferResult).Leader == "a2" }},
		{"state hash", `{"node":"a1","index":7,"hash":"ab"}`, func() (any, error) { return c.StateHash(ctx) }, seen{"GET", "/v1/state-hash", ""},
			func(v any) bool { return v.(cluster.StateHashBody).Index == 7 }},
		{"snapshot", "SNAP", func() (any, error) { return c.Snapshot(ctx) }, seen{"GET", "/v1/snapshot", ""},
			func(v any) bool { return string(v.([]byte)) == "SNAP" }},
		{"restore", `{"routers":4}`, func() (any, error) { return c.Restore(ctx, []byte("SNAP")) }, seen{"PUT", "/v1/snapshot", "SNAP"},
			func(v any) bool { return v.(cluster.RestoreResult).Routers == 4 }},
		{"secret rotate", `{"changed":true}`, func() (any, error) { return c.SecretRotate(ctx) }, seen{"POST", "/v1/secret/rotate", ""},
			func(v any) bool { return v.(cluster.SecretRotateResult).Changed }},
		{"secret status", `{"key_id":"k1"}`, func() (any, error) { return c.SecretStatus(ctx) }, seen{"GET", "/v1/secret", ""},
			func(v any) bool { return v.(cluster.SecretStatus).KeyID == "k1" }},
		{"router add", `{"name":"r1","addr":"h:2"}`, func() (any, error) { return c.AddRouter(ctx, cluster.RouterInfo{Name: "r1", Addr: "h:2"}) },
			seen{"POST", "/v1/routers", `{"name":"r1","addr":"h:2"}`}, func(v any) bool { return v.(cluster.RouterInfo).Addr == "h:2" }},
		{"router remove", `{}`, func() (any, error) { return nil, c.RemoveRouter(ctx, "r1") }, seen{"DELETE", "/v1/routers/r1", ""}, nil},
		{"frontend add", `{"name":"f1"}`, func() (any, error) { return c.AddFrontend(ctx, cluster.FrontendInfo{Name: "f1"}) },
			seen{"POST", "/v1/frontends", `{"name":"f1","addr":"","router":""}`}, func(v any) bool { return v.(cluster.FrontendInfo).Name == "f1" }},
		{"frontends", `{"frontends":[{"name":"f1"}]}`, func() (any, error) { return c.Frontends(ctx) }, seen{"GET", "/v1/frontends", ""},
			func(v any) bool { return len(v.([]cluster.FrontendInfo)) == 1 }},
		{"frontend remove", `{}`, func() (any, error) { return nil, c.RemoveFrontend(ctx, "f1") }, seen{"DELETE", "/v1/frontends/f1", ""}, nil},
		{"dest create", `{"name":"d"}`, func() (any, error) { return c.CreateDestination(ctx, cluster.DestinationRequest{Name: "d"}) },
			seen{"POST", "/v1/destinations", `{"name":"d"}`}, func(v any) bool { return v.(cluster.DestinationInfo).Name == "d" }},
		{"dest set", `{"name":"d","hops":1}`, func() (any, error) {
			h := 1
			return c.SetDestination(ctx, "d", cluster.DestinationRequest{Hops: &h})
		}, seen{"PATCH", "/v1/destinations/d", `{"hops":1}`}, func(v any) bool { return v.(cluster.DestinationInfo).Hops == 1 }},
		{"dests", `{"destinations":[]}`, func() (any, error) { return c.Destinations(ctx) }, seen{"GET", "/v1/destinations", ""},
			func(v any) bool { return v.([]cluster.DestinationInfo) != nil }},
		{"dest remove", `{}`, func() (any, error) { return nil, c.RemoveDestination(ctx, "d") }, seen{"DELETE", "/v1/destinations/d", ""}, nil},
	} {
		answer = tt.answer
		v, err := tt.call()
		if err != nil || got != tt.want {
			t.Errorf("%s: sent %+v, err %v; want %+v", tt.name, got, err, tt.want)
			continue
		}
		if tt.check != nil && !tt.check(v) {
			t.Errorf("%s: decoded %+v from %s", tt.name, v, tt.answer)
		}
	}
}

// TestTransport: TLS when configured, and the two ways a call gets no
// answer (timeout, unreachable), and an address that is not H:P.
func TestTransport(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, `{"leader":"a1"}`) })
	tlsSrv := httptest.NewTLSServer(ok)
	defer tlsSrv.Close()
	tlsAddr := strings.TrimPrefix(tlsSrv.URL, "https://")
	trusting := tlsSrv.Client().Transport.(*http.Transport).TLSClientConfig
	block := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-block:
		}
	}))
	defer slow.Close()
	defer close(block)
	for _, tt := range []struct {
		name string
		cfg  Config
		want error // nil: success
	}{
		{"https", Config{Addr: tlsAddr, TLS: trusting}, nil},
		{"http to an https agent", Config{Addr: tlsAddr}, ErrNeedsTLS},
		{"https, agent not trusted", Config{Addr: tlsAddr, TLS: &tls.Config{MinVersion: tls.VersionTLS13}}, ErrUnreachable},
		{"nobody listening", Config{Addr: "127.0.0.1:1"}, ErrUnreachable},
		{"timeout", Config{Addr: strings.TrimPrefix(slow.URL, "http://"), Timeout: 50 * time.Millisecond}, ErrTimeout},
	} {
		c := newClient(t, tt.cfg)
		st, err := c.Status(context.Background())
		if tt.want == nil {
			if err != nil || st.Leader != "a1" {
				t.Errorf("%s: %+v, %v", tt.name, st, err)
			}
		} else if !errors.Is(err, tt.want) {
			t.Errorf("%s: err %v; want %v", tt.name, err, tt.want)
		}
	}
	for _, addr := range []string{"a b:1", "h:1/v1", "h:1?x", "u@h:1", ""} {
		if _, err := New(Config{Addr: addr}); !errors.Is(err, ErrBadAddr) {
			t.Errorf("New(%q): %v; want ErrBadAddr", addr, err)
		}
	}
	if _, err := New(Config{Addr: "[fe80::1%25eth0]:7702"}); err != nil {
		t.Errorf("New with an IPv6 zone: %v", err)
	}
}

// TestParseAddr: H:P or a URL whose scheme matches the TLS setting; never
// "http://http//...".
func TestParseAddr(t *testing.T) {
	for _, tt := range []struct {
		in      string
		tls     bool
		want    string
		wantErr error
	}{
		{"127.0.0.1:7702", false, "127.0.0.1:7702", nil},
		{"http://127.0.0.1:7721", false, "127.0.0.1:7721", nil},
		{"http://127.0.0.1:7721/", false, "127.0.0.1:7721", nil},
		{"https://[::1]:7721", true, "[::1]:7721", nil},
		{"127.0.0.1:7721", true, "127.0.0.1:7721", nil},
		{"localhost:7721", false, "localhost:7721", nil},
		{"https://127.0.0.1:7721", false, "", ErrSchemeMismatch},
		{"http://127.0.0.1:7721", true, "", ErrSchemeMismatch},
		{"ftp://127.0.0.1:7721", false, "", ErrBadAddr},
		{"http://127.0.0.1:7721/v1", false, "", ErrBadAddr},
		{"127.0.0.1:7721?x", false, "", ErrBadAddr},
		{"127.0.0.1", false, "", ErrBadAddr},
		{":7721", false, "", ErrBadAddr},
		{"", false, "", ErrBadAddr},
	} {
		got, err := ParseAddr(tt.in, tt.tls)
		if got != tt.want || !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
			t.Errorf("ParseAddr(%q, tls %v) = %q, %v; want %q, %v", tt.in, tt.tls, got, err, tt.want, tt.wantErr)
		}
	}
}
