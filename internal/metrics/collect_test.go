package metrics

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

func TestCollector(t *testing.T) {
	g := Gauge("test_up", "1 if up", "dest")
	c := Counter("test_things_total", "things")
	col := Collector{Families: []Family{g, c}, Emit: func(ch chan<- prometheus.Metric) {
		Emit(ch, g, Bool(true), "web")
		Emit(ch, g, Bool(false), "mail")
		Emit(ch, c, 42)
	}}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(col)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		typ     dto.MetricType
		samples int
		sum     float64
	}{
		{"imh_test_things_total", dto.MetricType_COUNTER, 1, 42},
		{"imh_test_up", dto.MetricType_GAUGE, 2, 1},
	}
	if len(mfs) != len(cases) {
		t.Fatalf("got %d families, want %d", len(mfs), len(cases))
	}
	for i, tc := range cases {
		mf := mfs[i]
		if mf.GetName() != tc.name || mf.GetType() != tc.typ || len(mf.Metric) != tc.samples {
			t.Errorf("family %d = %s %v (%d samples), want %s %v (%d)", i, mf.GetName(), mf.GetType(), len(mf.Metric), tc.name, tc.typ, tc.samples)
			continue
		}
		var sum float64
		for _, m := range mf.Metric {
			sum += m.GetGauge().GetValue() + m.GetCounter().GetValue()
		}
		if sum != tc.sum {
			t.Errorf("%s: values sum to %v, want %v", tc.name, sum, tc.sum)
		}
	}
}
