package metrics

import (
	"strings"
	"unicode"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"
)

// renamer gathers go-metrics' Prometheus sink and renames what it finds.
type renamer struct{ g prometheus.Gatherer }

func (r renamer) Gather() ([]*dto.MetricFamily, error) {
	mfs, err := r.g.Gather()
	out := make([]*dto.MetricFamily, 0, len(mfs))
	for _, mf := range mfs {
		out = append(out, conventional(mf))
	}
	return out, err
}

// conventional renames one family that go-metrics' sink produced from a
// raft key to Prometheus conventions: "imh_" prefix, snake_case
// (raft_leader_lastContact becomes imh_raft_leader_last_contact_seconds),
// label names in snake_case too (rpcType -> rpc_type), counters end in
// _total, and timings — go-metrics samples in
// milliseconds — become seconds: summaries (all of raft's samples are
// timings except applyBatchNum) and gauges whose name ends in Duration.
func conventional(in *dto.MetricFamily) *dto.MetricFamily {
	mf := proto.Clone(in).(*dto.MetricFamily)
	raw := mf.GetName()
	name := Namespace + "_" + snake(raw)
	scale := 1.0
	switch mf.GetType() {
	case dto.MetricType_COUNTER:
		name += "_total"
	case dto.MetricType_SUMMARY:
		if !strings.HasSuffix(raw, "Num") {
			name, scale = name+"_seconds", 1e-3
		}
	case dto.MetricType_GAUGE:
		if strings.HasSuffix(raw, "Duration") {
			name, scale = name+"_seconds", 1e-3
		}
	}
	mf.Name = proto.String(name)
	mf.Help = proto.String("hashicorp/raft's " + strings.ReplaceAll(raw, "_", ".") + unitNote(scale))
	for _, m := range mf.Metric {
		for _, l := range m.Label {
			l.Name = proto.String(snake(l.GetName()))
		}
	}
	if scale != 1 {
		for _, m := range mf.Metric {
			if g := m.Gauge; g != nil {
				g.Value = proto.Float64(g.GetValue() * scale)
			}
			if s := m.Summary; s != nil {
				s.SampleSum = proto.Float64(s.GetSampleSum() * scale)
				for _, q := range s.Quantile {
					q.Value = proto.Float64(q.GetValue() * scale)
				}
			}
		}
	}
	return mf
}

func unitNote(scale float64) string {
	if scale != 1 {
		return " (seconds)"
	}
	return ""
}

// snake turns a go-metrics key flattened with underscores (and camelCase
// parts) into snake_case: lastContact -> last_contact, getRPCType ->
// get_rpc_type.
func snake(s string) string {
	rs := []rune(s)
	var b strings.Builder
	for i, r := range rs {
		if unicode.IsUpper(r) && i > 0 && rs[i-1] != '_' {
			prevLower := unicode.IsLower(rs[i-1]) || unicode.IsDigit(rs[i-1])
			nextLower := i+1 < len(rs) && unicode.IsLower(rs[i+1])
			if prevLower || (unicode.IsUpper(rs[i-1]) && nextLower) {
				b.WriteByte('_')
			}
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}
