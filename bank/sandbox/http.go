package sandbox

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/payment"
)

const maxRequestBody = 1 << 20

// Handler returns the bank's HTTP API (see the package documentation).
func (b *Bank) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/orders", b.handleSubmit)
	mux.HandleFunc("GET /v1/orders/{id}", b.handleStatus)
	mux.HandleFunc("GET /v1/movements", b.handleMovements)
	// ServeMux wildcards match whole segments, so "{date}.csv" is one
	// segment checked by the handler.
	mux.HandleFunc("GET /v1/statements/{file}", b.handleStatement)
	mux.HandleFunc("POST /v1/cash/{id}/collect", b.handleCollect)
	mux.HandleFunc("POST /v1/admin/advance", b.handleAdvance)
	mux.HandleFunc("GET /v1/audit", b.handleAudit)
	return mux
}

func (b *Bank) handleSubmit(w http.ResponseWriter, r *http.Request) {
	var o payment.Order
	dec := json.NewDecoder(io.LimitReader(r.Body, maxRequestBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&o); err != nil {
		writeError(w, payment.ErrInvalidOrder.With("decoding order: %v", err).Wrap(err))
		return
	}
	if hk := r.Header.Get("Idempotency-Key"); hk != "" {
		switch o.IdempotencyKey {
		case "":
			o.IdempotencyKey = hk
		case hk:
		default:
			writeError(w, payment.ErrInvalidOrder.With(
				"Idempotency-Key header %q differs from body idempotency_key %q", hk, o.IdempotencyKey).At(0, "idempotency_key"))
			return
		}
	}
	st, created, timeout, err := b.Submit(o)
	switch {
	case err != nil:
		writeError(w, err)
	case timeout:
		writeError(w, ErrGatewayTimeout.With("upstream timed out; query GET /v1/orders/%s", o.ID))
	case created:
		writeJSON(w, http.StatusCreated, st)
	default:
		writeJSON(w, http.StatusOK, st)
	}
}

func (b *Bank) handleStatus(w http.ResponseWriter, r *http.Request) {
	st, err := b.Status(r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

func (b *Bank) handleCollect(w http.ResponseWriter, r *http.Request) {
	st, err := b.Collect(r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

var errBadDate = apoyo.Errorf(apoyo.EINVALID, "sandbox.invalid_request", "date must be YYYY-MM-DD")

func (b *Bank) handleMovements(w http.ResponseWriter, r *http.Request) {
	date := r.URL.Query().Get("date")
	if date != "" {
		if _, err := time.Parse(time.DateOnly, date); err != nil {
			writeError(w, errBadDate.At(0, "date"))
			return
		}
	}
	writeJSON(w, http.StatusOK, struct {
		Date      string     `json:"date,omitempty"`
		Movements []Movement `json:"movements"`
	}{date, b.Movements(date)})
}

func (b *Bank) handleStatement(w http.ResponseWriter, r *http.Request) {
	date, ok := strings.CutSuffix(r.PathValue("file"), ".csv")
	if !ok {
		writeError(w, apoyo.Errorf(apoyo.ENOTFOUND, "sandbox.no_such_statement", "statements are served as {date}.csv"))
		return
	}
	if _, err := time.Parse(time.DateOnly, date); err != nil {
		writeError(w, errBadDate.At(0, "date"))
		return
	}
	var buf bytes.Buffer
	if err := payment.WriteStatement(&buf, b.Statement(date)); err != nil {
		writeError(w, apoyo.Errorf(apoyo.EINTERNAL, "sandbox.statement", "writing statement: %v", err))
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="`+date+`.csv"`)
	_, _ = w.Write(buf.Bytes())
}

func (b *Bank) handleAdvance(w http.ResponseWriter, r *http.Request) {
	var req struct {
		By string `json:"by"`
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBody))
	if err == nil && len(bytes.TrimSpace(body)) > 0 {
		err = json.Unmarshal(body, &req)
	}
	if err != nil {
		writeError(w, apoyo.Errorf(apoyo.EINVALID, "sandbox.invalid_request", `body must be {"by":"<duration>"}: %v`, err))
		return
	}
	var d time.Duration
	if req.By != "" {
		if d, err = time.ParseDuration(req.By); err != nil {
			writeError(w, apoyo.Errorf(apoyo.EINVALID, "sandbox.invalid_request", "by: %v", err).At(0, "by"))
			return
		}
	}
	now, err := b.Advance(d)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Now time.Time `json:"now"`
	}{now})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		writeError(w, apoyo.Errorf(apoyo.EINTERNAL, "sandbox.encode", "encoding response: %v", err))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(data, '\n'))
}

// httpStatus maps apoyo codes to HTTP; the one place that does so here.
func httpStatus(err error) int {
	if errors.Is(err, ErrGatewayTimeout) {
		return http.StatusGatewayTimeout
	}
	switch apoyo.ErrorCodeOf(err) {
	case apoyo.EINVALID:
		return http.StatusBadRequest
	case apoyo.ENOTFOUND:
		return http.StatusNotFound
	case apoyo.ECONFLICT:
		return http.StatusConflict
	case apoyo.EUNAVAILABLE:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

func writeError(w http.ResponseWriter, err error) {
	var body struct {
		Error struct {
			Code    apoyo.ErrorCode `json:"code"`
			Reason  string          `json:"reason,omitempty"`
			Message string          `json:"message"`
			Field   string          `json:"field,omitempty"`
		} `json:"error"`
	}
	body.Error.Code = apoyo.ErrorCodeOf(err)
	body.Error.Reason = apoyo.ErrorReasonOf(err)
	body.Error.Message = err.Error()
	var ae *apoyo.Error
	if errors.As(err, &ae) {
		body.Error.Field = ae.Field
		body.Error.Message = ae.Message
	}
	data, _ := json.Marshal(body)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(httpStatus(err))
	_, _ = w.Write(append(data, '\n'))
}
