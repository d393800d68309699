// Package metricstest pins what a collector exports: its text exposition
// for fixed component figures, compared byte for byte with a golden file.
// docs/monitoring.md is a contract (dashboards and alerts use the names),
// so every package that owns a collector tests it this way.
package metricstest

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
)

// update rewrites the golden files instead of comparing with them. Its own
// name, so that it never clashes with a package's -update flag.
var update = flag.Bool("update-metrics", false, "rewrite the metrics golden files")

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
// file under -update-metrics.
func Golden(t testing.TB, path string, c prometheus.Collector) {
	t.Helper()
	got := Exposition(t, c)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s: exposition changed (docs/monitoring.md is a contract)\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}
