package daemon

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

var (
	errA = errors.New("part a failed")
	errB = errors.New("part b failed")
)

// untilDone is a part that runs until its context ends and then returns
// err, counting how many such parts have stopped.
func untilDone(stopped *atomic.Int32, err error) Part {
	return func(ctx context.Context) error {
		<-ctx.Done()
		stopped.Add(1)
		return err
	}
}

func TestRun(t *testing.T) {
	tests := []struct {
		name    string
		cancel  bool // the caller's context ends
		parts   func(stopped *atomic.Int32) []Part
		want    error
		stopped int32 // parts that saw their context end
	}{
		{
			name:   "caller ends it",
			cancel: true,
			parts: func(s *atomic.Int32) []Part {
				return []Part{untilDone(s, nil), untilDone(s, nil), untilDone(s, nil)}
			},
			stopped: 3,
		},
		{
			name: "a failing part stops the others",
			parts: func(s *atomic.Int32) []Part {
				return []Part{untilDone(s, nil), func(context.Context) error { return errA }, untilDone(s, nil)}
			},
			want:    errA,
			stopped: 2,
		},
		{
			name: "a part returning nil ends the daemon too",
			parts: func(s *atomic.Int32) []Part {
				return []Part{untilDone(s, nil), func(context.Context) error { return nil }}
			},
			stopped: 1,
		},
		{
			name: "the first error wins over errors from stopping",
			parts: func(s *atomic.Int32) []Part {
				return []Part{untilDone(s, errB), func(context.Context) error { return errA }}
			},
			want:    errA,
			stopped: 1,
		},
		{
			name:   "an error from stopping is still reported",
			cancel: true,
			parts: func(s *atomic.Int32) []Part {
				return []Part{untilDone(s, nil), untilDone(s, errB)}
			},
			want:    errB,
			stopped: 2,
		},
		{
			name:   "no parts: until the caller ends it",
			cancel: true,
			parts:  func(*atomic.Int32) []Part { return nil },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if tt.cancel {
				time.AfterFunc(10*time.Millisecond, cancel)
			}
			var stopped atomic.Int32
			err := Run(ctx, tt.parts(&stopped)...)
			if !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
				t.Fatalf("Run = %v, want %v", err, tt.want)
			}
			if got := stopped.Load(); got != tt.stopped {
				t.Fatalf("%d parts stopped before Run returned, want %d", got, tt.stopped)
			}
			if !tt.cancel && ctx.Err() != nil {
				t.Fatal("Run returned only at the test's timeout")
			}
		})
	}
}

// brokenListener fails every Accept, as a listener whose socket died does.
type brokenListener struct{ net.Listener }

var errAccept = errors.New("accept: socket gone")

func (brokenListener) Accept() (net.Conn, error) { return nil, errAccept }

func TestHTTP(t *testing.T) {
	tests := []struct {
		name   string
		broken bool
		want   error
	}{
		{name: "serves until the context ends, then shuts down"},
		{name: "a failing server is an error", broken: true, want: errAccept},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				io.WriteString(w, "ok")
			}), ReadHeaderTimeout: time.Second}
			var serveOn net.Listener = ln
			if tt.broken {
				serveOn = brokenListener{ln}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- HTTP(srv, serveOn)(ctx) }()
			if !tt.broken {
				resp, err := http.Get("http://" + ln.Addr().String() + "/")
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if string(body) != "ok" {
					t.Fatalf("body %q", body)
				}
				cancel()
			}
			select {
			case err := <-done:
				if !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
					t.Fatalf("HTTP part = %v, want %v", err, tt.want)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("HTTP part did not return")
			}
		})
	}
}

func TestStatusHandler(t *testing.T) {
	h := StatusHandler(func(context.Context) any { return map[string]int{"sessions": 2} },
		http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "metrics") }))
	tests := []struct {
		method, path string
		code         int
		ctype, body  string
	}{
		{http.MethodGet, "/status", http.StatusOK, "application/json", "{\"sessions\":2}\n"},
		{http.MethodGet, "/metrics", http.StatusOK, "", "metrics"},
		{http.MethodPost, "/status", http.StatusMethodNotAllowed, "", ""},
		{http.MethodGet, "/other", http.StatusNotFound, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.path, nil))
			if rec.Code != tt.code {
				t.Fatalf("status %d, want %d", rec.Code, tt.code)
			}
			if tt.ctype != "" && rec.Header().Get("Content-Type") != tt.ctype {
				t.Errorf("Content-Type %q, want %q", rec.Header().Get("Content-Type"), tt.ctype)
			}
			if tt.body != "" && rec.Body.String() != tt.body {
				t.Errorf("body %q, want %q", rec.Body.String(), tt.body)
			}
		})
	}
}
