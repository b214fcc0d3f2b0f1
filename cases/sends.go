package cases

import (
	"context"
	"errors"
	"time"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/jackc/pgx/v5"
)

// SendStarted records that order orderID is being handed to the bank now
// (database time, so that workers' clocks do not matter).
func (s *Store) SendStarted(ctx context.Context, orderID string) error {
	tag, err := s.pool.Exec(ctx, `UPDATE payments SET send_started_at = now(), send_ended_at = NULL WHERE order_id = $1`, orderID)
	if err == nil && tag.RowsAffected() == 0 {
		return ErrPaymentNotFound.With("payment %q not found", orderID)
	}
	return err
}

// SendEnded records that the call handing orderID to the bank returned,
// whatever its answer.
func (s *Store) SendEnded(ctx context.Context, orderID string) error {
	_, err := s.pool.Exec(ctx, `UPDATE payments SET send_ended_at = now() WHERE order_id = $1 AND send_started_at IS NOT NULL`, orderID)
	return err
}

// SendMayBeInFlight reports whether a call handing orderID to the bank
// started within the last window and has not been seen to end: its request
// may still reach the bank. An order with no payment row was never handed
// to the bank.
func (s *Store) SendMayBeInFlight(ctx context.Context, orderID string, window time.Duration) (bool, error) {
	var inFlight bool
	err := s.pool.QueryRow(ctx, `SELECT send_started_at IS NOT NULL AND send_ended_at IS NULL
		AND send_started_at > now() - make_interval(secs => $2) FROM payments WHERE order_id = $1`, orderID, window.Seconds()).Scan(&inFlight)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	return inFlight, err
}

// CasePayments lists one case's payment orders, by attempt.
func (s *Store) CasePayments(ctx context.Context, caseID string) ([]apoyo.Payment, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+paymentCols+` FROM payments WHERE case_id = $1 ORDER BY attempt`, caseID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[apoyo.Payment])
}
