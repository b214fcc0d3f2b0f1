package workflows

import (
	"fmt"
	"slices"
	"time"

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

	// ActivitySendPayment sends one attempt's order and completes with its
	// final answer: at once when the bank answers on the spot (a refusal),
	// otherwise later, by its task token, from whoever hears the answer
	// first (the bank's callback, or the cycle's sweep that asks the bank
	// when no callback came), once the answer is booked and recorded.
	ActivitySendPayment = "SendPayment"
)

// caseV3 is the shape of BeneficiaryCase3. It is never recorded (the type
// says it); the number only orders it after the GetVersion shapes, so the
// steps the shapes share branch on c.version >= caseV3.
//
// Against caseV2 it: starts screened (the cycle's page of starts screened
// it; a new document is checked in a local activity); waits for approval
// without a timer per case (the cycle's sweep raises overdue tasks per
// cycle) and learns of signed lists by one signal; pays with one activity
// that the bank's answer completes asynchronously (no slot held, no
// heartbeat, however long a cash pickup waits); waits for referral
// outcomes without a timer; and tells its cycle nothing (the cycle counts
// ended cases in PostgreSQL).
const caseV3 workflow.Version = 2

// ApprovalsComplete is the votes that complete a case's approval, from
// the signed lists that cover it (and any per-case votes already in).
type ApprovalsComplete struct {
	Votes []apoyo.ApprovalVote `json:"votes"`
}

// sendActivity is SendPayment's: its attempt stays open while the bank
// decides, without a worker and without heartbeats, for up to the longest
// a bank takes to answer finally (a cash pickup's window, 72 hours, with a
// margin); an attempt that outlives it is asked again by its retry. An
// attempt whose worker dies is seen by the cycle's sweep (the bank has no
// such order), which fails it so that it runs again at once.
var sendActivity = workflow.ActivityOptions{
	StartToCloseTimeout:    8 * 24 * time.Hour,
	ScheduleToCloseTimeout: 30 * 24 * time.Hour,
	RetryPolicy:            backoff,
}

// SendActivityID is the activity id of a payment attempt's SendPayment:
// known outside the case, so that the cycle's sweep can fail an attempt
// whose worker died before it wrote anything (its retry then runs at once,
// not after the attempt's long timeout).
func SendActivityID(attempt int) string { return fmt.Sprintf("send-%d", attempt) }

// localScreen runs screening as a local activity: nothing waits on a
// person there, and every local activity of one workflow task is billed as
// one action.
var localScreen = workflow.LocalActivityOptions{
	StartToCloseTimeout:    time.Minute,
	ScheduleToCloseTimeout: 24 * time.Hour,
	RetryPolicy:            backoff,
}

// BeneficiaryCase3 carries one beneficiary through one cycle, as
// BeneficiaryCase does, at a few Temporal actions: on the happy path the
// start and the SendPayment activity (started approved, see
// BeneficiaryInput.Approved), or the start, the approvals signal and the
// activity. Waiting (for approvers, the bank, a pickup, referral outcomes)
// costs nothing.
func BeneficiaryCase3(ctx workflow.Context, in BeneficiaryInput) (apoyo.CaseState, error) {
	c := &caseRun{ctx: ctx, in: in, rules: withDefaults(in.Rules), version: caseV3}
	c.st = apoyo.CaseState{CaseID: apoyo.CaseID(in.CycleID, in.BeneficiaryID), Step: apoyo.StepIdentity, Status: "running", Timeline: []apoyo.Event{}}
	if err := c.register(); err != nil {
		return c.st, err
	}
	if len(in.Approved) > 0 {
		// Started approved: the votes count as a signal received before
		// the first task (an input field, so no version marker: a case
		// started without it runs as before).
		c.approvals = append(c.approvals, ApprovalsComplete{Votes: in.Approved})
	}
	approvals := workflow.GetSignalChannel(ctx, SignalApprovals)
	workflow.Go(ctx, func(ctx workflow.Context) {
		for {
			var a ApprovalsComplete
			approvals.Receive(ctx, &a)
			c.approvals = append(c.approvals, a)
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

// sendAndAwait sends one attempt's order and waits for its final answer,
// booked and recorded before the activity completes.
func (c *caseRun) sendAndAwait(in DisburseInput) (apoyo.PaymentResult, error) {
	status, waiting := c.st.Status, c.st.WaitingOn
	c.st.Status, c.st.WaitingOn = apoyo.CaseWaiting, []string{apoyo.WaitingOnBank}
	var res apoyo.PaymentResult
	opts := sendActivity
	opts.ActivityID = SendActivityID(in.Attempt)
	if q := c.in.PaymentQueues[c.rail]; q != "" {
		opts.TaskQueue = q
	}
	_, err := c.act(opts, ActivitySendPayment, in, &res, false)
	c.st.Status, c.st.WaitingOn = status, waiting
	return res, err
}

// Approved reports whether the secretariats in approved make the rules'
// quorum of the required ones (the rules' defaults filled in).
func (r CaseRules) Approved(approved map[apoyo.Secretariat]bool) bool {
	r = withDefaults(r)
	n := 0
	for _, sec := range r.Required {
		if approved[sec] {
			n++
		}
	}
	return n >= r.Quorum
}

// ApprovedBy gathers who approved a case awaiting approval: the signed
// lists that cover it (their votes), the secretariats its projection no
// longer waits on (per-case votes, or lists), and voted (per-case votes
// the projection may not show yet).
func ApprovedBy(lists []apoyo.ApprovalVote, waitingOn []string, required []apoyo.Secretariat, voted []apoyo.Secretariat) map[apoyo.Secretariat]bool {
	approved := map[apoyo.Secretariat]bool{}
	for _, v := range lists {
		approved[v.Secretariat] = true
	}
	for _, sec := range voted {
		approved[sec] = true
	}
	for _, sec := range required {
		if !slices.Contains(waitingOn, string(sec)) {
			approved[sec] = true
		}
	}
	return approved
}
