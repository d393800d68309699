package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// ScrapeTimeout bounds what one collector may wait for at scrape time (the
// balancer loop, a router's backend): a slow component must not hang
// GET /metrics.
const ScrapeTimeout = 5 * time.Second

// Family is one metric's descriptor and value type. The components'
// collectors declare their families once, at package level, and emit
// constant samples from a status snapshot at scrape time: nothing is
// updated for metrics between scrapes beyond the counters the components
// keep anyway.
type Family struct {
	desc *prometheus.Desc
	typ  prometheus.ValueType
}

func newFamily(typ prometheus.ValueType, name, help string, labels ...string) Family {
	return Family{prometheus.NewDesc(Namespace+"_"+name, help, labels, nil), typ}
}

// Gauge declares the gauge Namespace_name with variable labels. Labels are
// names an operator chose (dest, router) or small enums: bounded.
func Gauge(name, help string, labels ...string) Family {
	return newFamily(prometheus.GaugeValue, name, help, labels...)
}

// Counter declares the counter Namespace_name with variable labels (the
// name ends in _total by convention; see Gauge for labels).
func Counter(name, help string, labels ...string) Family {
	return newFamily(prometheus.CounterValue, name, help, labels...)
}

// Emit sends one sample of f with the label values in declaration order.
func Emit(ch chan<- prometheus.Metric, f Family, v float64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(f.desc, f.typ, v, labels...)
}

// Bool is 1 for true and 0 for false, the Prometheus convention for
// yes/no gauges.
func Bool(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// Collector adapts a list of families and a function that emits their
// samples to prometheus.Collector, so that a component's collector is its
// families and one function over its status.
type Collector struct {
	Families []Family
	Emit     func(ch chan<- prometheus.Metric)
}

// Describe implements prometheus.Collector.
func (c Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, f := range c.Families {
		ch <- f.desc
	}
}

// Collect implements prometheus.Collector.
func (c Collector) Collect(ch chan<- prometheus.Metric) { c.Emit(ch) }
