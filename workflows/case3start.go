package workflows

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/workflows/searchattr"
)

// ToApproval reports whether a screening sends its case straight to
// approval (identity verified, eligible, its cycle not cancelled): such a
// case is kept without a workflow until its lists are signed.
func (r ScreenResult) ToApproval() bool {
	return r.Identity == apoyo.IdentityVerified && r.Eligible && !r.CycleCancelled
}

// A case of the third shape that screening sends straight to approval is
// kept without a workflow until its signed lists make the quorum (or a
// person acts on it): waiting for approvers then costs Temporal nothing,
// and the case starts approved, which saves the approvals signal and one
// workflow task. The application and the activities start such cases with
// these helpers, from the input kept in PostgreSQL.

// Case3StartOptions are the options of every start of a BeneficiaryCase3:
// the case id as workflow id (one workflow per case, ever: a duplicate
// start is refused), its programme and cycle as search attributes.
func Case3StartOptions(in BeneficiaryInput, queue string) client.StartWorkflowOptions {
	return client.StartWorkflowOptions{
		ID:                    apoyo.CaseID(in.CycleID, in.BeneficiaryID),
		TaskQueue:             queue,
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		TypedSearchAttributes: temporal.NewSearchAttributes(searchattr.Program.ValueSet(in.ProgramID), searchattr.Cycle.ValueSet(in.CycleID)),
	}
}

// StartCase3 starts a case's workflow. started is false when it exists
// already (running or ended): nothing was started.
func StartCase3(ctx context.Context, c client.Client, queue string, in BeneficiaryInput) (started bool, err error) {
	_, err = c.ExecuteWorkflow(ctx, Case3StartOptions(in, queue), Case3WorkflowName, in)
	var already *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &already) {
		return false, nil
	}
	return err == nil, err
}

// TellApproved tells a case that its approvals are complete (votes). A
// case kept without a workflow (kept is its kept input, on queue; nil for
// a case never kept or already started: cases.CaseStart.StartInput) is
// started approved when it has no workflow yet; any other is signalled.
// A case whose workflow has ended gets a serviceerror.NotFound (it moved
// on: cancelled, say).
func TellApproved(ctx context.Context, c client.Client, caseID, queue string, kept []byte, votes []apoyo.ApprovalVote) error {
	if kept != nil {
		in, err := KeptInput(caseID, kept)
		if err != nil {
			return err
		}
		in.Approved = votes
		if started, err := StartCase3(ctx, c, queue, in); err != nil || started {
			return err
		}
	}
	return c.SignalWorkflow(ctx, caseID, "", SignalApprovals, ApprovalsComplete{Votes: votes})
}

// StartCancelled tells a case to stop (SignalCancel), starting it first,
// in the same call, when it has no workflow yet: it then ends cancelled in
// its first workflow task, its end recorded as any cancel's.
func StartCancelled(ctx context.Context, c client.Client, queue string, in BeneficiaryInput, req CancelRequest) error {
	_, err := c.SignalWithStartWorkflow(ctx, apoyo.CaseID(in.CycleID, in.BeneficiaryID), SignalCancel, req,
		Case3StartOptions(in, queue), Case3WorkflowName, in)
	return err
}

// KeptInput decodes the input kept (as JSON) for a case kept without a
// workflow.
func KeptInput(caseID string, b []byte) (BeneficiaryInput, error) {
	var in BeneficiaryInput
	if err := json.Unmarshal(b, &in); err != nil {
		return in, fmt.Errorf("case %s: kept start unreadable: %w", caseID, err)
	}
	return in, nil
}

// KeptState is the state of a case kept without a workflow, as its
// workflow would report it once started without approvals: screened
// (identity verified, eligibility's rules), waiting at approval for the
// required secretariats. at is when it was kept.
func KeptState(in BeneficiaryInput, at time.Time) (apoyo.CaseState, error) {
	res := in.Screened
	if res == nil || !res.ToApproval() {
		return apoyo.CaseState{}, fmt.Errorf("case %s was not kept screened and eligible", apoyo.CaseID(in.CycleID, in.BeneficiaryID))
	}
	rules := withDefaults(in.Rules)
	at = at.UTC()
	st := apoyo.CaseState{CaseID: apoyo.CaseID(in.CycleID, in.BeneficiaryID), Step: apoyo.StepApproval, Status: apoyo.CaseWaiting,
		Votes: map[apoyo.Secretariat]apoyo.ApprovalVote{}, WaitingOn: secretariatNames(rules.Required), Referrals: res.Referrals}
	event := func(step apoyo.Step, outcome, reason string) {
		st.Timeline = append(st.Timeline, apoyo.Event{At: at, Step: step, Outcome: outcome, Reason: reason, Actor: "system"})
		st.Version++
	}
	event(apoyo.StepIdentity, string(res.Identity), res.IdentityReason)
	for _, r := range res.Rules {
		outcome := "passed"
		if !r.Passed {
			outcome = "failed"
		}
		event(apoyo.StepEligibility, outcome, ruleReason(r))
	}
	event(apoyo.StepApproval, "requested", approvalRequested(rules))
	return st, nil
}
