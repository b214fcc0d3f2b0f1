// Package httpprovider is the payment.Provider that talks to a bank over its
// HTTP API: the sandbox bank in bank/sandbox in development and tests, and
// any bank exposing the same API in production.
//
// The API, all JSON except the statement:
//
//	POST /v1/orders              payment.Order (header Idempotency-Key too) -> 201 new, 200 repeat; payment.Status
//	GET  /v1/orders/{id}         -> payment.Status, 404 if unknown
//	GET  /v1/statements/{date}.csv -> settlement statement (payment.StatementHeader)
//
// Errors come back as {"error":{"code":..,"reason":..,"message":..}}. The
// client trusts the HTTP status for the apoyo code and the body only for the
// reason, so a proxy's HTML error page still maps correctly.
//
// Deadlines come from the caller's context; the client adds none, so the
// workflow decides how long a bank may take.
package httpprovider

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/payment"
)

// maxBody bounds what is read from a response; statuses are small and a
// day's statement for the programme is a few thousand lines.
const maxBody = 32 << 20

// Client is a payment.Provider over HTTP. Safe for concurrent use.
type Client struct {
	base *url.URL
	hc   *http.Client
}

var _ payment.Provider = (*Client)(nil)

// NewClient returns a client for the bank at baseURL (e.g.
// "http://127.0.0.1:8089"). A nil httpClient means http.DefaultClient.
// An unparsable baseURL makes every call fail with EINTERNAL.
func NewClient(baseURL string, httpClient *http.Client) *Client {
	if httpClient == nil {
		httpClient = http.DefaultClient
	}
	u, err := url.Parse(strings.TrimRight(baseURL, "/"))
	if err != nil || u.Scheme == "" || u.Host == "" {
		u = nil
	}
	return &Client{base: u, hc: httpClient}
}

// Submit implements payment.Provider. The order is validated locally first so
// an invalid order never reaches the bank.
func (c *Client) Submit(ctx context.Context, o payment.Order) (payment.Status, error) {
	if err := payment.ValidateOrder(o); err != nil {
		return payment.Status{}, err
	}
	body, err := json.Marshal(o)
	if err != nil {
		return payment.Status{}, payment.ErrProviderError.With("encoding order: %v", err).Wrap(err)
	}
	var st payment.Status
	err = c.do(ctx, http.MethodPost, "/v1/orders", body, map[string]string{"Idempotency-Key": o.IdempotencyKey}, &st, "")
	return st, err
}

// Status implements payment.Provider.
func (c *Client) Status(ctx context.Context, orderID string) (payment.Status, error) {
	if orderID == "" {
		return payment.Status{}, payment.ErrInvalidOrder.With("empty order id").At(0, "id")
	}
	var st payment.Status
	err := c.do(ctx, http.MethodGet, "/v1/orders/"+url.PathEscape(orderID), nil, nil, &st, payment.ErrUnknownOrder.Reason)
	return st, err
}

// Statement fetches and parses the settlement statement for an operation
// date (YYYY-MM-DD); see payment.StatementHeader for its shape.
func (c *Client) Statement(ctx context.Context, date string) ([]payment.StatementLine, error) {
	if _, err := time.Parse(time.DateOnly, date); err != nil {
		return nil, apoyo.Errorf(apoyo.EINVALID, "payment.invalid_date", "date %q is not YYYY-MM-DD", date)
	}
	var raw []byte
	if err := c.do(ctx, http.MethodGet, "/v1/statements/"+date+".csv", nil, nil, &raw, ""); err != nil {
		return nil, err
	}
	return payment.ParseStatement(bytes.NewReader(raw))
}

// do performs one request. out is a *[]byte for raw bodies or a JSON target.
// notFoundReason is the reason given to a 404 whose body names none (a
// bare 404 on a known route means the resource is unknown).
func (c *Client) do(ctx context.Context, method, path string, body []byte, hdr map[string]string, out any, notFoundReason string) error {
	if c.base == nil {
		return payment.ErrProviderError.With("invalid bank base URL")
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base.String()+path, rd)
	if err != nil {
		return payment.ErrProviderError.With("building request: %v", err).Wrap(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		// Connection refused, reset, timeout or the caller's deadline: the
		// request may or may not have reached the bank.
		return payment.ErrUnavailable.With("%s %s: %v", method, path, err).Wrap(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return payment.ErrUnavailable.With("%s %s: reading response: %v", method, path, err).Wrap(err)
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		if raw, ok := out.(*[]byte); ok {
			*raw = data
			return nil
		}
		if err := json.Unmarshal(data, out); err != nil {
			return payment.ErrProviderError.With("%s %s: decoding response: %v", method, path, err).Wrap(err)
		}
		return nil
	}
	return errorFromResponse(method, path, resp.StatusCode, data, notFoundReason)
}

// errorBody is the bank's error envelope.
type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Reason  string `json:"reason"`
		Message string `json:"message"`
		Field   string `json:"field"`
	} `json:"error"`
}

// errorFromResponse maps an HTTP error status to an apoyo error: the status
// decides the code (and so retryability), the body only refines the reason.
func errorFromResponse(method, path string, status int, data []byte, notFoundReason string) error {
	var eb errorBody
	_ = json.Unmarshal(data, &eb) // a non-JSON body keeps the defaults below
	msg := eb.Error.Message
	if msg == "" {
		msg = strings.TrimSpace(string(data))
		if len(msg) > 200 {
			msg = msg[:200]
		}
	}
	msg = fmt.Sprintf("%s %s: HTTP %d: %s", method, path, status, msg)
	reason := eb.Error.Reason
	var base *apoyo.Error
	switch {
	case status == http.StatusBadRequest || status == http.StatusUnprocessableEntity:
		base = payment.ErrInvalidOrder
	case status == http.StatusNotFound:
		if reason == "" {
			reason = notFoundReason
		}
		if reason == "" {
			// A 404 without a reason on a route that should exist is a
			// wrong base URL, not a missing order.
			return payment.ErrProviderError.With("%s", msg)
		}
		base = payment.ErrUnknownOrder
	case status == http.StatusConflict:
		base = payment.ErrIdempotencyConflict
	case status == http.StatusTooManyRequests || status >= 500:
		// 5xx includes the 504 of a gateway that gave up while the bank
		// went on: outcome unknown, and retryable once Status is checked.
		base = payment.ErrUnavailable
	default:
		return payment.ErrProviderError.With("%s", msg)
	}
	e := base.With("%s", msg)
	if reason != "" && base.Code != apoyo.EUNAVAILABLE {
		e.Reason = reason
	}
	e.Field = eb.Error.Field
	return e
}
