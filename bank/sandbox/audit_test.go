package sandbox_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/apoyo-cdmx/apoyo/bank/sandbox"
	"github.com/apoyo-cdmx/apoyo/payment"
	"github.com/apoyo-cdmx/apoyo/program"
)

const (
	auditCycle      = "cyc_mfrgg2lt"
	otherAuditCycle = "cyc_onxw2zjq"
)

// attemptOrder is an order with the id apoyo gives an attempt.
func attemptOrder(mk func(string) payment.Order, cycle, ben string, n int) payment.Order {
	return mk(program.Attempt{Cycle: cycle, Beneficiary: ben, N: n}.OrderID())
}

func spei(account string) func(string) payment.Order {
	return func(id string) payment.Order { return speiOrder(id, account) }
}

// TestAuditCountsMoneyThatLeftNetOfReturns drives one of each path through
// the bank and reads its audit over HTTP: a refused order never left, a
// return after settlement and an expired cash pickup came back, a rejected
// card never left, and a person with two settled orders is paid twice.
func TestAuditCountsMoneyThatLeftNetOfReturns(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sandbox.Config{})
	ctx := context.Background()
	submit := func(o payment.Order) {
		t.Helper()
		_, err := e.client.Submit(ctx, o)
		require.NoError(t, err)
	}
	// once: settles.
	submit(attemptOrder(spei("12345"), auditCycle, "ben_once", 1))
	// refused: returned before it settled (cause 1), then re-paid.
	submit(attemptOrder(spei("70000000001"), auditCycle, "ben_refused", 1))
	// late: settles, comes back a day later (cause 13), then re-paid.
	submit(attemptOrder(spei("70000000013"), auditCycle, "ben_late", 1))
	// twice: two attempts, both settle.
	submit(attemptOrder(spei("22222"), auditCycle, "ben_twice", 1))
	submit(attemptOrder(spei("22223"), auditCycle, "ben_twice", 2))
	// expired: a cash pickup nobody collects.
	submit(attemptOrder(cashOrder, auditCycle, "ben_expired", 1))
	// card rejected by the issuer.
	submit(attemptOrder(func(id string) payment.Order { return cardOrder(id, "0000") }, auditCycle, "ben_card", 1))
	// another cycle, and an order that is not an apoyo attempt.
	submit(attemptOrder(spei("33333"), otherAuditCycle, "ben_once", 1))
	submit(speiOrder("manual-transfer-1", "44444"))

	e.advance(t, "")
	submit(attemptOrder(spei("12346"), auditCycle, "ben_refused", 2))
	e.advance(t, "24h") // the late return arrives
	submit(attemptOrder(spei("12347"), auditCycle, "ben_late", 2))
	e.advance(t, "")
	e.advance(t, "72h") // the pickup expires

	a := fetchAudit(t, e, auditCycle)
	require.Equal(t, auditCycle, a.Cycle)
	five := decimal.RequireFromString("5600.00")
	want := map[string][4]int{ // orders, paid, returned, net
		"ben_once":    {1, 1, 0, 1},
		"ben_refused": {2, 1, 0, 1},
		"ben_late":    {2, 2, 1, 1},
		"ben_twice":   {2, 2, 0, 2},
		"ben_expired": {1, 1, 1, 0},
		"ben_card":    {1, 0, 0, 0},
	}
	require.Len(t, a.Payees, len(want))
	for ben, w := range want {
		p := a.Payee(auditCycle, ben)
		require.Equal(t, w, [4]int{p.Orders, p.Paid, p.Returned, p.Net}, ben)
		require.True(t, five.Mul(decimal.NewFromInt(int64(w[3]))).Equal(p.NetAmount), "%s: %s", ben, p.NetAmount)
	}
	require.Equal(t, 9, a.Orders)
	require.Equal(t, 3, a.PaidOnce)
	require.Equal(t, 1, a.DoublePaid, "ben_twice")
	require.True(t, five.Mul(decimal.NewFromInt(5)).Equal(a.NetAmount), a.NetAmount.String())
	require.Empty(t, a.Unattributed, "orders of other cycles are not this cycle's business")
	require.Zero(t, a.Payee(auditCycle, "ben_nobody").Orders)

	all := fetchAudit(t, e, "")
	require.Equal(t, 11, all.Orders+len(all.Unattributed))
	require.Equal(t, []string{"manual-transfer-1"}, all.Unattributed)
	require.Equal(t, 1, all.Payee(otherAuditCycle, "ben_once").Net)
	require.Equal(t, 4, all.PaidOnce)
	require.JSONEq(t, mustJSON(t, e.bank.Audit(auditCycle)), mustJSON(t, a), "the HTTP answer is the bank's audit")
}

func fetchAudit(t *testing.T, e *env, cycle string) sandbox.Audit {
	t.Helper()
	a, err := sandbox.FetchAudit(context.Background(), nil, e.url, cycle)
	require.NoError(t, err)
	return a
}

// TestAuditOverHTTPIsJSONWithFixedDecimals pins the wire shape other tools
// read.
func TestAuditOverHTTPIsJSONWithFixedDecimals(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sandbox.Config{})
	_, err := e.client.Submit(context.Background(), attemptOrder(spei("12345"), auditCycle, "ben_once", 1))
	require.NoError(t, err)
	e.advance(t, "")
	resp, err := http.Get(e.url + "/v1/audit?cycle=" + auditCycle)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, resp.Header.Get("Content-Type"), "application/json")
	var raw map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&raw))
	require.Equal(t, "5600.00", raw["net_amount"])
	require.Equal(t, float64(0), raw["double_paid"])
	payees := raw["payees"].([]any)
	require.Len(t, payees, 1)
	require.Equal(t, map[string]any{"cycle": auditCycle, "beneficiary": "ben_once", "orders": float64(1), "paid": float64(1),
		"returned": float64(0), "net": float64(1), "net_amount": "5600.00"}, payees[0])

	_, err = sandbox.FetchAudit(context.Background(), nil, e.url+"/nowhere", "")
	require.Error(t, err, "an HTTP error is an error, not an empty audit")
}

func TestParseOrderID(t *testing.T) {
	t.Parallel()
	real := program.Attempt{Cycle: "cyc_gezdgnbv", Beneficiary: "ben_mfrggzdfmztwq2lk", N: 3}.OrderID()
	for _, tc := range []struct {
		id, cycle string
		c, b      string
		n         int
		ok        bool
	}{
		{real, "", "cyc_gezdgnbv", "ben_mfrggzdfmztwq2lk", 3, true},
		{real, "cyc_gezdgnbv", "cyc_gezdgnbv", "ben_mfrggzdfmztwq2lk", 3, true},
		{real, "cyc_other", "", "", 0, false},
		{"pay_1_b1_1", "", "1", "b1", 1, true},
		{"pay_c_1_x_b_2", "c_1_x", "c_1_x", "b", 2, true},
		{"pay_a_b_c_1", "", "", "", 0, false}, // ambiguous without the cycle
		{"pay_1_b1_0", "", "", "", 0, false},
		{"pay_1_b1_+1", "", "", "", 0, false},
		{"pay_1_b1_x", "", "", "", 0, false},
		{"pay_1_b1", "", "", "", 0, false},
		{"pay__b1_1", "", "", "", 0, false},
		{"manual-1", "", "", "", 0, false},
	} {
		c, b, n, ok := sandbox.ParseOrderID(tc.id, tc.cycle)
		require.Equal(t, tc.ok, ok, "%s in %q", tc.id, tc.cycle)
		if ok {
			require.Equal(t, []any{tc.c, tc.b, tc.n}, []any{c, b, n}, tc.id)
		}
	}
}
