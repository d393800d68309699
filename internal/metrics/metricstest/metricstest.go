// Package metricstest pins what a collector exports: its text exposition
// for fixed component figures, compared byte for byte with a golden file.
// docs/monitoring.md is a contract (dashboards and alerts use the names),
// so every package that owns a collector tests it this way.
package metricstest

import (
	"bytes"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/imh-project/imh/internal/golden"
)

// Exposition is the text format of what c exports, families sorted by
// name, through a pedantic registry (which also checks c's descriptors
// against its samples).
func Exposition(t testing.TB, c prometheus.Collector) []byte {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	for _, mf := range mfs {
		if _, err := expfmt.MetricFamilyToText(&b, mf); err != nil {
			t.Fatal(err)
		}
	}
	return b.Bytes()
}

// Golden compares c's exposition with the file at path, or rewrites the
// file under -update (package golden).
func Golden(t testing.TB, path string, c prometheus.Collector) {
	t.Helper()
	golden.Equal(t, path, Exposition(t, c))
}
