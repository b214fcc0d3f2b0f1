package ledger_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/ledger"
)

// TestIdempotencyKeyReusedWithOtherContent changes one stored field at a
// time under a recorded key: each is a conflict, never a replay that hands
// back the first transaction as if it were this one. Run once per request
// path: a key recorded earlier, and a key recorded earlier in the same
// batch.
func TestIdempotencyKeyReusedWithOtherContent(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	base := func() ledger.TransactionRequest {
		return ledger.TransactionRequest{
			IdempotencyKey: "pay:c1:b1", Currency: "MXN", Description: "benefit",
			Metadata:    map[string]string{"program": "p1", "cycle": "c1"},
			EffectiveAt: at,
			Postings: []ledger.Posting{
				{Account: "benefits", Fund: "city", Direction: ledger.Debit, Amount: d("5600.00")},
				{Account: "budget", Fund: "city", Direction: ledger.Credit, Amount: d("5600.00")},
			},
		}
	}
	cases := []struct {
		name   string
		change func(r *ledger.TransactionRequest)
	}{
		{"account", func(r *ledger.TransactionRequest) { r.Postings[0].Account = "other" }},
		{"fund", func(r *ledger.TransactionRequest) { r.Postings[0].Fund, r.Postings[1].Fund = "gcf", "gcf" }},
		{"direction", func(r *ledger.TransactionRequest) {
			r.Postings[0].Direction, r.Postings[1].Direction = ledger.Credit, ledger.Debit
		}},
		{"amount", func(r *ledger.TransactionRequest) {
			r.Postings[0].Amount, r.Postings[1].Amount = d("5600.01"), d("5600.01")
		}},
		{"currency", func(r *ledger.TransactionRequest) { r.Currency = "USD" }},
		{"description", func(r *ledger.TransactionRequest) { r.Description = "benefit (corrected)" }},
		{"metadata value", func(r *ledger.TransactionRequest) { r.Metadata["cycle"] = "c2" }},
		{"metadata key added", func(r *ledger.TransactionRequest) { r.Metadata["order"] = "pay_c1_b1_1" }},
		{"metadata key removed", func(r *ledger.TransactionRequest) { delete(r.Metadata, "cycle") }},
		{"metadata dropped", func(r *ledger.TransactionRequest) { r.Metadata = nil }},
		{"metadata key renamed, same value", func(r *ledger.TransactionRequest) { r.Metadata = map[string]string{"program": "p1", "cyclE": "c1"} }},
		{"effective time", func(r *ledger.TransactionRequest) { r.EffectiveAt = at.Add(time.Microsecond) }},
		{"effective time dropped", func(r *ledger.TransactionRequest) { r.EffectiveAt = time.Time{} }},
		{"postings reordered", func(r *ledger.TransactionRequest) { r.Postings[0], r.Postings[1] = r.Postings[1], r.Postings[0] }},
		{"posting added", func(r *ledger.TransactionRequest) {
			r.Postings[1].Amount = d("5000.00")
			r.Postings = append(r.Postings, ledger.Posting{Account: "budget", Fund: "city", Direction: ledger.Credit, Amount: d("600.00")})
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f := setup(t, ledger.Options{})
			ctx := context.Background()
			f.fund(t, "city", "20000")
			f.fund(t, "gcf", "20000")
			_, err := f.l.CreateAccount(ctx, ledger.AccountSpec{Code: "other", Type: apoyo.Expense, Currency: "MXN"})
			require.NoError(t, err)

			first, err := f.l.Post(ctx, base())
			require.NoError(t, err)
			again, err := f.l.Post(ctx, base())
			require.NoError(t, err)
			require.True(t, again.Replayed, "the same content is a replay")
			require.Equal(t, first.ID, again.ID)

			changed := base()
			c.change(&changed)
			tx, err := f.l.Post(ctx, changed)
			require.ErrorIs(t, err, ledger.ErrIdempotencyConflict, "a %s change replayed as transaction %d", c.name, tx.ID)
			require.Equal(t, apoyo.ECONFLICT, apoyo.ErrorCodeOf(err))

			// The same pair inside one batch, on a key not yet recorded.
			batchFirst, batchChanged := base(), base()
			batchFirst.IdempotencyKey, batchChanged.IdempotencyKey = "pay:c1:b2", "pay:c1:b2"
			c.change(&batchChanged)
			res := f.l.PostBatch(ctx, []ledger.TransactionRequest{batchFirst, batchChanged})
			require.NoError(t, res[0].Err)
			require.ErrorIs(t, res[1].Err, ledger.ErrIdempotencyConflict, "in one batch: a %s change replayed", c.name)

			rep := requireVerified(t, f.l)
			require.Equal(t, int64(4), rep.Transactions, "two deposits and one transaction per key")
		})
	}
}
