package frontend

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/imh-project/imh/internal/metrics"
)

// imh_frontend_*: `imh frontend serve`.
var (
	mFrontAttached    = metrics.Gauge("frontend_attached", "1 if the frontend is data-attached to the destination's session on its router", "dest")
	mFrontActive      = metrics.Gauge("frontend_active", "1 if the leader assigned the destination to this frontend", "dest")
	mFrontBackendUp   = metrics.Gauge("frontend_backend_up", "1 if the destination's backend service answered", "dest")
	mFrontKeyExpiry   = metrics.Gauge("frontend_key_expiry_timestamp_seconds", "when the transient signing key expires (unix seconds)", "dest")
	mFrontOpen        = metrics.Gauge("frontend_streams_open", "streams open", "dest")
	mFrontStreams     = metrics.Counter("frontend_streams_total", "streams accepted or refused", "dest", "result")
	mFrontBytes       = metrics.Counter("frontend_stream_bytes_total", "stream payload bytes from clients (in) and to them (out)", "dest", "direction")
	mFrontErrors      = metrics.Counter("frontend_errors_total", "stream and backend errors", "dest")
	mFrontRefusedConn = metrics.Counter("frontend_refused_connections_total", "connections closed because a connection cap was reached")
)

// frontendFamilies are the frontend collector's metrics.
var frontendFamilies = []metrics.Family{mFrontAttached, mFrontActive, mFrontBackendUp, mFrontKeyExpiry, mFrontOpen, mFrontStreams,
	mFrontBytes, mFrontErrors, mFrontRefusedConn}

// NewCollector exports the frontend's figures (imh_frontend_*) on GET
// /metrics from one Status per scrape: attachment, assignment, backend
// health, key expiry and streams per destination. refused is the
// listener's count of connections closed at its cap (netlimit).
func NewCollector(fe *Frontend, refused func() uint64) prometheus.Collector {
	return metrics.Collector{
		Families: frontendFamilies,
		Emit:     func(ch chan<- prometheus.Metric) { emitFrontend(ch, fe.Status(), refused()) },
	}
}

// emitFrontend writes one frontend status; refused is the listener's count
// of connections it closed at its cap.
func emitFrontend(ch chan<- prometheus.Metric, st Status, refused uint64) {
	for _, d := range st.Dests {
		metrics.Emit(ch, mFrontAttached, metrics.Bool(d.Attached), d.Name)
		metrics.Emit(ch, mFrontActive, metrics.Bool(d.Active), d.Name)
		metrics.Emit(ch, mFrontBackendUp, metrics.Bool(d.BackendUp), d.Name)
		if !d.KeyExpires.IsZero() {
			metrics.Emit(ch, mFrontKeyExpiry, float64(d.KeyExpires.Unix()), d.Name)
		}
		metrics.Emit(ch, mFrontOpen, float64(d.Open), d.Name)
		metrics.Emit(ch, mFrontStreams, float64(d.Accepted), d.Name, "accepted")
		metrics.Emit(ch, mFrontStreams, float64(d.Refused), d.Name, "refused")
		metrics.Emit(ch, mFrontBytes, float64(d.BytesIn), d.Name, "in")
		metrics.Emit(ch, mFrontBytes, float64(d.BytesOut), d.Name, "out")
		metrics.Emit(ch, mFrontErrors, float64(d.Errors), d.Name)
	}
	metrics.Emit(ch, mFrontRefusedConn, float64(refused))
}
