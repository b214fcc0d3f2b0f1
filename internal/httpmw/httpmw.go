// Package httpmw holds the HTTP middleware the API and the console share:
// one access-log line per request, naming the route pattern and never the
// raw path or query (they may carry ids a person typed, or anything).
package httpmw

import (
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
)

// StatusWriter remembers the status for the access log and lets
// server-sent events through.
type StatusWriter struct {
	http.ResponseWriter
	Status int
}

// WriteHeader records the first status written.
func (w *StatusWriter) WriteHeader(code int) {
	if w.Status == 0 {
		w.Status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

// Write records an implicit 200.
func (w *StatusWriter) Write(b []byte) (int, error) {
	if w.Status == 0 {
		w.Status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Flush lets server-sent events through.
func (w *StatusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// AccessLog writes one line per request, msg, with the method, the route
// pattern, the status, the duration and, when user gives one, who asked
// (an opaque user id). Requests for static assets (routes under
// /static/) are not logged. log gives the request's logger (with its
// request id).
func AccessLog(msg string, log func(*http.Request) *slog.Logger, user func(*http.Request) string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			sw := &StatusWriter{ResponseWriter: w}
			next.ServeHTTP(sw, r)
			route := "(none)"
			if rc := chi.RouteContext(r.Context()); rc != nil && rc.RoutePattern() != "" {
				route = rc.RoutePattern()
			}
			if strings.HasPrefix(route, "/static/") {
				return
			}
			attrs := []any{"method", r.Method, "route", route, "status", sw.Status, "ms", time.Since(start).Milliseconds()}
			if user != nil {
				attrs = append(attrs, "user", user(r))
			}
			log(r).Info(msg, attrs...)
		})
	}
}
