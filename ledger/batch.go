package ledger

import (
	"bytes"
	"context"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"
)

// batchState is what a batch is applied against: the chain head, the keys
// already recorded, the accounts, funds and reversals it names, and the
// balances it touches (held locked, or known current: see headCache).
type batchState struct {
	lastID   int64
	lastHash []byte
	changes  int64 // ledger_chain_head.changes: bumped by every account closing
	// fromID and fromChanges are the head the batch began at.
	fromID, fromChanges int64
	seen                map[string]*seenKey
	accounts            map[string]*accountRow
	funds               map[string]bool
	alreadyReversed     map[int64]bool
	balances            map[balanceKey]*balanceRow
}

// journalRows are a batch's new rows, column by column, as the unnest
// inserts take them.
type journalRows struct {
	tIDs      []int64
	tKeys     []string
	tReqHash  [][]byte
	tCurrency []string
	tDesc     []string
	tMeta     []string
	tRev      []*int64
	tEff      []time.Time
	tPrev     [][]byte
	tHash     [][]byte
	pTx       []int64
	pSeq      []int16
	pAcct     []int64
	pFund     []string
	pAmt      []decimal.Decimal
}

func (r *journalRows) len() int { return len(r.tIDs) }

// applyBatch applies each request in order against st, which it advances
// (head, balances, keys seen): a request breaking a rule gets its error and
// leaves st as it was. conn reads an already recorded transaction back for
// a replay; it may be nil when st.seen holds no recorded keys.
func applyBatch(ctx context.Context, conn *pgxpool.Conn, batch []*request, st *batchState) ([]result, *journalRows, error) {
	results := make([]result, len(batch))
	rows := &journalRows{}
	now := time.Now().UTC().Truncate(time.Microsecond)
	for i, q := range batch {
		r := &q.tx
		if s, ok := st.seen[r.IdempotencyKey]; ok {
			if !bytes.Equal(s.hash, q.hash) {
				results[i].err = ErrIdempotencyConflict.With("idempotency key %q was used for a different transaction (id %d)", r.IdempotencyKey, s.id)
				continue
			}
			if s.tx != nil { // recorded earlier in this batch
				t := *s.tx
				t.Replayed = true
				results[i].tx = t
				continue
			}
			t, err := loadTransaction(ctx, conn, "t.id = $1", s.id)
			if err != nil {
				return nil, nil, err
			}
			t.Replayed = true
			results[i].tx = t
			continue
		}
		stored, err := resolve(r, st.accounts, st.funds)
		if err != nil {
			results[i].err = err
			continue
		}
		if r.reverses != 0 && st.alreadyReversed[r.reverses] {
			results[i].err = ErrAlreadyReversed.With("transaction %d is already reversed", r.reverses)
			continue
		}
		if err := applyRules(stored, st.balances, r.IdempotencyKey); err != nil {
			results[i].err = err
			continue
		}
		st.lastID++
		id := st.lastID
		eff := r.EffectiveAt.UTC().Truncate(time.Microsecond)
		if r.EffectiveAt.IsZero() {
			eff = now
		}
		in := &chainInput{ID: id, IdempotencyKey: r.IdempotencyKey, RequestHash: q.hash, Currency: r.Currency,
			Description: r.Description, Metadata: r.Metadata, ReversesID: r.reverses, EffectiveAt: eff, Postings: stored}
		h := chainHash(st.lastHash, in, q.scale)
		var rev *int64
		if r.reverses != 0 {
			v := r.reverses
			rev = &v
			st.alreadyReversed[r.reverses] = true
		}
		rows.tIDs = append(rows.tIDs, id)
		rows.tKeys = append(rows.tKeys, r.IdempotencyKey)
		rows.tReqHash = append(rows.tReqHash, q.hash)
		rows.tCurrency = append(rows.tCurrency, r.Currency)
		rows.tDesc = append(rows.tDesc, r.Description)
		rows.tMeta = append(rows.tMeta, string(q.meta))
		rows.tRev = append(rows.tRev, rev)
		rows.tEff = append(rows.tEff, eff)
		rows.tPrev = append(rows.tPrev, st.lastHash)
		rows.tHash = append(rows.tHash, h)
		for j, p := range stored {
			rows.pTx = append(rows.pTx, id)
			rows.pSeq = append(rows.pSeq, int16(j+1))
			rows.pAcct = append(rows.pAcct, p.AccountID)
			rows.pFund = append(rows.pFund, p.Fund)
			rows.pAmt = append(rows.pAmt, p.Amount)
			st.balances[balanceKey{p.AccountID, p.Fund}].lastTx = id
		}
		results[i].tx = Transaction{ID: id, IdempotencyKey: r.IdempotencyKey, Currency: r.Currency, Description: r.Description,
			Metadata: r.Metadata, Postings: r.Postings, ReversesID: r.reverses, EffectiveAt: eff, Hash: h}
		st.seen[r.IdempotencyKey] = &seenKey{id: id, hash: q.hash, tx: &results[i].tx}
		st.lastHash = h
	}
	return results, rows, nil
}

// queue adds the statements writing the journal rows and the balances they
// changed. guarded, for balances known from memory rather than locked,
// fails the transaction (division by zero, 22012) unless each balance's
// last transaction is still the one remembered: a transaction of another
// chain (chain 0 may move a programme's accounts) moves a balance without
// moving this chain's head.
func (r *journalRows) queue(b *pgx.Batch, balances map[balanceKey]*balanceRow, guarded bool) {
	b.Queue(`INSERT INTO ledger_transactions (id, idempotency_key, request_hash, currency, description, metadata, reverses_id, effective_at, prev_hash, hash)
		SELECT * FROM unnest($1::bigint[], $2::text[], $3::bytea[], $4::text[], $5::text[], $6::jsonb[], $7::bigint[], $8::timestamptz[], $9::bytea[], $10::bytea[])`,
		r.tIDs, r.tKeys, r.tReqHash, r.tCurrency, r.tDesc, r.tMeta, r.tRev, r.tEff, r.tPrev, r.tHash)
	b.Queue(`INSERT INTO ledger_postings (transaction_id, seq, account_id, fund, amount)
		SELECT * FROM unnest($1::bigint[], $2::smallint[], $3::bigint[], $4::text[], $5::numeric[])`, r.pTx, r.pSeq, r.pAcct, r.pFund, r.pAmt)
	var ids, last, seen []int64
	var fs []string
	var bal, deb, cred []decimal.Decimal
	for k, b := range balances {
		if !b.dirty {
			continue
		}
		ids = append(ids, k.AccountID)
		fs = append(fs, k.Fund)
		bal = append(bal, b.balance)
		deb = append(deb, b.debits)
		cred = append(cred, b.credits)
		last = append(last, b.lastTx)
		seen = append(seen, b.seenTx)
	}
	if !guarded {
		b.Queue(`UPDATE ledger_balances b SET balance = u.balance, debits = u.debits, credits = u.credits, last_transaction_id = u.last
			FROM unnest($1::bigint[], $2::text[], $3::numeric[], $4::numeric[], $5::numeric[], $6::bigint[]) AS u(account_id, fund, balance, debits, credits, last)
			WHERE b.account_id = u.account_id AND b.fund = u.fund`, ids, fs, bal, deb, cred, last)
		return
	}
	b.Queue(`UPDATE ledger_balances b SET balance = CASE WHEN b.last_transaction_id = u.seen THEN u.balance ELSE b.balance / 0 END,
			debits = u.debits, credits = u.credits, last_transaction_id = u.last
		FROM unnest($1::bigint[], $2::text[], $3::numeric[], $4::numeric[], $5::numeric[], $6::bigint[], $7::bigint[]) AS u(account_id, fund, balance, debits, credits, last, seen)
		WHERE b.account_id = u.account_id AND b.fund = u.fund`, ids, fs, bal, deb, cred, last, seen)
}

// headCache remembers, after each batch this process committed, the chain
// head and everything the batch read under its locks. The next batch
// applies itself against that memory and writes in one round trip, with
// no reads, guarded by a compare-and-set on the chain head and one on
// each balance it moves: every append to the chain and every account
// closing moves the head (last_id, changes), and every transaction of any
// chain moves the balances it touches (last_transaction_id), so if those
// are still what this process left, nothing it remembers has changed. Any other outcome (the
// head moved, a key already recorded, a rule broken, an account, fund or
// balance not remembered, a reversal) rolls the attempt back, and the
// batch takes the locking path that reads everything, which then refills
// the memory.
//
// Why: with one hot budget account every batch holds its lock from the
// first read to the commit, so the batch's fixed cost caps the rate at
// which a few dozen callers, each waiting for its own transfer, are
// served. The remembered path halves the round trips and drops five
// reads.
type headCache struct {
	mu       sync.Mutex
	valid    bool
	lastID   int64
	lastHash []byte
	changes  int64
	accounts map[string]*accountRow
	funds    map[string]bool
	balances map[balanceKey]balanceRow
}

// maxCachedBalances bounds the memory: a programme has a handful of
// accounts; anything much bigger is not a hot path worth remembering.
const maxCachedBalances = 10_000

// remember records the state a committed batch left. What memory already
// held is kept only if the batch began at the head memory holds: then
// nothing else was written in between, and every remembered balance is
// still exact. Otherwise (another process wrote, or another writer
// goroutine's batch has not been remembered yet) memory starts again
// from this batch alone.
func (c *headCache) remember(st *batchState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.valid || c.lastID != st.fromID || c.changes != st.fromChanges || len(c.balances) > maxCachedBalances {
		c.accounts, c.funds, c.balances = nil, nil, map[balanceKey]balanceRow{}
	}
	c.valid, c.lastID, c.lastHash, c.changes = true, st.lastID, st.lastHash, st.changes
	// New maps, not writes into the old ones: a batch being applied on
	// another writer goroutine may be reading them.
	accounts := make(map[string]*accountRow, len(c.accounts)+len(st.accounts))
	for k, a := range c.accounts {
		accounts[k] = a
	}
	for k, a := range st.accounts {
		accounts[k] = a
	}
	funds := make(map[string]bool, len(c.funds)+len(st.funds))
	for k, ok := range c.funds {
		funds[k] = ok
	}
	for k, ok := range st.funds {
		funds[k] = ok
	}
	c.accounts, c.funds = accounts, funds
	for k, b := range st.balances {
		v := *b
		v.dirty = false
		c.balances[k] = v
	}
}

func (c *headCache) forget() {
	c.mu.Lock()
	c.valid = false
	c.mu.Unlock()
}

// state returns a batchState built from memory, or false when the batch
// needs something not remembered (or a reversal, whose earlier reversal
// only the database knows).
func (c *headCache) state(batch []*request) (*batchState, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.valid {
		return nil, false
	}
	st := &batchState{lastID: c.lastID, lastHash: c.lastHash, changes: c.changes, fromID: c.lastID, fromChanges: c.changes, seen: map[string]*seenKey{},
		accounts: c.accounts, funds: c.funds, alreadyReversed: map[int64]bool{}, balances: map[balanceKey]*balanceRow{}}
	for _, q := range batch {
		if q.tx.reverses != 0 {
			return nil, false
		}
		for _, p := range q.tx.Postings {
			a, ok := c.accounts[p.Account]
			if !ok || !c.funds[p.Fund] {
				return nil, false
			}
			k := balanceKey{a.id, p.Fund}
			if _, ok := st.balances[k]; ok {
				continue
			}
			b, ok := c.balances[k]
			if !ok {
				return nil, false
			}
			b.seenTx = b.lastTx
			st.balances[k] = &b
		}
	}
	return st, true
}

// tryRemembered records the batch through the remembered path. ok is false
// when it could not (nothing was written; take the locking path).
func (l *Ledger) tryRemembered(ctx context.Context, cw *chainWriter, batch []*request) (_ []result, ok bool) {
	st, ok := cw.cache.state(batch)
	if !ok {
		return nil, false
	}
	results, rows, err := applyBatch(ctx, nil, batch, st)
	if err != nil {
		return nil, false
	}
	for _, r := range results {
		if r.err != nil || r.tx.Replayed {
			// A rule broken against memory might be a replay of a key the
			// database already holds: only the locking path can tell.
			return nil, false
		}
	}
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	// The compare-and-set: divides by zero (22012), failing the whole
	// transaction, unless the head is where this process left it.
	b.Queue(`UPDATE ledger_chains SET last_id = CASE WHEN last_id = $1 AND changes = $2 THEN $3 ELSE last_id / 0 END, last_hash = $4
		WHERE chain_no = $5`, st.fromID, st.fromChanges, st.lastID, st.lastHash, cw.no)
	rows.queue(b, st.balances, true)
	b.Queue("COMMIT")
	conn, err := l.pool.Acquire(ctx)
	if err != nil {
		return nil, false
	}
	defer conn.Release()
	if err := conn.SendBatch(ctx, b).Close(); err != nil {
		// Nothing committed (a key already recorded fails its unique
		// index, a moved head divides by zero), or the outcome is unknown
		// (connection lost): either way memory is no longer trusted, and
		// the locking path finds out what is recorded.
		_, _ = conn.Exec(context.Background(), "ROLLBACK")
		cw.cache.forget()
		return nil, false
	}
	cw.cache.remember(st)
	l.remembered.Add(int64(len(batch)))
	return results, true
}
