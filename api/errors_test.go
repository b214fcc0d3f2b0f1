package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/api"
	"github.com/apoyo-cdmx/apoyo/app"
	"github.com/apoyo-cdmx/apoyo/internal/testfactory"
)

// failingService fails the calls a test makes it fail.
type failingService struct {
	nothingService
	err error
}

func (f failingService) Programs(context.Context, apoyo.Identity) ([]apoyo.Program, error) {
	return nil, f.err
}

func do(h http.Handler, method, path, ctype, body, token string) (*httptest.ResponseRecorder, api.ErrorBody) {
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	if ctype != "" {
		r.Header.Set("Content-Type", ctype)
	}
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	var e api.ErrorBody
	_ = json.Unmarshal(w.Body.Bytes(), &e)
	return w, e
}

// TestBadRequestsGetTheErrorShape: malformed JSON, unknown fields, a body
// too large, a wrong content type, an unknown route, a wrong method and a
// bad query parameter each answer 4xx in the one error shape, naming the
// field where there is one, with a request id; never a 500.
func TestBadRequestsGetTheErrorShape(t *testing.T) {
	t.Parallel()
	s := &api.Server{App: app.NewAuthorizedWith(nothingService{}, testfactory.NoEvidence{}), Auth: roleTokens, MaxBody: 1024}
	h := s.Handler()
	vote := "/api/v1/cycles/cyc_1/cases/ben_1/vote"
	for _, tc := range []struct {
		name, method, path, ctype, body string
		status                          int
		reason, field                   string
	}{
		{"malformed JSON", "POST", vote, "application/json", `{"approve": tru`, 400, "http.malformed_json", ""},
		{"unknown field", "POST", vote, "application/json", `{"approve": true, "secretariat": "STYFE"}`, 400, "http.malformed_json", "secretariat"},
		{"wrong type", "POST", vote, "application/json", `{"approve": "yes"}`, 400, "http.malformed_json", "approve"},
		{"two values", "POST", vote, "application/json", `{"approve": true} {}`, 400, "http.malformed_json", ""},
		{"empty body", "POST", vote, "application/json", ``, 400, "http.malformed_json", ""},
		{"too large", "POST", vote, "application/json", `{"approve": true, "reason": "` + strings.Repeat("x", 2000) + `"}`, 413, "http.too_large", ""},
		{"wrong content type", "POST", vote, "text/plain", `{"approve": true}`, 415, "http.unsupported_media_type", ""},
		{"no content type", "POST", vote, "", `{"approve": true}`, 415, "http.unsupported_media_type", ""},
		{"upload as JSON", "POST", "/api/v1/reconciliations", "application/json", `{}`, 415, "http.unsupported_media_type", ""},
		{"unknown route", "GET", "/api/v1/nothing-here", "", "", 404, "http.not_found", ""},
		{"unknown route outside the API", "GET", "/admin", "", "", 404, "http.not_found", ""},
		{"wrong method", "DELETE", "/api/v1/programs", "", "", 405, "http.method_not_allowed", ""},
		{"bad query parameter", "GET", "/api/v1/cases?limit=lots", "", "", 400, "http.bad_parameter", "limit"},
		{"bad time", "GET", "/api/v1/audit?since=yesterday", "", "", 400, "http.bad_parameter", "since"},
		{"bad programme spec", "POST", "/api/v1/programs", "application/json", `{"name": "x", "fundz": []}`, 400, "program.invalid", "fundz"},
	} {
		tok := "ap"
		switch tc.path {
		case "/api/v1/reconciliations", "/api/v1/programs":
			tok = "pm"
		case "/api/v1/cases?limit=lots":
			tok = "cw"
		case "/api/v1/audit?since=yesterday":
			tok = "au"
		}
		w, e := do(h, tc.method, tc.path, tc.ctype, tc.body, tok)
		require.Equal(t, tc.status, w.Code, "%s: %s", tc.name, w.Body)
		require.Equal(t, "application/json", w.Header().Get("Content-Type"), tc.name)
		require.Equal(t, tc.reason, e.Reason, "%s: %s", tc.name, w.Body)
		require.Equal(t, tc.field, e.Field, "%s: %s", tc.name, w.Body)
		require.NotEmpty(t, e.Message, tc.name)
		require.NotEmpty(t, e.RequestID, tc.name)
		require.Equal(t, e.RequestID, w.Header().Get("X-Request-Id"), tc.name)
		require.NotContains(t, w.Body.String(), "goroutine", tc.name)
	}
}

// An internal error answers 500 with no detail (quote the request id);
// the detail stays in the log.
func TestInternalErrorsTellNothing(t *testing.T) {
	t.Parallel()
	secret := errors.New("dial tcp 10.0.0.7:5432: password authentication failed for user apoyo")
	s := &api.Server{App: app.NewAuthorizedWith(failingService{err: secret}, testfactory.NoEvidence{}), Auth: roleTokens}
	w, e := do(s.Handler(), "GET", "/api/v1/programs", "", "", "pm")
	require.Equal(t, http.StatusInternalServerError, w.Code)
	require.Equal(t, apoyo.EINTERNAL, e.Code)
	require.NotContains(t, w.Body.String(), "10.0.0.7")
	require.Contains(t, e.Message, e.RequestID)

	// A known error code keeps its status and message.
	s = &api.Server{App: app.NewAuthorizedWith(failingService{err: apoyo.Errorf(apoyo.EUNAVAILABLE, "db.down", "the database is restarting")}, testfactory.NoEvidence{}), Auth: roleTokens}
	w, e = do(s.Handler(), "GET", "/api/v1/programs", "", "", "pm")
	require.Equal(t, http.StatusServiceUnavailable, w.Code)
	require.Equal(t, "db.down", e.Reason)

	// A store's error keeps the driver's words for the operator's command
	// line; the API answers with its reason and the request id only.
	s = &api.Server{App: app.NewAuthorizedWith(failingService{err: apoyo.StoreError("program.db", "listing programmes", secret)}, testfactory.NoEvidence{}), Auth: roleTokens}
	w, e = do(s.Handler(), "GET", "/api/v1/programs", "", "", "pm")
	require.Equal(t, http.StatusServiceUnavailable, w.Code)
	require.Equal(t, "program.db", e.Reason)
	require.NotContains(t, w.Body.String(), "10.0.0.7")
	require.NotContains(t, w.Body.String(), "password")
	require.Contains(t, e.Message, e.RequestID)
}

// A client's request id is kept when it is sane, replaced when not.
func TestRequestIDs(t *testing.T) {
	t.Parallel()
	h := newTestServer()
	r := httptest.NewRequest("GET", "/api/v1/me", nil)
	r.Header.Set("Authorization", "Bearer pm")
	r.Header.Set("X-Request-Id", "client-req-12345")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	require.Equal(t, http.StatusOK, w.Code)
	require.Equal(t, "client-req-12345", w.Header().Get("X-Request-Id"))
	r.Header.Set("X-Request-Id", "bad id\nwith newline")
	w = httptest.NewRecorder()
	h.ServeHTTP(w, r)
	require.Regexp(t, `^req_[0-9a-f]{24}$`, w.Header().Get("X-Request-Id"))
}

// The access log names the route pattern (never the raw path, which holds
// ids a client typed) and the authenticated user.
func TestAccessLogNamesRouteAndUser(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	s := &api.Server{App: app.NewAuthorizedWith(nothingService{}, testfactory.NoEvidence{}), Auth: roleTokens,
		Logger: slog.New(slog.NewJSONHandler(&buf, nil))}
	w, _ := do(s.Handler(), "GET", "/api/v1/cycles/cyc_secretish/cases/ben_secretish", "", "", "cw")
	require.Equal(t, http.StatusOK, w.Code)
	var line map[string]any
	require.NoError(t, json.Unmarshal(buf.Bytes(), &line), buf.String())
	require.Equal(t, "/api/v1/cycles/{cycle}/cases/{beneficiary}", line["route"])
	require.Equal(t, "usr_cw", line["user"])
	require.NotContains(t, buf.String(), "secretish")
}
