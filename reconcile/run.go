package reconcile

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/shopspring/decimal"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/ledger"
	"github.com/apoyo-cdmx/apoyo/payment"
	"github.com/apoyo-cdmx/apoyo/program"
)

// Payment states as the payments table holds them (apoyo.PaymentState values).
const (
	statePending   = string(apoyo.PaymentPending)
	stateSettled   = string(apoyo.PaymentSettled)
	stateReturned  = string(apoyo.PaymentReturned)
	stateCancelled = string(apoyo.PaymentCancelled)
	stateCollected = string(apoyo.PaymentCollected)
	stateExpired   = string(apoyo.PaymentExpired)
	stateRejected  = string(apoyo.PaymentRejected)
)

// Ledger keys of a payment attempt. settle and return are the Disburse
// activity's own keys (activities/disburse.go): reconciliation posts the
// same requests under them, so whichever of the two comes second gets the
// first one's transaction back. late-return is reconciliation's own.

// pay is one row of the payments table.
type pay struct {
	orderID, caseID, programID, cycleID, beneficiaryID string
	attempt                                            int
	rail                                               string
	amount                                             decimal.Decimal
	fund, trackingKey, state                           string
	returnCause                                        int
	operationDate                                      string

	// onStatement is set when an order line of the statement is this
	// payment's.
	onStatement bool
}

// booking is the payment attempt as the ledger books it: reconciliation
// posts exactly the requests the worker posts (program.Attempt), so
// whichever comes second gets the first one's transaction back.
func (p *pay) booking() program.Attempt {
	return program.Attempt{Program: p.programID, Cycle: p.cycleID, Beneficiary: p.beneficiaryID, N: p.attempt, Fund: p.fund, Amount: p.amount}
}

func (p *pay) settleRequest() ledger.TransactionRequest { return p.booking().Settle() }

// returnRequest is the worker's entry for an attempt that did not pay; its
// description names the final state ("payment returned").
func (p *pay) returnRequest(state string) ledger.TransactionRequest { return p.booking().Return(state) }

func (p *pay) lateReturnRequest(l line) ledger.TransactionRequest {
	return p.booking().LateReturn(l.ReturnTrackingKey)
}

// unpaidState is the final state Disburse records for an order line or a
// return line that did not pay: what the bank's status API says for it.
func unpaidState(rail string, l line) string {
	rules := apoyo.Rail(rail).Rules()
	if l.State == payment.SPEICancelled {
		return string(rules.Refused)
	}
	return string(rules.Unpaid)
}

// plan is what one line asks for once its class is known.
type plan struct {
	finding apoyo.ReconcileFinding
	// ensure are the ledger entries the line proves, in order.
	ensure []ledger.TransactionRequest
	// update moves the payment to state when it is in one of from.
	update *stateUpdate
	// task raises the returned-after-settlement task (before update, so a
	// crash between the two raises it again rather than never).
	task   string
	pay    *pay
	failed bool
	// reopen is the return after settlement to hand to the Reopener, once
	// the payment's state is updated.
	reopen *ReturnedPayment
}

type stateUpdate struct {
	orderID, state, operationDate string
	from                          []string
	cause                         int
}

// run classifies the lines, posts what they prove and updates payments.
func (r *Reconciler) run(ctx context.Context, lines []line, dates []string) ([]apoyo.ReconcileFinding, int, error) {
	pays, err := r.loadPayments(ctx, lines, dates)
	if err != nil {
		return nil, 0, err
	}
	byOrder := map[string]*pay{}
	byTracking := map[string]*pay{}
	var keys []string
	for _, p := range pays {
		byOrder[p.orderID] = p
		byTracking[p.trackingKey] = p
		att := p.booking()
		keys = append(keys, att.SettleKey(), att.ReturnKey(), att.LateReturnKey())
	}
	existing, err := r.transactions(ctx, keys)
	if err != nil {
		return nil, 0, err
	}
	c := &classifier{existing: existing, planned: map[string]ledger.TransactionRequest{}}

	plans := make([]*plan, 0, len(lines))
	seen := map[[3]string]int{}
	for _, l := range lines {
		f := apoyo.ReconcileFinding{Line: l.row, OperationDate: l.OperationDate, TrackingKey: l.TrackingKey, OrderID: l.OrderID, State: l.State,
			ReturnTrackingKey: l.ReturnTrackingKey, ReturnCause: l.ReturnCause, Amount: money(l.Amount)}
		k := [3]string{l.TrackingKey, l.State, l.ReturnTrackingKey}
		if first, dup := seen[k]; dup {
			f.Class, f.Message = apoyo.FindingDuplicate, fmt.Sprintf("same tracking key, state and return tracking key as line %d", first)
			plans = append(plans, &plan{finding: f})
			continue
		}
		seen[k] = l.row
		p := byTracking[l.TrackingKey]
		switch {
		case p == nil && byOrder[l.OrderID] != nil:
			f.Class, f.Message = apoyo.FindingUnknownInStatement, fmt.Sprintf("order %s is on record with another tracking key (%s)", l.OrderID, byOrder[l.OrderID].trackingKey)
		case p == nil:
			f.Class, f.Message = apoyo.FindingUnknownInStatement, "no payment order with this tracking key"
		case p.orderID != l.OrderID:
			f.Class, f.Message = apoyo.FindingUnknownInStatement, fmt.Sprintf("the tracking key belongs to order %s", p.orderID)
		}
		if f.Class != "" {
			plans = append(plans, &plan{finding: f})
			continue
		}
		if !l.IsReturn() {
			p.onStatement = true
		}
		f.ExpectedAmount = money(p.amount)
		if !l.Amount.Equal(p.amount) {
			f.Class, f.Message = apoyo.FindingAmountMismatch, fmt.Sprintf("the statement says %s, the payment order is for %s", money(l.Amount), money(p.amount))
			plans = append(plans, &plan{finding: f})
			continue
		}
		pl := c.classify(l, p, f)
		pl.pay = p
		plans = append(plans, pl)
	}

	posted, err := r.post(ctx, plans, existing)
	if err != nil {
		return nil, 0, err
	}
	if err := r.apply(ctx, plans); err != nil {
		return nil, posted, err
	}

	findings := make([]apoyo.ReconcileFinding, 0, len(plans))
	for _, pl := range plans {
		findings = append(findings, pl.finding)
	}
	var missing []*pay
	dateSet := map[string]bool{}
	for _, d := range dates {
		dateSet[d] = true
	}
	for _, p := range pays {
		if !p.onStatement && p.state != statePending && dateSet[p.operationDate] {
			missing = append(missing, p)
		}
	}
	sort.Slice(missing, func(i, j int) bool { return missing[i].orderID < missing[j].orderID })
	for _, p := range missing {
		findings = append(findings, apoyo.ReconcileFinding{Class: apoyo.FindingMissingFromStatement, OperationDate: p.operationDate, TrackingKey: p.trackingKey, OrderID: p.orderID,
			State: p.state, ExpectedAmount: money(p.amount),
			Message: fmt.Sprintf("our records have this order %s on operation date %s; the statement has no order line for it", p.state, p.operationDate)})
	}
	return findings, posted, nil
}

// classifier decides a matched line's class and what it proves. It keeps
// the entries earlier lines of the same file plan, so an order line and
// the return line after it see each other's effect.
type classifier struct {
	existing map[string]ledger.Transaction
	planned  map[string]ledger.TransactionRequest
}

func (c *classifier) has(key string) bool {
	if _, ok := c.existing[key]; ok {
		return true
	}
	_, ok := c.planned[key]
	return ok
}

func (c *classifier) classify(l line, p *pay, f apoyo.ReconcileFinding) *plan {
	pl := &plan{finding: f}
	pl.finding.Class = apoyo.FindingMatched
	sk, rk := p.booking().SettleKey(), p.booking().ReturnKey()
	settled, returned := c.has(sk), c.has(rk)
	mismatch := func(format string, args ...any) *plan {
		pl.finding.Class, pl.finding.Message = apoyo.FindingStateMismatch, fmt.Sprintf(format, args...)
		return pl
	}
	ensure := func(r ledger.TransactionRequest) {
		pl.ensure = append(pl.ensure, r)
		if !c.has(r.IdempotencyKey) {
			c.planned[r.IdempotencyKey] = r
		}
	}
	toState := func(state string, cause int, from ...string) {
		pl.update = &stateUpdate{orderID: p.orderID, state: state, cause: cause, from: from}
		if !l.IsReturn() {
			pl.update.operationDate = l.OperationDate
		}
		for _, s := range from {
			if p.state == s {
				p.state = state
				break
			}
		}
	}
	// A rail paid only on collection (cash pickup) is not paid when funded.
	cash := apoyo.Rail(p.rail).Rules().PaidState == apoyo.PaymentCollected

	switch {
	case !l.IsReturn() && l.State == payment.SPEISettled && cash:
		// A cash pickup settles when it is funded; the money is the
		// person's only once collected, which the statement does not
		// show. Disburse books it then (or a return when it expires).
		if p.state == stateCollected {
			ensure(p.settleRequest())
		}
		pl.finding.Message = "cash pickup funded"
	case !l.IsReturn() && l.State == payment.SPEISettled:
		switch {
		case returned && !settled && p.state == stateReturned:
			// The worker asked only after the return had arrived and
			// booked the attempt as returned: the same money, one step.
			ensure(p.returnRequest(stateReturned))
			pl.finding.Message = "settled, then returned; booked as a return"
		case returned:
			return mismatch("the bank settled the order; our ledger booked it as %s (%s)", p.state, rk)
		default:
			ensure(p.settleRequest())
			toState(stateSettled, 0, statePending)
		}
	case !l.IsReturn():
		// D (refused outright; its return line follows) or CN (nothing
		// moved): either way the attempt did not pay.
		if settled {
			return mismatch("the bank reports the order %s; our ledger booked it as settled (%s)", l.State, sk)
		}
		st := unpaidState(p.rail, l)
		ensure(p.returnRequest(st))
		toState(st, l.ReturnCause, statePending)
	case cash:
		// An expired cash pickup: the funded money came back.
		if settled {
			return mismatch("the bank reports the cash pickup expired; our ledger booked it as collected (%s)", sk)
		}
		ensure(p.returnRequest(stateExpired))
		toState(stateExpired, 0, statePending)
	case l.SettledAt.IsZero() && !settled:
		// The return of an order refused outright: the same event as
		// its D order line.
		ensure(p.returnRequest(stateReturned))
		toState(stateReturned, l.ReturnCause, statePending)
	case returned && settled:
		return mismatch("our ledger booked the order both settled (%s) and returned (%s)", sk, rk)
	case returned || (!settled && p.state == statePending):
		// The worker saw the order only once it was already returned,
		// or has not booked it yet and will see it so: the attempt is
		// booked as a return (ours or the worker's, whichever comes
		// second gets the first), and the case's workflow asks for a
		// new instrument as for any return, so no task is raised.
		pl.finding.Class = apoyo.FindingReturnedAfterSettlement
		pl.finding.Message = fmt.Sprintf("settled, then returned (cause %d: %s); booked as a return of the attempt",
			l.ReturnCause, payment.ReturnCauseText(l.ReturnCause))
		ensure(p.returnRequest(stateReturned))
		toState(stateReturned, l.ReturnCause, statePending)
	default:
		pl.finding.Class = apoyo.FindingReturnedAfterSettlement
		pl.finding.Message = fmt.Sprintf("settled, then returned (cause %d: %s); a new payment instrument is needed",
			l.ReturnCause, payment.ReturnCauseText(l.ReturnCause))
		ensure(p.settleRequest())
		ensure(p.lateReturnRequest(l))
		if p.state != stateReturned {
			pl.task = fmt.Sprintf("order %s settled and was returned on %s (cause %d: %s): put a new payment instrument on file",
				p.orderID, l.OperationDate, l.ReturnCause, payment.ReturnCauseText(l.ReturnCause))
		}
		// Every time, not only with the task: a run that failed after the
		// payment's update must still reopen the case (the reopener is
		// idempotent).
		pl.reopen = &ReturnedPayment{CaseID: p.caseID, ProgramID: p.programID, CycleID: p.cycleID, BeneficiaryID: p.beneficiaryID,
			OrderID: p.orderID, Attempt: p.attempt, Fund: p.fund, ReturnCause: l.ReturnCause, Reason: payment.ReturnCauseText(l.ReturnCause)}
		toState(stateReturned, l.ReturnCause, statePending, stateSettled)
	}
	return pl
}

// post makes sure of every entry the plans need: entries already in the
// ledger are compared with what the line proves; the others are posted in
// batches. A line's entries go in waves, its second only once its first is
// in the ledger: a late return is never booked without its settlement. It
// returns the number of new transactions.
func (r *Reconciler) post(ctx context.Context, plans []*plan, existing map[string]ledger.Transaction) (int, error) {
	got := map[string]ledger.Transaction{}
	for k, t := range existing {
		got[k] = t
	}
	failed := map[string]error{}
	posted := 0
	for step := 0; ; step++ {
		var wave []ledger.TransactionRequest
		queued := map[string]bool{}
		more := false
		for _, pl := range plans {
			if pl.failed || step >= len(pl.ensure) {
				continue
			}
			more = true
			q := pl.ensure[step]
			if _, ok := got[q.IdempotencyKey]; ok || queued[q.IdempotencyKey] || failed[q.IdempotencyKey] != nil {
				continue
			}
			queued[q.IdempotencyKey] = true
			wave = append(wave, q)
		}
		if !more {
			return posted, nil
		}
		const chunk = 500
		for start := 0; start < len(wave); start += chunk {
			batch := wave[start:min(start+chunk, len(wave))]
			for i, res := range r.ledger.PostBatch(ctx, batch) {
				key := batch[i].IdempotencyKey
				switch {
				case res.Err == nil:
					got[key] = res.Transaction
					if !res.Transaction.Replayed {
						posted++
					}
				case errors.Is(res.Err, ledger.ErrIdempotencyConflict):
					// The worker booked it between our read and our
					// post, with a description of its own: compare the
					// effect below.
					t, err := r.ledger.TransactionByKey(ctx, key)
					if err != nil {
						return posted, err
					}
					got[key] = t
				case apoyo.Retryable(res.Err):
					return posted, res.Err
				default:
					failed[key] = res.Err
				}
			}
		}
		for _, pl := range plans {
			if pl.failed || step >= len(pl.ensure) {
				continue
			}
			q := pl.ensure[step]
			key := q.IdempotencyKey
			if err := failed[key]; err != nil {
				pl.fail(apoyo.FindingStateMismatch, "the ledger refused %s: %v", key, err)
				continue
			}
			t := got[key]
			if why := differs(t, q); why != "" {
				class := apoyo.FindingStateMismatch
				if why == "amount" {
					class = apoyo.FindingAmountMismatch
				}
				pl.fail(class, "our ledger has %s with another %s (transaction %d)", key, why, t.ID)
				continue
			}
			pl.finding.TransactionIDs = append(pl.finding.TransactionIDs, t.ID)
		}
	}
}

// fail turns a plan into a problem: nothing more is done for its line.
func (pl *plan) fail(class apoyo.FindingClass, format string, args ...any) {
	pl.failed = true
	pl.finding.Class, pl.finding.Message = class, fmt.Sprintf(format, args...)
	pl.finding.TransactionIDs = nil
	pl.update, pl.task = nil, ""
}

// differs compares a recorded transaction's effect with a request's:
// accounts, funds, directions and amounts; descriptions may differ (the
// worker names the state it saw). It returns "" when they agree, "amount"
// when only amounts differ, and "content" otherwise.
func differs(t ledger.Transaction, r ledger.TransactionRequest) string {
	if len(t.Postings) != len(r.Postings) {
		return "content"
	}
	amounts := false
	for i, p := range t.Postings {
		q := r.Postings[i]
		if p.Account != q.Account || p.Fund != q.Fund || p.Direction != q.Direction {
			return "content"
		}
		if !p.Amount.Equal(q.Amount) {
			amounts = true
		}
	}
	if amounts {
		return "amount"
	}
	return ""
}

// apply raises tasks and moves payments to the state the statement proves,
// in line order, only from the states expected: a later statement's return
// is never undone by reconciling an earlier statement again.
func (r *Reconciler) apply(ctx context.Context, plans []*plan) error {
	for _, pl := range plans {
		if pl.task != "" {
			if err := r.cases.RaiseTask(ctx, pl.pay.caseID, apoyo.TaskReturnedAfterSettlement, pl.task); err != nil {
				return err
			}
		}
		u := pl.update
		if u == nil {
			continue
		}
		var cause *int
		if u.cause != 0 {
			cause = &u.cause
		}
		_, err := r.pool.Exec(ctx, `UPDATE payments SET state = $2, return_cause = coalesce($3, return_cause),
			operation_date = CASE WHEN operation_date = '' THEN $4 ELSE operation_date END, updated_at = now()
			WHERE order_id = $1 AND state = ANY($5)`, u.orderID, u.state, cause, u.operationDate, u.from)
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.ConstraintName == "payments_paid_once_per_cycle" {
			// The ledger now shows the money that left; the payment
			// record cannot say paid twice, and a person must act.
			pl.finding.Class = apoyo.FindingStateMismatch
			pl.finding.Message = "the bank settled this order but another order of the same beneficiary and cycle is already paid: paid twice"
			continue
		}
		if err != nil {
			return err
		}
	}
	// Cases whose payment came back after it settled pay again: told once
	// the payments show the return, so the next attempt is not refused as
	// "already paid".
	if r.reopener == nil {
		return nil
	}
	for _, pl := range plans {
		if pl.reopen == nil || pl.failed {
			continue
		}
		if err := r.reopener.PaymentReturnedAfterSettlement(ctx, *pl.reopen); err != nil {
			return fmt.Errorf("reopening case %s after the return of order %s: %w", pl.reopen.CaseID, pl.reopen.OrderID, err)
		}
	}
	return nil
}

// loadPayments reads the payments the lines name and those booked on the
// statement's operation dates (to find the ones missing from it).
func (r *Reconciler) loadPayments(ctx context.Context, lines []line, dates []string) ([]*pay, error) {
	tks := make([]string, 0, len(lines))
	ids := make([]string, 0, len(lines))
	for _, l := range lines {
		tks = append(tks, l.TrackingKey)
		ids = append(ids, l.OrderID)
	}
	rows, err := r.pool.Query(ctx, `SELECT order_id, case_id, program_id, cycle_id, beneficiary_id, attempt, rail, amount, fund, tracking_key, state,
		coalesce(return_cause, 0), operation_date
		FROM payments WHERE tracking_key = ANY($1) OR order_id = ANY($2) OR (operation_date = ANY($3) AND state <> 'pending')
		ORDER BY order_id`, tks, ids, dates)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (*pay, error) {
		p := &pay{}
		err := row.Scan(&p.orderID, &p.caseID, &p.programID, &p.cycleID, &p.beneficiaryID, &p.attempt, &p.rail, &p.amount, &p.fund,
			&p.trackingKey, &p.state, &p.returnCause, &p.operationDate)
		return p, err
	})
}

// transactions returns the ledger transactions recorded under keys. It
// reads the journal in one query per few thousand keys rather than one
// ledger.TransactionByKey call per key: a day's statement can name many
// thousands of orders, and the journal tables are append-only, so reading
// them directly cannot see a half-written transaction.
func (r *Reconciler) transactions(ctx context.Context, keys []string) (map[string]ledger.Transaction, error) {
	out := map[string]ledger.Transaction{}
	const chunk = 5000
	for start := 0; start < len(keys); start += chunk {
		part := keys[start:min(start+chunk, len(keys))]
		rows, err := r.pool.Query(ctx, `SELECT t.idempotency_key, t.id, a.code, p.fund, p.amount
			FROM ledger_transactions t JOIN ledger_postings p ON p.transaction_id = t.id JOIN ledger_accounts a ON a.id = p.account_id
			WHERE t.idempotency_key = ANY($1) ORDER BY t.id, p.seq`, part)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var key string
			var id int64
			var p ledger.Posting
			if err := rows.Scan(&key, &id, &p.Account, &p.Fund, &p.Amount); err != nil {
				rows.Close()
				return nil, err
			}
			p.Direction = ledger.Debit
			if p.Amount.IsNegative() {
				p.Direction, p.Amount = ledger.Credit, p.Amount.Neg()
			}
			t := out[key]
			t.ID, t.IdempotencyKey = id, key
			t.Postings = append(t.Postings, p)
			out[key] = t
		}
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}
