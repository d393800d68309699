package daemon

import (
	"context"
	"encoding/json"
	"net/http"
)

// StatusHandler is the read-only HTTP endpoint of a daemon (the --http
// address of router, frontend and simnet serve): GET /status answers what
// status returns as one JSON object (docs/cli.md), GET /metrics is metrics.
// Each daemon used to build this mux by hand; one builder keeps their
// paths, methods and content type the same.
func StatusHandler(status func(ctx context.Context) any, metrics http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics)
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(status(req.Context()))
	})
	return mux
}
