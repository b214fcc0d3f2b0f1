package activities

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"golang.org/x/sync/errgroup"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/payment"
	"github.com/apoyo-cdmx/apoyo/program"
	"github.com/apoyo-cdmx/apoyo/workflows"
	"github.com/apoyo-cdmx/apoyo/workflows/searchattr"
)

// DefaultAskAfter is how long the cycle's sweep leaves an order without a
// final answer before it asks the bank itself (a quarter of the order's
// age, at least this): callbacks are best effort.
const DefaultAskAfter = 30 * time.Second

// SendPayment sends one attempt's order (see Disburse for the ledger's
// steps and the checks before an order may leave) and returns at once. A
// final answer on the spot (a refusal, or a retry that finds the order
// settled) is recorded and returned; otherwise the result is Pending, and
// the final answer reaches the case as SignalPaymentFinal from
// FinishPayment. No slot is held and no heartbeat billed while the bank
// decides, however long a cash pickup waits.
func (a *Activities) SendPayment(ctx context.Context, in workflows.DisburseInput) (apoyo.PaymentResult, error) {
	o, err := a.sendOrder(ctx, in, true)
	if err != nil || o.early != nil {
		return o.result(), temporalError(err)
	}
	if !o.st.Final() {
		res := o.result()
		res.Pending = true
		return res, nil
	}
	res, err := a.finish(ctx, in, o)
	if err == nil {
		err = a.Cases.MarkDelivered(ctx, o.orderID) // this answer is the activity's result
	}
	return res, temporalError(err)
}

// FinishPayment records an order's final answer, if the bank has one, and
// tells the order's case (SignalPaymentFinal): the ledger, the payment's
// row and the case's projection first, the signal last, so a case never
// hears of money that is not booked. The bank is asked for the order's
// status: a callback only says that something changed, so a forged or
// stale one changes nothing. Running it again books nothing twice (the
// ledger's keys) and signals again only an answer not yet delivered.
// final is false while the order waits at the bank. Errors:
// cases.ErrPaymentNotFound (not an order whose case waits for a signal),
// payment.ErrUnavailable (the bank did not answer).
func (a *Activities) FinishPayment(ctx context.Context, orderID string) (final bool, err error) {
	p, err := a.Cases.AwaitedPaymentByID(ctx, orderID)
	if err != nil {
		return false, err
	}
	if p.Delivered {
		return true, nil
	}
	st, err := a.status(ctx, orderID)
	if err != nil {
		return false, err
	}
	if !st.Final() {
		return false, nil
	}
	in := workflows.DisburseInput{ProgramID: p.ProgramID, CycleID: p.CycleID, BeneficiaryID: p.BeneficiaryID, Amount: p.Amount,
		Attempt: p.Attempt, Fund: p.Fund, Version: p.CaseVersion, Referrals: make([]apoyo.Referral, p.Referrals)}
	o := sentOrder{orderID: orderID, rail: p.Rail, fund: p.Fund, st: st,
		att: program.Attempt{Program: p.ProgramID, Cycle: p.CycleID, Beneficiary: p.BeneficiaryID, N: p.Attempt, Fund: p.Fund, Amount: p.Amount}}
	res, err := a.finish(ctx, in, o)
	if err != nil {
		return false, err
	}
	err = a.Temporal.SignalWorkflow(ctx, p.CaseID, "", workflows.SignalPaymentFinal, res)
	var gone *serviceerror.NotFound
	if errors.As(err, &gone) {
		// The case ended (a run that was terminated, or replaced): the
		// answer is booked and recorded; nobody is left to tell.
		a.log().WarnContext(ctx, "payment final: case not running", "case", p.CaseID, "order", orderID)
		err = nil
	}
	if err != nil {
		return false, err
	}
	return true, a.Cases.MarkDelivered(ctx, orderID)
}

// CallbackHandler receives the bank's callbacks (a payment.Status as JSON)
// and finishes the order they name. It answers 204 when done (or when the
// order still waits), 404 for an order it does not know, 400 for a body
// it cannot read and 503 when it could not finish now (the bank calls
// again; the cycle's sweep asks the bank in any case).
func (a *Activities) CallbackHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		var st payment.Status
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&st); err != nil || st.OrderID == "" {
			http.Error(w, "expected a payment status with order_id", http.StatusBadRequest)
			return
		}
		_, err := a.FinishPayment(r.Context(), st.OrderID)
		switch apoyo.ErrorCodeOf(err) {
		case "":
			w.WriteHeader(http.StatusNoContent)
		case apoyo.ENOTFOUND:
			http.Error(w, "unknown order", http.StatusNotFound)
		default:
			a.log().WarnContext(r.Context(), "bank callback not finished", "order", st.OrderID, "err", err)
			http.Error(w, "not finished; call again", http.StatusServiceUnavailable)
		}
	})
}

// StartCasePage starts one roster page's cases (BeneficiaryCase3), each as
// a workflow of its own, with at most 32 starts in flight. A case that
// exists already (this activity retried, or the cycle relaunched) is left
// as it is: its id is the business id, so it is never started twice.
func (a *Activities) StartCasePage(ctx context.Context, in workflows.StartCasePageInput) error {
	queue := a.TaskQueue
	if queue == "" && activity.IsActivity(ctx) {
		queue = activity.GetInfo(ctx).TaskQueue
	}
	var g errgroup.Group
	g.SetLimit(32)
	for i, id := range in.IDs {
		bin := in.Template
		bin.BeneficiaryID = id
		if i < len(in.Funds) {
			bin.Fund = in.Funds[i]
		}
		bin.Reserved = bin.Fund != ""
		g.Go(func() error {
			_, err := a.Temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
				ID:                    apoyo.CaseID(bin.CycleID, id),
				TaskQueue:             queue,
				WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
				TypedSearchAttributes: temporal.NewSearchAttributes(searchattr.Program.ValueSet(bin.ProgramID), searchattr.Cycle.ValueSet(bin.CycleID)),
			}, workflows.Case3WorkflowName, bin)
			var already *serviceerror.WorkflowExecutionAlreadyStarted
			if errors.As(err, &already) {
				return nil
			}
			return err
		})
	}
	return g.Wait()
}

// SweepCycle does a cycle's timed work from PostgreSQL, in bounded pages:
// it asks the bank about orders whose final answer has not reached their
// case for a while (and finishes them), marks approvals and referrals
// overdue past the rules' SLAs and raises their tasks, and counts the
// cycle's cases. An order the bank could not answer about is left for the
// next sweep.
func (a *Activities) SweepCycle(ctx context.Context, in workflows.SweepCycleInput) (workflows.SweepCycleResult, error) {
	var res workflows.SweepCycleResult
	askAfter := a.AskAfter
	if askAfter <= 0 {
		askAfter = DefaultAskAfter
	}
	due, err := a.Cases.DueForAsking(ctx, in.CycleID, askAfter, 500)
	if err != nil {
		return res, temporalError(err)
	}
	for _, id := range due {
		final, err := a.FinishPayment(ctx, id)
		if err != nil {
			a.log().WarnContext(ctx, "sweep: order not finished", "order", id, "err", err)
			continue
		}
		if final {
			res.Delivered++
		}
	}
	rules := in.Rules.WithDefaults()
	for _, o := range []struct {
		step apoyo.Step
		sla  time.Duration
		task apoyo.TaskKind
	}{{apoyo.StepApproval, rules.ApprovalSLA, apoyo.TaskApprovalOverdue}, {apoyo.StepReferrals, rules.FollowUp, apoyo.TaskReferralOverdue}} {
		ids, err := a.Cases.MarkOverdue(ctx, in.CycleID, o.step, o.sla, 1000)
		if err != nil {
			return res, temporalError(err)
		}
		for _, id := range ids {
			if err := a.Cases.RaiseTask(ctx, id, o.task, "past the SLA of "+o.sla.String()); err != nil {
				return res, temporalError(err)
			}
		}
		res.Overdue += len(ids)
	}
	counts, err := a.Cases.CycleCounts(ctx, in.CycleID)
	if err != nil {
		return res, temporalError(err)
	}
	res.Cases, res.Done, res.Outcomes = counts.Total, counts.Done, counts.ByOutcome
	return res, nil
}
