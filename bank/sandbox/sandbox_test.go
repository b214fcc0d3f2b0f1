package sandbox_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/bank/sandbox"
	"github.com/apoyo-cdmx/apoyo/payment"
	"github.com/apoyo-cdmx/apoyo/payment/httpprovider"
)

// Monday 2025-03-10, 10:00 in Mexico City.
var monday10 = time.Date(2025, 3, 10, 16, 0, 0, 0, time.UTC)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// env is one sandbox bank behind an httptest server with the real client.
type env struct {
	bank   *sandbox.Bank
	client *httpprovider.Client
	url    string
	clock  *fakeClock
}

func newEnv(t *testing.T, cfg sandbox.Config) *env {
	t.Helper()
	clock := &fakeClock{t: monday10}
	if cfg.Now == nil {
		cfg.Now = clock.Now
	}
	b, err := sandbox.Open(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = b.Close() })
	srv := httptest.NewServer(b.Handler())
	t.Cleanup(srv.Close)
	return &env{bank: b, client: httpprovider.NewClient(srv.URL, srv.Client()), url: srv.URL, clock: clock}
}

// advance calls the sandbox control endpoint, as a test or demo script would.
func (e *env) advance(t *testing.T, by string) {
	t.Helper()
	body := ""
	if by != "" {
		body = fmt.Sprintf(`{"by":%q}`, by)
	}
	resp, err := http.Post(e.url+"/v1/admin/advance", "application/json", strings.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
}

func (e *env) post(t *testing.T, path string) (int, []byte) {
	t.Helper()
	resp, err := http.Post(e.url+path, "application/json", nil)
	require.NoError(t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, data
}

func (e *env) movements(t *testing.T, date string) []sandbox.Movement {
	t.Helper()
	resp, err := http.Get(e.url + "/v1/movements?date=" + date)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var out struct {
		Movements []sandbox.Movement `json:"movements"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	return out.Movements
}

func (e *env) statementCSV(t *testing.T, date string) [][]string {
	t.Helper()
	resp, err := http.Get(e.url + "/v1/statements/" + date + ".csv")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, resp.Header.Get("Content-Type"), "text/csv")
	rows, err := csv.NewReader(resp.Body).ReadAll()
	require.NoError(t, err)
	require.Equal(t, payment.StatementHeader, rows[0])
	return rows[1:]
}

func kinds(ms []sandbox.Movement, orderID string) []sandbox.MovementKind {
	var out []sandbox.MovementKind
	for _, m := range ms {
		if m.OrderID == orderID {
			out = append(out, m.Kind)
		}
	}
	return out
}

var amount = decimal.RequireFromString("5600.00")

func speiOrder(id, account string) payment.Order {
	return payment.Order{
		ID: id, IdempotencyKey: "key-" + id, Rail: apoyo.RailSPEI,
		Amount: amount, Currency: payment.CurrencyMXN, Concept: "Apoyo CDMX ciclo 1",
		TrackingKey: payment.NewTrackingKey(id), Reference: payment.NewReference(id),
		Beneficiary: payment.Instrument{CLABE: sandbox.CLABE(account)},
	}
}

func cashOrder(id string) payment.Order {
	return payment.Order{
		ID: id, IdempotencyKey: "key-" + id, Rail: apoyo.RailCashPickup,
		Amount: amount, Currency: payment.CurrencyMXN, Concept: "Apoyo CDMX ciclo 1",
		TrackingKey: payment.NewTrackingKey(id),
	}
}

func cardOrder(id, suffix string) payment.Order {
	return payment.Order{
		ID: id, IdempotencyKey: "key-" + id, Rail: apoyo.RailCard,
		Amount: amount, Currency: payment.CurrencyMXN, Concept: "Apoyo CDMX ciclo 1",
		TrackingKey: payment.NewTrackingKey(id),
		Beneficiary: payment.Instrument{CardNumber: sandbox.CardNumber(suffix)},
	}
}

func TestSubmitSettle(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sandbox.Config{})
	ctx := context.Background()

	st, err := e.client.Submit(ctx, speiOrder("pay_1_b1_1", "12345"))
	require.NoError(t, err)
	require.Equal(t, apoyo.PaymentPending, st.State)
	require.Equal(t, "pay_1_b1_1", st.OrderID)
	require.NotEmpty(t, st.ProviderRef)
	require.False(t, st.Final())

	st, err = e.client.Status(ctx, "pay_1_b1_1")
	require.NoError(t, err)
	require.Equal(t, apoyo.PaymentPending, st.State, "settlement is asynchronous")

	e.advance(t, "")
	st, err = e.client.Status(ctx, "pay_1_b1_1")
	require.NoError(t, err)
	require.Equal(t, apoyo.PaymentSettled, st.State)
	require.Equal(t, payment.SPEISettled, st.SPEIState)
	require.Equal(t, "2025-03-10", st.OperationDate)
	require.True(t, st.Final())

	_, err = e.client.Status(ctx, "pay_never_sent")
	require.ErrorIs(t, err, payment.ErrUnknownOrder)
	require.Equal(t, apoyo.ENOTFOUND, apoyo.ErrorCodeOf(err))
}

func TestSettlesWhenDelayPassesOnTheClock(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sandbox.Config{SettleDelay: time.Minute})
	ctx := context.Background()
	_, err := e.client.Submit(ctx, speiOrder("pay_1_b1_1", "12345"))
	require.NoError(t, err)

	e.clock.mu.Lock()
	e.clock.t = e.clock.t.Add(59 * time.Second)
	e.clock.mu.Unlock()
	st, err := e.client.Status(ctx, "pay_1_b1_1")
	require.NoError(t, err)
	require.Equal(t, apoyo.PaymentPending, st.State)

	e.clock.mu.Lock()
	e.clock.t = e.clock.t.Add(time.Second)
	e.clock.mu.Unlock()
	st, err = e.client.Status(ctx, "pay_1_b1_1")
	require.NoError(t, err)
	require.Equal(t, apoyo.PaymentSettled, st.State)
}

func TestBackgroundSettlementOnRealClock(t *testing.T) {
	t.Parallel()
	// Every request processes due work itself, so only a callback that
	// arrives with no request made proves the background loop runs.
	settled := make(chan struct{})
	var once sync.Once
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var st payment.Status
		_ = json.NewDecoder(r.Body).Decode(&st)
		if st.State == apoyo.PaymentSettled {
			once.Do(func() { close(settled) })
		}
	}))
	t.Cleanup(hook.Close)
	e := newEnv(t, sandbox.Config{Now: time.Now, SettleDelay: 20 * time.Millisecond, TickInterval: 5 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e.bank.Start(ctx)
	o := speiOrder("pay_1_b1_1", "12345")
	o.CallbackURL = hook.URL
	_, err := e.client.Submit(ctx, o)
	require.NoError(t, err)
	select {
	case <-settled:
	case <-time.After(5 * time.Second):
		t.Fatal("the background loop did not settle the order")
	}
}

func TestIdempotency(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sandbox.Config{})
	ctx := context.Background()
	o := speiOrder("pay_1_b1_1", "12345")

	first, err := e.client.Submit(ctx, o)
	require.NoError(t, err)
	again, err := e.client.Submit(ctx, o)
	require.NoError(t, err)
	require.Equal(t, first, again)

	e.advance(t, "")
	settled, err := e.client.Submit(ctx, o)
	require.NoError(t, err, "a repeat after settlement returns the settled status")
	require.Equal(t, apoyo.PaymentSettled, settled.State)
	require.Equal(t, first.ProviderRef, settled.ProviderRef)

	other := o
	other.Amount = decimal.RequireFromString("5601.00")
	_, err = e.client.Submit(ctx, other)
	require.ErrorIs(t, err, payment.ErrIdempotencyConflict)
	require.Equal(t, apoyo.ECONFLICT, apoyo.ErrorCodeOf(err))

	sameID := o
	sameID.IdempotencyKey = "another-key"
	_, err = e.client.Submit(ctx, sameID)
	require.ErrorIs(t, err, payment.ErrDuplicateOrderID)

	sameTracking := speiOrder("pay_1_b2_1", "12346")
	sameTracking.TrackingKey = o.TrackingKey
	_, err = e.client.Submit(ctx, sameTracking)
	require.ErrorIs(t, err, payment.ErrDuplicateTrackingKey)

	require.Equal(t, []sandbox.MovementKind{sandbox.MovementAccepted, sandbox.MovementSettled},
		kinds(e.movements(t, ""), o.ID), "paid exactly once")
}

func TestIdempotencyKeyHeader(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sandbox.Config{})
	o := speiOrder("pay_1_b1_1", "12345")
	o.IdempotencyKey = ""
	body, err := json.Marshal(o)
	require.NoError(t, err)

	send := func(key string) int {
		req, err := http.NewRequest(http.MethodPost, e.url+"/v1/orders", bytes.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Idempotency-Key", key)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	require.Equal(t, http.StatusCreated, send("hdr-1"))
	require.Equal(t, http.StatusOK, send("hdr-1"))
	require.Equal(t, http.StatusConflict, send("hdr-2"), "same order id under a new key")
	require.Equal(t, http.StatusBadRequest, send(""), "no key at all")
}

func TestReturnRules(t *testing.T) {
	t.Parallel()
	cases := []struct {
		account string
		cause   int
	}{
		{"1", payment.CauseAccountNotFound},
		{"2", payment.CauseAccountBlocked},
		{"3", payment.CauseAccountCancelled},
		{"14", payment.CauseMissingData},
	}
	for _, c := range cases {
		t.Run(fmt.Sprint(c.cause), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, sandbox.Config{})
			ctx := context.Background()
			o := speiOrder("pay_1_b1_1", "700"+fmt.Sprintf("%08s", c.account))
			_, err := e.client.Submit(ctx, o)
			require.NoError(t, err)
			e.advance(t, "")
			st, err := e.client.Status(ctx, o.ID)
			require.NoError(t, err)
			require.Equal(t, apoyo.PaymentReturned, st.State)
			require.Equal(t, payment.SPEIReturned, st.SPEIState)
			require.Equal(t, c.cause, st.ReturnCause)
			require.Equal(t, payment.ReturnCauseText(c.cause), st.ReturnCauseText)
			require.Regexp(t, regexp.MustCompile(`^[A-Z0-9]{1,30}$`), st.ReturnTrackingKey)
			require.NotEqual(t, o.TrackingKey, st.ReturnTrackingKey)
			require.Equal(t, "2025-03-10", st.OperationDate)
			require.True(t, st.Final())
			require.Equal(t, []sandbox.MovementKind{sandbox.MovementAccepted, sandbox.MovementReturned},
				kinds(e.movements(t, "2025-03-10"), o.ID), "returned instead of settling")
		})
	}
}

func TestReturnAfterSettlement(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sandbox.Config{})
	ctx := context.Background()
	o := speiOrder("pay_1_b1_1", "70000000013")
	_, err := e.client.Submit(ctx, o)
	require.NoError(t, err)

	e.advance(t, "")
	st, err := e.client.Status(ctx, o.ID)
	require.NoError(t, err)
	require.Equal(t, apoyo.PaymentSettled, st.State, "settles first")

	e.advance(t, "24h") // the return arrives the next business day
	st, err = e.client.Status(ctx, o.ID)
	require.NoError(t, err)
	require.Equal(t, apoyo.PaymentReturned, st.State)
	require.Equal(t, payment.CauseNotRecognised, st.ReturnCause)
	require.NotEmpty(t, st.ReturnTrackingKey)
	require.Equal(t, "2025-03-10", st.OperationDate, "the transfer keeps its own fecha de operación")

	require.Equal(t, []sandbox.MovementKind{sandbox.MovementAccepted, sandbox.MovementSettled},
		kinds(e.movements(t, "2025-03-10"), o.ID))
	ret := e.movements(t, "2025-03-11")
	require.Equal(t, []sandbox.MovementKind{sandbox.MovementReturned}, kinds(ret, o.ID))
	require.Equal(t, st.ReturnTrackingKey, ret[0].ReturnTrackingKey)

	day1 := e.statementCSV(t, "2025-03-10")
	require.Len(t, day1, 1)
	require.Equal(t, []string{"2025-03-10", o.TrackingKey, o.ID, "5600.00", "LQ", "", ""}, day1[0][:7])
	day2 := e.statementCSV(t, "2025-03-11")
	require.Len(t, day2, 1)
	require.Equal(t, []string{"2025-03-11", o.TrackingKey, o.ID, "5600.00", "D", st.ReturnTrackingKey, "13"}, day2[0][:7])
	require.NotEmpty(t, day2[0][8], "the return line carries when the order had settled")
	require.NotEmpty(t, day2[0][9])
}

func TestGatewayTimeoutThenStatus(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sandbox.Config{})
	ctx := context.Background()
	o := speiOrder("pay_1_b1_1", "70000000504")

	_, err := e.client.Submit(ctx, o)
	require.ErrorIs(t, err, payment.ErrUnavailable)
	require.Equal(t, apoyo.EUNAVAILABLE, apoyo.ErrorCodeOf(err))
	require.True(t, apoyo.Retryable(err))

	// The rule for callers: ask before submitting again.
	st, err := e.client.Status(ctx, o.ID)
	require.NoError(t, err, "the bank has the order although the response was lost")
	require.Equal(t, apoyo.PaymentPending, st.State)

	again, err := e.client.Submit(ctx, o)
	require.NoError(t, err, "a repeat with the same key is answered normally")
	require.Equal(t, st.ProviderRef, again.ProviderRef)

	e.advance(t, "")
	st, err = e.client.Status(ctx, o.ID)
	require.NoError(t, err)
	require.Equal(t, apoyo.PaymentSettled, st.State)
	require.Equal(t, []sandbox.MovementKind{sandbox.MovementAccepted, sandbox.MovementSettled},
		kinds(e.movements(t, ""), o.ID), "one order, paid once")
}

func TestCashPickupCollect(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sandbox.Config{})
	ctx := context.Background()
	o := cashOrder("pay_1_b1_1")

	st, err := e.client.Submit(ctx, o)
	require.NoError(t, err)
	require.Regexp(t, regexp.MustCompile(`^[0-9]{10}$`), st.PickupReference)
	require.NotNil(t, st.ExpiresAt)
	require.True(t, st.ExpiresAt.Equal(monday10.Add(72*time.Hour)))

	code, body := e.post(t, "/v1/cash/"+o.ID+"/collect")
	require.Equal(t, http.StatusConflict, code, "not funded yet: %s", body)

	e.advance(t, "")
	st, err = e.client.Status(ctx, o.ID)
	require.NoError(t, err)
	require.Equal(t, apoyo.PaymentSettled, st.State)
	require.False(t, st.Final(), "the cash waits at the counter")
	require.Empty(t, st.SPEIState)

	code, body = e.post(t, "/v1/cash/"+o.ID+"/collect")
	require.Equal(t, http.StatusOK, code, string(body))
	var collected payment.Status
	require.NoError(t, json.Unmarshal(body, &collected))
	require.Equal(t, apoyo.PaymentCollected, collected.State)
	require.True(t, collected.Final())

	code, _ = e.post(t, "/v1/cash/"+o.ID+"/collect")
	require.Equal(t, http.StatusOK, code, "collect is idempotent")
	e.advance(t, "100h")
	st, err = e.client.Status(ctx, o.ID)
	require.NoError(t, err)
	require.Equal(t, apoyo.PaymentCollected, st.State, "a collected order does not expire")

	require.Equal(t, []sandbox.MovementKind{sandbox.MovementAccepted, sandbox.MovementSettled, sandbox.MovementCollected},
		kinds(e.movements(t, ""), o.ID))

	code, _ = e.post(t, "/v1/cash/pay_unknown/collect")
	require.Equal(t, http.StatusNotFound, code)
	spei := speiOrder("pay_1_b2_1", "12345")
	_, err = e.client.Submit(ctx, spei)
	require.NoError(t, err)
	code, _ = e.post(t, "/v1/cash/"+spei.ID+"/collect")
	require.Equal(t, http.StatusConflict, code)
}

func TestCashPickupExpiry(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sandbox.Config{})
	ctx := context.Background()
	o := cashOrder("pay_1_b1_1")
	_, err := e.client.Submit(ctx, o)
	require.NoError(t, err)

	e.advance(t, "71h")
	st, err := e.client.Status(ctx, o.ID)
	require.NoError(t, err)
	require.Equal(t, apoyo.PaymentSettled, st.State)

	e.advance(t, "1h")
	st, err = e.client.Status(ctx, o.ID)
	require.NoError(t, err)
	require.Equal(t, apoyo.PaymentExpired, st.State)
	require.True(t, st.Final())
	require.NotEmpty(t, st.ReturnTrackingKey)

	code, _ := e.post(t, "/v1/cash/"+o.ID+"/collect")
	require.Equal(t, http.StatusConflict, code)

	// Funded Monday, back Thursday (72h later, 10:00).
	day1 := e.statementCSV(t, "2025-03-10")
	require.Len(t, day1, 1)
	require.Equal(t, "LQ", day1[0][4])
	day4 := e.statementCSV(t, "2025-03-13")
	require.Len(t, day4, 1)
	require.Equal(t, []string{"D", st.ReturnTrackingKey, ""}, day4[0][4:7])
}

func TestCashPickupAutoCollect(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sandbox.Config{AutoCollect: true})
	ctx := context.Background()
	_, err := e.client.Submit(ctx, cashOrder("pay_1_b1_1"))
	require.NoError(t, err)
	e.advance(t, "")
	st, err := e.client.Status(ctx, "pay_1_b1_1")
	require.NoError(t, err)
	require.Equal(t, apoyo.PaymentCollected, st.State)
}

func TestCard(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sandbox.Config{})
	ctx := context.Background()
	rejected, loaded := cardOrder("pay_1_b1_1", "0000"), cardOrder("pay_1_b2_1", "4242")
	for _, o := range []payment.Order{rejected, loaded} {
		_, err := e.client.Submit(ctx, o)
		require.NoError(t, err)
	}
	e.advance(t, "")
	st, err := e.client.Status(ctx, rejected.ID)
	require.NoError(t, err)
	require.Equal(t, apoyo.PaymentRejected, st.State)
	require.True(t, st.Final())
	st, err = e.client.Status(ctx, loaded.ID)
	require.NoError(t, err)
	require.Equal(t, apoyo.PaymentSettled, st.State)
	require.True(t, st.Final())

	bad := cardOrder("pay_1_b3_1", "4242")
	bad.Beneficiary.CardNumber = "4000000000004243" // Luhn fails
	_, err = e.client.Submit(ctx, bad)
	require.ErrorIs(t, err, payment.ErrInvalidOrder)
	require.False(t, apoyo.Retryable(err))
	var ae *apoyo.Error
	require.ErrorAs(t, err, &ae)
	require.Equal(t, "instrument.card_number", ae.Field)
}

func TestBankRefusesBadCLABE(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sandbox.Config{})
	o := speiOrder("pay_1_b1_1", "12345")
	last := o.Beneficiary.CLABE[17]
	o.Beneficiary.CLABE = o.Beneficiary.CLABE[:17] + string('0'+(last-'0'+1)%10)
	_, err := e.client.Submit(context.Background(), o)
	require.ErrorIs(t, err, payment.ErrInvalidOrder)
	_, err = e.client.Status(context.Background(), o.ID)
	require.ErrorIs(t, err, payment.ErrUnknownOrder)
}

func TestStatementTotals(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sandbox.Config{})
	ctx := context.Background()
	amt := func(s string) decimal.Decimal { return decimal.RequireFromString(s) }
	orders := []payment.Order{
		speiOrder("pay_1_b1_1", "100"),
		speiOrder("pay_1_b2_1", "200"),
		speiOrder("pay_1_b3_1", "300"),
		speiOrder("pay_1_b4_1", "70000000001"), // returned, cause 1
		speiOrder("pay_1_b5_1", "70000000013"), // settles, returned the same day
		cardOrder("pay_1_b6_1", "0000"),        // rejected
		cardOrder("pay_1_b7_1", "1111"),        // loaded
		cashOrder("pay_1_b8_1"),                // funded, collected
	}
	orders[1].Amount = amt("1234.56")
	orders[6].Amount = amt("0.01")
	for _, o := range orders {
		_, err := e.client.Submit(ctx, o)
		require.NoError(t, err)
	}
	e.advance(t, "")
	code, _ := e.post(t, "/v1/cash/pay_1_b8_1/collect")
	require.Equal(t, http.StatusOK, code)
	e.advance(t, "5s") // the cause-13 return arrives, still Monday

	// What actually left the account: orders that ended settled or collected.
	paid := decimal.Zero
	for _, o := range orders {
		st, err := e.client.Status(ctx, o.ID)
		require.NoError(t, err)
		if st.State == apoyo.PaymentSettled || st.State == apoyo.PaymentCollected {
			paid = paid.Add(o.Amount)
		}
	}
	require.True(t, paid.Equal(amt("5600").Mul(amt("3")).Add(amt("1234.56")).Add(amt("0.01"))), paid.String())

	rows := e.statementCSV(t, "2025-03-10")
	// One line per order, plus one per return (cause 1 and cause 13).
	require.Len(t, rows, len(orders)+2)
	out, back := decimal.Zero, decimal.Zero
	states := map[string]int{}
	for _, r := range rows {
		require.Len(t, r, len(payment.StatementHeader))
		require.Equal(t, "2025-03-10", r[0])
		a, err := decimal.NewFromString(r[3])
		require.NoError(t, err)
		require.Regexp(t, regexp.MustCompile(`^\d+\.\d\d$`), r[3])
		states[r[4]]++
		switch {
		case r[5] != "": // return line
			back = back.Add(a)
		case r[4] == "LQ" || r[4] == "D":
			out = out.Add(a)
		}
	}
	require.Equal(t, map[string]int{"LQ": 6, "D": 3, "CN": 1}, states)
	require.True(t, out.Sub(back).Equal(paid), "statement net %s, paid %s", out.Sub(back), paid)

	// The client parses the same statement.
	lines, err := e.client.Statement(ctx, "2025-03-10")
	require.NoError(t, err)
	require.Len(t, lines, len(rows))
	require.True(t, payment.StatementNetOutflow(lines).Equal(paid))

	require.Empty(t, e.statementCSV(t, "2025-03-11"))
}

func TestJournalReplay(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "bank.jsonl")
	clock := &fakeClock{t: monday10}
	cfg := sandbox.Config{Now: clock.Now, JournalPath: path}
	ctx := context.Background()

	b1, err := sandbox.Open(cfg)
	require.NoError(t, err)
	srv1 := httptest.NewServer(b1.Handler())
	c1 := httpprovider.NewClient(srv1.URL, nil)
	settled, lateReturn, cash := speiOrder("pay_1_b1_1", "100"), speiOrder("pay_1_b2_1", "70000000013"), cashOrder("pay_1_b3_1")
	for _, o := range []payment.Order{settled, lateReturn, cash} {
		_, err := c1.Submit(ctx, o)
		require.NoError(t, err)
	}
	_, err = b1.Advance(0) // settles all three; the cause-13 return is still to come
	require.NoError(t, err)
	pending := speiOrder("pay_1_b4_1", "400")
	_, err = c1.Submit(ctx, pending)
	require.NoError(t, err)
	before := map[string]payment.Status{}
	for _, id := range []string{settled.ID, lateReturn.ID, cash.ID, pending.ID} {
		before[id], err = c1.Status(ctx, id)
		require.NoError(t, err)
	}
	movesBefore := b1.Movements("")
	srv1.Close()
	require.NoError(t, b1.Close())

	// A crash mid-write leaves a torn line; it must not stop the restart.
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteString(`{"seq":99,"kind":"sett`)
	require.NoError(t, err)
	require.NoError(t, f.Close())

	b2, err := sandbox.Open(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = b2.Close() })
	srv2 := httptest.NewServer(b2.Handler())
	t.Cleanup(srv2.Close)
	c2 := httpprovider.NewClient(srv2.URL, nil)

	require.Equal(t, mustJSON(t, movesBefore), mustJSON(t, b2.Movements("")))
	for id, want := range before {
		got, err := c2.Status(ctx, id)
		require.NoError(t, err)
		require.Equal(t, mustJSON(t, want), mustJSON(t, got), id)
	}
	again, err := c2.Submit(ctx, settled)
	require.NoError(t, err, "the idempotency key survives the restart")
	require.Equal(t, before[settled.ID].ProviderRef, again.ProviderRef)
	fresh, err := c2.Submit(ctx, speiOrder("pay_1_b5_1", "500"))
	require.NoError(t, err)
	require.Equal(t, "SBX0000000005", fresh.ProviderRef)

	_, err = b2.Advance(time.Hour) // the pending order settles, the late return arrives
	require.NoError(t, err)
	st, err := c2.Status(ctx, pending.ID)
	require.NoError(t, err)
	require.Equal(t, apoyo.PaymentSettled, st.State)
	st, err = c2.Status(ctx, lateReturn.ID)
	require.NoError(t, err)
	require.Equal(t, apoyo.PaymentReturned, st.State)
	require.Len(t, kinds(b2.Movements(""), settled.ID), 2, "nothing replayed twice")
	require.NoError(t, b2.Close())

	// The repaired journal replays again, and the advanced clock is kept.
	b3, err := sandbox.Open(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = b3.Close() })
	require.Equal(t, mustJSON(t, b2.Movements("")), mustJSON(t, b3.Movements("")))
	require.False(t, b3.Now().Before(monday10.Add(time.Hour)))
	st, err = b3.Status(lateReturn.ID)
	require.NoError(t, err)
	require.Equal(t, apoyo.PaymentReturned, st.State)
}

func TestJournalCorruptionIsAnError(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "bank.jsonl")
	require.NoError(t, os.WriteFile(path, []byte("not json\n{}\n"), 0o600))
	_, err := sandbox.Open(sandbox.Config{JournalPath: path})
	require.ErrorIs(t, err, sandbox.ErrJournal)
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}

func TestConcurrentSubmitsOfOneKey(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sandbox.Config{})
	o := speiOrder("pay_1_b1_1", "12345")
	var wg sync.WaitGroup
	refs := make([]string, 20)
	errs := make([]error, 20)
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, err := e.client.Submit(context.Background(), o)
			refs[i], errs[i] = st.ProviderRef, err
		}()
	}
	wg.Wait()
	for i := range 20 {
		require.NoError(t, errs[i])
		require.Equal(t, refs[0], refs[i])
	}
	e.advance(t, "")
	e.advance(t, "")
	require.Equal(t, []sandbox.MovementKind{sandbox.MovementAccepted, sandbox.MovementSettled},
		kinds(e.movements(t, ""), o.ID), "one order, settled once")
}

func TestCallbacks(t *testing.T) {
	t.Parallel()
	var (
		mu       sync.Mutex
		received []payment.Status
		calls    int
	)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if calls == 1 { // the first delivery fails and must be retried
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		var st payment.Status
		if err := json.NewDecoder(r.Body).Decode(&st); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		received = append(received, st)
	}))
	t.Cleanup(hook.Close)

	e := newEnv(t, sandbox.Config{})
	o := speiOrder("pay_1_b1_1", "70000000013")
	o.CallbackURL = hook.URL + "/hooks/bank"
	_, err := e.client.Submit(context.Background(), o)
	require.NoError(t, err)
	e.advance(t, "")
	e.advance(t, "1m")

	want := []apoyo.PaymentState{apoyo.PaymentPending, apoyo.PaymentSettled, apoyo.PaymentReturned}
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(received) == len(want)
	}, 10*time.Second, 10*time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	for i, st := range received {
		require.Equal(t, o.ID, st.OrderID)
		require.Equal(t, want[i], st.State, "callbacks arrive in order")
	}
	require.Equal(t, payment.CauseNotRecognised, received[2].ReturnCause)
}

func TestOperationDateAfterCutoff(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{t: time.Date(2025, 3, 14, 17, 45, 0, 0, time.FixedZone("CST", -6*3600))} // Friday evening
	e := newEnv(t, sandbox.Config{Now: clock.Now})
	_, err := e.client.Submit(context.Background(), speiOrder("pay_1_b1_1", "12345"))
	require.NoError(t, err)
	e.advance(t, "")
	st, err := e.client.Status(context.Background(), "pay_1_b1_1")
	require.NoError(t, err)
	require.Equal(t, "2025-03-17", st.OperationDate, "after 17:30 on Friday: Monday")
	require.Len(t, e.statementCSV(t, "2025-03-17"), 1)
	require.Empty(t, e.statementCSV(t, "2025-03-14"))
}

func TestControlEndpointErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sandbox.Config{})
	for _, c := range []struct {
		method, path, body string
		want               int
	}{
		{http.MethodPost, "/v1/admin/advance", `{"by":"soon"}`, http.StatusBadRequest},
		{http.MethodPost, "/v1/admin/advance", `{"by":"-1h"}`, http.StatusBadRequest},
		{http.MethodGet, "/v1/movements?date=10-03-2025", "", http.StatusBadRequest},
		{http.MethodGet, "/v1/statements/2025-03-10.txt", "", http.StatusNotFound},
		{http.MethodGet, "/v1/statements/yesterday.csv", "", http.StatusBadRequest},
		{http.MethodPost, "/v1/orders", `{"amount":5600`, http.StatusBadRequest},
		{http.MethodPost, "/v1/orders", `{"surprise":1}`, http.StatusBadRequest},
		{http.MethodDelete, "/v1/orders/x", "", http.StatusMethodNotAllowed},
	} {
		req, err := http.NewRequest(c.method, e.url+c.path, strings.NewReader(c.body))
		require.NoError(t, err)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, c.want, resp.StatusCode, "%s %s %s", c.method, c.path, c.body)
	}
}

func TestListenAndServe(t *testing.T) {
	t.Parallel()
	b := sandbox.New(sandbox.Config{SettleDelay: sandbox.Immediately, TickInterval: 5 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr, err := b.ListenAndServe(ctx, "127.0.0.1:0")
	require.NoError(t, err)
	c := httpprovider.NewClient("http://"+addr, nil)
	o := speiOrder("pay_1_b1_1", "12345")
	_, err = c.Submit(ctx, o)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		st, err := c.Status(ctx, o.ID)
		return err == nil && st.State == apoyo.PaymentSettled
	}, 5*time.Second, 5*time.Millisecond)

	require.NoError(t, b.Close())
	_, err = c.Status(ctx, o.ID)
	require.ErrorIs(t, err, payment.ErrUnavailable, "the server is gone after Close")
}
