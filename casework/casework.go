// Package casework is what people do to cases: a program manager launches
// a cycle; approvers vote; caseworkers decide on documents, put new payment
// instruments on file and record referral outcomes; anyone may look at a
// case's timeline. The CLI (and later the HTTP API) call it; it talks to
// the workflows through Temporal updates and keeps the caseworkers'
// projection in step with the state each update returns.
package casework

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"golang.org/x/sync/errgroup"

	"github.com/shopspring/decimal"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/cases"
	"github.com/apoyo-cdmx/apoyo/enrolment"
	"github.com/apoyo-cdmx/apoyo/ledger"
	"github.com/apoyo-cdmx/apoyo/program"
	"github.com/apoyo-cdmx/apoyo/workflows"
	"github.com/apoyo-cdmx/apoyo/workflows/searchattr"
)

// Service performs case work.
type Service struct {
	Temporal      client.Client
	TaskQueue     string
	Programs      *program.Store
	Beneficiaries *enrolment.Store
	Cases         *cases.Store
	Ledger        *ledger.Ledger
}

// ErrUpdateRejected: the case refused the action (wrong step, a changed
// vote, an unknown referral…); the message says why.
var ErrUpdateRejected = apoyo.Errorf(apoyo.ECONFLICT, "case.action_refused", "the case refused the action")

// LaunchResult says what a launch did.
type LaunchResult struct {
	Cycle   apoyo.Cycle `json:"cycle"`
	Created bool        `json:"created"`
	// Cases is the number of cases the cycle covers (its roster at launch).
	Cases      int                    `json:"cases"`
	Reserved   decimal.Decimal        `json:"reserved"`
	Allocation []apoyo.FundAllocation `json:"allocation"`
	WorkflowID string                 `json:"workflow_id"`
	// WorkflowStatus is the cycle workflow's Temporal status after the
	// launch: "running", or "completed" for a cycle launched before that
	// has finished (a workflow that ended any other way is an
	// ErrCycleWorkflowEnded).
	WorkflowStatus string `json:"workflow_status"`
}

// ErrCycleWorkflowEnded: the cycle's workflow already closed as failed,
// terminated, timed out or cancelled, so launching the cycle again starts
// nothing; the message names the status. A person must look (the
// cycle's reservation has not been released).
var ErrCycleWorkflowEnded = apoyo.Errorf(apoyo.ECONFLICT, "cycle.workflow_ended", "the cycle's workflow has ended without finishing")

// ErrBudgetShortfall: the cycle does not fit the programme's budget.
var ErrBudgetShortfall = apoyo.Errorf(apoyo.ECONFLICT, "cycle.budget_shortfall", "the cycle does not fit the budget")

// LaunchOptions tune a launch.
type LaunchOptions struct {
	// StartWindow bounds case starts in flight (default 100).
	StartWindow int
	// MaxActive bounds unfinished cases (0: no bound).
	MaxActive int
	// ContinueAfter makes the cycle workflow continue as new after
	// starting this many cases (0: the workflow's default). Tests set it
	// low to record a continued cycle.
	ContinueAfter int
}

// LaunchCycle starts the cycle named name of a programme: it reserves the
// whole cycle's amount against the budget, fund by fund in the
// programme's order (refusing, with the shortfall named, a cycle that does
// not fit), and starts the cycle workflow, which starts one case per
// enrolled beneficiary. Launching the same cycle again starts nothing new:
// the cycle, its reservation (same ledger keys and amounts) and its
// workflow are found as they are.
func (s *Service) LaunchCycle(ctx context.Context, programID, name, period string, cycleDate time.Time, o LaunchOptions) (LaunchResult, error) {
	prog, err := s.Programs.Get(ctx, programID)
	if err != nil {
		return LaunchResult{}, err
	}
	if name == "" {
		name = period
		if name == "" {
			name = cycleDate.Format("2006-01")
		}
	}
	// The roster is frozen with the cycle, and the reservation sized on
	// that snapshot, in one transaction: later enrolments wait for the
	// next cycle. A relaunch finds the cycle, its snapshot and allocation.
	cyc, created, err := s.Cases.CreateCycleWithRoster(ctx, apoyo.Cycle{ProgramID: prog.ID, Name: name, Period: period, CycleDate: cycleDate,
		Amount: prog.BenefitAmount}, func(n int) ([]apoyo.FundAllocation, error) { return s.allocate(ctx, prog, n) })
	if err != nil {
		return LaunchResult{}, err
	}
	if err := program.EnsureCycleAccounts(ctx, s.Ledger, prog.ID, cyc.ID); err != nil {
		return LaunchResult{}, err
	}
	res := LaunchResult{Cycle: cyc, Created: created, Cases: cyc.RosterSize, Allocation: cyc.Allocation, Reserved: decimal.Zero,
		WorkflowID: workflows.CycleWorkflowID(cyc.ID)}
	for _, a := range cyc.Allocation {
		if a.Cases == 0 {
			continue
		}
		amount := cyc.Amount.Mul(decimal.NewFromInt(int64(a.Cases)))
		_, err := s.Ledger.Post(ctx, ledger.TransactionRequest{IdempotencyKey: program.ReserveKey(cyc.ID, a.Fund), Currency: prog.Currency,
			Description: fmt.Sprintf("cycle %s reservation: %d × %s", cyc.Name, a.Cases, cyc.Amount.StringFixed(2)),
			Metadata:    map[string]string{"program": prog.ID, "cycle": cyc.ID},
			Postings: []ledger.Posting{
				{Account: program.CycleAccount(prog.ID, cyc.ID, program.CycleCommitted), Fund: a.Fund, Direction: ledger.Debit, Amount: amount},
				{Account: program.AvailableAccount(prog.ID), Fund: a.Fund, Direction: ledger.Credit, Amount: amount},
			}})
		if errors.Is(err, ledger.ErrBalanceRule) {
			return res, ErrBudgetShortfall.With("cycle %s: fund %s can no longer cover %d cases (another cycle spent it meanwhile): %v", cyc.Name, a.Fund, a.Cases, err)
		}
		if err != nil {
			return res, err
		}
		res.Reserved = res.Reserved.Add(amount)
	}
	_, err = s.Temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                       res.WorkflowID,
		TaskQueue:                s.TaskQueue,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		TypedSearchAttributes:    temporal.NewSearchAttributes(searchattr.Program.ValueSet(prog.ID), searchattr.Cycle.ValueSet(cyc.ID)),
	}, workflows.CycleWorkflowName, workflows.CycleInput{ProgramID: prog.ID, CycleID: cyc.ID, CycleDate: cyc.CycleDate, Amount: cyc.Amount,
		Rules: RulesOf(prog), Allocation: cyc.Allocation, StartWindow: o.StartWindow, MaxActive: o.MaxActive, ContinueAfter: o.ContinueAfter})
	var already *serviceerror.WorkflowExecutionAlreadyStarted
	if err != nil && !errors.As(err, &already) {
		return res, fmt.Errorf("starting cycle workflow: %w", err)
	}
	// Started, or found: the SDK hands back the existing workflow of the id
	// without an error even when that one has closed, so ask how it is.
	desc, err := s.Temporal.DescribeWorkflowExecution(ctx, res.WorkflowID, "")
	if err != nil {
		return res, fmt.Errorf("cycle %s: describing its workflow: %w", cyc.ID, err)
	}
	st := desc.GetWorkflowExecutionInfo().GetStatus()
	res.WorkflowStatus = workflowStatusName(st)
	switch st {
	case enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED:
		return res, nil
	}
	return res, ErrCycleWorkflowEnded.With("cycle %s (%s): its workflow %s %s; launching it again starts nothing, and its unspent reservation is still held: look at the workflow's history before deciding",
		cyc.ID, cyc.Name, res.WorkflowID, res.WorkflowStatus)
}

// workflowStatusName is a Temporal status in words ("failed", "timed out").
func workflowStatusName(st enumspb.WorkflowExecutionStatus) string {
	switch st {
	case enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING:
		return "running"
	case enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED:
		return "completed"
	case enumspb.WORKFLOW_EXECUTION_STATUS_FAILED:
		return "failed"
	case enumspb.WORKFLOW_EXECUTION_STATUS_TERMINATED:
		return "terminated"
	case enumspb.WORKFLOW_EXECUTION_STATUS_TIMED_OUT:
		return "timed out"
	case enumspb.WORKFLOW_EXECUTION_STATUS_CANCELED:
		return "cancelled"
	case enumspb.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW:
		return "continued as new"
	}
	return strings.ToLower(strings.TrimPrefix(st.String(), "WORKFLOW_EXECUTION_STATUS_"))
}

// allocate spreads n cases over the programme's funds in order, each fund
// covering as many whole benefits as its available balance allows, and
// refuses a cycle that does not fit, naming the shortfall.
func (s *Service) allocate(ctx context.Context, prog apoyo.Program, n int) ([]apoyo.FundAllocation, error) {
	left := n
	var alloc []apoyo.FundAllocation
	var avail []string
	for _, f := range prog.Funds {
		fund := program.LedgerFund(prog.ID, f.Code)
		bal, err := s.Ledger.AccountBalance(ctx, program.AvailableAccount(prog.ID), fund)
		if err != nil {
			return nil, err
		}
		covers := int(bal.Div(prog.BenefitAmount).Floor().IntPart())
		take := min(covers, left)
		left -= take
		alloc = append(alloc, apoyo.FundAllocation{Fund: fund, Cases: take})
		avail = append(avail, fmt.Sprintf("%s %s (covers %d)", f.Code, bal.StringFixed(2), covers))
	}
	if left > 0 {
		need := prog.BenefitAmount.Mul(decimal.NewFromInt(int64(n)))
		short := prog.BenefitAmount.Mul(decimal.NewFromInt(int64(left)))
		return nil, ErrBudgetShortfall.With("cycle needs %d × %s = %s MXN; available: %s; short by %s MXN (%d beneficiaries)",
			n, prog.BenefitAmount.StringFixed(2), need.StringFixed(2), strings.Join(avail, ", "), short.StringFixed(2), left)
	}
	return alloc, nil
}

// RulesOf copies a programme's rules into a case's input, with every
// default filled in: what changes a case's behaviour travels in its input.
func RulesOf(p apoyo.Program) workflows.CaseRules {
	return workflows.CaseRules{Required: p.Approval.Required, Quorum: p.Approval.Quorum, ApprovalSLA: p.Approval.SLA,
		ReviewDeadline: p.Identity.ReviewDeadline, FollowUp: p.Referrals.FollowUp}.WithDefaults()
}

// controlCycle applies a person's pause, resume or cancel: in the
// database FIRST (the state machine refuses what may not happen, e.g. a
// cancelled cycle paused, and numbers what it accepts), then to the
// workflow as a CycleControl carrying that number, which applies only
// controls newer than the last it applied. A repeated command (pause a
// paused cycle) changes nothing in the database and resends the current
// seq, so a command retried after a lost signal completes it.
func (s *Service) controlCycle(ctx context.Context, cycleID string, action apoyo.CycleAction, reason string) (apoyo.CycleTransition, error) {
	tr, err := s.Cases.TransitionCycle(ctx, cycleID, action, reason)
	if err != nil {
		return tr, err
	}
	return tr, s.signalCycle(ctx, cycleID, workflows.CycleControl{Action: string(action), Seq: tr.Seq, Reason: reason})
}

// signalCycle sends a control to a cycle's workflow.
func (s *Service) signalCycle(ctx context.Context, cycleID string, c workflows.CycleControl) error {
	err := s.Temporal.SignalWorkflow(ctx, workflows.CycleWorkflowID(cycleID), "", workflows.SignalControl, c)
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return apoyo.Errorf(apoyo.ECONFLICT, "cycle.not_running",
			"cycle %s: the %s is recorded, but the cycle's workflow is not running, so nothing applies it; relaunch the cycle to see how its workflow ended", cycleID, c.Action)
	}
	return err
}

// PauseCycle stops a cycle from starting new cases. Errors:
// cases.ErrBadTransition (a cancelled or closed cycle).
func (s *Service) PauseCycle(ctx context.Context, cycleID string) (apoyo.CycleTransition, error) {
	return s.controlCycle(ctx, cycleID, apoyo.CyclePause, "")
}

// ResumeCycle lets a paused cycle start cases again. Errors:
// cases.ErrBadTransition (a cancelled or closed cycle).
func (s *Service) ResumeCycle(ctx context.Context, cycleID string) (apoyo.CycleTransition, error) {
	return s.controlCycle(ctx, cycleID, apoyo.CycleResume, "")
}

// CancelCycle stops a cycle: no more cases start, unpaid cases stop
// cleanly (an order already sent is followed to its end), and what the
// cycle reserved and did not pay goes back to the budget. Errors:
// cases.ErrBadTransition (a closed cycle that was not cancelled).
func (s *Service) CancelCycle(ctx context.Context, cycleID, reason string) (apoyo.CycleTransition, error) {
	return s.controlCycle(ctx, cycleID, apoyo.CycleCancel, reason)
}

// CycleProgress asks a cycle workflow for its progress (its result once
// it has finished).
func (s *Service) CycleProgress(ctx context.Context, cycleID string) (workflows.CycleProgress, error) {
	var p workflows.CycleProgress
	id := workflows.CycleWorkflowID(cycleID)
	desc, err := s.Temporal.DescribeWorkflowExecution(ctx, id, "")
	if err != nil {
		return p, mapTemporal(id, err)
	}
	if desc.WorkflowExecutionInfo.Status == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		v, err := s.Temporal.QueryWorkflow(ctx, id, "", workflows.QueryCycle)
		if err != nil {
			return p, mapTemporal(id, err)
		}
		return p, v.Get(&p)
	}
	return p, mapTemporal(id, s.Temporal.GetWorkflow(ctx, id, "").Get(ctx, &p))
}

// update sends a Temporal update to a case and saves the state it returns
// as the case's projection. updateID makes a retried call the same update.
func (s *Service) update(ctx context.Context, caseID, name, updateID string, arg any) (apoyo.CaseState, error) {
	if _, _, err := apoyo.ParseCaseID(caseID); err != nil {
		return apoyo.CaseState{}, err
	}
	h, err := s.Temporal.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID: caseID, UpdateName: name, UpdateID: updateID, Args: []any{arg},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err != nil {
		return apoyo.CaseState{}, mapTemporal(caseID, err)
	}
	var st apoyo.CaseState
	if err := h.Get(ctx, &st); err != nil {
		return st, mapTemporal(caseID, err)
	}
	if err := s.Cases.SaveState(ctx, st); err != nil {
		return st, err
	}
	return st, s.Cases.ResolveStaleTasks(ctx, caseID, st.Step)
}

func mapTemporal(caseID string, err error) error {
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return cases.ErrCaseNotFound.With("case %s not found or already finished", caseID)
	}
	var app *temporal.ApplicationError
	if errors.As(err, &app) {
		return ErrUpdateRejected.With("%s", app.Error())
	}
	return err
}

// Approve records one secretariat's vote.
func (s *Service) Approve(ctx context.Context, caseID string, v apoyo.ApprovalVote) (apoyo.CaseState, error) {
	return s.update(ctx, caseID, workflows.UpdateApprove, workflows.VoteUpdateID(v), v)
}

// DecideIdentity records a caseworker's decision on a document. With a new
// document (docType and number set), the document is stored first,
// encrypted, and the case checks it again.
func (s *Service) DecideIdentity(ctx context.Context, caseID string, d workflows.IdentityDecision, docType apoyo.IDDocumentType, docNumber string) (apoyo.CaseState, error) {
	_, benID, err := apoyo.ParseCaseID(caseID)
	if err != nil {
		return apoyo.CaseState{}, err
	}
	if d.Decision == "new_document" {
		if err := s.Beneficiaries.UpdateDocument(ctx, benID, docType, docNumber); err != nil {
			return apoyo.CaseState{}, err
		}
	}
	return s.update(ctx, caseID, workflows.UpdateIdentityDecision, "", d)
}

// SetPaymentInstrument stores a new payment instrument (encrypted) for a
// case whose payment came back, and tells the case to pay again.
func (s *Service) SetPaymentInstrument(ctx context.Context, caseID string, method apoyo.Rail, clabe, card, caseworker string) (apoyo.CaseState, error) {
	_, benID, err := apoyo.ParseCaseID(caseID)
	if err != nil {
		return apoyo.CaseState{}, err
	}
	// The instrument on file changes only for a case that waits for one:
	// otherwise the update would be refused after the account had changed
	// anyway (a finished case, a return after settlement not yet reopened).
	cur, err := s.Case(ctx, caseID)
	if err != nil {
		return cur, err
	}
	if cur.Step != apoyo.StepPayment || cur.Status != apoyo.CaseWaiting {
		return cur, ErrUpdateRejected.With("case %s is not waiting for a new payment instrument (step %s, status %s); nothing was changed", caseID, cur.Step, cur.Status)
	}
	if err := s.Beneficiaries.UpdatePaymentInstrument(ctx, benID, method, clabe, card); err != nil {
		return apoyo.CaseState{}, err
	}
	return s.update(ctx, caseID, workflows.UpdatePaymentInstrument, "", workflows.InstrumentChange{Caseworker: caseworker})
}

// RecordReferralOutcome records the outcome of one referral.
func (s *Service) RecordReferralOutcome(ctx context.Context, caseID string, in workflows.ReferralOutcomeInput) (apoyo.CaseState, error) {
	return s.update(ctx, caseID, workflows.UpdateReferralOutcome, in.UpdateID(), in)
}

// Case returns a case's current state: asked of the workflow while it runs,
// its result once it has finished.
func (s *Service) Case(ctx context.Context, caseID string) (apoyo.CaseState, error) {
	if _, _, err := apoyo.ParseCaseID(caseID); err != nil {
		return apoyo.CaseState{}, err
	}
	desc, err := s.Temporal.DescribeWorkflowExecution(ctx, caseID, "")
	if err != nil {
		return apoyo.CaseState{}, mapTemporal(caseID, err)
	}
	var st apoyo.CaseState
	if desc.WorkflowExecutionInfo.Status == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		v, err := s.Temporal.QueryWorkflow(ctx, caseID, "", workflows.QueryCase)
		if err != nil {
			return st, mapTemporal(caseID, err)
		}
		return st, v.Get(&st)
	}
	err = s.Temporal.GetWorkflow(ctx, caseID, "").Get(ctx, &st)
	return st, mapTemporal(caseID, err)
}

// BulkResult says what a bulk action did.
type BulkResult struct {
	// Acted counts cases the vote was recorded on.
	Acted int `json:"acted"`
	// Skipped counts cases that refused it (moved on meanwhile, already
	// voted otherwise); Errors says why, per case.
	Skipped int      `json:"skipped"`
	Errors  []string `json:"errors,omitempty"`
}

// ApprovePending records one secretariat's vote on every case of a cycle
// waiting for it, with at most concurrency updates in flight, paging
// through the caseworkers' projection (so it works on any cycle size).
func (s *Service) ApprovePending(ctx context.Context, cycleID string, v apoyo.ApprovalVote, concurrency int) (BulkResult, error) {
	if concurrency <= 0 {
		concurrency = 32
	}
	var res BulkResult
	var mu sync.Mutex
	after := ""
	for {
		page, err := s.Cases.ListCases(ctx, apoyo.CaseFilter{CycleID: cycleID, WaitingOn: string(v.Secretariat), After: after, Limit: 500})
		if err != nil {
			return res, err
		}
		if len(page) == 0 {
			return res, nil
		}
		var g errgroup.Group
		g.SetLimit(concurrency)
		for _, c := range page {
			g.Go(func() error {
				_, err := s.Approve(ctx, c.CaseID, v)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					res.Skipped++
					if len(res.Errors) < 100 {
						res.Errors = append(res.Errors, c.CaseID+": "+err.Error())
					}
					return nil // a case that refused the vote does not stop the others
				}
				res.Acted++
				return nil
			})
		}
		_ = g.Wait()
		if err := ctx.Err(); err != nil {
			return res, err
		}
		after = page[len(page)-1].CaseID
	}
}
