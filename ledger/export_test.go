package ledger

import (
	"context"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"
)

// RowHashForTest recomputes the chain hash of journal row id from what is
// stored (its own prev_hash included), the way Verify does. Tamper tests use
// it to forge rows that are consistent with themselves, so that only the
// links between rows can give them away.
func RowHashForTest(ctx context.Context, pool *pgxpool.Pool, id int64) ([]byte, error) {
	var in chainInput
	var prevHash []byte
	var accts []int64
	var funds []string
	var amts []decimal.Decimal
	var meta map[string]string
	err := pool.QueryRow(ctx, `SELECT t.id, t.idempotency_key, t.request_hash, t.currency, t.description, t.metadata,
		coalesce(t.reverses_id, 0), t.effective_at, t.prev_hash,
		array_agg(p.account_id ORDER BY p.seq), array_agg(p.fund ORDER BY p.seq), array_agg(p.amount ORDER BY p.seq)
		FROM ledger_transactions t JOIN ledger_postings p ON p.transaction_id = t.id
		WHERE t.id = $1 GROUP BY t.id`, id).Scan(&in.ID, &in.IdempotencyKey, &in.RequestHash, &in.Currency, &in.Description, &meta,
		&in.ReversesID, &in.EffectiveAt, &prevHash, &accts, &funds, &amts)
	if err != nil {
		return nil, err
	}
	if len(meta) > 0 {
		in.Metadata = meta
	}
	for i := range accts {
		in.Postings = append(in.Postings, storedPosting{AccountID: accts[i], Fund: funds[i], Amount: amts[i]})
	}
	scales, err := loadScales(ctx, pool)
	if err != nil {
		return nil, err
	}
	return chainHash(prevHash, &in, scales[in.Currency]), nil
}

// RememberedForTest is how many transactions went through the remembered
// path (headCache): tests check the path they mean to test was taken.
func (l *Ledger) RememberedForTest() int64 { return l.remembered.Load() }
