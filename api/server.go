// Package api is apoyo's HTTP API: JSON under /api/v1/, documented by the
// OpenAPI 3.1 document served at /openapi.json (openapi.json in this
// folder, kept in step with the routes by a test that checks both ways).
// It is an adapter: every handler authenticates the caller, decodes the
// request and calls the application layer (apoyo.Service) as that
// identity; authorization, separation of duties and the audit log happen
// there, the same for the CLI and the console. Errors have one shape
// (ErrorBody), mapped from apoyo.Error in one place (StatusOf).
package api

import (
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"regexp"
	"runtime/debug"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/internal/httpmw"
)

//go:embed openapi.json
var openAPIDocument []byte

// OpenAPI returns the API's OpenAPI 3.1 document.
func OpenAPI() []byte { return openAPIDocument }

// Server serves the API.
type Server struct {
	// App is the application layer (app.New): authorized and audited.
	App apoyo.Service
	// Auth turns a bearer token into an identity.
	Auth apoyo.Authenticator
	// Logger receives one line per request and the details of internal
	// errors, with ids only (default: slog.Default()).
	Logger *slog.Logger
	// MaxBody caps a JSON request body (default 1 MiB).
	MaxBody int64
	// MaxUpload caps an uploaded CSV: a roster or a bank statement
	// (default 64 MiB).
	MaxUpload int64
}

// Defaults of Server's limits.
const (
	DefaultMaxBody   = 1 << 20
	DefaultMaxUpload = 64 << 20
)

type ctxKey int

const (
	identityKey ctxKey = iota
	loggerKey
	callerKey
)

// caller is filled in by authenticate for the access log, which wraps it
// and so cannot see the identity authenticate puts in the inner request.
type caller struct{ userID string }

func who(r *http.Request) apoyo.Identity {
	id, _ := r.Context().Value(identityKey).(apoyo.Identity)
	return id
}

func requestID(r *http.Request) string { return apoyo.RequestID(r.Context()) }

func (s *Server) log(r *http.Request) *slog.Logger {
	if l, ok := r.Context().Value(loggerKey).(*slog.Logger); ok {
		return l
	}
	return s.logger()
}

func (s *Server) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

// Handler returns the API's routes with their middleware: a request id
// on every answer and log line, panics answered as internal errors,
// authentication of everything under /api/v1/.
func (s *Server) Handler() http.Handler {
	if s.MaxBody <= 0 {
		s.MaxBody = DefaultMaxBody
	}
	if s.MaxUpload <= 0 {
		s.MaxUpload = DefaultMaxUpload
	}
	r := chi.NewRouter()
	r.Use(s.requestID, s.accessLog, s.recoverer)
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, errNotFound.With("no route %s %s", r.Method, r.URL.Path))
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, errMethodNotAllowed.With("%s is not allowed on %s", r.Method, r.URL.Path))
	})
	r.Get("/healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	r.Get("/openapi.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(openAPIDocument)
	})
	r.Route("/api/v1", func(r chi.Router) {
		r.Use(s.authenticate)
		s.routes(r)
	})
	return r
}

// requestIDPattern is what a client may send as X-Request-Id.
var requestIDPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{8,64}$`)

func (s *Server) requestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-Id")
		if !requestIDPattern.MatchString(id) {
			var b [12]byte
			_, _ = rand.Read(b[:])
			id = "req_" + hex.EncodeToString(b[:])
		}
		w.Header().Set("X-Request-Id", id)
		ctx := apoyo.WithRequestID(r.Context(), id)
		ctx = context.WithValue(ctx, loggerKey, s.logger().With("request_id", id))
		ctx = context.WithValue(ctx, callerKey, &caller{})
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// accessLog writes one line per request (httpmw.AccessLog), naming who
// asked as authenticate found them.
func (s *Server) accessLog(next http.Handler) http.Handler {
	return httpmw.AccessLog("http", s.log, func(r *http.Request) string {
		if c, ok := r.Context().Value(callerKey).(*caller); ok {
			return c.userID
		}
		return ""
	})(next)
}

func (s *Server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log(r).Error("panic", "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
				s.writeError(w, r, errInternal) // logged above, once
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// authenticate requires a bearer token and puts its identity in the
// request's context.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := r.Header.Get("Authorization")
		token, ok := strings.CutPrefix(h, "Bearer ")
		if !ok || strings.TrimSpace(token) == "" {
			s.writeError(w, r, apoyo.ErrUnauthenticated.With("send Authorization: Bearer <token>"))
			return
		}
		id, err := s.Auth.Authenticate(r.Context(), strings.TrimSpace(token))
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if c, ok := r.Context().Value(callerKey).(*caller); ok {
			c.userID = id.UserID
		}
		ctx := context.WithValue(r.Context(), identityKey, id)
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// requireType refuses a body that is not of one of the media types.
func requireType(r *http.Request, types ...string) error {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		return errMediaType.With("send Content-Type %s", strings.Join(types, " or "))
	}
	for _, t := range types {
		if mt == t {
			return nil
		}
	}
	return errMediaType.With("Content-Type %s: send %s", mt, strings.Join(types, " or "))
}

// decode reads a JSON body into v: the right content type, at most
// MaxBody bytes, no unknown fields, one value.
func (s *Server) decode(w http.ResponseWriter, r *http.Request, v any) error {
	if err := requireType(r, "application/json"); err != nil {
		return err
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, s.MaxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err, s.MaxBody)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errMalformed.With("the body holds more than one JSON value")
	}
	return nil
}

// jsonError says what was wrong with a JSON body, naming the field.
func jsonError(err error, limit int64) error {
	var tooLarge *http.MaxBytesError
	var syntax *json.SyntaxError
	var typeErr *json.UnmarshalTypeError
	var ae *apoyo.Error
	switch {
	case errors.As(err, &tooLarge):
		return errTooLarge.With("the body is larger than %d bytes", limit)
	case errors.As(err, &syntax):
		return errMalformed.With("malformed JSON at byte %d", syntax.Offset)
	case errors.As(err, &typeErr):
		return errMalformed.With("%s: expected %s", typeErr.Field, typeErr.Type).At(0, typeErr.Field)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return errMalformed.With("the body is empty or cut short")
	case errors.As(err, &ae):
		return ae
	}
	if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		f = strings.Trim(f, `"`)
		return errMalformed.With("unknown field %q", f).At(0, f)
	}
	return errMalformed.With("malformed JSON")
}

// upload returns the body of a CSV upload, capped at MaxUpload.
func (s *Server) upload(w http.ResponseWriter, r *http.Request) (io.Reader, error) {
	if err := requireType(r, "text/csv", "application/octet-stream"); err != nil {
		return nil, err
	}
	return &capped{r: http.MaxBytesReader(w, r.Body, s.MaxUpload), limit: s.MaxUpload}, nil
}

// capped turns the size limit's error into the API's.
type capped struct {
	r     io.Reader
	limit int64
}

func (c *capped) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return n, errTooLarge.With("the upload is larger than %d bytes", c.limit)
	}
	return n, err
}
