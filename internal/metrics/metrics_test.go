package metrics

import (
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"
)

func TestSnake(t *testing.T) {
	for in, want := range map[string]string{
		"raft_leader_lastContact":           "raft_leader_last_contact",
		"raft_net_getRPCType":               "raft_net_get_rpc_type",
		"raft_rpc_appendEntries_storeLogs":  "raft_rpc_append_entries_store_logs",
		"raft_transition_heartbeat_timeout": "raft_transition_heartbeat_timeout",
		"raft_fsm_applyBatchNum":            "raft_fsm_apply_batch_num",
		"raft_restoreUserSnapshot":          "raft_restore_user_snapshot",
	} {
		if got := snake(in); got != want {
			t.Errorf("snake(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestConventional(t *testing.T) {
	summary := &dto.MetricFamily{Name: proto.String("raft_commitTime"), Type: dto.MetricType_SUMMARY.Enum(),
		Metric: []*dto.Metric{{Summary: &dto.Summary{SampleCount: proto.Uint64(2), SampleSum: proto.Float64(30),
			Quantile: []*dto.Quantile{{Quantile: proto.Float64(0.5), Value: proto.Float64(10)}}}}}}
	counter := &dto.MetricFamily{Name: proto.String("raft_state_leader"), Type: dto.MetricType_COUNTER.Enum(),
		Metric: []*dto.Metric{{Counter: &dto.Counter{Value: proto.Float64(1)}}}}
	batch := &dto.MetricFamily{Name: proto.String("raft_fsm_applyBatchNum"), Type: dto.MetricType_SUMMARY.Enum()}
	cases := []struct {
		in   *dto.MetricFamily
		name string
		val  float64
	}{
		{summary, "imh_raft_commit_time_seconds", 0.03},
		{counter, "imh_raft_state_leader_total", 1},
		{batch, "imh_raft_fsm_apply_batch_num", 0},
	}
	for _, c := range cases {
		out := conventional(c.in)
		if out.GetName() != c.name || !strings.HasPrefix(out.GetHelp(), "hashicorp/raft's raft.") {
			t.Errorf("%s: renamed %q, help %q", c.in.GetName(), out.GetName(), out.GetHelp())
		}
		if len(out.Metric) == 0 {
			continue
		}
		m := out.Metric[0]
		got := m.GetCounter().GetValue() + m.GetSummary().GetSampleSum()
		if got != c.val {
			t.Errorf("%s: value %v, want %v", c.name, got, c.val)
		}
	}
	if summary.GetName() != "raft_commitTime" || summary.Metric[0].Summary.GetSampleSum() != 30 {
		t.Error("conventional modified its input")
	}
}
