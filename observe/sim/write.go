package sim

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/imh-project/imh/observe"
)

// Written is one history file WriteRuns wrote, as `imh simnet observe
// --json` lists it (docs/cli.md).
type Written struct {
	Run    string `json:"run"`
	File   string `json:"file"`
	Stores int    `json:"stores"`
	SpanMs int64  `json:"span_ms"` // from the first store to the last
}

// WriteTable writes the files WriteRuns wrote as `imh simnet observe`
// lists them without --json: run, stores, span and file, aligned.
func WriteTable(w io.Writer, written []Written) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RUN\tSTORES\tSPAN\tFILE")
	for _, r := range written {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", r.Run, r.Stores, time.Duration(r.SpanMs)*time.Millisecond, r.File)
	}
	return tw.Flush()
}

// ErrOutput marks a problem with where WriteRuns writes (a history file
// that exists already, a directory that cannot be made): the caller's to
// fix, unlike a run that fails. The error's message is the problem's own.
var ErrOutput = errors.New("sim: output")

type outputError struct{ err error }

func (e outputError) Error() string   { return e.err.Error() }
func (e outputError) Unwrap() []error { return []error{e.err, ErrOutput} }

// WriteRuns makes each named run of c (Run) and writes its history to dir
// as <run>.json (observe.WriteHistory), creating dir. Unless replace, a
// history file that exists already is refused before any run is made.
// Every run is made before anything is written, so a run that fails
// writes nothing.
func WriteRuns(c Config, runs []string, dir string, replace bool) ([]Written, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if !replace {
		if err := refuseExisting(dir, runs); err != nil {
			return nil, err
		}
	}
	hs := make([]*observe.History, len(runs))
	for i, name := range runs {
		h, err := Run(c, name)
		if err != nil {
			return nil, err
		}
		hs[i] = h
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, outputError{err}
	}
	out := make([]Written, 0, len(hs))
	for i, h := range hs {
		path := filepath.Join(dir, runs[i]+".json")
		if err := observe.WriteHistory(path, h); err != nil {
			return nil, err
		}
		w := Written{Run: h.Run, File: path, Stores: len(h.Stores)}
		if n := len(h.Stores); n > 0 {
			w.SpanMs = h.Stores[n-1].AtMillis - h.Stores[0].AtMillis
		}
		out = append(out, w)
	}
	return out, nil
}

// refuseExisting fails if any history file the runs would write exists in
// dir.
func refuseExisting(dir string, runs []string) error {
	for _, name := range runs {
		path := filepath.Join(dir, name+".json")
		_, err := os.Lstat(path)
		switch {
		case err == nil:
			return outputError{fmt.Errorf("%s exists (--force replaces it)", path)}
		case !errors.Is(err, fs.ErrNotExist):
			return outputError{err}
		}
	}
	return nil
}
