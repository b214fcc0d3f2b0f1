package httpprovider_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/payment"
	"github.com/apoyo-cdmx/apoyo/payment/httpprovider"
)

func order() payment.Order {
	id := "pay_1_b1_1"
	return payment.Order{
		ID: id, IdempotencyKey: id, Rail: apoyo.RailSPEI,
		Amount: decimal.RequireFromString("5600"), Currency: payment.CurrencyMXN,
		Concept: "Apoyo CDMX", TrackingKey: payment.NewTrackingKey(id), Reference: "1",
		Beneficiary: payment.Instrument{CLABE: "032180000118359719"},
	}
}

// fixed answers every request with one status and body.
func fixed(t *testing.T, status int, body string) *httpprovider.Client {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return httpprovider.NewClient(srv.URL, srv.Client())
}

func TestSubmitSendsTheWireFormat(t *testing.T) {
	t.Parallel()
	var got map[string]any
	var key string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		require.Equal(t, "/v1/orders", r.URL.Path)
		key = r.Header.Get("Idempotency-Key")
		require.NoError(t, json.NewDecoder(r.Body).Decode(&got))
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(payment.Status{OrderID: "pay_1_b1_1", State: apoyo.PaymentPending, ProviderRef: "X1"})
	}))
	t.Cleanup(srv.Close)
	st, err := httpprovider.NewClient(srv.URL+"/", nil).Submit(context.Background(), order())
	require.NoError(t, err)
	require.Equal(t, "X1", st.ProviderRef)
	require.Equal(t, "pay_1_b1_1", key)
	require.Equal(t, "5600.00", got["amount"])
	require.Equal(t, "spei", got["rail"])
	require.Equal(t, map[string]any{"clabe": "032180000118359719"}, got["instrument"])
}

func TestErrorMapping(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		status int
		body   string
		code   apoyo.ErrorCode
		reason string
	}{
		{"bad request", 400, `{"error":{"code":"invalid","reason":"payment.invalid_order","message":"CLABE","field":"instrument.clabe"}}`,
			apoyo.EINVALID, "payment.invalid_order"},
		{"unprocessable", 422, ``, apoyo.EINVALID, "payment.invalid_order"},
		{"conflict", 409, `{"error":{"reason":"payment.idempotency_conflict"}}`, apoyo.ECONFLICT, "payment.idempotency_conflict"},
		{"duplicate tracking key", 409, `{"error":{"reason":"payment.duplicate_tracking_key"}}`, apoyo.ECONFLICT, "payment.duplicate_tracking_key"},
		{"gateway timeout", 504, `<html>gateway timeout</html>`, apoyo.EUNAVAILABLE, "payment.provider_unavailable"},
		{"unavailable", 503, `{"error":{"reason":"sandbox.journal"}}`, apoyo.EUNAVAILABLE, "payment.provider_unavailable"},
		{"internal", 500, ``, apoyo.EUNAVAILABLE, "payment.provider_unavailable"},
		{"throttled", 429, ``, apoyo.EUNAVAILABLE, "payment.provider_unavailable"},
		{"unauthorised", 401, ``, apoyo.EINTERNAL, "payment.provider_error"},
		{"bare 404 on submit", 404, `404 page not found`, apoyo.EINTERNAL, "payment.provider_error"},
		{"garbage 200", 200, `not json`, apoyo.EINTERNAL, "payment.provider_error"},
	}
	for _, c := range cases {
		_, err := fixed(t, c.status, c.body).Submit(context.Background(), order())
		require.Error(t, err, c.name)
		require.Equal(t, c.code, apoyo.ErrorCodeOf(err), c.name)
		require.Equal(t, c.reason, apoyo.ErrorReasonOf(err), c.name)
	}

	var ae *apoyo.Error
	_, err := fixed(t, 400, cases[0].body).Submit(context.Background(), order())
	require.ErrorAs(t, err, &ae)
	require.Equal(t, "instrument.clabe", ae.Field)

	_, err = fixed(t, 404, `404 page not found`).Status(context.Background(), "pay_1_b1_1")
	require.ErrorIs(t, err, payment.ErrUnknownOrder, "a 404 on an order is an unknown order")
}

func TestUnreachableAndTimeoutAreUnavailable(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	_, err := httpprovider.NewClient(url, nil).Submit(context.Background(), order())
	require.ErrorIs(t, err, payment.ErrUnavailable)
	require.True(t, apoyo.Retryable(err))

	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(slow.Close)
	t.Cleanup(func() { close(release) })
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err = httpprovider.NewClient(slow.URL, nil).Submit(ctx, order())
	require.ErrorIs(t, err, payment.ErrUnavailable, "the caller's deadline leaves the outcome unknown")
}

func TestInvalidOrderNeverLeaves(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	t.Cleanup(srv.Close)
	o := order()
	o.Concept = "Concepto demasiado largo para SPEI, más de 39"
	_, err := httpprovider.NewClient(srv.URL, nil).Submit(context.Background(), o)
	require.ErrorIs(t, err, payment.ErrInvalidOrder)
	require.Zero(t, hits.Load())

	_, err = httpprovider.NewClient("not a url", nil).Status(context.Background(), "x")
	require.Equal(t, apoyo.EINTERNAL, apoyo.ErrorCodeOf(err))
}
