package ledger

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"

	"github.com/apoyo-cdmx/apoyo"
)

// Options tune the ledger's writer.
type Options struct {
	// BatchSize is the most transactions committed in one database
	// transaction. Default 512.
	BatchSize int
	// Writers is the number of batching goroutines per chain (one chain
	// per programme; see chain.go). They serialise on their chain's head,
	// so more than one only overlaps round trips. Default 1.
	Writers int
	// Linger is the longest a batch waits for the requests it expects
	// (as many as the previous batch held). Default 2ms.
	Linger time.Duration
}

// Ledger records and reads the journal. It is safe for concurrent use; many
// processes may share one database.
type Ledger struct {
	pool *pgxpool.Pool
	opts Options

	wg sync.WaitGroup
	// mu guards closed: senders hold it for reading, Close for writing.
	mu     sync.RWMutex
	closed bool
	// chains are the writers of each chain this process has written to,
	// by chain name; started on first use.
	chainsMu sync.RWMutex
	chains   map[string]*chainWriter
	scales   atomic.Pointer[map[string]int32] // currency → decimals; loaded once
	scaleMu  sync.Mutex
	// observer, when set, hears of every batch (metrics).
	observer atomic.Pointer[BatchObserver]
	// remembered counts the transactions recorded through a chain's
	// memory (see headCache).
	remembered atomic.Int64
}

// BatchObserver hears of every batch the writer commits: how many
// transactions, how long the commit took (retries included), and its
// error (nil when committed).
type BatchObserver func(size int, took time.Duration, err error)

// Observe sets the batch observer (nil: none). Safe to call at any time.
func (l *Ledger) Observe(o BatchObserver) {
	if o == nil {
		l.observer.Store(nil)
		return
	}
	l.observer.Store(&o)
}

type request struct {
	tx      TransactionRequest
	hash    []byte
	meta    []byte // the metadata JSON the journal stores (see encodeMetadata)
	scale   int32
	chain   string // the name of the chain it is written to (chainName)
	result  chan result
	enqueue time.Time
}

type result struct {
	tx  Transaction
	err error
}

// New returns a Ledger writing through pool and starts its writers; Close
// stops them.
func New(pool *pgxpool.Pool, opts Options) *Ledger {
	if opts.BatchSize <= 0 {
		opts.BatchSize = 512
	}
	if opts.Writers <= 0 {
		opts.Writers = 1
	}
	if opts.Linger <= 0 {
		opts.Linger = 2 * time.Millisecond
	}
	return &Ledger{pool: pool, opts: opts, chains: map[string]*chainWriter{}}
}

// Close stops accepting transactions, finishes those queued, and waits.
func (l *Ledger) Close() {
	l.mu.Lock()
	if !l.closed {
		l.closed = true
		l.chainsMu.Lock()
		for _, cw := range l.chains {
			close(cw.reqs)
		}
		l.chainsMu.Unlock()
	}
	l.mu.Unlock()
	l.wg.Wait()
}

// Pool is the connection pool the ledger uses.
func (l *Ledger) Pool() *pgxpool.Pool { return l.pool }

// Post records one transaction and returns it. Errors: ErrMissingKey,
// ErrTooFewPostings, ErrNonPositiveAmount, ErrAmountPrecision,
// ErrUnbalanced, ErrBadDirection, ErrUnknownCurrency (invalid input);
// ErrUnknownAccount, ErrUnknownFund (not found); ErrCurrencyMismatch;
// ErrAccountClosed, ErrIdempotencyConflict, ErrBalanceRule,
// ErrAlreadyReversed (conflicts); ErrClosed or a wrapped database error
// (retryable: the same request with the same key is safe to send again).
func (l *Ledger) Post(ctx context.Context, r TransactionRequest) (Transaction, error) {
	res := l.PostBatch(ctx, []TransactionRequest{r})
	return res[0].Transaction, res[0].Err
}

// Result is the outcome of one request of a batch.
type Result struct {
	Transaction Transaction
	Err         error
}

// PostBatch records many transactions, each succeeding or failing on its
// own (one request's broken rule does not fail the others). Results are in
// request order; errors are those of Post.
func (l *Ledger) PostBatch(ctx context.Context, rs []TransactionRequest) []Result {
	out := make([]Result, len(rs))
	reqs := make([]*request, len(rs))
	for i := range rs {
		r := rs[i]
		scale, err := l.scale(ctx, r.Currency)
		if err == nil {
			err = validate(&r, scale)
		}
		var meta []byte
		if err == nil {
			meta, err = encodeMetadata(r.Metadata)
		}
		if err != nil {
			out[i].Err = err
			continue
		}
		reqs[i] = &request{tx: r, hash: requestHash(&r, scale), meta: meta, scale: scale, chain: chainName(&r), result: make(chan result, 1), enqueue: time.Now()}
	}
	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		for i := range out {
			if out[i].Err == nil {
				out[i].Err = ErrClosed
			}
		}
		return out
	}
	for _, q := range reqs {
		if q != nil {
			l.chain(q.chain).reqs <- q
		}
	}
	l.mu.RUnlock()
	for i, q := range reqs {
		if q == nil {
			continue
		}
		select {
		case res := <-q.result:
			out[i] = Result{Transaction: res.tx, Err: res.err}
		case <-ctx.Done():
			// The request may still commit; the caller retries with the
			// same key and gets the recorded transaction back.
			out[i].Err = ctx.Err()
		}
	}
	return out
}

// scale returns the currency's number of decimals. The table is read
// once; afterwards every request on the hot path reads it without a lock.
func (l *Ledger) scale(ctx context.Context, currency string) (int32, error) {
	scales := l.scales.Load()
	if scales == nil {
		l.scaleMu.Lock()
		if scales = l.scales.Load(); scales == nil {
			m, err := loadScales(ctx, l.pool)
			if err != nil {
				l.scaleMu.Unlock()
				return 0, apoyo.Errorf(apoyo.EUNAVAILABLE, "ledger.db", "reading currencies: %v", err)
			}
			scales = &m
			l.scales.Store(scales)
		}
		l.scaleMu.Unlock()
	}
	s, ok := (*scales)[currency]
	if !ok {
		return 0, ErrUnknownCurrency.With("unknown currency %q", currency)
	}
	return s, nil
}

// loadScales reads every currency's number of decimals.
func loadScales(ctx context.Context, q querier) (map[string]int32, error) {
	rows, err := q.Query(ctx, "SELECT code, scale FROM ledger_currencies")
	if err != nil {
		return nil, err
	}
	m := map[string]int32{}
	for rows.Next() {
		var c string
		var s int16
		if err := rows.Scan(&c, &s); err != nil {
			rows.Close()
			return nil, err
		}
		m[c] = int32(s)
	}
	return m, rows.Err()
}

// validate checks what can be checked without the database.
func validate(r *TransactionRequest, scale int32) error {
	if r.IdempotencyKey == "" {
		return ErrMissingKey.With("idempotency key is required (1–%d characters)", MaxIdempotencyKeyLen)
	}
	// Text first: nothing that PostgreSQL would refuse (failing the whole
	// batch it travels in) or store differently from what is hashed gets
	// further than this.
	if err := checkText("idempotency_key", r.IdempotencyKey, MaxIdempotencyKeyLen); err != nil {
		return err
	}
	if err := checkText("description", r.Description, MaxDescriptionLen); err != nil {
		return err
	}
	if err := checkMetadata(r.Metadata); err != nil {
		return err
	}
	for i, p := range r.Postings {
		// The field's name is built only for an error: this runs for
		// every posting of every transfer.
		if problem := textProblem(p.Account, MaxAccountCodeLen); problem != "" {
			return ErrInvalidText.With("%s", problem).At(0, fmt.Sprintf("postings[%d].account", i+1))
		}
		if problem := textProblem(p.Fund, MaxFundCodeLen); problem != "" {
			return ErrInvalidText.With("%s", problem).At(0, fmt.Sprintf("postings[%d].fund", i+1))
		}
	}
	if len(r.Postings) < 2 {
		return ErrTooFewPostings.With("transaction %s has %d posting(s); at least two are required", r.IdempotencyKey, len(r.Postings))
	}
	if len(r.Postings) > 1000 {
		return ErrTooFewPostings.With("transaction %s has %d postings; at most 1000", r.IdempotencyKey, len(r.Postings))
	}
	var debits, credits decimal.Decimal
	for i, p := range r.Postings {
		if p.Account == "" {
			return ErrUnknownAccount.With("posting %d: account is required", i+1)
		}
		if p.Fund == "" {
			return ErrUnknownFund.With("posting %d: fund is required", i+1)
		}
		if !p.Amount.IsPositive() {
			return ErrNonPositiveAmount.With("posting %d (%s): amount %s must be greater than zero", i+1, p.Account, p.Amount)
		}
		if p.Amount.Exponent() < -scale && !p.Amount.Equal(p.Amount.Truncate(scale)) {
			return ErrAmountPrecision.With("posting %d (%s): amount %s has more than %d decimals for %s", i+1, p.Account, p.Amount, scale, r.Currency)
		}
		switch p.Direction {
		case Debit:
			debits = debits.Add(p.Amount)
		case Credit:
			credits = credits.Add(p.Amount)
		default:
			return ErrBadDirection.With("posting %d (%s): direction %q", i+1, p.Account, p.Direction)
		}
	}
	if !debits.Equal(credits) {
		return ErrUnbalanced.With("transaction %s: debits %s ≠ credits %s", r.IdempotencyKey, debits.StringFixed(scale), credits.StringFixed(scale))
	}
	return nil
}

// writer drains the queue in batches. It blocks for the first request,
// then gathers more until the batch holds as many as the previous one did
// (callers whose transfers just committed are submitting their next ones)
// or Linger passes, up to BatchSize. Under load batches grow with the load,
// so the hot budget row is locked and the commit paid once per batch, not
// once per transfer; a lone caller never waits, because its previous batch
// held one request.
func (l *Ledger) writer(cw *chainWriter) {
	defer l.wg.Done()
	batch := make([]*request, 0, l.opts.BatchSize)
	expect := 1
	for first := range cw.reqs {
		batch = append(batch[:0], first)
		var timer *time.Timer
	fill:
		for len(batch) < l.opts.BatchSize {
			select {
			case q, ok := <-cw.reqs:
				if !ok {
					break fill
				}
				batch = append(batch, q)
				continue
			default:
			}
			if len(batch) >= expect {
				break
			}
			if timer == nil {
				timer = time.NewTimer(l.opts.Linger)
			}
			select {
			case q, ok := <-cw.reqs:
				if !ok {
					break fill
				}
				batch = append(batch, q)
			case <-timer.C:
				break fill
			}
		}
		if timer != nil {
			timer.Stop()
		}
		expect = len(batch)
		start := time.Now()
		err := l.commitBatch(cw, batch)
		if o := l.observer.Load(); o != nil {
			(*o)(len(batch), time.Since(start), err)
		}
	}
}

// commitBatch records a batch: through the remembered path when it can
// (see headCache), else the locking path, retrying the whole database
// transaction on a serialization failure or deadlock; each request gets
// its own result.
// It returns the batch's database error (nil when committed).
func (l *Ledger) commitBatch(cw *chainWriter, batch []*request) error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var results []result
	ok := false
	err := cw.resolve(ctx, l.pool)
	if err == nil {
		results, ok = l.tryRemembered(ctx, cw, batch)
	}
	for attempt := 0; err == nil && !ok && attempt < 3; attempt++ {
		results, err = l.tryBatch(ctx, cw, batch)
		if err == nil || !retryableDB(err) {
			break
		}
	}
	for i, q := range batch {
		if err != nil {
			q.result <- result{err: apoyo.Errorf(apoyo.EUNAVAILABLE, "ledger.db", "recording transaction %s: %v", q.tx.IdempotencyKey, err).Wrap(err)}
			continue
		}
		q.result <- results[i]
	}
	return err
}

func retryableDB(err error) bool {
	var pgErr interface{ SQLState() string }
	if errors.As(err, &pgErr) {
		switch pgErr.SQLState() {
		case "40001", "40P01":
			return true
		case "23505":
			// A key recorded meanwhile by another chain's batch: the next
			// attempt reads it and answers this request with a conflict.
			return true
		}
	}
	return false
}

type balanceKey struct {
	AccountID int64
	Fund      string
}

type balanceRow struct {
	balance, debits, credits decimal.Decimal
	min                      *decimal.Decimal
	sign                     int64
	account                  string
	dirty                    bool
	lastTx                   int64
	// seenTx is lastTx as remembered, for the remembered path's guard.
	seenTx int64
}

type accountRow struct {
	id       int64
	code     string
	typ      apoyo.AccountType
	currency string
	min      *decimal.Decimal
	closed   bool
}

type seenKey struct {
	id   int64
	hash []byte
	tx   *Transaction
}

// tryBatch records a batch in one database transaction of two pipelined
// round trips: the first takes its chain's head lock and reads everything
// the batch needs (recorded keys, accounts, funds, earlier reversals) and
// locks the balances it touches; the second writes the journal rows, the
// balances and the new head, and commits. Fewer round trips per batch
// means a shorter hold on the hot budget row.
func (l *Ledger) tryBatch(ctx context.Context, cw *chainWriter, batch []*request) (_ []result, err error) {
	conn, err := l.pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	inTx := false
	defer func() {
		if inTx {
			// Best effort; a connection left mid-transaction is discarded
			// by the pool on Release.
			_, _ = conn.Exec(context.Background(), "ROLLBACK")
		}
		conn.Release()
	}()

	keys := make([]string, 0, len(batch))
	codeSet := map[string]struct{}{}
	fundSet := map[string]struct{}{}
	type pair struct{ code, fund string }
	pairSet := map[pair]struct{}{}
	var reversed []int64
	for _, q := range batch {
		keys = append(keys, q.tx.IdempotencyKey)
		for _, p := range q.tx.Postings {
			codeSet[p.Account] = struct{}{}
			fundSet[p.Fund] = struct{}{}
			pairSet[pair{p.Account, p.Fund}] = struct{}{}
		}
		if q.tx.reverses != 0 {
			reversed = append(reversed, q.tx.reverses)
		}
	}
	pairCodes := make([]string, 0, len(pairSet))
	pairFunds := make([]string, 0, len(pairSet))
	for p := range pairSet {
		pairCodes = append(pairCodes, p.code)
		pairFunds = append(pairFunds, p.fund)
	}

	// Round trip 1.
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	// The chain head: one lock per batch orders the chain's appends, from
	// every process (and so no two batches of a chain race on a key; the
	// same key with other accounts, on another chain, meets the unique
	// index and the batch is tried again: see retryableDB).
	b.Queue("SELECT last_id, last_hash, changes FROM ledger_chains WHERE chain_no = $1 FOR UPDATE", cw.no)
	// LATERAL makes each key one probe of the unique index whatever the
	// planner's statistics say: a cached plan built while the journal was
	// small would otherwise scan it whole, growing with the journal.
	b.Queue(`SELECT t.idempotency_key, t.id, t.request_hash FROM unnest($1::text[]) AS k(key)
		CROSS JOIN LATERAL (SELECT idempotency_key, id, request_hash FROM ledger_transactions WHERE idempotency_key = k.key) t`, keys)
	b.Queue("SELECT id, code, type, currency, min_balance, closed_at IS NOT NULL FROM ledger_accounts WHERE code = ANY($1)", setKeys(codeSet))
	b.Queue("SELECT code FROM ledger_funds WHERE code = ANY($1)", setKeys(fundSet))
	b.Queue(`SELECT t.reverses_id FROM unnest($1::bigint[]) AS r(id)
		CROSS JOIN LATERAL (SELECT reverses_id FROM ledger_transactions WHERE reverses_id = r.id) t`, reversed)
	// Balance rows for every (account, fund) the batch touches, created
	// when missing (only for accounts and funds that exist: the requests
	// naming others fail on their own), then locked in a fixed order.
	b.Queue(`INSERT INTO ledger_balances (account_id, fund, min_balance)
		SELECT a.id, u.fund, a.min_balance FROM unnest($1::text[], $2::text[]) AS u(code, fund)
		JOIN ledger_accounts a ON a.code = u.code JOIN ledger_funds f ON f.code = u.fund
		ON CONFLICT DO NOTHING`, pairCodes, pairFunds)
	b.Queue(`SELECT b.account_id, b.fund, b.balance, b.debits, b.credits, b.last_transaction_id
		FROM ledger_balances b JOIN ledger_accounts a ON a.id = b.account_id
		JOIN unnest($1::text[], $2::text[]) AS u(code, fund) ON a.code = u.code AND b.fund = u.fund
		ORDER BY b.account_id, b.fund FOR UPDATE OF b`, pairCodes, pairFunds)
	inTx = true
	br := conn.SendBatch(ctx, b)

	var lastID, changes int64
	var lastHash []byte
	seen := map[string]*seenKey{}
	accounts := map[string]*accountRow{}
	byID := map[int64]*accountRow{}
	funds := map[string]bool{}
	alreadyReversed := map[int64]bool{}
	balances := map[balanceKey]*balanceRow{}
	err = func() error {
		if _, err := br.Exec(); err != nil {
			return err
		}
		if err := br.QueryRow().Scan(&lastID, &lastHash, &changes); err != nil {
			return err
		}
		rows, err := br.Query()
		if err != nil {
			return err
		}
		for rows.Next() {
			var k string
			s := &seenKey{}
			if err := rows.Scan(&k, &s.id, &s.hash); err != nil {
				return err
			}
			seen[k] = s
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if rows, err = br.Query(); err != nil {
			return err
		}
		for rows.Next() {
			a := &accountRow{}
			if err := rows.Scan(&a.id, &a.code, &a.typ, &a.currency, &a.min, &a.closed); err != nil {
				return err
			}
			accounts[a.code] = a
			byID[a.id] = a
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if rows, err = br.Query(); err != nil {
			return err
		}
		for rows.Next() {
			var c string
			if err := rows.Scan(&c); err != nil {
				return err
			}
			funds[c] = true
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if rows, err = br.Query(); err != nil {
			return err
		}
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				return err
			}
			alreadyReversed[id] = true
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if _, err := br.Exec(); err != nil {
			return err
		}
		if rows, err = br.Query(); err != nil {
			return err
		}
		for rows.Next() {
			var k balanceKey
			b := &balanceRow{}
			if err := rows.Scan(&k.AccountID, &k.Fund, &b.balance, &b.debits, &b.credits, &b.lastTx); err != nil {
				return err
			}
			a := byID[k.AccountID]
			b.min, b.sign, b.account = a.min, a.typ.NormalSign(), a.code
			balances[k] = b
		}
		return rows.Err()
	}()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}

	st := &batchState{lastID: lastID, lastHash: lastHash, changes: changes, fromID: lastID, fromChanges: changes, seen: seen, accounts: accounts, funds: funds,
		alreadyReversed: alreadyReversed, balances: balances}
	results, rows, err := applyBatch(ctx, conn, batch, st)
	if err != nil {
		return nil, err
	}
	// Round trip 2: journal rows, balances, head, commit.
	b = &pgx.Batch{}
	if rows.len() > 0 {
		rows.queue(b, st.balances, false)
		b.Queue("UPDATE ledger_chains SET last_id = $1, last_hash = $2 WHERE chain_no = $3", st.lastID, st.lastHash, cw.no)
	}
	b.Queue("COMMIT")
	if err := conn.SendBatch(ctx, b).Close(); err != nil {
		return nil, err
	}
	inTx = false
	cw.cache.remember(st)
	return results, nil
}

func setKeys(m map[string]struct{}) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// resolve turns a request's postings into stored postings, checking
// accounts, funds and currency.
func resolve(r *TransactionRequest, accounts map[string]*accountRow, funds map[string]bool) ([]storedPosting, error) {
	out := make([]storedPosting, len(r.Postings))
	for i, p := range r.Postings {
		a, ok := accounts[p.Account]
		if !ok {
			return nil, ErrUnknownAccount.With("posting %d: unknown account %q", i+1, p.Account)
		}
		if a.closed {
			return nil, ErrAccountClosed.With("posting %d: account %q is closed", i+1, p.Account)
		}
		if a.currency != r.Currency {
			return nil, ErrCurrencyMismatch.With("posting %d: account %q is in %s, the transaction in %s", i+1, p.Account, a.currency, r.Currency)
		}
		if !funds[p.Fund] {
			return nil, ErrUnknownFund.With("posting %d: unknown fund %q", i+1, p.Fund)
		}
		amt := p.Amount
		if p.Direction == Credit {
			amt = amt.Neg()
		}
		out[i] = storedPosting{AccountID: a.id, Fund: p.Fund, Amount: amt}
	}
	return out, nil
}

// applyRules applies postings to the in-memory balances if no balance rule
// breaks, and leaves them untouched otherwise.
func applyRules(ps []storedPosting, balances map[balanceKey]*balanceRow, key string) error {
	// Net effect per balance first: a transaction may touch one account
	// twice, and only the end state counts.
	net := map[balanceKey]decimal.Decimal{}
	for _, p := range ps {
		k := balanceKey{p.AccountID, p.Fund}
		net[k] = net[k].Add(p.Amount)
	}
	for k, d := range net {
		b := balances[k]
		next := b.balance.Add(d.Mul(decimal.NewFromInt(b.sign)))
		if b.min != nil && next.LessThan(*b.min) {
			return ErrBalanceRule.With("transaction %s would take %s (fund %s) to %s, below its minimum %s: short by %s",
				key, b.account, k.Fund, next.StringFixed(2), b.min.StringFixed(2), b.min.Sub(next).StringFixed(2))
		}
	}
	for _, p := range ps {
		b := balances[balanceKey{p.AccountID, p.Fund}]
		b.balance = b.balance.Add(p.Amount.Mul(decimal.NewFromInt(b.sign)))
		if p.Amount.IsPositive() {
			b.debits = b.debits.Add(p.Amount)
		} else {
			b.credits = b.credits.Sub(p.Amount)
		}
		b.dirty = true
	}
	return nil
}

// Reverse records the mirror of transaction id (every debit a credit and
// back) under key, linked to the original. Errors: ErrTransactionNotFound,
// ErrAlreadyReversed, ErrBalanceRule (reversing a funding deposit that has
// been spent), and those of Post.
func (l *Ledger) Reverse(ctx context.Context, id int64, key, description string) (Transaction, error) {
	orig, err := l.Transaction(ctx, id)
	if err != nil {
		return Transaction{}, err
	}
	r := TransactionRequest{IdempotencyKey: key, Currency: orig.Currency, Description: description,
		Metadata: orig.Metadata, reverses: id}
	for _, p := range orig.Postings {
		d := Credit
		if p.Direction == Credit {
			d = Debit
		}
		r.Postings = append(r.Postings, Posting{Account: p.Account, Fund: p.Fund, Direction: d, Amount: p.Amount})
	}
	if r.Description == "" {
		r.Description = fmt.Sprintf("reversal of transaction %d", id)
	}
	return l.Post(ctx, r)
}
