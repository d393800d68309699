// Package logging sets up log/slog for imh daemons and bridges the loggers
// of the libraries imh embeds to it: hclog (hashicorp/raft) and the
// standard *log.Logger (hashicorp/memberlist). Library code never uses the
// global logger: daemons build one here and inject it.
package logging

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"strings"
)

// ParseLevel maps a --log-level value (debug, info, warn, error) to a level.
func ParseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(strings.ToLower(s))); err != nil {
		return 0, fmt.Errorf("log level %q: want debug, info, warn or error", s)
	}
	return l, nil
}

// New returns a text logger writing to w at the given level.
func New(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

// Discard returns a logger that drops everything (tests, quiet tools).
func Discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// StdLogger returns a *log.Logger whose lines go to l. Libraries like
// memberlist prefix their lines with "[DEBUG]", "[INFO]", "[WARN]" or
// "[ERR]"; the prefix becomes the slog level.
func StdLogger(l *slog.Logger) *log.Logger {
	return log.New(&stdWriter{l: l}, "", 0)
}

// StdLoggerIntercept is StdLogger with a hook: intercept sees each line
// (without its level prefix) first, and a line it returns true for is not
// logged.
func StdLoggerIntercept(l *slog.Logger, intercept func(msg string) bool) *log.Logger {
	return log.New(&stdWriter{l: l, intercept: intercept}, "", 0)
}

type stdWriter struct {
	l         *slog.Logger
	intercept func(msg string) bool
}

var stdLevels = []struct {
	prefix string
	level  slog.Level
}{
	{"[TRACE]", slog.LevelDebug - 4}, {"[DEBUG]", slog.LevelDebug}, {"[INFO]", slog.LevelInfo},
	{"[WARN]", slog.LevelWarn}, {"[ERR]", slog.LevelError}, {"[ERROR]", slog.LevelError},
}

func (w *stdWriter) Write(p []byte) (int, error) {
	msg := string(bytes.TrimSpace(p))
	level := slog.LevelInfo
	for _, s := range stdLevels {
		if rest, ok := strings.CutPrefix(msg, s.prefix); ok {
			level, msg = s.level, strings.TrimSpace(rest)
			break
		}
	}
	if w.intercept != nil && w.intercept(msg) {
		return len(p), nil
	}
	w.l.Log(context.Background(), level, msg)
	return len(p), nil
}
