package ledger

import (
	"context"
	"errors"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Chains. Each programme's transactions form their own hash chain, with
// their own head row and their own writers, so that programmes never wait
// for each other's locks (migration 018). A chain is named after the
// programme whose accounts a transaction moves (program/accounts.go names
// them prg:<programme>:…); a transaction naming no programme's account, or
// two programmes', is written to chain 0, named "".

// chainIDBits is how many low bits of a transaction id number it within
// its chain: chain n's ids are n·2³⁶ + 1, n·2³⁶ + 2, … without gaps.
const chainIDBits = 36

// ChainOf is the number of the chain transaction id belongs to.
func ChainOf(id int64) int64 { return id >> chainIDBits }

// chainStart is the id before chain n's first transaction.
func chainStart(n int64) int64 { return n << chainIDBits }

// chainName is the name of the chain r is written to.
func chainName(r *TransactionRequest) string {
	name := ""
	for i, p := range r.Postings {
		n := programmeOf(p.Account)
		if n == "" || (i > 0 && n != name) {
			return ""
		}
		name = n
	}
	return name
}

// programmeOf is "prg:<programme>" for an account prg:<programme>:…, else "".
func programmeOf(account string) string {
	rest, ok := strings.CutPrefix(account, "prg:")
	if !ok {
		return ""
	}
	id, _, ok := strings.Cut(rest, ":")
	if !ok || id == "" {
		return ""
	}
	return "prg:" + id
}

// chainWriter is one chain's queue, writers and memory in this process.
type chainWriter struct {
	name string
	// no is the chain's number, -1 until read from (or added to)
	// ledger_chains by the chain's first batch. Only its writers touch it.
	no    int64
	reqs  chan *request
	cache headCache
}

// chain returns the writer of the chain named name, starting it on first
// use. The caller holds l.mu for reading, with l.closed false.
func (l *Ledger) chain(name string) *chainWriter {
	l.chainsMu.RLock()
	cw, ok := l.chains[name]
	l.chainsMu.RUnlock()
	if ok {
		return cw
	}
	l.chainsMu.Lock()
	defer l.chainsMu.Unlock()
	cw, ok = l.chains[name]
	if !ok {
		cw = &chainWriter{name: name, no: -1, reqs: make(chan *request, l.opts.BatchSize*4)}
		if name == "" {
			cw.no = 0
		}
		l.chains[name] = cw
		for i := 0; i < l.opts.Writers; i++ {
			l.wg.Add(1)
			go l.writer(cw)
		}
	}
	return cw
}

// resolve reads the chain's number, adding the chain on its first
// transaction ever. Concurrent first writers of two new chains may pick the
// same number; the loser of the primary key tries the next one.
func (cw *chainWriter) resolve(ctx context.Context, pool *pgxpool.Pool) error {
	if cw.no >= 0 {
		return nil
	}
	for attempt := 0; attempt < 10; attempt++ {
		var no int64
		err := pool.QueryRow(ctx, "SELECT chain_no FROM ledger_chains WHERE name = $1", cw.name).Scan(&no)
		if err == nil {
			cw.no = no
			return nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		// ON CONFLICT DO NOTHING covers both races: the same name added
		// meanwhile (found by the next read) and the same number taken by
		// another name (the next attempt takes the one after).
		if _, err := pool.Exec(ctx, `INSERT INTO ledger_chains (chain_no, name, last_id, last_hash)
			SELECT n, $1, n::bigint << 36, $2 FROM (SELECT max(chain_no) + 1 AS n FROM ledger_chains) m
			ON CONFLICT DO NOTHING`, cw.name, make([]byte, 32)); err != nil {
			return err
		}
	}
	return errors.New("could not add chain " + cw.name + ": numbers kept being taken")
}
