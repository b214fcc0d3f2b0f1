// Package audit is the append-only, hash-chained audit log in PostgreSQL:
// the record of who did what to which ids through apoyo, how it ended and,
// for a read of personal data, why.
//
// The log exists so that an auditor can trust it without trusting the
// people who run apoyo. Triggers refuse UPDATE, DELETE and TRUNCATE on the
// table (migration 012_audit_log.sql), and every entry's hash covers all its
// fields and the hash of the entry before it (hash.go): whoever goes around
// the triggers, as a superuser can, breaks the chain, and Verify names the
// first entry that no longer holds. Head gives the chain's last hash to
// publish or have countersigned elsewhere, so that even a rewrite of the
// whole chain shows.
//
// Every append locks the chain's head row, so entries are numbered 1..n
// without gaps and the chain is linear, whichever process writes. An entry
// written with AppendTx, or through WithPending and WriteInTx, commits or
// rolls back with the change it records: there is no change without its
// entry and no entry for a change that did not happen.
package audit

import (
	"context"
	"encoding/hex"
	"slices"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/apoyo-cdmx/apoyo"
)

// Errors the log returns. Each is an *apoyo.Error: compare with errors.Is;
// the returned error carries the specifics (and the field) in its message.
var (
	// ErrInvalid: an entry or filter that breaks the rules of Validate
	// (bad text, a missing action, an unknown outcome). Field names it.
	ErrInvalid = apoyo.Errorf(apoyo.EINVALID, "audit.invalid", "invalid audit entry")
	// ErrStore: the database failed a read or write of the log. The cause
	// is wrapped; retrying may succeed.
	ErrStore = apoyo.Errorf(apoyo.EUNAVAILABLE, "audit.store", "audit log storage failed")
	// ErrNoLog: WriteInTx found a pending entry with no log to write it
	// to (WithPending was given a nil *Log): a wiring bug.
	ErrNoLog = apoyo.Errorf(apoyo.EINTERNAL, "audit.no_log", "pending audit entry has no log")
)

// storeErr wraps a database error as ErrStore, saying what was being done.
// A cause that is already an *apoyo.Error is returned as it is.
func storeErr(op string, err error) error { return apoyo.StoreError(ErrStore.Reason, op, err) }

// List limits: a read of the log is paged, so that no request can make
// the server hold the whole log in memory.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

// Log is the audit log in one PostgreSQL database. It is safe for
// concurrent use; it holds no state besides the pool.
type Log struct{ pool *pgxpool.Pool }

// New returns the log stored in pool's database (migrated to 012 or later).
func New(pool *pgxpool.Pool) *Log { return &Log{pool: pool} }

// Append writes e in a transaction of its own and returns the stored
// entry. The log sets Seq (the head's plus one), At (now, unless e.At is
// set; either way in UTC, truncated to microseconds), PrevHash and Hash
// (hex); Seq, PrevHash and Hash given in e are ignored. Use it for entries
// that record no change of the database (reads, refusals, failures); an
// entry that records a change belongs in the change's transaction
// (AppendTx, WriteInTx).
func (l *Log) Append(ctx context.Context, e apoyo.AuditEntry) (apoyo.AuditEntry, error) {
	if err := Validate(e); err != nil {
		return apoyo.AuditEntry{}, err
	}
	tx, err := l.pool.Begin(ctx)
	if err != nil {
		return apoyo.AuditEntry{}, storeErr("beginning", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck
	stored, err := l.appendTx(ctx, tx, e)
	if err != nil {
		return apoyo.AuditEntry{}, err
	}
	if err := tx.Commit(ctx); err != nil {
		return apoyo.AuditEntry{}, storeErr("committing", err)
	}
	return stored, nil
}

// AppendTx writes e inside the caller's transaction tx, so that the entry
// commits or rolls back with the change it records; it sets the same
// fields as Append. It locks the chain head until tx ends, which orders
// every other append after it: call it as the last statement before
// committing, to hold the lock briefly and always take it last (the same
// lock order everywhere means no deadlock). A rolled-back tx leaves
// neither the entry nor a gap in Seq.
func (l *Log) AppendTx(ctx context.Context, tx pgx.Tx, e apoyo.AuditEntry) (apoyo.AuditEntry, error) {
	if err := Validate(e); err != nil {
		return apoyo.AuditEntry{}, err
	}
	return l.appendTx(ctx, tx, e)
}

// appendTx is AppendTx for an entry already validated.
func (l *Log) appendTx(ctx context.Context, tx pgx.Tx, e apoyo.AuditEntry) (apoyo.AuditEntry, error) {
	detail, err := encodeDetail(e.Detail)
	if err != nil {
		return apoyo.AuditEntry{}, err
	}
	var last int64
	var prev []byte
	if err := tx.QueryRow(ctx, "SELECT last_seq, last_hash FROM audit_chain_head FOR UPDATE").Scan(&last, &prev); err != nil {
		return apoyo.AuditEntry{}, storeErr("locking the chain head", err)
	}
	// The time is taken under the lock, so that entries' times follow
	// their order whenever the clocks of the writers agree.
	e = normalize(e, time.Now())
	e.Seq = last + 1
	h := entryHash(prev, &e)
	if _, err := tx.Exec(ctx, `INSERT INTO audit_log (seq, at, actor_id, actor_name, role, secretariat, via, token_id,
			action, targets, purpose, outcome, error_code, error_reason, request_id, detail, prev_hash, hash)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)`,
		e.Seq, e.At, e.ActorID, e.ActorName, string(e.Role), string(e.Secretariat), e.Via, e.TokenID,
		string(e.Action), e.Targets, e.Purpose, string(e.Outcome), string(e.ErrorCode), e.ErrorReason, e.RequestID,
		detail, prev, h); err != nil {
		return apoyo.AuditEntry{}, storeErr("inserting", err)
	}
	if _, err := tx.Exec(ctx, "UPDATE audit_chain_head SET last_seq = $1, last_hash = $2", e.Seq, h); err != nil {
		return apoyo.AuditEntry{}, storeErr("moving the chain head", err)
	}
	e.PrevHash = hex.EncodeToString(prev)
	e.Hash = hex.EncodeToString(h)
	return e, nil
}

// columns are audit_log's columns in the order scanEntry reads them.
const columns = `seq, at, actor_id, actor_name, role, secretariat, via, token_id, action, targets,
	purpose, outcome, error_code, error_reason, request_id, detail, prev_hash, hash`

// scanEntry reads one row of columns into an entry shaped as AppendTx
// returns it, and returns the raw hashes too (Verify needs the bytes).
func scanEntry(row pgx.Row) (e apoyo.AuditEntry, prev, h []byte, err error) {
	var role, secretariat, action, outcome, errorCode string
	if err = row.Scan(&e.Seq, &e.At, &e.ActorID, &e.ActorName, &role, &secretariat, &e.Via, &e.TokenID,
		&action, &e.Targets, &e.Purpose, &outcome, &errorCode, &e.ErrorReason, &e.RequestID,
		&e.Detail, &prev, &h); err != nil {
		return e, nil, nil, err
	}
	e.Role, e.Secretariat, e.Action = apoyo.Role(role), apoyo.Secretariat(secretariat), apoyo.Action(action)
	e.Outcome, e.ErrorCode = apoyo.AuditOutcome(outcome), apoyo.ErrorCode(errorCode)
	e.At = e.At.UTC()
	if e.Targets == nil {
		e.Targets = []string{}
	}
	if len(e.Detail) == 0 {
		e.Detail = nil
	}
	e.PrevHash, e.Hash = hex.EncodeToString(prev), hex.EncodeToString(h)
	return e, prev, h, nil
}

// List returns the entries that match f, in Seq order: ActorID, Action and
// Outcome equal, Target among the entry's targets, Since <= At < Until,
// Seq > After. At most f.Limit entries are returned (DefaultLimit when
// zero or less, MaxLimit when more); to page, pass the last Seq returned
// as the next After.
func (l *Log) List(ctx context.Context, f apoyo.AuditFilter) ([]apoyo.AuditEntry, error) {
	for _, c := range []struct{ field, s string }{
		{"actor_id", f.ActorID}, {"action", string(f.Action)}, {"target", f.Target},
	} {
		if err := checkText(c.field, c.s, MaxTextLen); err != nil {
			return nil, err
		}
	}
	switch f.Outcome {
	case "", apoyo.AuditOK, apoyo.AuditFailed, apoyo.AuditDenied:
	default:
		return nil, ErrInvalid.With("must be ok, failed or denied").At(0, "outcome")
	}
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultLimit
	}
	limit = min(limit, MaxLimit)

	sql := "SELECT " + columns + " FROM audit_log WHERE seq > $1"
	args := []any{max(f.After, 0)}
	add := func(cond string, v any) {
		args = append(args, v)
		sql += " AND " + cond + " $" + strconv.Itoa(len(args))
	}
	if f.ActorID != "" {
		add("actor_id =", f.ActorID)
	}
	if f.Action != "" {
		add("action =", string(f.Action))
	}
	if f.Target != "" {
		// @> rather than = ANY, so the GIN index on targets serves it.
		add("targets @>", []string{f.Target})
	}
	if f.Outcome != "" {
		add("outcome =", string(f.Outcome))
	}
	if !f.Since.IsZero() {
		add("at >=", f.Since)
	}
	if !f.Until.IsZero() {
		add("at <", f.Until)
	}
	args = append(args, limit)
	sql += " ORDER BY seq LIMIT $" + strconv.Itoa(len(args))

	rows, err := l.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, storeErr("listing", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (apoyo.AuditEntry, error) {
		e, _, _, err := scanEntry(r)
		return e, err
	})
	if err != nil {
		return nil, storeErr("listing", err)
	}
	return out, nil
}

// Head returns the chain's last entry: its Seq, Hash and At, as the head
// row records them; the zero AuditHead for an empty log.
func (l *Log) Head(ctx context.Context) (apoyo.AuditHead, error) {
	var seq int64
	var h []byte
	var at *time.Time
	if err := l.pool.QueryRow(ctx, `SELECT h.last_seq, h.last_hash, a.at
		FROM audit_chain_head h LEFT JOIN audit_log a ON a.seq = h.last_seq`).Scan(&seq, &h, &at); err != nil {
		return apoyo.AuditHead{}, storeErr("reading the head", err)
	}
	if seq == 0 {
		return apoyo.AuditHead{}, nil
	}
	head := apoyo.AuditHead{Seq: seq, Hash: hex.EncodeToString(h)}
	if at != nil {
		head.At = at.UTC()
	}
	return head, nil
}

// Handled returns, of caseIDs, those that actorID acted on with one of
// apoyo.CaseworkActions and outcome ok: the evidence separation of duties
// needs, since a caseworker who handled a case may not approve it. Only
// handled cases are in the map (a missing key reads as false).
func (l *Log) Handled(ctx context.Context, actorID string, caseIDs []string) (map[string]bool, error) {
	out := map[string]bool{}
	if err := checkText("actor_id", actorID, MaxTextLen); err != nil {
		return nil, err
	}
	for i, id := range caseIDs {
		if p := textProblem(id, MaxTextLen); p != "" {
			return nil, ErrInvalid.With("id %d %s", i+1, p).At(0, "case_ids")
		}
	}
	if actorID == "" || len(caseIDs) == 0 {
		return out, nil
	}
	actions := make([]string, len(apoyo.CaseworkActions))
	for i, a := range apoyo.CaseworkActions {
		actions[i] = string(a)
	}
	rows, err := l.pool.Query(ctx, `SELECT DISTINCT t.id
		FROM audit_log a CROSS JOIN LATERAL unnest(a.targets) AS t(id)
		WHERE a.actor_id = $1 AND a.action = ANY($2) AND a.outcome = 'ok'
		  AND a.targets && $3::text[] AND t.id = ANY($3::text[])`, actorID, actions, caseIDs)
	if err != nil {
		return nil, storeErr("reading handled cases", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, storeErr("reading handled cases", err)
	}
	for _, id := range ids {
		out[id] = true
	}
	return out, nil
}

// SecretariatsActedFor lists, sorted, the secretariats actorID acted for
// with an ok apoyo.ActApprovalVote or apoyo.ActRosterSign entry (the
// entry's Secretariat): one person may approve for one secretariat only,
// whatever their account says today.
func (l *Log) SecretariatsActedFor(ctx context.Context, actorID string) ([]apoyo.Secretariat, error) {
	if err := checkText("actor_id", actorID, MaxTextLen); err != nil {
		return nil, err
	}
	out := []apoyo.Secretariat{}
	if actorID == "" {
		return out, nil
	}
	rows, err := l.pool.Query(ctx, `SELECT DISTINCT secretariat FROM audit_log
		WHERE actor_id = $1 AND action = ANY($2) AND outcome = 'ok' AND secretariat <> ''`,
		actorID, []string{string(apoyo.ActApprovalVote), string(apoyo.ActRosterSign)})
	if err != nil {
		return nil, storeErr("reading secretariats", err)
	}
	out, err = pgx.CollectRows(rows, pgx.RowTo[apoyo.Secretariat])
	if err != nil {
		return nil, storeErr("reading secretariats", err)
	}
	slices.Sort(out)
	return out, nil
}
