// Package console is the agent's read-only web console: plain HTML, CSS and
// JavaScript embedded in the binary and served under /ui/ on the agent's API
// address, behind the API's authentication (cluster/auth.go). The page polls
// GET /v1/status and GET /v1/destinations/{name}/leaseset of the agent that
// served it; it changes nothing.
package console

import (
	"embed"
	"io/fs"
	"net/http"
)

// Prefix is the path the console is served under.
const Prefix = "/ui/"

//go:embed assets
var assets embed.FS

// csp lets the page load only its own files and talk only to its own
// origin; data: is for the empty favicon.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// Handler serves the console's files for requests under Prefix.
func Handler() http.Handler {
	sub, err := fs.Sub(assets, "assets")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	files := http.StripPrefix(Prefix, http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	})
}
