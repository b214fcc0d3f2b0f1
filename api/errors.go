package api

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/apoyo-cdmx/apoyo"
)

// ErrorBody is the one shape of every error the API returns: the
// apoyo.Error's code, reason, message and, for bad input, the field and
// the row it is about; with the request id to quote.
type ErrorBody struct {
	Code      apoyo.ErrorCode `json:"code"`
	Reason    string          `json:"reason"`
	Message   string          `json:"message"`
	Field     string          `json:"field,omitempty"`
	Row       int             `json:"row,omitempty"`
	RequestID string          `json:"request_id"`
}

// Errors of the HTTP layer itself, with the statuses StatusOf gives them.
var (
	errNotFound         = apoyo.Errorf(apoyo.ENOTFOUND, "http.not_found", "no such route")
	errMethodNotAllowed = apoyo.Errorf(apoyo.EINVALID, "http.method_not_allowed", "method not allowed on this route")
	errTooLarge         = apoyo.Errorf(apoyo.EINVALID, "http.too_large", "request body too large")
	errMediaType        = apoyo.Errorf(apoyo.EINVALID, "http.unsupported_media_type", "unsupported content type")
	errMalformed        = apoyo.Errorf(apoyo.EINVALID, "http.malformed_json", "malformed JSON")
	errBadParam         = apoyo.Errorf(apoyo.EINVALID, "http.bad_parameter", "bad query parameter")
	errInternal         = apoyo.Errorf(apoyo.EINTERNAL, "internal", "internal error")
)

// StatusOf maps an error to its HTTP status: the one place it is decided
// (the console answers with the same statuses).
func StatusOf(err error) int {
	switch apoyo.ErrorReasonOf(err) {
	case "http.method_not_allowed":
		return http.StatusMethodNotAllowed
	case "http.too_large":
		return http.StatusRequestEntityTooLarge
	case "http.unsupported_media_type":
		return http.StatusUnsupportedMediaType
	}
	switch apoyo.ErrorCodeOf(err) {
	case apoyo.EINVALID:
		return http.StatusBadRequest
	case apoyo.ENOTFOUND:
		return http.StatusNotFound
	case apoyo.ECONFLICT:
		return http.StatusConflict
	case apoyo.EUNAUTHENTICATED:
		return http.StatusUnauthorized
	case apoyo.EFORBIDDEN:
		return http.StatusForbidden
	case apoyo.EUNAVAILABLE:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// writeError answers err in the one error shape. An internal error's
// details stay in the log (by request id), never in the answer.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	status := StatusOf(err)
	var e *apoyo.Error
	switch {
	case status == http.StatusInternalServerError || !errors.As(err, &e):
		if err != errInternal { // a panic is logged where it is caught
			s.log(r).Error("internal error", "err", err)
		}
		e = errInternal.With("internal error: quote request %s", requestID(r))
		status = http.StatusInternalServerError
	case status == http.StatusServiceUnavailable && foreignCause(e):
		// A driver's or a network's words (hosts, users, values quoted by
		// PostgreSQL) stay in the log; the caller gets the reason.
		s.log(r).Warn("unavailable", "err", err)
		e = e.With("a service apoyo depends on is unavailable; try again, or quote request %s", requestID(r))
	}
	body := ErrorBody{Code: e.Code, Reason: e.Reason, Message: e.Error(), Field: e.Field, Row: e.Row, RequestID: requestID(r)}
	if e.Row > 0 || e.Field != "" {
		// Error() prefixes row and field; the body carries them apart.
		loc := *e
		loc.Row, loc.Field = 0, ""
		body.Message = loc.Error()
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="apoyo"`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

// foreignCause reports whether e wraps an error that is not apoyo's own:
// its message then carries text apoyo did not write.
func foreignCause(e *apoyo.Error) bool {
	if e.Err == nil {
		return false
	}
	var inner *apoyo.Error
	return !errors.As(e.Err, &inner)
}
