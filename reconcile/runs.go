package reconcile

import (
	"context"
	"encoding/hex"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"

	"github.com/apoyo-cdmx/apoyo"
)

// ErrRunNotFound: no reconciliation run with that id.
var ErrRunNotFound = apoyo.Errorf(apoyo.ENOTFOUND, "reconcile.not_found", "reconciliation run not found")

const selectRuns = `SELECT id, name, sha256, status, operation_dates, lines, counts, posted, unmatched, created_at, finished_at FROM statement_imports`

func scanRun(r pgx.Row) (apoyo.ReconcileRun, []byte, error) {
	var run apoyo.ReconcileRun
	var sum []byte
	var counts map[string]int
	err := r.Scan(&run.ID, &run.Statement, &sum, &run.Status, &run.OperationDates, &run.Lines, &counts, &run.Posted, &run.Unmatched,
		&run.CreatedAt, &run.FinishedAt)
	run.SHA256 = hex.EncodeToString(sum)
	run.Counts = map[apoyo.FindingClass]int{}
	for k, v := range counts {
		run.Counts[apoyo.FindingClass(k)] = v
	}
	return run, sum, err
}

// Runs lists past reconciliation runs, newest first (limit ≤ 0: 100; at
// most 1000).
func Runs(ctx context.Context, pool *pgxpool.Pool, limit int) ([]apoyo.ReconcileRun, error) {
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, 1000)
	rows, err := pool.Query(ctx, selectRuns+" ORDER BY id DESC LIMIT $1", limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (apoyo.ReconcileRun, error) {
		run, _, err := scanRun(r)
		return run, err
	})
}

// Run returns a past run's report: its totals and every finding, as
// recorded (not whether the file had been seen before, which only the run
// itself could say). Errors: ErrRunNotFound.
func Run(ctx context.Context, pool *pgxpool.Pool, id int64) (apoyo.ReconcileReport, error) {
	run, sum, err := scanRun(pool.QueryRow(ctx, selectRuns+" WHERE id = $1", id))
	if errors.Is(err, pgx.ErrNoRows) {
		return apoyo.ReconcileReport{}, ErrRunNotFound.With("no reconciliation run %d", id)
	}
	if err != nil {
		return apoyo.ReconcileReport{}, err
	}
	var arr [32]byte
	copy(arr[:], sum)
	rep := newReport(run.Statement, arr)
	rep.ImportID, rep.OperationDates, rep.Lines, rep.Posted = run.ID, run.OperationDates, run.Lines, run.Posted
	rows, err := pool.Query(ctx, `SELECT coalesce(line, 0), operation_date, tracking_key, order_id, state, return_tracking_key,
			coalesce(return_cause, 0), amount, expected_amount, class, transaction_ids, message
		FROM statement_lines WHERE import_id = $1 ORDER BY seq`, id)
	if err != nil {
		return rep, err
	}
	defer rows.Close()
	for rows.Next() {
		var f apoyo.ReconcileFinding
		var amount, expected *decimal.Decimal
		if err := rows.Scan(&f.Line, &f.OperationDate, &f.TrackingKey, &f.OrderID, &f.State, &f.ReturnTrackingKey, &f.ReturnCause,
			&amount, &expected, &f.Class, &f.TransactionIDs, &f.Message); err != nil {
			return rep, err
		}
		if amount != nil {
			f.Amount = money(*amount)
		}
		if expected != nil {
			f.ExpectedAmount = money(*expected)
		}
		add(&rep, f)
	}
	return rep, rows.Err()
}
