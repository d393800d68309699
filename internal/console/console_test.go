package console_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/imh-project/imh/internal/console"
)

func get(t *testing.T, h http.Handler, path string) (*http.Response, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	resp := rec.Result()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

// TestHandlerServesEmbeddedFiles: the page and its two files come from the
// binary with their content types and a policy that keeps the page on its
// own origin; nothing it loads is external.
func TestHandlerServesEmbeddedFiles(t *testing.T) {
	h := console.Handler()
	for _, tt := range []struct {
		path, ctype, contains string
	}{
		{"/ui/", "text/html", `<script src="app.js"`},
		{"/ui/app.js", "text/javascript", "../v1/"},
		{"/ui/style.css", "text/css", "--up"},
	} {
		resp, body := get(t, h, tt.path)
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), tt.ctype) || !strings.Contains(body, tt.contains) {
			t.Errorf("GET %s: %d %q, body has %q: %t", tt.path, resp.StatusCode, resp.Header.Get("Content-Type"), tt.contains, strings.Contains(body, tt.contains))
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "connect-src 'self'") {
			t.Errorf("GET %s: CSP %q", tt.path, csp)
		}
		if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s: no nosniff", tt.path)
		}
		if m := regexp.MustCompile(`(?i)(src|href)="(https?:)?//`).FindString(body); m != "" {
			t.Errorf("GET %s: external reference %q", tt.path, m)
		}
	}
	if resp, _ := get(t, h, "/ui/missing.js"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /ui/missing.js: %d", resp.StatusCode)
	}
}
