package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/apoyo-cdmx/apoyo"
)

// The third shape of a case is a new workflow type rather than a third
// GetVersion branch: it has no running cases of an older shape to replay,
// so it records no version marker (and no search-attribute upsert with it),
// and the first two shapes stay exactly as they ran.
const (
	// Case3WorkflowName is the case started by PaymentCycle3.
	Case3WorkflowName = "BeneficiaryCase3"
	// SignalApprovals tells a case that signed lists (and per-case votes)
	// now cover its required secretariats (ApprovalsComplete): one signal
	// per case, however many secretariats signed.
	SignalApprovals = "approvals"
	// SignalPaymentFinal carries an order's final answer (apoyo.PaymentResult),
	// booked and recorded already by whoever heard it first: the bank's
	// callback, or the cycle's sweep that asks the bank when no callback came.
	SignalPaymentFinal = "payment-final"

	// ActivitySendPayment sends one attempt's order and returns at once:
	// pending (the case then waits for SignalPaymentFinal) or, when the bank
	// answered finally on the spot (a refusal), final and recorded.
	ActivitySendPayment = "SendPayment"
)

// caseV3 is the shape of BeneficiaryCase3. It is never recorded (the type
// says it); the number only orders it after the GetVersion shapes, so the
// steps the shapes share branch on c.version >= caseV3.
//
// Against caseV2 it: screens in a local activity; waits for approval
// without a timer per case (the cycle's sweep raises overdue tasks per
// cycle) and learns of signed lists by one signal; sends the payment with
// a short activity and waits for the bank's answer as a signal (no slot
// held, no heartbeat, however long a cash pickup waits); waits for
// referral outcomes without a timer; and tells its cycle nothing (the
// cycle counts ended cases in PostgreSQL).
const caseV3 workflow.Version = 2

// ApprovalsComplete is the votes that complete a case's approval, from
// the signed lists that cover it (and any per-case votes already in).
type ApprovalsComplete struct {
	Votes []apoyo.ApprovalVote `json:"votes"`
}

// localScreen runs screening as a local activity: nothing waits on a
// person there, and every local activity of one workflow task is billed as
// one action.
var localScreen = workflow.LocalActivityOptions{
	StartToCloseTimeout:    time.Minute,
	ScheduleToCloseTimeout: 24 * time.Hour,
	RetryPolicy: &temporal.RetryPolicy{
		InitialInterval:    time.Second,
		BackoffCoefficient: 2,
		MaximumInterval:    5 * time.Minute,
	},
}

// BeneficiaryCase3 carries one beneficiary through one cycle, as
// BeneficiaryCase does, at a few Temporal actions: on the happy path the
// start, the screening task's local activity, the approvals signal, the
// SendPayment activity and the payment's final signal. Waiting (for
// approvers, the bank, a pickup, referral outcomes) costs nothing.
func BeneficiaryCase3(ctx workflow.Context, in BeneficiaryInput) (apoyo.CaseState, error) {
	c := &caseRun{ctx: ctx, in: in, rules: withDefaults(in.Rules), version: caseV3}
	c.st = apoyo.CaseState{CaseID: apoyo.CaseID(in.CycleID, in.BeneficiaryID), Step: apoyo.StepIdentity, Status: "running", Timeline: []apoyo.Event{}}
	if err := c.register(); err != nil {
		return c.st, err
	}
	approvals := workflow.GetSignalChannel(ctx, SignalApprovals)
	workflow.Go(ctx, func(ctx workflow.Context) {
		for {
			var a ApprovalsComplete
			approvals.Receive(ctx, &a)
			c.approvals = append(c.approvals, a)
		}
	})
	finals := workflow.GetSignalChannel(ctx, SignalPaymentFinal)
	workflow.Go(ctx, func(ctx workflow.Context) {
		for {
			var r apoyo.PaymentResult
			finals.Receive(ctx, &r)
			if c.finals == nil {
				c.finals = map[string]apoyo.PaymentResult{}
			}
			if _, seen := c.finals[r.OrderID]; !seen {
				c.finals[r.OrderID] = r // the first final answer is the answer
			}
		}
	})
	return c.st, c.runV2()
}

// applyApprovals casts the votes of signals received so far, each as the
// approve update would (a vote the case would refuse is dropped: the list
// that carried it is recorded; the case moved on, or already has it).
func (c *caseRun) applyApprovals() {
	for _, a := range c.approvals {
		for _, v := range a.Votes {
			if c.st.Step == apoyo.StepApproval && c.validateVote(v) == nil {
				_, _ = c.approve(c.ctx, v)
			}
		}
	}
	c.approvals = nil
}

// sendAndAwait sends one attempt's order and waits for its final answer
// as a signal. The answer is booked and recorded before it is signalled.
func (c *caseRun) sendAndAwait(in DisburseInput) (apoyo.PaymentResult, error) {
	var res apoyo.PaymentResult
	if _, err := c.act(shortActivity, ActivitySendPayment, in, &res, false); err != nil {
		return res, err
	}
	if res.CycleCancelled || !res.Pending {
		return res, nil
	}
	status, waiting := c.st.Status, c.st.WaitingOn
	c.st.Status, c.st.WaitingOn = apoyo.CaseWaiting, []string{apoyo.WaitingOnBank}
	if err := workflow.Await(c.ctx, func() bool { _, ok := c.finals[res.OrderID]; return ok }); err != nil {
		return res, err
	}
	c.st.Status, c.st.WaitingOn = status, waiting
	return c.finals[res.OrderID], nil
}
