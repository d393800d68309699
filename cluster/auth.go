package cluster

import (
	"net/http"
	"strings"
	"time"

	"github.com/imh-project/imh/internal/pki"
)

// Who may call what on the HTTP API when it runs under TLS. The handshake
// only checks that a presented certificate chains to the cluster CA;
// authorize then decides by role:
//
//   - no certificate: 401 on every path;
//   - agent-to-agent calls (/v1/internal/*, /v1/live, and any request
//     carrying X-Imh-Forwarded-By, i.e. a write forwarded to the leader):
//     agent certificates only, else 403;
//   - every other call (the operator API, the web console under /ui/, and
//     GET /metrics: a Prometheus server scrapes with a client certificate
//     such as one made by `imh tls cert create --client prometheus`):
//     client or agent certificates; router and frontend certificates get
//     403.
//
// Without TLS (loopback development only) every call is allowed.
var (
	operatorRoles = []pki.Role{pki.RoleClient, pki.RoleAgent}
	agentRoles    = []pki.Role{pki.RoleAgent}
)

// agentOnly reports whether r is an agent-to-agent call.
func agentOnly(r *http.Request) bool {
	return strings.HasPrefix(r.URL.Path, "/v1/internal/") || r.URL.Path == "/v1/live" ||
		r.Header.Get(hdrForwardedBy) != ""
}

func (c *Cluster) authorize(next http.Handler) http.Handler {
	if c.cfg.TLS == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := pki.PeerIdentity(r.TLS)
		if err != nil {
			writeJSON(w, http.StatusUnauthorized, ErrorBody{Code: CodeUnauthenticated,
				Error: "a client certificate of the cluster CA is required (--ca-file, --cert-file, --key-file; see imh tls)"})
			return
		}
		allowed := operatorRoles
		if agentOnly(r) {
			allowed = agentRoles
		}
		for _, role := range allowed {
			if id.Role == role {
				next.ServeHTTP(w, r)
				return
			}
		}
		c.log.Warn("api call refused", "identity", id.String(), "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr)
		writeJSON(w, http.StatusForbidden, ErrorBody{Code: CodeForbidden,
			Error: "certificate " + id.String() + " may not call " + r.Method + " " + r.URL.Path})
	})
}

// agentHTTPClient is the client agents use to reach each other's API
// (forwarding, live view, internal calls): with TLS it presents this
// agent's certificate and accepts only agents.
func agentHTTPClient(store *pki.Store) *http.Client {
	if store == nil {
		return &http.Client{Timeout: 15 * time.Second}
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = store.ClientConfig(pki.Peer{Roles: agentRoles})
	return &http.Client{Timeout: 15 * time.Second, Transport: tr}
}

// apiURL is the URL of path on the agent API at addr.
func (c *Cluster) apiURL(addr, path string) string {
	if c.cfg.TLS != nil {
		return "https://" + addr + path
	}
	return "http://" + addr + path
}

// TLS is the agent's TLS material (nil without TLS): the balancer dials
// routers with the same agent certificate.
func (c *Cluster) TLS() *pki.Store { return c.cfg.TLS }
