package app

import (
	"context"
	"errors"
	"fmt"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/cases"
	"github.com/apoyo-cdmx/apoyo/ledger"
	"github.com/apoyo-cdmx/apoyo/program"
	"github.com/apoyo-cdmx/apoyo/reconcile"
	"github.com/apoyo-cdmx/apoyo/workflows"
	"github.com/apoyo-cdmx/apoyo/workflows/searchattr"
)

// ErrNothingToRetry: the case has not failed (it runs normally, or it
// ended with an outcome).
var ErrNothingToRetry = apoyo.Errorf(apoyo.ECONFLICT, "case.not_failed", "the case has no failed step to retry")

// RetryStep runs a case's failed step again, under the same lineage and
// keys: the same workflow, the same activity input, so the same payment
// order id and ledger keys, and nothing is done twice. A case that waits
// for a retry (a step failed) gets the retry update. A case whose run
// ended in failure before failures were kept open (or was terminated)
// gets a new run of the same workflow id, which resumes at its payment
// step with the last attempt when it had reached payment, and starts over
// otherwise (screening is idempotent).
//
// Errors: ErrNothingToRetry; cases.ErrCaseNotFound; ErrUpdateRejected.
func (s *Service) RetryStep(ctx context.Context, who apoyo.Identity, caseID, reason string) (apoyo.CaseState, error) {
	if _, _, err := apoyo.ParseCaseID(caseID); err != nil {
		return apoyo.CaseState{}, err
	}
	if err := requireReason(reason, ErrReasonRequired, "a retry"); err != nil {
		return apoyo.CaseState{}, err
	}
	caseworker := who.UserID
	desc, err := s.Temporal.DescribeWorkflowExecution(ctx, caseID, "")
	if err != nil {
		return apoyo.CaseState{}, mapTemporal(caseID, err)
	}
	switch desc.WorkflowExecutionInfo.Status {
	case enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING:
		st, err := s.update(ctx, caseID, workflows.UpdateRetry, "", workflows.RetryRequest{Caseworker: caseworker, Reason: reason})
		if apoyo.ErrorCodeOf(err) == apoyo.ECONFLICT && errors.Is(err, ErrUpdateRejected) {
			return st, ErrNothingToRetry.With("case %s is not waiting for a retry: %v", caseID, err)
		}
		return st, err
	case enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED, enumspb.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW:
		return apoyo.CaseState{}, ErrNothingToRetry.With("case %s ended with an outcome; nothing to retry", caseID)
	}
	in, err := s.caseInput(ctx, caseID)
	if err != nil {
		return apoyo.CaseState{}, err
	}
	proj, err := s.CaseStore.Case(ctx, caseID)
	if err != nil && !errors.Is(err, cases.ErrCaseNotFound) {
		return apoyo.CaseState{}, err
	}
	pays, err := s.CaseStore.CasePayments(ctx, caseID)
	if err != nil {
		return apoyo.CaseState{}, err
	}
	if len(pays) > 0 || proj.Step == apoyo.StepPayment {
		attempt := 1
		if len(pays) > 0 {
			attempt = pays[len(pays)-1].Attempt
		}
		in.Resume = &workflows.CaseResume{Step: apoyo.StepPayment, Attempt: attempt, Version: proj.Version,
			Reason: fmt.Sprintf("retry of a run that ended %s", desc.WorkflowExecutionInfo.Status)}
	}
	if _, err := s.Temporal.ExecuteWorkflow(ctx, s.caseStartOptions(in, enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE_FAILED_ONLY),
		caseType(desc), in); err != nil {
		return apoyo.CaseState{}, mapTemporal(caseID, err)
	}
	return apoyo.CaseState{CaseID: caseID, Step: proj.Step, Status: apoyo.CaseRunning}, nil
}

// PaymentReturnedAfterSettlement is reconciliation's Reopener: a case
// whose settled payment came back pays once more, with the next attempt,
// when a new instrument is on file. A running case is told by signal; an
// ended one gets a new run of the same workflow id starting at its payment
// step. Calling it again for the same return changes nothing: the running
// case ignores a return it already acted on, and a case whose next
// attempt exists was already reopened.
func (s *Service) PaymentReturnedAfterSettlement(ctx context.Context, p reconcile.ReturnedPayment) error {
	if err := s.ensureSweeper(ctx, p.CycleID); err != nil {
		return err
	}
	signal := workflows.PaymentReturned{Attempt: p.Attempt, OrderID: p.OrderID, ReturnCause: p.ReturnCause, Reason: p.Reason}
	desc, err := s.Temporal.DescribeWorkflowExecution(ctx, p.CaseID, "")
	if err != nil {
		return mapTemporal(p.CaseID, err)
	}
	if desc.WorkflowExecutionInfo.Status == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		err := s.Temporal.SignalWorkflow(ctx, p.CaseID, "", workflows.SignalPaymentReturned, signal)
		if err == nil || !errors.Is(mapTemporal(p.CaseID, err), cases.ErrCaseNotFound) {
			return err
		}
		// It ended meanwhile: reopen it below.
	}
	pays, err := s.CaseStore.CasePayments(ctx, p.CaseID)
	if err != nil {
		return err
	}
	for _, q := range pays {
		if q.Attempt > p.Attempt {
			return nil // already reopened: the next attempt exists
		}
	}
	in, err := s.caseInput(ctx, p.CaseID)
	if err != nil {
		return err
	}
	reason := p.Reason
	if p.ReturnCause != 0 {
		reason = fmt.Sprintf("order %s returned after settlement (cause %d: %s)", p.OrderID, p.ReturnCause, p.Reason)
	}
	// The new run counts its state versions on from the earlier run's, so
	// that the caseworkers' projection takes what it writes.
	proj, err := s.CaseStore.Case(ctx, p.CaseID)
	if err != nil {
		return err
	}
	in.Resume = &workflows.CaseResume{Step: apoyo.StepPayment, Attempt: p.Attempt + 1, WaitForInstrument: true, Reason: reason,
		Version: proj.Version}
	if p.Fund != "" {
		in.Fund = p.Fund
	}
	_, err = s.Temporal.SignalWithStartWorkflow(ctx, p.CaseID, workflows.SignalPaymentReturned, signal,
		s.caseStartOptions(in, enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE), caseType(desc), in)
	return mapTemporal(p.CaseID, err)
}

// ensureSweeper starts the sweeper of a third-shape case's cycle, unless
// one runs: the reopened case's new payment must have its answer asked
// for after the cycle workflow closed (the cycle's own sweep stops then).
func (s *Service) ensureSweeper(ctx context.Context, cycleID string) error {
	if shape, err := s.cycleShape(ctx, cycleID); err != nil || shape != 3 {
		return err
	}
	programID, rules, err := s.cycleRules(ctx, cycleID)
	if err != nil {
		return err
	}
	_, err = s.Temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: workflows.CycleSweeperID(cycleID), TaskQueue: s.TaskQueue,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
	}, workflows.CycleSweeperWorkflowName, workflows.SweepCycleInput{ProgramID: programID, CycleID: cycleID, Rules: rules})
	return err
}

// caseType is the workflow type a case's new run keeps: its last run's.
func caseType(desc *workflowservice.DescribeWorkflowExecutionResponse) string {
	if t := desc.GetWorkflowExecutionInfo().GetType().GetName(); t == workflows.Case3WorkflowName {
		return t
	}
	return workflows.BeneficiaryWorkflowName
}

// caseInput rebuilds the input of a case's new run from the cycle, the
// programme and the ledger: the amount and rules as launched, and whether
// the cycle's reservation covers it (no commit entry of its own).
func (s *Service) caseInput(ctx context.Context, caseID string) (workflows.BeneficiaryInput, error) {
	cycleID, benID, err := apoyo.ParseCaseID(caseID)
	if err != nil {
		return workflows.BeneficiaryInput{}, err
	}
	cyc, err := s.CaseStore.Cycle(ctx, cycleID)
	if err != nil {
		return workflows.BeneficiaryInput{}, err
	}
	prog, err := s.ProgramStore.Get(ctx, cyc.ProgramID)
	if err != nil {
		return workflows.BeneficiaryInput{}, err
	}
	in := workflows.BeneficiaryInput{ProgramID: prog.ID, CycleID: cyc.ID, BeneficiaryID: benID, CycleDate: cyc.CycleDate,
		Amount: cyc.Amount, Rules: RulesOf(prog)}
	if in.Amount.IsZero() {
		in.Amount = prog.BenefitAmount
	}
	// The key Disburse commits an unreserved case's entitlement under.
	commit, err := s.Ledger.TransactionByKey(ctx, program.CommitKey(cyc.ID, benID))
	switch {
	case err == nil:
		in.Fund = commit.Postings[0].Fund
	case errors.Is(err, ledger.ErrTransactionNotFound):
		in.Reserved = len(cyc.Allocation) > 0
		pays, err := s.CaseStore.CasePayments(ctx, caseID)
		if err != nil {
			return in, err
		}
		if len(pays) > 0 {
			in.Fund = pays[0].Fund
		} else if in.Reserved {
			in.Fund = cyc.Allocation[0].Fund
		}
	default:
		return in, err
	}
	return in, nil
}

func (s *Service) caseStartOptions(in workflows.BeneficiaryInput, reuse enumspb.WorkflowIdReusePolicy) client.StartWorkflowOptions {
	return client.StartWorkflowOptions{
		ID:                    apoyo.CaseID(in.CycleID, in.BeneficiaryID),
		TaskQueue:             s.TaskQueue,
		WorkflowIDReusePolicy: reuse,
		TypedSearchAttributes: temporal.NewSearchAttributes(searchattr.Program.ValueSet(in.ProgramID), searchattr.Cycle.ValueSet(in.CycleID)),
	}
}
