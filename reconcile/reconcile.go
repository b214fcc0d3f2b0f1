// Package reconcile matches the bank's daily settlement statement (see
// payment.StatementHeader) against the ledger and the payment records, and
// books what the bank did that apoyo had not booked yet.
//
// Every statement line falls in exactly one class:
//
//   - matched: the line agrees with a payment order and with the ledger.
//     The ledger entry the line proves is made sure of: an order line LQ
//     means settle:<cycle>:<beneficiary>:<attempt> (in_transit → paid), a
//     D or CN order line, or the return line of an order refused outright,
//     means return:<…> (in_transit → returned). Each is posted with exactly
//     the request the Disburse activity posts, so if the worker already
//     booked it nothing new is written, and if the worker books it after
//     us the ledger answers it with our transaction (a replay).
//   - returned_after_settlement: a return line for an order that had
//     settled. The money came back after it reached the person's bank, so
//     a new entry moves it back: late-return:<…> (paid → returned). The
//     payment becomes 'returned' with the cause, and the case gets a
//     caseworker task returned_after_settlement, because a new payment
//     instrument is needed. When the worker has not booked the attempt
//     yet (or booked it as a return because the return came before it
//     asked), the attempt is booked as return:<…> instead, exactly as the
//     worker books it, and the case's own workflow asks for a new
//     instrument, so no task is raised. This is an expected event that
//     reconciliation handles completely, so it does NOT count as unmatched.
//   - amount_mismatch, unknown_in_statement, duplicate, state_mismatch:
//     the statement and apoyo disagree; nothing is posted for the line and
//     a person must look. state_mismatch covers a bank outcome our ledger
//     booked otherwise (the bank settled an order we booked as cancelled,
//     refused one we booked as settled) and an entry the ledger refused.
//
// Payments whose operation date is one of the statement's and that have no
// order line in it are reported as missing_from_statement.
//
// A run parses and checks the whole file before it touches anything, so a
// malformed statement posts nothing; errors name the row (header = 1) and
// the field. Runs are serialised by an advisory lock and recorded in
// statement_imports and statement_lines; a file reconciled twice is
// recognised by its sha256, reports the same classes and posts nothing the
// second time.
package reconcile

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"sort"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/cases"
	"github.com/apoyo-cdmx/apoyo/ledger"
)

func newReport(name string, sum [32]byte) apoyo.ReconcileReport {
	rep := apoyo.ReconcileReport{Statement: name, SHA256: hex.EncodeToString(sum[:]), OperationDates: []string{},
		Counts: map[apoyo.FindingClass]int{}, Problems: map[apoyo.FindingClass][]apoyo.ReconcileFinding{}}
	for _, c := range apoyo.FindingClasses {
		rep.Counts[c] = 0
		if c != apoyo.FindingMatched {
			rep.Problems[c] = []apoyo.ReconcileFinding{}
		}
	}
	return rep
}

func add(r *apoyo.ReconcileReport, f apoyo.ReconcileFinding) {
	r.Counts[f.Class]++
	if f.Class != apoyo.FindingMatched {
		r.Problems[f.Class] = append(r.Problems[f.Class], f)
	}
	if f.Class.Unmatched() {
		r.Unmatched++
	}
}

// Reconciler reconciles statements. It is safe for concurrent use; runs
// are serialised in the database.
type Reconciler struct {
	pool     *pgxpool.Pool
	ledger   *ledger.Ledger
	cases    *cases.Store
	reopener Reopener
}

// ReturnedPayment is a payment attempt that the bank returned after it had
// settled, and whose settlement apoyo had booked.
type ReturnedPayment struct {
	CaseID, ProgramID, CycleID, BeneficiaryID, OrderID string
	Attempt                                            int
	Fund                                               string
	ReturnCause                                        int
	Reason                                             string
}

// Reopener brings such a case back to its payment step, so that it pays
// once more in the same lineage (next attempt, same case) when a new
// instrument is on file, or gives the money back when none comes.
//
// It must be idempotent: reconciling the same statement again, or a later
// one that shows the same return, calls it again for the same attempt.
type Reopener interface {
	PaymentReturnedAfterSettlement(ctx context.Context, p ReturnedPayment) error
}

// WithReopener makes r hand every return after settlement to ro. Without
// one, r raises the returned_after_settlement task only.
func (r *Reconciler) WithReopener(ro Reopener) *Reconciler {
	r.reopener = ro
	return r
}

// New returns a Reconciler on pool, posting through l and raising tasks
// through c.
func New(pool *pgxpool.Pool, l *ledger.Ledger, c *cases.Store) *Reconciler {
	return &Reconciler{pool: pool, ledger: l, cases: c}
}

// lockKey serialises reconciliation runs across processes: two runs of
// overlapping statements would otherwise race on the same payments and
// both count the same postings as their own.
const lockKey int64 = 0x61706f796f726563 // "apoyorec"

// Reconcile reads a whole statement from in, checks it, and reconciles it.
// name identifies the statement in the report and the audit trail (a file
// name). A malformed statement is an EINVALID payment.bad_statement error
// naming row and field, and nothing is posted. Other errors leave the run
// recorded as failed; running it again is safe.
func (r *Reconciler) Reconcile(ctx context.Context, name string, in io.Reader) (apoyo.ReconcileReport, error) {
	data, err := io.ReadAll(in)
	if err != nil {
		return apoyo.ReconcileReport{}, fmt.Errorf("reading statement %s: %w", name, err)
	}
	sum := sha256.Sum256(data)
	rep := newReport(name, sum)
	lines, err := parse(data)
	if err != nil {
		// The audit trail records refused files too; failing to record it
		// must not hide the parse error.
		_, _ = r.pool.Exec(ctx, `INSERT INTO statement_imports (name, sha256, status, error, finished_at) VALUES ($1, $2, 'failed', $3, now())`,
			name, sum[:], err.Error())
		return rep, err
	}
	rep.Lines = len(lines)
	rep.OperationDates = operationDates(lines)

	// The lock lives in a transaction of its own so that it is released
	// whatever happens, even if this process dies.
	lockTx, err := r.pool.Begin(ctx)
	if err != nil {
		return rep, err
	}
	defer func() { _ = lockTx.Rollback(context.Background()) }()
	if _, err := lockTx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", lockKey); err != nil {
		return rep, err
	}

	rows, err := r.pool.Query(ctx, "SELECT id FROM statement_imports WHERE sha256 = $1 AND status = 'completed' ORDER BY id", sum[:])
	if err != nil {
		return rep, err
	}
	if rep.PreviousImports, err = pgx.CollectRows(rows, pgx.RowTo[int64]); err != nil {
		return rep, err
	}
	rep.SeenBefore = len(rep.PreviousImports) > 0
	if err := r.pool.QueryRow(ctx, `INSERT INTO statement_imports (name, sha256, operation_dates, lines) VALUES ($1, $2, $3, $4) RETURNING id`,
		name, sum[:], rep.OperationDates, rep.Lines).Scan(&rep.ImportID); err != nil {
		return rep, err
	}

	findings, posted, err := r.run(ctx, lines, rep.OperationDates)
	if err != nil {
		_, _ = r.pool.Exec(context.Background(), "UPDATE statement_imports SET status = 'failed', error = $2, finished_at = now() WHERE id = $1",
			rep.ImportID, err.Error())
		return rep, err
	}
	rep.Posted = posted
	for _, f := range findings {
		add(&rep, f)
	}
	if err := r.record(ctx, rep, findings); err != nil {
		return rep, err
	}
	return rep, nil
}

func operationDates(lines []line) []string {
	seen := map[string]bool{}
	out := []string{}
	for _, l := range lines {
		if !seen[l.OperationDate] {
			seen[l.OperationDate] = true
			out = append(out, l.OperationDate)
		}
	}
	sort.Strings(out)
	return out
}

// record writes the run's findings and totals to the audit trail.
func (r *Reconciler) record(ctx context.Context, rep apoyo.ReconcileReport, findings []apoyo.ReconcileFinding) error {
	rows := make([][]any, len(findings))
	for i, f := range findings {
		var ln, cause *int
		if f.Line > 0 {
			v := f.Line
			ln = &v
		}
		if f.ReturnCause != 0 {
			v := f.ReturnCause
			cause = &v
		}
		ids := f.TransactionIDs
		if ids == nil {
			ids = []int64{}
		}
		rows[i] = []any{rep.ImportID, i + 1, ln, f.OperationDate, f.TrackingKey, f.OrderID, f.State, f.ReturnTrackingKey, cause,
			numeric(f.Amount), numeric(f.ExpectedAmount), string(f.Class), ids, f.Message}
	}
	return pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"statement_lines"},
			[]string{"import_id", "seq", "line", "operation_date", "tracking_key", "order_id", "state", "return_tracking_key", "return_cause",
				"amount", "expected_amount", "class", "transaction_ids", "message"}, pgx.CopyFromRows(rows)); err != nil {
			return err
		}
		counts := map[string]int{}
		for c, n := range rep.Counts {
			counts[string(c)] = n
		}
		_, err := tx.Exec(ctx, `UPDATE statement_imports SET status = 'completed', counts = $2, posted = $3, unmatched = $4, finished_at = now()
			WHERE id = $1`, rep.ImportID, counts, rep.Posted, rep.Unmatched)
		return err
	})
}

// numeric turns a report amount back into a NUMERIC, or NULL.
func numeric(s string) *decimal.Decimal {
	if s == "" {
		return nil
	}
	d, err := decimal.NewFromString(s)
	if err != nil {
		return nil
	}
	return &d
}

func money(d decimal.Decimal) string { return d.StringFixed(2) }
