package cases

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/apoyo-cdmx/apoyo"
)

// AwaitedPayment is a payment order whose case waits for its final answer
// as a signal (BeneficiaryCase3), with what recording that answer needs.
type AwaitedPayment struct {
	apoyo.Payment
	// CaseVersion is the version of the projection written once paid;
	// Referrals how many referrals open then.
	CaseVersion int64
	Referrals   int
	// Delivered: the final answer has reached the case.
	Delivered bool
}

// AwaitPayment marks an order as one whose case waits for a signal, with
// the projection's version and referral count for when it is paid.
// Errors: ErrPaymentNotFound.
func (s *Store) AwaitPayment(ctx context.Context, orderID string, caseVersion int64, referrals int) error {
	tag, err := s.pool.Exec(ctx, `UPDATE payments SET awaited = true, case_version = $2, referrals = $3 WHERE order_id = $1`, orderID, caseVersion, referrals)
	if err == nil && tag.RowsAffected() == 0 {
		return ErrPaymentNotFound.With("payment %q not found", orderID)
	}
	return err
}

// AwaitedPaymentByID returns an order the store knows. Errors:
// ErrPaymentNotFound (no such order, or one whose case does not wait for
// a signal).
func (s *Store) AwaitedPaymentByID(ctx context.Context, orderID string) (AwaitedPayment, error) {
	var p AwaitedPayment
	err := s.pool.QueryRow(ctx, `SELECT order_id, case_id, program_id, cycle_id, beneficiary_id, attempt, rail, amount, fund, tracking_key, state,
		coalesce(return_cause, 0), provider_ref, operation_date, case_version, referrals, delivered_at IS NOT NULL
		FROM payments WHERE order_id = $1 AND awaited`, orderID).Scan(&p.OrderID, &p.CaseID, &p.ProgramID, &p.CycleID, &p.BeneficiaryID,
		&p.Attempt, &p.Rail, &p.Amount, &p.Fund, &p.TrackingKey, &p.State, &p.ReturnCause, &p.ProviderRef, &p.OperationDate,
		&p.CaseVersion, &p.Referrals, &p.Delivered)
	if errors.Is(err, pgx.ErrNoRows) {
		return p, ErrPaymentNotFound.With("payment %q not found among orders whose case waits for a signal", orderID)
	}
	return p, err
}

// MarkDelivered records that an order's final answer reached its case.
func (s *Store) MarkDelivered(ctx context.Context, orderID string) error {
	_, err := s.pool.Exec(ctx, `UPDATE payments SET delivered_at = now() WHERE order_id = $1 AND delivered_at IS NULL`, orderID)
	return err
}

// DueForAsking returns up to limit orders of a cycle whose final answer
// has not reached their case and that nobody looked at for a while, and
// marks them looked at now. "A while" grows with the order's age (a
// quarter of it, at least minAge): a SPEI transfer is asked about again
// within a minute, a cash pickup waiting days a few times a day.
func (s *Store) DueForAsking(ctx context.Context, cycleID string, minAge time.Duration, limit int) ([]string, error) {
	rows, err := s.pool.Query(ctx, `UPDATE payments SET updated_at = now() WHERE order_id IN (
			SELECT order_id FROM payments WHERE cycle_id = $1 AND awaited AND delivered_at IS NULL
				AND updated_at < now() - greatest(make_interval(secs => $2), (now() - created_at) / 4)
			ORDER BY updated_at LIMIT $3 FOR UPDATE SKIP LOCKED)
		RETURNING order_id`, cycleID, minAge.Seconds(), limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// MarkOverdue marks overdue the cases of a cycle that have waited at step
// longer than sla (since their projection last changed) and returns their
// ids, so that a task can be raised for each. A case is marked once.
func (s *Store) MarkOverdue(ctx context.Context, cycleID string, step apoyo.Step, sla time.Duration, limit int) ([]string, error) {
	rows, err := s.pool.Query(ctx, `UPDATE cases SET overdue = true WHERE id IN (
			SELECT id FROM cases WHERE cycle_id = $1 AND step = $2 AND status = $3 AND NOT overdue
				AND updated_at < now() - make_interval(secs => $4)
			ORDER BY id LIMIT $5 FOR UPDATE SKIP LOCKED)
		RETURNING id`, cycleID, step, apoyo.CaseWaiting, sla.Seconds(), limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// DropWaiting takes a secretariat off the waiting list of the cases a
// signed list covers (BeneficiaryCase3 cases hear of approvals once, when
// all required lists are in; until then the projection says who is left).
func (s *Store) DropWaiting(ctx context.Context, caseIDs []string, sec apoyo.Secretariat) error {
	_, err := s.pool.Exec(ctx, `UPDATE cases SET waiting_on = array_remove(waiting_on, $2) WHERE id = ANY($1) AND step = $3`,
		caseIDs, string(sec), apoyo.StepApproval)
	return err
}

// ListVotes returns, per case, the votes of the signed lists of its cycle
// that cover it: one per secretariat (its first signature).
func (s *Store) ListVotes(ctx context.Context, caseIDs []string) (map[string][]apoyo.ApprovalVote, error) {
	rows, err := s.pool.Query(ctx, `SELECT DISTINCT ON (ac.case_id, a.secretariat) ac.case_id, a.secretariat, a.approver_id, encode(a.list_hash, 'hex')
		FROM roster_approval_cases ac JOIN roster_approvals a ON a.id = ac.approval_id
		WHERE ac.case_id = ANY($1) ORDER BY ac.case_id, a.secretariat, a.id`, caseIDs)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string][]apoyo.ApprovalVote{}
	for rows.Next() {
		var id, sec, approver, hash string
		if err := rows.Scan(&id, &sec, &approver, &hash); err != nil {
			return nil, err
		}
		out[id] = append(out[id], apoyo.ApprovalVote{Secretariat: apoyo.Secretariat(sec), Approve: true, Approver: approver, List: hash})
	}
	return out, rows.Err()
}

// ApprovalWaiting returns, for the cases among ids that wait at the
// approval step, whom their projection says they wait on.
func (s *Store) ApprovalWaiting(ctx context.Context, ids []string) (map[string][]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, waiting_on FROM cases WHERE id = ANY($1) AND step = $2 AND status = $3`,
		ids, apoyo.StepApproval, apoyo.CaseWaiting)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string][]string{}
	for rows.Next() {
		var id string
		var w []string
		if err := rows.Scan(&id, &w); err != nil {
			return nil, err
		}
		out[id] = w
	}
	return out, rows.Err()
}
