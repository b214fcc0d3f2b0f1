package ledger

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/shopspring/decimal"
)

const maxProblems = 100

// Verify re-derives everything the ledger promises from the journal: each
// transaction balances and has two or more postings, each chain's ids run
// without gaps, each chain's hashes are unbroken up to its recorded head
// (chain.go: one chain per programme), every balance equals
// the sum of its postings, and every balance rule holds. It streams the
// journal, so it runs in constant memory on any size of ledger. It does not
// lock writers out: it reads one consistent snapshot (REPEATABLE READ).
// When all holds it moves each chain's checkpoint to the head it checked.
func (l *Ledger) Verify(ctx context.Context) (apoyo.LedgerVerifyReport, error) {
	return l.verify(ctx, false)
}

// VerifyIncremental is Verify for what was appended since each chain's
// checkpoint: it checks that the checkpointed row still has the hash it
// had, then re-hashes only the rows after it. Transaction balancing and
// gaps are checked for those rows; balances against postings and balance
// rules are checked in full, by the database. A chain never verified is
// verified whole.
func (l *Ledger) VerifyIncremental(ctx context.Context) (apoyo.LedgerVerifyReport, error) {
	return l.verify(ctx, true)
}

// checkpoint is where a chain was last verified.
type checkpoint struct {
	lastID   int64
	lastHash []byte
}

func (l *Ledger) verify(ctx context.Context, incremental bool) (apoyo.LedgerVerifyReport, error) {
	rep := apoyo.LedgerVerifyReport{Incremental: incremental}
	add := func(p apoyo.LedgerProblem) {
		if len(rep.Problems) < maxProblems {
			rep.Problems = append(rep.Problems, p)
		}
		if p.TransactionID != 0 && (rep.FirstBadTransaction == 0 || p.TransactionID < rep.FirstBadTransaction) {
			rep.FirstBadTransaction = p.TransactionID
		}
	}

	tx, err := l.pool.BeginTx(ctx, txRepeatableReadOnly)
	if err != nil {
		return rep, err
	}
	defer tx.Rollback(ctx) //nolint:errcheck

	scales, err := loadScales(ctx, tx)
	if err != nil {
		return rep, err
	}

	heads, err := loadHeads(ctx, tx)
	if err != nil {
		return rep, err
	}
	// The heads this verification checks become the checkpoints if all
	// holds.
	checked := map[int64]checkpoint{}
	for no, h := range heads {
		checked[no] = checkpoint{lastID: h.lastID, lastHash: h.lastHash}
	}
	// Where each chain's check starts: its beginning, or its checkpoint.
	from := map[int64]checkpoint{}
	for no := range heads {
		from[no] = checkpoint{lastID: chainStart(no), lastHash: make([]byte, 32)}
	}
	if incremental {
		cps, err := loadCheckpoints(ctx, tx)
		if err != nil {
			return rep, err
		}
		for no, cp := range cps {
			if cp.stored == nil || !bytes.Equal(cp.stored, cp.lastHash) {
				add(apoyo.LedgerProblem{Kind: "checkpoint_mismatch", TransactionID: cp.lastID, Detail: fmt.Sprintf(
					"transaction %d, where chain %d was last verified, is missing or no longer has the hash it was verified with: the verified journal was changed (run a full verify)", cp.lastID, no)})
				continue
			}
			from[no] = cp.checkpoint
		}
	}
	var los, his []int64
	for no, cp := range from {
		los, his = append(los, cp.lastID), append(his, chainStart(no+1))
	}
	rows, err := tx.Query(ctx, `SELECT t.id, t.idempotency_key, t.request_hash, t.currency, t.description, t.metadata,
		coalesce(t.reverses_id, 0), t.effective_at, t.prev_hash, t.hash,
		coalesce(array_agg(p.account_id ORDER BY p.seq) FILTER (WHERE p.seq IS NOT NULL), '{}'),
		coalesce(array_agg(p.fund ORDER BY p.seq) FILTER (WHERE p.seq IS NOT NULL), '{}'),
		coalesce(array_agg(p.amount ORDER BY p.seq) FILTER (WHERE p.seq IS NOT NULL), '{}')
		FROM unnest($1::bigint[], $2::bigint[]) AS r(lo, hi)
		JOIN ledger_transactions t ON t.id > r.lo AND t.id < r.hi
		LEFT JOIN ledger_postings p ON p.transaction_id = t.id
		GROUP BY t.id ORDER BY t.id`, los, his)
	if err != nil {
		return rep, err
	}
	// Rows come in id order, so one chain after the other (chain n's ids
	// are n·2³⁶ + 1 onwards). Each chain starts from a zero hash, or from
	// its checkpoint.
	chain := int64(-1)
	var prev []byte
	var prevID, expectID int64 // prevID 0: the chain's start
	endChain := func() {
		if chain < 0 {
			return
		}
		h, ok := heads[chain]
		delete(heads, chain)
		if chain == 0 {
			rep.HeadHash = hex.EncodeToString(prev)
		}
		if !ok {
			add(apoyo.LedgerProblem{Kind: "head_mismatch", TransactionID: expectID - 1, Detail: fmt.Sprintf("chain %d has transactions up to %d but no head", chain, expectID-1)})
			return
		}
		if h.lastID != expectID-1 || !bytes.Equal(h.lastHash, prev) {
			add(apoyo.LedgerProblem{Kind: "head_mismatch", TransactionID: h.lastID, Detail: fmt.Sprintf("chain %q head says transaction %d, its journal ends at transaction %d (or hashes differ): the tail was removed, or rewritten with its hashes recomputed", h.name, h.lastID, expectID-1)})
		}
	}
	for rows.Next() {
		var in chainInput
		var prevHash, h []byte
		var accts []int64
		var funds []string
		var amts []decimal.Decimal
		var meta map[string]string
		if err := rows.Scan(&in.ID, &in.IdempotencyKey, &in.RequestHash, &in.Currency, &in.Description, &meta,
			&in.ReversesID, &in.EffectiveAt, &prevHash, &h, &accts, &funds, &amts); err != nil {
			return rep, err
		}
		if len(meta) > 0 {
			in.Metadata = meta
		}
		if c := ChainOf(in.ID); c != chain {
			endChain()
			start := from[c]
			chain, prev, prevID, expectID = c, start.lastHash, start.lastID, start.lastID+1
			if prevID == chainStart(c) {
				prevID = 0
			}
			rep.Chains++
		}
		rep.Transactions++
		rep.Postings += int64(len(accts))
		if in.ID != expectID {
			add(apoyo.LedgerProblem{Kind: "gap", TransactionID: in.ID, Detail: fmt.Sprintf("expected transaction %d next, found %d: transactions are missing", expectID, in.ID)})
		}
		expectID = in.ID + 1
		if len(accts) < 2 {
			add(apoyo.LedgerProblem{Kind: "too_few_postings", TransactionID: in.ID, Detail: fmt.Sprintf("%d posting(s)", len(accts))})
		}
		sum := decimal.Zero
		for i := range accts {
			in.Postings = append(in.Postings, storedPosting{AccountID: accts[i], Fund: funds[i], Amount: amts[i]})
			sum = sum.Add(amts[i])
		}
		if !sum.IsZero() {
			add(apoyo.LedgerProblem{Kind: "unbalanced", TransactionID: in.ID, Detail: fmt.Sprintf("postings sum to %s, not zero", sum)})
		}
		// Two checks, both needed: a row's hash must cover its content and
		// its prev_hash, and its prev_hash must be the hash of the row
		// before it. A row rewritten with its own hash recomputed passes
		// the first and fails the second, at the link to the next row.
		if !bytes.Equal(prevHash, prev) {
			before := "the start of the chain"
			if prevID != 0 {
				before = fmt.Sprintf("transaction %d", prevID)
			}
			add(apoyo.LedgerProblem{Kind: "chain_break", TransactionID: in.ID, Detail: fmt.Sprintf(
				"transaction %d is not chained to %s: its prev_hash differs from that hash, so %s was rewritten or transaction %d was rewritten, moved or relinked",
				in.ID, before, before, in.ID)})
		}
		want := chainHash(prevHash, &in, scales[in.Currency])
		if !bytes.Equal(want, h) {
			add(apoyo.LedgerProblem{Kind: "chain_break", TransactionID: in.ID, Detail: fmt.Sprintf(
				"transaction %d: hash does not match the row's content: the row, its postings or its prev_hash were changed", in.ID)})
		}
		prev, prevID = h, in.ID
	}
	if err := rows.Err(); err != nil {
		return rep, err
	}
	endChain()
	// Chains with nothing to check must still be where the check started.
	for no, h := range heads {
		start := from[no]
		if h.lastID != start.lastID || !bytes.Equal(h.lastHash, start.lastHash) {
			add(apoyo.LedgerProblem{Kind: "head_mismatch", TransactionID: h.lastID, Detail: fmt.Sprintf("chain %q head says transaction %d, but its journal ends at transaction %d: transactions were removed", h.name, h.lastID, start.lastID)})
		}
		if no == 0 {
			rep.HeadHash = hex.EncodeToString(h.lastHash)
		}
	}

	// Balances against the postings, both ways (a balance with no postings
	// or postings with no balance row are mismatches too).
	brows, err := tx.Query(ctx, `WITH p AS (
			SELECT account_id, fund, sum(amount) AS net,
			       sum(amount) FILTER (WHERE amount > 0) AS debits,
			       -sum(amount) FILTER (WHERE amount < 0) AS credits
			FROM ledger_postings GROUP BY account_id, fund)
		SELECT a.code, coalesce(b.fund, p.fund), coalesce(b.balance, 0), coalesce(b.debits, 0), coalesce(b.credits, 0),
		       CASE WHEN a.type IN ('asset', 'expense') THEN 1 ELSE -1 END * coalesce(p.net, 0),
		       coalesce(p.debits, 0), coalesce(p.credits, 0), coalesce(b.last_transaction_id, 0)
		FROM ledger_balances b FULL JOIN p ON p.account_id = b.account_id AND p.fund = b.fund
		JOIN ledger_accounts a ON a.id = coalesce(b.account_id, p.account_id)
		ORDER BY a.code, 2`)
	if err != nil {
		return rep, err
	}
	for brows.Next() {
		var code, fund string
		var bal, deb, cred, want, wdeb, wcred decimal.Decimal
		var lastTx int64
		if err := brows.Scan(&code, &fund, &bal, &deb, &cred, &want, &wdeb, &wcred, &lastTx); err != nil {
			return rep, err
		}
		rep.Balances++
		if !bal.Equal(want) || !deb.Equal(wdeb) || !cred.Equal(wcred) {
			add(apoyo.LedgerProblem{Kind: "balance_mismatch", TransactionID: lastTx, Account: code, Fund: fund,
				Detail: fmt.Sprintf("balance %s (debits %s, credits %s) but postings give %s (debits %s, credits %s)", bal, deb, cred, want, wdeb, wcred)})
		}
	}
	if err := brows.Err(); err != nil {
		return rep, err
	}

	rrows, err := tx.Query(ctx, `SELECT a.code, b.fund, b.balance, a.min_balance, b.last_transaction_id FROM ledger_balances b JOIN ledger_accounts a ON a.id = b.account_id
		WHERE a.min_balance IS NOT NULL AND b.balance < a.min_balance ORDER BY a.code, b.fund`)
	if err != nil {
		return rep, err
	}
	for rrows.Next() {
		var code, fund string
		var bal, min decimal.Decimal
		var lastTx int64
		if err := rrows.Scan(&code, &fund, &bal, &min, &lastTx); err != nil {
			return rep, err
		}
		add(apoyo.LedgerProblem{Kind: "balance_rule", TransactionID: lastTx, Account: code, Fund: fund, Detail: fmt.Sprintf("balance %s is below the minimum %s", bal, min)})
	}
	if err := rrows.Err(); err != nil {
		return rep, err
	}
	rep.OK = len(rep.Problems) == 0
	if err := tx.Rollback(ctx); err != nil {
		return rep, err
	}
	if rep.OK {
		if err := saveCheckpoints(ctx, l.pool, checked); err != nil {
			return rep, err
		}
	}
	return rep, nil
}

type storedCheckpoint struct {
	checkpoint
	stored []byte // the hash the checkpointed row has now (nil: no row)
}

// loadCheckpoints reads every chain's checkpoint with the hash its row has
// now.
func loadCheckpoints(ctx context.Context, q querier) (map[int64]storedCheckpoint, error) {
	rows, err := q.Query(ctx, `SELECT c.chain_no, c.last_id, c.last_hash, t.hash
		FROM ledger_checkpoints c LEFT JOIN ledger_transactions t ON t.id = c.last_id`)
	if err != nil {
		return nil, err
	}
	out := map[int64]storedCheckpoint{}
	for rows.Next() {
		var no int64
		var cp storedCheckpoint
		if err := rows.Scan(&no, &cp.lastID, &cp.lastHash, &cp.stored); err != nil {
			rows.Close()
			return nil, err
		}
		out[no] = cp
	}
	return out, rows.Err()
}

// saveCheckpoints moves each chain's checkpoint forward to the head a
// verification found good (never back: a slower verify of an older
// snapshot may finish last).
func saveCheckpoints(ctx context.Context, pool querier, checked map[int64]checkpoint) error {
	var nos, ids []int64
	var hashes [][]byte
	for no, cp := range checked {
		if cp.lastID == chainStart(no) {
			continue // nothing in the chain yet
		}
		nos, ids, hashes = append(nos, no), append(ids, cp.lastID), append(hashes, cp.lastHash)
	}
	if len(nos) == 0 {
		return nil
	}
	rows, err := pool.Query(ctx, `INSERT INTO ledger_checkpoints (chain_no, last_id, last_hash)
		SELECT * FROM unnest($1::int[], $2::bigint[], $3::bytea[])
		ON CONFLICT (chain_no) DO UPDATE SET last_id = EXCLUDED.last_id, last_hash = EXCLUDED.last_hash, verified_at = now()
		WHERE ledger_checkpoints.last_id < EXCLUDED.last_id`, nos, ids, hashes)
	if err != nil {
		return err
	}
	rows.Close()
	return rows.Err()
}

type chainHead struct {
	name     string
	lastID   int64
	lastHash []byte
}

// loadHeads reads every chain's head, by chain number.
func loadHeads(ctx context.Context, q querier) (map[int64]chainHead, error) {
	rows, err := q.Query(ctx, "SELECT chain_no, name, last_id, last_hash FROM ledger_chains")
	if err != nil {
		return nil, err
	}
	heads := map[int64]chainHead{}
	for rows.Next() {
		var no int64
		var h chainHead
		if err := rows.Scan(&no, &h.name, &h.lastID, &h.lastHash); err != nil {
			rows.Close()
			return nil, err
		}
		heads[no] = h
	}
	return heads, rows.Err()
}
