package cases

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/apoyo-cdmx/apoyo"
)

// CaseStart is the kept start of a case that has no workflow yet (see
// the case_starts migration): what its workflow is started with.
type CaseStart struct {
	CaseID    string
	CycleID   string
	TaskQueue string
	// Input is the workflow's input, as JSON.
	Input []byte
	// Kept is when it was kept; Started when its workflow was started
	// (zero while it has none); Told when it was told that its approvals
	// are complete (MarkTold; zero until then).
	Kept, Started, Told time.Time
}

// StartInput is the input to start the case with while its workflow has
// not been started, and nil once it has (or for a case never kept, the
// zero CaseStart): workflows.TellApproved then only signals it.
func (c CaseStart) StartInput() []byte {
	if !c.Started.IsZero() {
		return nil
	}
	return c.Input
}

// KeepStart records a case's start for later. A start kept already (a
// retried page) is left as it is: created is false.
func (s *Store) KeepStart(ctx context.Context, c CaseStart) (created bool, err error) {
	tag, err := s.pool.Exec(ctx, `INSERT INTO case_starts (case_id, cycle_id, task_queue, input) VALUES ($1, $2, $3, $4)
		ON CONFLICT (case_id) DO NOTHING`, c.CaseID, c.CycleID, c.TaskQueue, c.Input)
	return tag.RowsAffected() == 1, err
}

// KeptStarts returns the kept starts of the cases among ids that have
// one, started or not.
//
// A case whose start is kept but not started waits at approval with no
// workflow: whoever needs its workflow (a signed list that completes its
// approvals, a per-case vote, a cancel) starts it from here.
func (s *Store) KeptStarts(ctx context.Context, ids []string) (map[string]CaseStart, error) {
	rows, err := s.pool.Query(ctx, `SELECT case_id, cycle_id, task_queue, input, created_at, started_at, told_at
		FROM case_starts WHERE case_id = ANY($1)`, ids)
	if err != nil {
		return nil, err
	}
	list, err := collectStarts(rows)
	out := make(map[string]CaseStart, len(list))
	for _, c := range list {
		out[c.CaseID] = c
	}
	return out, err
}

// UnstartedCases returns up to limit kept starts of a cycle whose
// workflow has not been started, in case id order after after.
func (s *Store) UnstartedCases(ctx context.Context, cycleID, after string, limit int) ([]CaseStart, error) {
	rows, err := s.pool.Query(ctx, `SELECT case_id, cycle_id, task_queue, input, created_at, started_at, told_at
		FROM case_starts WHERE cycle_id = $1 AND started_at IS NULL AND case_id > $2 ORDER BY case_id LIMIT $3`, cycleID, after, limit)
	if err != nil {
		return nil, err
	}
	return collectStarts(rows)
}

// MarkStarted records that the cases' workflows were started.
func (s *Store) MarkStarted(ctx context.Context, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	_, err := s.pool.Exec(ctx, `UPDATE case_starts SET started_at = now() WHERE case_id = ANY($1) AND started_at IS NULL`, ids)
	return err
}

// MarkTold records, in one write, that the kept cases among told were
// told that their approvals are complete (workflows.TellApproved
// succeeded: a start with the votes, or a signal, accepted by Temporal),
// and that those among started, a subset, were started by it (as
// MarkStarted). The sweep does not tell them again; it still looks for
// their lost first payment attempt. A time already recorded stays.
func (s *Store) MarkTold(ctx context.Context, told, started []string) error {
	if len(told) == 0 {
		return nil
	}
	_, err := s.pool.Exec(ctx, `UPDATE case_starts SET told_at = coalesce(told_at, now()),
		started_at = CASE WHEN case_id = ANY($2) THEN coalesce(started_at, now()) ELSE started_at END
		WHERE case_id = ANY($1)`, told, started)
	return err
}

func collectStarts(rows pgx.Rows) ([]CaseStart, error) {
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (CaseStart, error) {
		var c CaseStart
		var started, told *time.Time
		err := r.Scan(&c.CaseID, &c.CycleID, &c.TaskQueue, &c.Input, &c.Kept, &started, &told)
		if started != nil {
			c.Started = *started
		}
		if told != nil {
			c.Told = *told
		}
		return c, err
	})
}

// RequestTells records that kept cases of a cycle have their approvals
// complete and wait to be started (a signed list left them to the cycle's
// sweep: see TellsRequested).
func (s *Store) RequestTells(ctx context.Context, cycleID string) error {
	_, err := s.pool.Exec(ctx, `UPDATE cycles SET tells_requested_at = clock_timestamp() WHERE id = $1`, cycleID)
	return err
}

// TellsRequested returns when a signed list last left kept cases of the
// cycle to start (ok is false when none waits for that).
func (s *Store) TellsRequested(ctx context.Context, cycleID string) (at time.Time, ok bool, err error) {
	var t *time.Time
	err = s.pool.QueryRow(ctx, `SELECT tells_requested_at FROM cycles WHERE id = $1`, cycleID).Scan(&t)
	if err != nil || t == nil {
		return at, false, err
	}
	return *t, true, nil
}

// ClearTellsRequest clears the request that TellsRequested returned as at,
// unless a list made another since: a pass that began before it may have
// gone past its cases.
func (s *Store) ClearTellsRequest(ctx context.Context, cycleID string, at time.Time) error {
	_, err := s.pool.Exec(ctx, `UPDATE cycles SET tells_requested_at = NULL WHERE id = $1 AND tells_requested_at = $2`, cycleID, at)
	return err
}

// ApprovedUnstarted returns, in case id order after after, up to limit
// kept starts of a cycle's cases with no workflow and never told, that
// wait at approval with at most maxWaiting secretariats left and a signed
// list covering them, with their waiting lists by case id: the cases a
// signed list left for the cycle to start. The caller checks each one's
// quorum.
func (s *Store) ApprovedUnstarted(ctx context.Context, cycleID string, maxWaiting int, after string, limit int) (starts []CaseStart, waiting map[string][]string, err error) {
	rows, err := s.pool.Query(ctx, `SELECT s.case_id, s.cycle_id, s.task_queue, s.input, s.created_at, c.waiting_on
		FROM case_starts s JOIN cases c ON c.id = s.case_id
		WHERE s.cycle_id = $1 AND s.started_at IS NULL AND s.told_at IS NULL AND s.case_id > $2
			AND c.step = $3 AND c.status = $4 AND cardinality(c.waiting_on) <= $5
			AND EXISTS (SELECT 1 FROM roster_approval_cases ac WHERE ac.case_id = s.case_id)
		ORDER BY s.case_id LIMIT $6`, cycleID, after, apoyo.StepApproval, apoyo.CaseWaiting, maxWaiting, limit)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	waiting = map[string][]string{}
	for rows.Next() {
		// Started and Told stay zero: NULL by the query.
		var c CaseStart
		var w []string
		if err := rows.Scan(&c.CaseID, &c.CycleID, &c.TaskQueue, &c.Input, &c.Kept, &w); err != nil {
			return nil, nil, err
		}
		starts = append(starts, c)
		waiting[c.CaseID] = w
	}
	return starts, waiting, rows.Err()
}
