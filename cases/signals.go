package cases

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/apoyo-cdmx/apoyo"
)

// ErrWaitNotFound: no attempt of SendPayment waits on that order.
var ErrWaitNotFound = apoyo.Errorf(apoyo.ENOTFOUND, "payment.wait_not_found", "no case waits on this order")

// PaymentWait is an attempt of SendPayment (BeneficiaryCase3) waiting for
// its order's final answer.
type PaymentWait struct {
	OrderID   string
	CaseID    string
	CycleID   string
	TaskToken []byte
	// CaseVersion is the version of the projection written once paid;
	// Referrals how many referrals open then.
	CaseVersion int64
	Referrals   int
	// Delivered: the final answer has reached the case.
	Delivered bool
}

// Wait records that an attempt waits on orderID (a retry's new task token
// replaces the old one). It is the attempt's first write.
func (s *Store) Wait(ctx context.Context, w PaymentWait) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO payment_waits (order_id, case_id, cycle_id, task_token, case_version, referrals)
		VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (order_id) DO UPDATE SET task_token = EXCLUDED.task_token, case_version = EXCLUDED.case_version,
			referrals = EXCLUDED.referrals, asked_at = now(), delivered_at = NULL`,
		w.OrderID, w.CaseID, w.CycleID, w.TaskToken, w.CaseVersion, w.Referrals)
	return err
}

// PaymentWaitByOrder returns the wait on an order. Errors: ErrWaitNotFound.
func (s *Store) PaymentWaitByOrder(ctx context.Context, orderID string) (PaymentWait, error) {
	var w PaymentWait
	err := s.pool.QueryRow(ctx, `SELECT order_id, case_id, cycle_id, task_token, case_version, referrals, delivered_at IS NOT NULL
		FROM payment_waits WHERE order_id = $1`, orderID).Scan(&w.OrderID, &w.CaseID, &w.CycleID, &w.TaskToken, &w.CaseVersion, &w.Referrals, &w.Delivered)
	if errors.Is(err, pgx.ErrNoRows) {
		return w, ErrWaitNotFound.With("no case waits on order %q", orderID)
	}
	return w, err
}

// Delivered records that an order's final answer reached its case.
func (s *Store) Delivered(ctx context.Context, orderID string) error {
	_, err := s.pool.Exec(ctx, `UPDATE payment_waits SET delivered_at = now() WHERE order_id = $1 AND delivered_at IS NULL`, orderID)
	return err
}

// DueForAsking returns up to limit orders of a cycle whose final answer
// has not reached their case and that nobody asked the bank about for a
// while, and marks them asked now. "A while" grows with the wait's age (a
// quarter of it, at least minAge): a SPEI transfer is asked about again
// within a minute, a cash pickup waiting days a few times a day.
func (s *Store) DueForAsking(ctx context.Context, cycleID string, minAge time.Duration, limit int) ([]string, error) {
	rows, err := s.pool.Query(ctx, `UPDATE payment_waits SET asked_at = now() WHERE order_id IN (
			SELECT order_id FROM payment_waits WHERE cycle_id = $1 AND delivered_at IS NULL
				AND asked_at < now() - greatest(make_interval(secs => $2), (now() - created_at) / 4)
			ORDER BY asked_at LIMIT $3 FOR UPDATE SKIP LOCKED)
		RETURNING order_id`, cycleID, minAge.Seconds(), limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// PaymentByOrder returns a payment order. Errors: ErrPaymentNotFound.
func (s *Store) PaymentByOrder(ctx context.Context, orderID string) (apoyo.Payment, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+paymentCols+` FROM payments WHERE order_id = $1`, orderID)
	if err != nil {
		return apoyo.Payment{}, err
	}
	p, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByPos[apoyo.Payment])
	if errors.Is(err, pgx.ErrNoRows) {
		return p, ErrPaymentNotFound.With("payment %q not found", orderID)
	}
	return p, err
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

// listVotesSQL reads the signatures covering the cases $1, through the
// index by case (roster_approval_cases_case): a few cases' lookup reads
// a few rows, however many lists the cycle has.
const listVotesSQL = `SELECT DISTINCT ON (ac.case_id, a.secretariat) ac.case_id, a.secretariat, a.approver_id, encode(a.list_hash, 'hex')
	FROM roster_approval_cases ac JOIN roster_approvals a ON a.id = ac.approval_id
	WHERE ac.case_id = ANY($1) ORDER BY ac.case_id, a.secretariat, a.id`

// ListVotes returns, per case, the votes of the signed lists that cover
// it: one per secretariat (its first signature).
func (s *Store) ListVotes(ctx context.Context, caseIDs []string) (map[string][]apoyo.ApprovalVote, error) {
	rows, err := s.pool.Query(ctx, listVotesSQL, caseIDs)
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
	return scanWaiting(rows)
}

// ApprovedAwaitingSignal returns (with their waiting lists) up to limit
// cases of a cycle that still wait at the approval step although at most
// maxWaiting secretariats are left on their list and a signed list covers
// them, none signed (and the case not touched) in the last quiet: the
// cases whose approvals signal may not have reached them (Temporal was
// unreachable when the list was signed), or whose first payment attempt
// died before it wrote anything. The caller checks the quorum, acts, and
// touches them (Touch), so that it acts once per quiet.
func (s *Store) ApprovedAwaitingSignal(ctx context.Context, cycleID string, maxWaiting int, quiet time.Duration, limit int) (map[string][]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT c.id, c.waiting_on FROM cases c
		WHERE c.cycle_id = $1 AND c.step = $2 AND c.status = $3 AND cardinality(c.waiting_on) <= $4
			AND c.updated_at < now() - make_interval(secs => $5)
			AND EXISTS (SELECT 1 FROM roster_approval_cases ac WHERE ac.case_id = c.id)
			AND NOT EXISTS (SELECT 1 FROM roster_approval_cases ac JOIN roster_approvals a ON a.id = ac.approval_id
				WHERE ac.case_id = c.id AND a.approved_at > now() - make_interval(secs => $5))
		ORDER BY c.id LIMIT $6`, cycleID, apoyo.StepApproval, apoyo.CaseWaiting, maxWaiting, quiet.Seconds(), limit)
	if err != nil {
		return nil, err
	}
	return scanWaiting(rows)
}

// Touch marks cases as looked at now (their projection's updated_at).
func (s *Store) Touch(ctx context.Context, caseIDs []string) error {
	_, err := s.pool.Exec(ctx, `UPDATE cases SET updated_at = now() WHERE id = ANY($1)`, caseIDs)
	return err
}

// StalledSends returns up to limit cases of a cycle whose projection says
// their payment step runs (an instrument was just changed) but which have
// no attempt waiting at the bank, untouched for quiet, with the attempt
// they should be at: the next after their last order (the one whose
// SendPayment may have died before it wrote anything).
func (s *Store) StalledSends(ctx context.Context, cycleID string, quiet time.Duration, limit int) (map[string]int, error) {
	rows, err := s.pool.Query(ctx, `SELECT c.id, coalesce((SELECT max(p.attempt) FROM payments p WHERE p.case_id = c.id), 0) + 1
		FROM cases c
		WHERE c.cycle_id = $1 AND c.step = $2 AND c.status = $3 AND c.updated_at < now() - make_interval(secs => $4)
			AND NOT EXISTS (SELECT 1 FROM payment_waits w WHERE w.case_id = c.id AND w.delivered_at IS NULL)
		ORDER BY c.id LIMIT $5`, cycleID, apoyo.StepPayment, apoyo.CaseRunning, quiet.Seconds(), limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var id string
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			return nil, err
		}
		out[id] = n
	}
	return out, rows.Err()
}

// HasWait reports whether an attempt ever waited on orderID.
func (s *Store) HasWait(ctx context.Context, orderID string) (bool, error) {
	var ok bool
	err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM payment_waits WHERE order_id = $1)`, orderID).Scan(&ok)
	return ok, err
}

// Undelivered counts a cycle's payment attempts waiting for the bank's
// answer.
func (s *Store) Undelivered(ctx context.Context, cycleID string) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM payment_waits WHERE cycle_id = $1 AND delivered_at IS NULL`, cycleID).Scan(&n)
	return n, err
}

// scanWaiting collects (case id, waiting list) rows.
func scanWaiting(rows pgx.Rows) (map[string][]string, error) {
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
