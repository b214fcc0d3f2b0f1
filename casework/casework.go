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

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/beneficiary"
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
	Cycle   cases.Cycle `json:"cycle"`
	Created bool        `json:"created"`
	Cases   int         `json:"cases"`
}

// LaunchCycle starts (or finds) the cycle named name of a programme and one
// case workflow per enrolled beneficiary. Launching again starts nothing
// new: the cycle and every case already exist under the same ids.
func (s *Service) LaunchCycle(ctx context.Context, programID, name, period string, cycleDate time.Time) (LaunchResult, error) {
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
	cyc, created, err := s.Cases.CreateCycle(ctx, cases.Cycle{ProgramID: prog.ID, Name: name, Period: period, CycleDate: cycleDate})
	if err != nil {
		return LaunchResult{}, err
	}
	if err := program.EnsureCycleAccounts(ctx, s.Ledger, prog.ID, cyc.ID); err != nil {
		return LaunchResult{}, err
	}
	rules := RulesOf(prog)
	res := LaunchResult{Cycle: cyc, Created: created}
	after := ""
	for {
		ids, err := s.Beneficiaries.ListIDs(ctx, prog.ID, after, 500)
		if err != nil {
			return res, err
		}
		if len(ids) == 0 {
			return res, nil
		}
		if err := s.startCases(ctx, prog, cyc, rules, ids); err != nil {
			return res, err
		}
		res.Cases += len(ids)
		after = ids[len(ids)-1]
	}
}

// RulesOf copies a programme's rules into a case's input.
func RulesOf(p program.Program) workflows.CaseRules {
	return workflows.CaseRules{Required: p.Approval.Required, Quorum: p.Approval.Quorum, ApprovalSLA: p.Approval.SLA,
		ReviewDeadline: p.Identity.ReviewDeadline, FollowUp: p.Referrals.FollowUp}
}

// startCases starts a page of cases with bounded concurrency; a case that
// exists already is left as it is.
func (s *Service) startCases(ctx context.Context, prog program.Program, cyc cases.Cycle, rules workflows.CaseRules, ids []string) error {
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for _, id := range ids {
		sem <- struct{}{}
		wg.Add(1)
		go func(id string) {
			defer func() { <-sem; wg.Done() }()
			in := workflows.BeneficiaryInput{ProgramID: prog.ID, CycleID: cyc.ID, BeneficiaryID: id, CycleDate: cyc.CycleDate,
				Amount: prog.BenefitAmount, Rules: rules}
			_, err := s.Temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
				ID:                       workflows.CaseID(cyc.ID, id),
				TaskQueue:                s.TaskQueue,
				WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
				WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
				TypedSearchAttributes:    temporal.NewSearchAttributes(searchattr.Program.ValueSet(prog.ID), searchattr.Cycle.ValueSet(cyc.ID)),
			}, workflows.BeneficiaryWorkflowName, in)
			var already *serviceerror.WorkflowExecutionAlreadyStarted
			if err != nil && !errors.As(err, &already) {
				mu.Lock()
				if firstErr == nil {
					firstErr = fmt.Errorf("starting case %s: %w", workflows.CaseID(cyc.ID, id), err)
				}
				mu.Unlock()
			}
		}(id)
	}
	wg.Wait()
	return firstErr
}

// ParseCaseID splits "case/<cycle>/<beneficiary>".
func ParseCaseID(caseID string) (cycleID, beneficiaryID string, err error) {
	parts := strings.Split(caseID, "/")
	if len(parts) != 3 || parts[0] != "case" || parts[1] == "" || parts[2] == "" {
		return "", "", apoyo.Errorf(apoyo.EINVALID, "case.bad_id", "case id %q: expected case/<cycle>/<beneficiary>", caseID)
	}
	return parts[1], parts[2], nil
}

// update sends a Temporal update to a case and saves the state it returns
// as the case's projection. updateID makes a retried call the same update.
func (s *Service) update(ctx context.Context, caseID, name, updateID string, arg any) (workflows.CaseState, error) {
	cycleID, benID, err := ParseCaseID(caseID)
	if err != nil {
		return workflows.CaseState{}, err
	}
	h, err := s.Temporal.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID: caseID, UpdateName: name, UpdateID: updateID, Args: []any{arg},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err != nil {
		return workflows.CaseState{}, mapTemporal(caseID, err)
	}
	var st workflows.CaseState
	if err := h.Get(ctx, &st); err != nil {
		return st, mapTemporal(caseID, err)
	}
	cyc, err := s.Cases.Cycle(ctx, cycleID)
	if err != nil {
		return st, err
	}
	return st, s.Cases.Save(ctx, cases.FromState(cyc.ProgramID, cycleID, benID, st))
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
func (s *Service) Approve(ctx context.Context, caseID string, v workflows.ApprovalVote) (workflows.CaseState, error) {
	// The update id names the decision too: a retried call is the same
	// update (Temporal answers it once), a changed vote is a new one that
	// the case's validator refuses.
	return s.update(ctx, caseID, workflows.UpdateApprove, "approve/"+string(v.Secretariat)+"/"+voteWord(v.Approve), v)
}

// DecideIdentity records a caseworker's decision on a document. With a new
// document (docType and number set), the document is stored first,
// encrypted, and the case checks it again.
func (s *Service) DecideIdentity(ctx context.Context, caseID string, d workflows.IdentityDecision, docType beneficiary.IDDocumentType, docNumber string) (workflows.CaseState, error) {
	_, benID, err := ParseCaseID(caseID)
	if err != nil {
		return workflows.CaseState{}, err
	}
	if d.Decision == "new_document" {
		if err := s.Beneficiaries.UpdateDocument(ctx, benID, docType, docNumber); err != nil {
			return workflows.CaseState{}, err
		}
	}
	return s.update(ctx, caseID, workflows.UpdateIdentityDecision, "", d)
}

// SetPaymentInstrument stores a new payment instrument (encrypted) for a
// case whose payment came back, and tells the case to pay again.
func (s *Service) SetPaymentInstrument(ctx context.Context, caseID string, method beneficiary.PaymentMethod, clabe, card, caseworker string) (workflows.CaseState, error) {
	_, benID, err := ParseCaseID(caseID)
	if err != nil {
		return workflows.CaseState{}, err
	}
	if err := s.Beneficiaries.UpdatePaymentInstrument(ctx, benID, method, clabe, card); err != nil {
		return workflows.CaseState{}, err
	}
	return s.update(ctx, caseID, workflows.UpdatePaymentInstrument, "", workflows.InstrumentChange{Caseworker: caseworker})
}

// RecordReferralOutcome records the outcome of one referral.
func (s *Service) RecordReferralOutcome(ctx context.Context, caseID string, in workflows.ReferralOutcomeInput) (workflows.CaseState, error) {
	return s.update(ctx, caseID, workflows.UpdateReferralOutcome, "referral/"+in.ReferralID+"/"+in.Outcome, in)
}

// Case returns a case's current state: asked of the workflow while it runs,
// its result once it has finished.
func (s *Service) Case(ctx context.Context, caseID string) (workflows.CaseState, error) {
	if _, _, err := ParseCaseID(caseID); err != nil {
		return workflows.CaseState{}, err
	}
	desc, err := s.Temporal.DescribeWorkflowExecution(ctx, caseID, "")
	if err != nil {
		return workflows.CaseState{}, mapTemporal(caseID, err)
	}
	var st workflows.CaseState
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

func voteWord(approve bool) string {
	if approve {
		return "approve"
	}
	return "reject"
}
