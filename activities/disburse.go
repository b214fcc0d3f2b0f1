package activities

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/shopspring/decimal"
	"go.temporal.io/sdk/activity"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/cases"
	"github.com/apoyo-cdmx/apoyo/ledger"
	"github.com/apoyo-cdmx/apoyo/payment"
	"github.com/apoyo-cdmx/apoyo/program"
	"github.com/apoyo-cdmx/apoyo/workflows"
)

// ErrBudgetExhausted: no fund of the programme can cover the entitlement.
var ErrBudgetExhausted = apoyo.Errorf(apoyo.ECONFLICT, "budget.exhausted", "the programme's budget cannot cover this payment")

// Concept is what the beneficiary's bank statement shows (SPEI: ≤39
// printable ASCII characters).
const Concept = "APOYO INGRESO INCLUSIVO CDMX"

// OrderID is the bank order id of a case's payment attempt (program
// makes every key and order id from business ids).
func OrderID(c, b string, attempt int) string {
	return program.Attempt{Cycle: c, Beneficiary: b, N: attempt}.OrderID()
}

// Disburse pays one attempt of a case and waits for the bank's final
// answer. Money moves through the ledger step by step, each step keyed:
//
//	commit      available  → committed   (attempt 1: the entitlement)
//	transit     committed  → in_transit  (or returned → in_transit on a re-payment)
//	settle      in_transit → paid        (the bank settled / cash collected)
//	return      in_transit → returned    (returned, rejected, expired)
//
// It never sends a second order when the first one's outcome is unknown:
// it asks the bank for the order's status first, and the order's id and
// idempotency key are the same on every retry of the attempt.
func (a *Activities) Disburse(ctx context.Context, in workflows.DisburseInput) (apoyo.PaymentResult, error) {
	res, err := a.disburse(ctx, in)
	return res, temporalError(err)
}

func (a *Activities) disburse(ctx context.Context, in workflows.DisburseInput) (apoyo.PaymentResult, error) {
	o, err := a.sendOrder(ctx, in, false)
	if err != nil {
		return apoyo.PaymentResult{}, err
	}
	if o.early != nil {
		return *o.early, nil
	}
	for !o.st.Final() {
		if err := heartbeat(ctx, string(o.st.State)); err != nil {
			return apoyo.PaymentResult{}, err
		}
		select {
		case <-ctx.Done():
			return apoyo.PaymentResult{}, ctx.Err()
		case <-time.After(a.pollInterval()):
		}
		if o.st, err = a.status(ctx, o.orderID); err != nil {
			return apoyo.PaymentResult{}, err
		}
	}
	return a.finish(ctx, o, in.Version, len(in.Referrals))
}

// sentOrder is an attempt's order as sendOrder left it.
type sentOrder struct {
	att     program.Attempt
	orderID string
	rail    apoyo.Rail
	fund    string
	// st is the bank's last word on the order; refusal is set when the
	// bank refused it as invalid (st is then "rejected").
	st      payment.Status
	refusal string
	// early is the attempt's result when it ended before any order left
	// (the cycle was cancelled).
	early *apoyo.PaymentResult
}

// result is the attempt's result as far as it is known.
func (o sentOrder) result() apoyo.PaymentResult {
	if o.early != nil {
		return *o.early
	}
	res := apoyo.PaymentResult{OrderID: o.orderID, Rail: o.rail, State: o.st.State, ReturnCause: o.st.ReturnCause, Fund: o.fund}
	switch {
	case o.refusal != "":
		res.Reason = "order refused: " + o.refusal
	case o.st.ReturnCause != 0:
		res.Reason = payment.ReturnCauseText(o.st.ReturnCause)
	case o.st.State == apoyo.PaymentCancelled:
		res.Reason = "cancelled by the bank (SPEI CN); a new instrument or a new attempt is needed"
	}
	return res
}

// sendOrder does an attempt up to its order being at the bank: the checks
// before a new order may leave, the commitment and the transit in the
// ledger, the payment's row, and the order itself. With awaited
// (SendPayment: the answer completes the activity later), the order asks
// for a callback to CallbackURL and no heartbeat is sent. A retry finds
// each of these done.
func (a *Activities) sendOrder(ctx context.Context, in workflows.DisburseInput, awaited bool) (sentOrder, error) {
	var o sentOrder
	prog, err := a.program(ctx, in.ProgramID)
	if err != nil {
		return o, err
	}
	ben, err := a.Beneficiaries.Get(ctx, in.BeneficiaryID)
	if err != nil {
		return o, err
	}
	if err := a.ensureCycleAccounts(ctx, in.ProgramID, in.CycleID); err != nil {
		return o, err
	}
	c, b, n := in.CycleID, in.BeneficiaryID, in.Attempt
	meta := map[string]string{"program": in.ProgramID, "cycle": c, "beneficiary": b}

	// Before a new order may leave: is this attempt's order already at the
	// bank (a retry), is the cycle cancelled, was the person already paid?
	orderID := OrderID(c, b, n)
	o.orderID = orderID
	known, serr := a.status(ctx, orderID)
	sent := serr == nil
	if !sent && apoyo.ErrorCodeOf(serr) != apoyo.ENOTFOUND {
		return o, serr // unknown: ask again on retry, never guess
	}
	if !sent {
		cyc, err := a.Cases.Cycle(ctx, c)
		if err != nil {
			return o, err
		}
		if cyc.Cancelled() {
			// "The bank has no such order" proves nothing while an earlier
			// try's call may still be on its way to the bank (a worker that
			// lost its heartbeat but not its connection): then ask again
			// later, never give the money back.
			inFlight, err := a.Cases.SendMayBeInFlight(ctx, orderID, a.sendWindow())
			if err != nil {
				return o, err
			}
			if inFlight {
				return o, ErrSendInFlight.With("order %s: an earlier call may still reach the bank; asking again once it has certainly ended", orderID)
			}
			res, err := a.cancelUnsent(ctx, in, orderID)
			o.early = &res
			return o, err
		}
		paid, err := a.Cases.PaidInCycle(ctx, c, b)
		if err != nil {
			return o, err
		}
		if paid {
			// Another try of this same attempt may have sent the order and
			// seen it settle since the bank was asked: then this try
			// follows that order. Only a payment by another order refuses.
			again, serr := a.status(ctx, orderID)
			switch {
			case serr == nil:
				known, sent = again, true
			case apoyo.ErrorCodeOf(serr) == apoyo.ENOTFOUND:
				return o, cases.ErrAlreadyPaid.With("beneficiary %s is already paid in cycle %s; order %s not sent", b, c, orderID)
			default:
				return o, serr
			}
		}
	}
	fund := in.Fund
	if !in.Reserved {
		if fund, err = a.commit(ctx, prog, in, meta); err != nil {
			return o, err
		}
	}
	o.fund = fund
	o.att = program.Attempt{Program: in.ProgramID, Cycle: c, Beneficiary: b, N: n, Fund: fund, Amount: in.Amount}
	if _, err := a.Ledger.Post(ctx, o.att.Transit()); err != nil {
		return o, err
	}

	rail := ben.Record.PaymentMethod
	o.rail = rail
	order := payment.Order{ID: orderID, IdempotencyKey: orderID, Rail: rail, Amount: in.Amount, Currency: "MXN", Concept: Concept,
		TrackingKey: payment.NewTrackingKey(orderID), Reference: payment.NewReference(orderID),
		Beneficiary: payment.Instrument{CLABE: ben.Record.CLABE, CardNumber: ben.Record.CardNumber}}
	if awaited {
		order.CallbackURL = a.CallbackURL
	}
	caseID := apoyo.CaseID(c, b)
	if err := a.Cases.RecordPayment(ctx, apoyo.Payment{OrderID: orderID, CaseID: caseID, ProgramID: in.ProgramID, CycleID: c, BeneficiaryID: b,
		Attempt: n, Rail: rail, Amount: in.Amount, Fund: fund, TrackingKey: order.TrackingKey, State: apoyo.PaymentPending}); err != nil {
		return o, err
	}

	o.st = known
	if !sent {
		// Heartbeat first (Disburse): the call below is bounded well
		// inside the heartbeat timeout, so a retry of this activity never
		// starts while this call can still reach the bank unrecorded.
		// SendPayment has no heartbeat timeout (its start-to-close bounds
		// the call) and sends none: each would be billed.
		if !awaited {
			if err := heartbeat(ctx, "sending"); err != nil {
				return o, err
			}
		}
		if err := a.Cases.SendStarted(ctx, orderID); err != nil {
			return o, err
		}
		o.st, o.refusal, err = a.send(ctx, order)
		if eerr := a.Cases.SendEnded(context.WithoutCancel(ctx), orderID); eerr != nil && err == nil {
			err = eerr
		}
		if err != nil {
			return o, err
		}
	}
	return o, nil
}

// finish records an attempt's final answer: the ledger, the payment's row,
// and (once paid) the case's projection at caseVersion, with its
// referrals (how many) open or the case completed.
func (a *Activities) finish(ctx context.Context, o sentOrder, caseVersion int64, referrals int) (apoyo.PaymentResult, error) {
	res := o.result()
	if err := a.book(ctx, o.att, res.Paid(), o.st); err != nil {
		return res, err
	}
	st := o.st
	if err := a.Cases.UpdatePayment(ctx, o.orderID, string(st.State), st.ReturnCause, st.ProviderRef, st.OperationDate); err != nil {
		return res, err
	}
	c, b := o.att.Cycle, o.att.Beneficiary
	caseID := apoyo.CaseID(c, b)
	if res.Paid() {
		proj := apoyo.Case{ProgramID: o.att.Program, CycleID: c, BeneficiaryID: b, Version: caseVersion,
			Step: apoyo.StepReferrals, Status: apoyo.CaseWaiting, WaitingOn: []string{apoyo.WaitingOnCaseworker}}
		if referrals == 0 {
			proj.Step, proj.Status, proj.WaitingOn, proj.Outcome, proj.Reason = apoyo.StepDone, apoyo.CaseDone, nil, apoyo.OutcomeCompleted, "paid; no referrals"
		}
		if err := a.Cases.Save(ctx, proj); err != nil {
			return res, err
		}
		if err := a.Cases.ResolveStaleTasks(ctx, caseID, proj.Step); err != nil {
			return res, err
		}
	}
	a.log().InfoContext(ctx, "payment final", "case", caseID, "order", o.orderID, "state", st.State, "cause", st.ReturnCause)
	return res, nil
}

// ErrSendInFlight: an earlier try's call to the bank may still be under way;
// retryable, and retried by Temporal with backoff.
var ErrSendInFlight = apoyo.Errorf(apoyo.EUNAVAILABLE, "payment.send_in_flight", "an earlier call may still reach the bank")

// Defaults of the bank call bounds (see Activities.BankCallTimeout).
const (
	DefaultBankCallTimeout = 20 * time.Second
)

// callTimeout bounds one call to the bank: BankCallTimeout, and never more
// than half the activity's heartbeat timeout, so that Temporal cannot start
// a retry of the activity while this try's call is still running.
func (a *Activities) callTimeout(ctx context.Context) time.Duration {
	d := a.BankCallTimeout
	if d <= 0 {
		d = DefaultBankCallTimeout
	}
	if activity.IsActivity(ctx) {
		if hb := activity.GetInfo(ctx).HeartbeatTimeout; hb > 0 && hb/2 < d {
			d = hb / 2
		}
	}
	return d
}

// sendWindow is how long after a send started it may still reach the bank
// if nobody saw it end: twice the bound of one call.
func (a *Activities) sendWindow() time.Duration {
	return 2 * max(a.BankCallTimeout, DefaultBankCallTimeout)
}

// status asks the bank for an order's status, bounded.
func (a *Activities) status(ctx context.Context, orderID string) (payment.Status, error) {
	cctx, cancel := context.WithTimeout(ctx, a.callTimeout(ctx))
	defer cancel()
	st, err := a.Payments.Status(cctx, orderID)
	if err != nil && ctx.Err() == nil && cctx.Err() != nil {
		return st, payment.ErrUnavailable.With("status of order %s: no answer within %s", orderID, a.callTimeout(ctx))
	}
	return st, err
}

func (a *Activities) pollInterval() time.Duration {
	if a.PollInterval <= 0 {
		return 500 * time.Millisecond
	}
	return a.PollInterval
}

// send submits an order the bank has never seen. After an unknown outcome
// (timeout, 5xx) it asks for the order's status rather than submitting
// again. refusal is set when the bank refused the order as invalid (e.g. a
// bad account): a final answer, not a failure; st is then "rejected".
func (a *Activities) send(ctx context.Context, order payment.Order) (st payment.Status, refusal string, err error) {
	cctx, cancel := context.WithTimeout(ctx, a.callTimeout(ctx))
	st, err = a.Payments.Submit(cctx, order)
	cancel()
	if err != nil && ctx.Err() == nil && cctx.Err() != nil && apoyo.ErrorCodeOf(err) == apoyo.EINTERNAL {
		err = payment.ErrUnavailable.With("order %s: no answer within %s", order.ID, a.callTimeout(ctx))
	}
	switch apoyo.ErrorCodeOf(err) {
	case "":
		return st, "", nil
	case apoyo.EINVALID:
		return payment.Status{OrderID: order.ID, Rail: order.Rail, State: apoyo.PaymentRejected}, err.Error(), nil
	case apoyo.EUNAVAILABLE, apoyo.EINTERNAL:
		st, serr := a.status(ctx, order.ID)
		if serr == nil {
			return st, "", nil
		}
		return st, "", fmt.Errorf("payment order %s: outcome unknown after %w; will ask the bank again (status: %v)", order.ID, err, serr)
	}
	return st, "", err
}

// book records an attempt's final answer in the ledger: settled, or back
// (returned, rejected, expired). Money that came back after its settlement
// was already booked (reconciliation saw the bank's statement first, or an
// earlier try crashed after booking) moves paid → returned instead.
func (a *Activities) book(ctx context.Context, att program.Attempt, paid bool, st payment.Status) error {
	req := att.Return(string(st.State))
	if paid {
		req = att.Settle()
	} else if _, err := a.Ledger.TransactionByKey(ctx, att.SettleKey()); err == nil {
		req = att.LateReturn(st.ReturnTrackingKey)
	} else if !errors.Is(err, ledger.ErrTransactionNotFound) {
		return err
	}
	_, err := a.Ledger.Post(ctx, req)
	return err
}

// cancelUnsent ends an attempt of a cancelled cycle whose order never left.
// A transit booked by a try that crashed before sending is undone, so the
// money is not stranded in transit.
func (a *Activities) cancelUnsent(ctx context.Context, in workflows.DisburseInput, orderID string) (apoyo.PaymentResult, error) {
	att := program.Attempt{Program: in.ProgramID, Cycle: in.CycleID, Beneficiary: in.BeneficiaryID, N: in.Attempt}
	t, err := a.Ledger.TransactionByKey(ctx, att.TransitKey())
	if err == nil {
		att.Fund, att.Amount = t.Postings[0].Fund, t.Postings[0].Amount
		if _, err := a.Ledger.Post(ctx, att.Return(string(apoyo.PaymentCancelled))); err != nil {
			return apoyo.PaymentResult{}, err
		}
		if err := a.Cases.UpdatePayment(ctx, orderID, string(apoyo.PaymentCancelled), 0, "", ""); err != nil && apoyo.ErrorCodeOf(err) != apoyo.ENOTFOUND {
			return apoyo.PaymentResult{}, err
		}
	} else if !errors.Is(err, ledger.ErrTransactionNotFound) {
		return apoyo.PaymentResult{}, err
	}
	return apoyo.PaymentResult{OrderID: orderID, State: "cancelled", CycleCancelled: true, Reason: "cycle cancelled"}, nil
}

// commit reserves the entitlement against the budget (attempt 1), trying
// the programme's funds in order, and returns the fund it came from. Later
// attempts reuse the fund of the first.
func (a *Activities) commit(ctx context.Context, prog apoyo.Program, in workflows.DisburseInput, meta map[string]string) (string, error) {
	key := program.CommitKey(in.CycleID, in.BeneficiaryID)
	if t, err := a.Ledger.TransactionByKey(ctx, key); err == nil {
		return t.Postings[0].Fund, nil
	} else if !errors.Is(err, ledger.ErrTransactionNotFound) {
		return "", err
	}
	committed := program.CycleAccount(in.ProgramID, in.CycleID, program.CycleCommitted)
	for _, f := range prog.Funds {
		fund := program.LedgerFund(in.ProgramID, f.Code)
		_, err := a.Ledger.Post(ctx, withMeta(ledger.Transfer(key, committed, program.AvailableAccount(in.ProgramID), fund, in.Amount, "entitlement committed"), meta))
		if err == nil {
			return fund, nil
		}
		if !errors.Is(err, ledger.ErrBalanceRule) {
			return "", err
		}
	}
	return "", ErrBudgetExhausted.With("no fund of programme %s has %s MXN available for cycle %s", prog.ID, in.Amount.StringFixed(2), in.CycleID)
}

func withMeta(r ledger.TransactionRequest, meta map[string]string) ledger.TransactionRequest {
	r.Metadata = meta
	return r
}

// Release gives an unpaid case's money back to the programme's available
// budget: what is still committed (never sent) and what came back from the
// bank (returned, not re-sent). It is idempotent: each release is keyed.
func (a *Activities) Release(ctx context.Context, in workflows.ReleaseInput) error {
	return temporalError(a.release(ctx, in))
}

func (a *Activities) release(ctx context.Context, in workflows.ReleaseInput) error {
	c, b := in.CycleID, in.BeneficiaryID
	var fund string
	var amount decimal.Decimal
	if in.Reserved {
		// The cycle reserved this case's share: what is still committed
		// goes back with the cycle's close; only returned money is
		// released here. The amount is the first order's.
		t, err := a.Ledger.TransactionByKey(ctx, program.Attempt{Cycle: c, Beneficiary: b, N: 1}.TransitKey())
		if errors.Is(err, ledger.ErrTransactionNotFound) {
			return nil // never sent
		}
		if err != nil {
			return err
		}
		fund, amount = in.Fund, t.Postings[0].Amount
	} else {
		commitTx, err := a.Ledger.TransactionByKey(ctx, program.CommitKey(c, b))
		if errors.Is(err, ledger.ErrTransactionNotFound) {
			return nil // nothing was ever committed
		}
		if err != nil {
			return err
		}
		fund, amount = commitTx.Postings[0].Fund, commitTx.Postings[0].Amount
	}
	exists := func(key string) (bool, error) {
		_, err := a.Ledger.TransactionByKey(ctx, key)
		if errors.Is(err, ledger.ErrTransactionNotFound) {
			return false, nil
		}
		return err == nil, err
	}
	committed := amount
	returned := decimal.Zero
	for n := 1; ; n++ {
		att := program.Attempt{Cycle: c, Beneficiary: b, N: n}
		sent, err := exists(att.TransitKey())
		if err != nil {
			return err
		}
		if !sent {
			break
		}
		if n == 1 {
			committed = decimal.Zero
		} else {
			returned = returned.Sub(amount)
		}
		for _, key := range []string{att.ReturnKey(), att.LateReturnKey()} {
			back, err := exists(key)
			if err != nil {
				return err
			}
			if back {
				returned = returned.Add(amount)
			}
		}
	}
	meta := map[string]string{"program": in.ProgramID, "cycle": c, "beneficiary": b}
	avail := program.AvailableAccount(in.ProgramID)
	for _, part := range []struct {
		state  string
		amount decimal.Decimal
	}{{program.CycleCommitted, committed}, {program.CycleReturned, returned}} {
		if !part.amount.IsPositive() || (in.Reserved && part.state == program.CycleCommitted) {
			continue
		}
		if _, err := a.Ledger.Post(ctx, withMeta(ledger.Transfer(program.ReleaseKey(c, b, part.state), avail,
			program.CycleAccount(in.ProgramID, c, part.state), fund, part.amount, "released: "+in.Reason), meta)); err != nil {
			return err
		}
	}
	return nil
}
