package audit

import (
	"context"
	"encoding/hex"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/apoyo-cdmx/apoyo"
)

// Pending is the entry of one audited call, carried in the call's context
// so that the store whose transaction makes the change can write the entry
// in that same transaction (WriteInTx): the change and its record commit
// together or not at all.
//
// The application's audit decorator creates it with WithPending before the
// call and, once the call has returned with callErr, asks Committed(callErr)
// whether the entry committed with the change:
//
//   - true and callErr is nil: the change and its entry committed (store
//     methods call WriteInTx, then commit, and fail if the commit fails);
//     Entry is the stored entry. Nothing more to write.
//   - true and callErr is not nil: the entry committed, then the call
//     failed (a later step after the change). The decorator records the
//     failure as a second entry.
//   - false: no transaction that committed wrote it (a read, a change made
//     outside a transaction, a call that failed before or in its
//     transaction); the decorator appends the entry itself, with the
//     call's outcome.
//
// Written alone is not evidence: it is set when WriteInTx wrote the entry,
// and the transaction may have rolled back since. Committed trusts it
// without asking the database only when callErr is nil.
//
// One Pending belongs to one call; its mutex makes WriteInTx safe from
// several goroutines of that call. Read the fields only after the call has
// returned.
type Pending struct {
	// Entry is the entry to write; once written, the stored entry (Seq,
	// At, PrevHash and Hash set).
	Entry apoyo.AuditEntry
	// Written is set once WriteInTx has written Entry in a transaction.
	// It is only trusted once that transaction committed: see above.
	Written bool

	mu   sync.Mutex
	log  *Log
	orig apoyo.AuditEntry
	// ctx is WithPending's context without its cancellation, for the one
	// query Committed may need after the call's context has ended.
	ctx context.Context
}

type pendingKey struct{}

// WithPending returns ctx carrying e as the pending entry of the call
// about to run, to be written to l by WriteInTx, and the Pending to read
// afterwards. An inner WithPending hides an outer one for the calls below
// it.
func WithPending(ctx context.Context, l *Log, e apoyo.AuditEntry) (context.Context, *Pending) {
	p := &Pending{Entry: e, log: l, orig: e, ctx: context.WithoutCancel(ctx)}
	return context.WithValue(ctx, pendingKey{}, p), p
}

// PendingFrom returns the pending entry ctx carries, or nil.
func PendingFrom(ctx context.Context) *Pending {
	p, _ := ctx.Value(pendingKey{}).(*Pending)
	return p
}

// Note adds to the pending entry that ctx carries what only the change
// knows (the id it created, the state it reached), before WriteInTx
// writes it in the change's transaction. It does nothing when ctx carries
// no pending entry. Stores call it, so that an entry written inside their
// transaction names as much as one written after the call.
func Note(ctx context.Context, targets []string, detail map[string]string) {
	p := PendingFrom(ctx)
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.orig.Targets = append(append([]string(nil), p.orig.Targets...), targets...)
	if len(detail) > 0 {
		d := make(map[string]string, len(p.orig.Detail)+len(detail))
		for k, v := range p.orig.Detail {
			d[k] = v
		}
		for k, v := range detail {
			d[k] = v
		}
		p.orig.Detail = d
	}
}

// WriteInTx writes the pending entry that ctx carries inside tx, with
// outcome ok, so that it commits with the change tx makes. Call it as the
// last statement before committing (see AppendTx). It does nothing when
// ctx carries no pending entry, and writes the entry once: a later call,
// from the same or another store method of the call chain, finds the
// entry written and does nothing. If the transaction that wrote it rolled
// back (a store retrying in a new transaction), the entry is not in the
// log as tx sees it, and WriteInTx writes it again in tx.
func WriteInTx(ctx context.Context, tx pgx.Tx) error {
	p := PendingFrom(ctx)
	if p == nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.log == nil {
		return ErrNoLog
	}
	if p.Written {
		// The same transaction sees its own insert; another one sees it
		// once the writing transaction committed.
		there, err := p.log.exists(ctx, tx, p.Entry)
		if err != nil || there {
			return err
		}
	}
	e := p.orig
	e.Outcome = apoyo.AuditOK
	stored, err := p.log.AppendTx(ctx, tx, e)
	if err != nil {
		return err
	}
	p.Entry, p.Written = stored, true
	return nil
}

// committedCheckTimeout bounds Committed's query.
const committedCheckTimeout = 5 * time.Second

// Committed reports whether the entry committed with the call's change,
// given the call's result callErr: false when WriteInTx never wrote it;
// true when it did and the call succeeded (the store committed); and when
// the call failed, what the database says: whether the entry is in the
// log, that is, whether the transaction that wrote it committed. If the
// database cannot tell, it answers false, and the decorator records the
// call as failed, which is true in any case.
func (p *Pending) Committed(callErr error) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.Written || p.log == nil {
		return false
	}
	if callErr == nil {
		return true
	}
	ctx, cancel := context.WithTimeout(p.ctx, committedCheckTimeout)
	defer cancel()
	there, err := p.log.exists(ctx, p.log.pool, p.Entry)
	return err == nil && there
}

// queryRower is a transaction or the pool.
type queryRower interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// exists reports whether the log, as q sees it, holds e at its Seq with
// its Hash.
func (l *Log) exists(ctx context.Context, q queryRower, e apoyo.AuditEntry) (bool, error) {
	h, err := hex.DecodeString(e.Hash)
	if err != nil {
		return false, ErrInvalid.With("is not hex").At(0, "hash")
	}
	var there bool
	if err := q.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM audit_log WHERE seq = $1 AND hash = $2)", e.Seq, h).Scan(&there); err != nil {
		return false, storeErr("looking for the pending entry", err)
	}
	return there, nil
}
