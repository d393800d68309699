package logging

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
)

func TestStdLoggerLevels(t *testing.T) {
	tests := []struct {
		line, want, notWant string
	}{
		{"[DEBUG] memberlist: probing", "level=DEBUG msg=\"memberlist: probing\"", ""},
		{"[WARN] memberlist: refuted", "level=WARN", ""},
		{"[ERR] memberlist: failed", "level=ERROR", ""},
		{"plain line", "level=INFO msg=\"plain line\"", ""},
	}
	for _, tt := range tests {
		var buf bytes.Buffer
		StdLogger(New(&buf, slog.LevelDebug)).Println(tt.line)
		if !strings.Contains(buf.String(), tt.want) {
			t.Errorf("%q logged as %q, want %q", tt.line, buf.String(), tt.want)
		}
	}
}

func TestHCLogAdapter(t *testing.T) {
	var buf bytes.Buffer
	h := HCLog(New(&buf, slog.LevelInfo), "raft")
	h.Debug("hidden")
	h.With("node", "n1").Warn("heartbeat failed", "err", errors.New("boom"), "pct", hclog.Fmt("%0.1f%%", 50.0), "odd")
	out := buf.String()
	if strings.Contains(out, "hidden") {
		t.Fatalf("debug logged at info level: %s", out)
	}
	for _, want := range []string{"level=WARN", "component=raft", "node=n1", "err=boom", "pct=50.0%", "extra=odd"} {
		if !strings.Contains(out, want) {
			t.Fatalf("missing %q in %s", want, out)
		}
	}
	if h.IsDebug() || !h.IsInfo() || h.GetLevel() != hclog.Info {
		t.Fatalf("levels: debug %v info %v level %v", h.IsDebug(), h.IsInfo(), h.GetLevel())
	}
	if _, err := ParseLevel("verbose"); err == nil {
		t.Fatal("bad level accepted")
	}
}
