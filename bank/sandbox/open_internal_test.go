package sandbox

import (
	"fmt"
	"testing"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/payment"
)

func openTestOrder(i int, rail apoyo.Rail, account string) payment.Order {
	id := fmt.Sprintf("pay_open_%d", i)
	o := payment.Order{ID: id, IdempotencyKey: "key-" + id, Rail: rail, Amount: decimal.RequireFromString("5600.00"),
		Currency: payment.CurrencyMXN, Concept: "Apoyo CDMX ciclo 1", TrackingKey: payment.NewTrackingKey(id), Reference: payment.NewReference(id)}
	if rail == apoyo.RailSPEI {
		o.Beneficiary.CLABE = CLABE(account)
	}
	return o
}

// submitSettled submits n SPEI orders to good accounts and settles them.
func submitSettled(t testing.TB, b *Bank, from, n int) {
	for i := from; i < from+n; i++ {
		_, _, _, err := b.Submit(openTestOrder(i, apoyo.RailSPEI, "12345"))
		require.NoError(t, err)
	}
	_, err := b.Advance(0)
	require.NoError(t, err)
}

// TestFinishedOrdersLeaveTheWork: the bank's periodic work reads only
// the orders that may still change (pending, or settled with a late
// return or a pickup's expiry to come), so that a tick, a submit or a
// status costs what is in flight, not every order the bank ever took (a
// 10,000-person cycle spent 13 % of its CPU re-reading settled orders).
// The late return and the expiry still happen when due.
func TestFinishedOrdersLeaveTheWork(t *testing.T) {
	t.Parallel()
	b := New(Config{})
	submitSettled(t, b, 0, 1000)
	_, _, _, err := b.Submit(openTestOrder(1000, apoyo.RailSPEI, AccountReturnLater))
	require.NoError(t, err)
	_, _, _, err = b.Submit(openTestOrder(1001, apoyo.RailCashPickup, ""))
	require.NoError(t, err)
	_, err = b.Advance(0)
	require.NoError(t, err)
	require.Len(t, b.open, 2, "the late return and the pickup to collect are all that may still change")

	_, err = b.Advance(DefaultReturnDelay + DefaultPickupExpiry)
	require.NoError(t, err)
	require.Empty(t, b.open)
	st, err := b.Status("pay_open_1000")
	require.NoError(t, err)
	require.Equal(t, apoyo.PaymentReturned, st.State)
	st, err = b.Status("pay_open_1001")
	require.NoError(t, err)
	require.Equal(t, apoyo.PaymentExpired, st.State)
	st, err = b.Status("pay_open_7")
	require.NoError(t, err)
	require.Equal(t, apoyo.PaymentSettled, st.State)
}

// BenchmarkStatusAmongSettledOrders: a status read with 100 and with
// 10,000 settled orders behind it; the two should cost about the same.
func BenchmarkStatusAmongSettledOrders(b *testing.B) {
	for _, n := range []int{100, 10000} {
		b.Run(fmt.Sprintf("settled=%d", n), func(b *testing.B) {
			bank := New(Config{})
			submitSettled(b, bank, 0, n)
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				if _, err := bank.Status("pay_open_7"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
